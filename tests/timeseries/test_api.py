"""The readings API and console pages over HTTP: the series as JSON and CSV, the live overview,
field-named 422s in the caller's language, tenant scope, and never a 5xx."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from plantguard.core.i18n import gettext
from plantguard.ingest.reading import ReadingBatch, now_us
from plantguard.timeseries.store import write_batch
from tests.api.conftest import Env, env, sqlite_env  # noqa: F401  (shared fixtures)
from tests.web.test_pages import login

S = 1_000_000
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
FROM, TO = "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"
EMPTY_LIVE = ("No readings yet: start the simulator or connect a device. Each point's latest value, its quality and "
              "its alarm state will then appear here and refresh every few seconds.")


def zh(message: str) -> str:
    """The catalogue's Chinese for ``message`` (the English id until the translation is added)."""
    return gettext(message, "zh_CN")


def ensure_mounted(app: FastAPI) -> None:
    """The readings API and pages on an app built before they were part of the factory
    (a no-op once ``api/app.py`` mounts them)."""
    paths = {getattr(r, "path", "") for r in app.router.routes}
    if "/api/v1/live" not in paths:
        from plantguard.timeseries.api import router

        app.include_router(router, prefix="/api/v1")
    if "/live" not in paths:
        from plantguard.timeseries.views import mount

        mount(app)


@pytest.fixture
def api(env: Env) -> Iterator[Env]:  # noqa: F811  (the imported fixture)
    ensure_mounted(env.client.app)  # type: ignore[arg-type]
    yield env


@pytest.fixture
def web(sqlite_env: Env) -> Iterator[Env]:  # noqa: F811  (the imported fixture)
    ensure_mounted(sqlite_env.client.app)  # type: ignore[arg-type]
    yield sqlite_env


def readings(e: Env, n: int = 120, step_s: float = 30.0, start: int = T0, bad_at: int | None = None) -> None:
    """``n`` readings valued 10 + i/4; the second one uncertain, the one at ``bad_at`` bad."""
    b = ReadingBatch(e.t1.enterprise_id)
    for i in range(n):
        if i == bad_at:
            b.append(e.t1.point_id, start + int(i * step_s * S), None, 2)
        else:
            b.append(e.t1.point_id, start + int(i * step_s * S), 10.0 + i / 4, 1 if i == 1 else 0)
    write_batch(e.db.engine, b)


def errors(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_error"
    return {e["field"]: e["message"] for e in body["errors"]}


def url(point_id: int, suffix: str = "", **params: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/points/{point_id}/series{suffix}" + (f"?{q}" if q else "")


# -- JSON ----------------------------------------------------------------------------------------


def test_raw_series_as_json(api: Env) -> None:
    readings(api, bad_at=2)
    r = api.client.get(url(api.t1.point_id, **{"from": FROM, "to": "2026-01-01T00:02:00Z", "agg": "raw"}),
                       headers=api.as_role("worker"))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["agg"] == "raw" and body["requested_agg"] == "raw" and body["resolution_s"] is None
    assert body["from"] == FROM and body["to"] == "2026-01-01T00:02:00Z" and body["size"] == 4
    assert body["t"] == ["2026-01-01T00:00:00Z", "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z",
                         "2026-01-01T00:01:30Z"]
    assert body["value"] == [10.0, 10.25, None, 10.75] and body["quality"] == [0, 1, 2, 0]
    assert body["min"] is None and body["count"] is None
    assert body["point"]["code"] == "EQ-1-HP" and body["point"]["unit"] == "MPa" and body["point"]["high_alarm"] == 28


def test_auto_series_as_rollups(api: Env) -> None:
    readings(api, n=6000, step_s=1.0)  # 100 minutes of one-second readings: more than auto shows raw
    r = api.client.get(url(api.t1.point_id, **{"from": FROM, "to": "2026-01-01T02:00:00Z"}),
                       headers=api.as_role("worker"))
    body = r.json()
    assert r.status_code == 200 and body["agg"] == "1m" and body["requested_agg"] == "auto"
    assert body["resolution_s"] == 60 and body["size"] == 100 and body["value"] is None
    assert body["t"][:2] == ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"]
    assert body["count"][0] == 59  # the second reading is uncertain: rollups hold good readings only
    assert body["min"][1] == 10.0 + 60 / 4 and body["max"][1] == 10.0 + 119 / 4
    assert body["avg"][1] == pytest.approx(10.0 + 89.5 / 4)


def test_default_range_is_the_last_day(api: Env) -> None:
    readings(api, n=3, step_s=600.0, start=now_us() - 3600 * S)
    body = api.client.get(url(api.t1.point_id), headers=api.as_role("auditor")).json()
    assert body["agg"] == "raw" and body["size"] == 3


# -- CSV -----------------------------------------------------------------------------------------


def test_csv_export_raw(api: Env) -> None:
    readings(api, n=5, bad_at=2)
    r = api.client.get(url(api.t1.point_id, ".csv", **{"from": FROM, "to": TO, "agg": "raw"}),
                       headers=api.as_role("worker"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="EQ-1-HP_20260101T000000Z_raw.csv"'
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows == [
        ["timestamp", "value", "quality"],
        ["2026-01-01T00:00:00Z", "10.0", "good"],
        ["2026-01-01T00:00:30Z", "10.25", "uncertain"],
        ["2026-01-01T00:01:00Z", "", "bad"],
        ["2026-01-01T00:01:30Z", "10.75", "good"],
        ["2026-01-01T00:02:00Z", "11.0", "good"],
    ]


def test_csv_export_rollups(api: Env) -> None:
    readings(api, n=240, step_s=30.0)  # two hours
    r = api.client.get(url(api.t1.point_id, ".csv", **{"from": FROM, "to": "2026-01-01T03:00:00Z", "agg": "1h"}),
                       headers=api.as_role("worker"))
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["bucket", "min", "max", "avg", "count"]
    assert [row[0] for row in rows[1:]] == ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"]
    assert rows[1][1:3] == ["10.0", "39.75"] and rows[1][4] == "119"  # reading 1 is uncertain
    assert rows[2][1:] == ["40.0", "69.75", str((40.0 + 69.75) / 2), "120"]
    assert r.headers["content-disposition"].endswith('_1h.csv"')


def test_csv_refusals_are_json_422s(api: Env) -> None:
    r = api.client.get(url(api.t1.point_id, ".csv", **{"from": "garbage"}), headers=api.as_role("worker"))
    assert set(errors(r)) == {"from"}
    assert api.client.get(url(api.t2.point_id, ".csv"), headers=api.as_role("worker")).status_code == 404


# -- refusals ------------------------------------------------------------------------------------


def test_bad_times_and_agg_name_the_field_in_the_callers_language(api: Env) -> None:
    h = api.as_role("worker", lang="zh-CN")
    got = errors(api.client.get(url(api.t1.point_id, **{"from": "garbage", "to": "2026-99-01"}), headers=h))
    assert set(got) == {"from", "to"} and "ISO-8601" in got["from"]
    got = errors(api.client.get(url(api.t1.point_id, agg="nope"), headers=api.as_role("worker")))
    assert set(got) == {"agg"} and "raw" in got["agg"] and "auto" in got["agg"]
    got = errors(api.client.get(url(api.t1.point_id, **{"from": TO, "to": FROM}), headers=api.as_role("worker")))
    assert set(got) == {"to"}
    got = errors(api.client.get(url(api.t1.point_id, **{"from": "2020-01-01T00:00:00Z", "to": TO}),
                                headers=api.as_role("worker")))
    assert got == {"from": "The range may span at most 400 days"}
    r = api.client.get(url(api.t1.point_id, **{"from": "x" * 65}), headers=api.as_role("worker"))
    assert set(errors(r)) == {"from"}


def test_a_too_large_raw_request_suggests_an_aggregation(api: Env) -> None:
    readings(api, n=20_001, step_s=0.1)  # 20,001 readings in 2,000 s
    r = api.client.get(url(api.t1.point_id, **{"from": FROM, "to": TO, "agg": "raw"}), headers=api.as_role("worker"))
    got = errors(r)
    assert set(got) == {"agg"} and "agg=1m" in got["agg"] and "20000" in got["agg"]
    ok = api.client.get(url(api.t1.point_id, **{"from": FROM, "to": TO, "agg": "1m"}), headers=api.as_role("worker"))
    assert ok.status_code == 200 and ok.json()["size"] == 34


def test_other_tenants_and_unknown_points_are_not_found(api: Env) -> None:
    h = api.as_role("worker")
    b = ReadingBatch(api.t2.enterprise_id)
    b.append(api.t2.point_id, T0, 1.0, 0)
    write_batch(api.db.engine, b)
    for pid in (api.t2.point_id, 10**9, 2**62):
        r = api.client.get(url(pid, **{"from": FROM, "to": TO}), headers=h)
        assert r.status_code == 404, (pid, r.text)
        assert r.json()["code"] == "not_found"
    assert api.client.get(url(api.t2.point_id, **{"from": FROM, "to": TO}),
                          headers=api.as_role("worker", api.t2)).json()["size"] == 1
    for bad_id in ("0", "-1", str(2**63), "abc", "1.5"):
        assert errors(api.client.get(f"/api/v1/points/{bad_id}/series", headers=h)).keys() == {"point_id"}


def test_sign_in_required(api: Env) -> None:
    assert api.client.get(url(api.t1.point_id)).status_code == 401
    assert api.client.get("/api/v1/live").status_code == 401


HOSTILE = ["%00", "2026-01-01T00:00:00%2B99:00", "%20", "", "9999-12-31T23:59:59.999999Z", "0001-01-01",
           "0001-01-01T00:00:00%2B14:00", "2026-01-01T25:00:00", "1e308", "NaN", "%F0%9F%92%A5", "--",
           "2026-01-01T00:00:00Z%00", "%ud800", "2026-W01", "20260101T000000Z"]


def test_hostile_input_never_answers_5xx(api: Env) -> None:
    h = api.as_role("worker")
    for value in HOSTILE:
        for suffix in ("", ".csv"):
            for name in ("from", "to"):
                r = api.client.get(f"{url(api.t1.point_id, suffix)}?{name}={value}&agg=raw", headers=h)
                assert r.status_code in (200, 422), (suffix, name, value, r.status_code, r.text)
        for query in (f"agg={value}", f"from={value}&to={value}"):
            r = api.client.get(f"{url(api.t1.point_id)}?{query}", headers=h)
            assert r.status_code in (200, 422), (query, r.text)
        r = api.client.get(f"/api/v1/live?area_id={value}", headers=h)
        assert r.status_code in (200, 422), (value, r.text)


# -- live ----------------------------------------------------------------------------------------


def test_live_overview(api: Env) -> None:
    h = api.as_role("worker")
    body = api.client.get("/api/v1/live", headers=h).json()
    (item,) = body["items"]
    assert item["code"] == "EQ-1-HP" and item["t"] is None and item["state"] == "none"
    assert item["quality_name"] == "none" and item["device"] is None and body["truncated"] is False

    b = ReadingBatch(api.t1.enterprise_id)
    b.append(api.t1.point_id, now_us() - 2 * S, 30.5, 0)  # above the high alarm (28)
    write_batch(api.db.engine, b)
    r = api.client.get(f"/api/v1/live?area_id={api.t1.area_id}", headers=h)
    assert r.headers["cache-control"] == "no-store"
    (item,) = r.json()["items"]
    assert item["value"] == 30.5 and item["state"] == "alarm" and item["quality_name"] == "good"
    assert item["stale"] is False and item["area_code"] == "ST" and item["equipment_code"] == "EQ-1"
    assert api.client.get(f"/api/v1/live?area_id={api.t1.area2_id}", headers=h).json()["items"] == []
    assert api.client.get(f"/api/v1/live?area_id={api.t2.area_id}", headers=h).json()["items"] == []
    assert set(errors(api.client.get("/api/v1/live?equipment_id=0", headers=h))) == {"equipment_id"}
    assert set(errors(api.client.get(f"/api/v1/live?area_id={2**63}", headers=h))) == {"area_id"}


# -- console pages -------------------------------------------------------------------------------


def test_trend_page(web: Env) -> None:
    login(web.client, "e1-worker")
    r = web.client.get(f"/points/{web.t1.point_id}/trend")
    assert r.status_code == 200
    assert zh("Trend") in r.text and "EQ-1-HP" in r.text
    assert "echarts-5.6.0.min.js" in r.text and "timeseries.js" in r.text
    m = re.search(r"data-config='([^']+)'", r.text)
    assert m
    config = json.loads(html.unescape(m.group(1)))
    assert config["url"] == f"/api/v1/points/{web.t1.point_id}/series" and config["unit"] == "MPa"
    # The threshold lines, labelled in the user's language.
    assert config["thresholds"] == [{"key": "high_alarm", "value": 28.0, "level": "alarm", "label": "高报警值"}]
    assert config["labels"]["agg"]["raw"] == zh("raw readings")
    assert web.client.get(f"/points/{web.t2.point_id}/trend").status_code == 404
    assert web.client.get("/points/0/trend").status_code == 404
    assert web.client.get(f"/points/{2**63}/trend").status_code == 404


def test_live_page_and_its_fragment(web: Env) -> None:
    assert web.client.get("/live", follow_redirects=False).status_code == 303  # sign-in first
    login(web.client, "e1-worker")
    empty = web.client.get("/live")
    assert empty.status_code == 200
    assert zh(EMPTY_LIVE).replace("'", "&#39;") in empty.text  # no readings yet: what to do, what will appear
    assert 'hx-trigger="every 5s' in empty.text and 'hx-get="/live/fragment"' in empty.text

    b = ReadingBatch(web.t1.enterprise_id)
    b.append(web.t1.point_id, now_us() - 1 * S, 12.5, 1)
    write_batch(web.db.engine, b)
    frag = web.client.get(f"/live/fragment?area_id={web.t1.area_id}", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and frag.headers["cache-control"] == "no-store"
    assert "<html" not in frag.text and 'id="live"' in frag.text
    assert f'hx-get="/live/fragment?area_id={web.t1.area_id}"' in frag.text  # the poll keeps the filter
    assert "12.5" in frag.text and "q-uncertain" in frag.text and 'data-state="normal"' in frag.text
    assert 'class="empty live-empty"' not in frag.text
    other = web.client.get(f"/live?area_id={web.t1.area2_id}")
    assert "12.5" not in other.text and zh("No measurement points match this filter.") in other.text
    assert web.client.get("/live?area_id=abc").status_code == 404


def test_live_fragment_after_sign_out_asks_htmx_to_sign_in(web: Env) -> None:
    r = web.client.get("/live/fragment", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/login?next=/live/fragment")


