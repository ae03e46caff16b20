"""Console pages of detection rules: list, YAML editor with field-named errors, backtest chart,
detector catalogue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plantguard.ingest.reading import ReadingBatch, to_us
from plantguard.timeseries.store import write_batch
from tests.api.conftest import Env
from tests.web.test_pages import csrf_of, login

COND = """detector: threshold
params:
  conditions:
    - {signal: value, limit: 28}
duration_s: 30
"""


def test_create_edit_backtest_and_catalogue(sqlite_env: Env) -> None:
    env = sqlite_env
    login(env.client, env.t1.users["admin"])
    env.client.cookies.set("plantguard_lang", "en")
    page = env.client.get("/detection-rules/new")
    assert page.status_code == 200 and "detector: threshold" in page.text
    token = csrf_of(page.text)
    form = {"csrf_token": token, "name": "HP high", "severity": "major", "scope": f"point:{env.t1.point_id}",
            "enabled": "1", "condition": COND.replace("limit: 28", "limit: 99").replace("threshold\n", "thresold\n"),
            "overrides": "", "description": ""}
    r = env.client.post("/detection-rules/new", data=form)
    assert r.status_code == 422
    assert "condition.detector" in r.text and "Unknown detector thresold" in r.text
    r = env.client.post("/detection-rules/new", data={**form, "condition": "detector: [unclosed"})
    assert r.status_code == 422 and "Not valid YAML or JSON" in r.text
    r = env.client.post("/detection-rules/new", data={**form, "condition": COND.replace("28", "99")})
    assert r.status_code == 422 and "condition.params.conditions.0.limit" in r.text and "outside the range" in r.text
    r = env.client.post("/detection-rules/new", data={**form, "condition": COND}, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    listing = env.client.get("/detection-rules")
    assert "HP high" in listing.text and "threshold" in listing.text

    now = datetime.now(UTC).replace(microsecond=0)
    b = ReadingBatch(env.t1.enterprise_id)
    for i in range(120):
        b.append(env.t1.point_id, to_us(now - timedelta(minutes=20) + timedelta(seconds=10 * i)),
                 30.0 if 30 <= i < 60 else 20.0)
    write_batch(env.db.engine, b)
    r = env.client.get(url, params={"hours": 1})
    assert r.status_code == 200
    assert 'id="backtest-chart"' in r.text and "detection.js" in r.text
    assert "would have alarmed 1 times" in r.text

    cat = env.client.get("/detection-rules/catalogue")
    assert cat.status_code == 200
    for name in ("threshold", "trend", "robust_z", "horizon_s", "max_gap_s"):
        assert name in cat.text

    edited = env.client.post(url, data={**form, "csrf_token": csrf_of(r.text), "condition": "{any: []}"})
    assert edited.status_code == 422 and "condition.any" in edited.text
    gone = env.client.post(f"{url}/delete", data={"csrf_token": csrf_of(r.text)}, follow_redirects=False)
    assert gone.status_code == 303
    assert env.client.get(url).status_code == 404


def test_read_only_roles_see_no_editor(sqlite_env: Env) -> None:
    login(sqlite_env.client, sqlite_env.t1.users["worker"])
    assert sqlite_env.client.get("/detection-rules").status_code == 200
    assert "New rule" not in sqlite_env.client.get("/detection-rules", headers={"Accept-Language": "en"}).text
    assert sqlite_env.client.get("/detection-rules/new").status_code == 403
