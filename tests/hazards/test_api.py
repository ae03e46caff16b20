"""The hazard API on one app per backend: report (with Idempotency-Key replay), suggest, list
filters, photo upload checks, the step endpoints, refusals as 409/403 in zh-CN and en with
nothing changed, field errors (422 naming the field), deadline configuration, roles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from plantguard.core.db import make_engine, make_session_factory
from tests.api.conftest import Env, build_app
from tests.conftest import Db, _truncate_all
from tests.factories import make_tenant
from tests.hazards.test_service import png
from tests.workorders.conftest import wire_roster


@dataclass
class Api:
    env: Env

    def call(self, method: str, path: str, role: str = "safety_manager", lang: str = "en", **kw: Any) -> Any:
        return self.env.client.request(method, f"/api/v1{path}", headers=self.env.as_role(role, lang=lang), **kw)

    def new(self, **body: Any) -> dict[str, Any]:
        body = {"description": "配电柜门未关闭，电缆裸露", "area_id": self.env.t1.area_id, **body}
        r = self.call("POST", "/hazards", "worker", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("hazards")
    if request.param == "sqlite":
        path = tmp / "plantguard.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    db = Db(request.param, url, engine, make_session_factory(engine), make_session_factory(engine, read_only=True))
    try:
        t1, t2 = make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2")
        wire_roster(db, t1)
        wire_roster(db, t2)
        with build_app(db, tmp) as client:
            yield Api(Env(db, client, t1, t2, {}))
    finally:
        if request.param == "postgres":
            _truncate_all(engine)
        engine.dispose()


def test_report_replay_list_and_suggest(api: Api) -> None:
    h = api.new(category="electrical", lat=31.2, lon=121.5, location="二号配电室")
    assert h["status"] == "reported" and h["category"] == "electrical" and h["history"][0]["kind"] == "reported"
    headers = {**api.env.as_role("worker"), "Idempotency-Key": "abcdef123456"}
    body = {"description": "叉车灯不亮", "area_id": api.env.t1.area_id}
    first = api.env.client.post("/api/v1/hazards", json=body, headers=headers)
    again = api.env.client.post("/api/v1/hazards", json=body, headers=headers)
    assert first.json()["id"] == again.json()["id"] and again.headers.get("Idempotent-Replayed") == "true"
    page = api.call("GET", "/hazards", params={"category": "electrical"}).json()
    assert h["id"] in [i["id"] for i in page["items"]] and first.json()["id"] not in [i["id"] for i in page["items"]]
    assert api.call("GET", "/hazards", "auditor", params={"status": "open"}).status_code == 200
    other = api.env.client.get(f"/api/v1/hazards/{h['id']}", headers=api.env.as_role("safety_manager", api.env.t2))
    assert other.status_code == 404
    r = api.call("POST", "/hazards/suggest", "worker", json={"text": "电缆裸露"})
    assert r.status_code == 200 and "available" in r.json()
    bad = api.call("GET", "/hazards", params={"grade": "huge"}, lang="zh-CN")
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["grade"]
    bad = api.call("POST", "/hazards", "worker", json={"description": "", "area_id": api.env.t1.area_id})
    assert bad.status_code == 422 and "description" in [e["field"] for e in bad.json()["errors"]]
    assert api.call("POST", "/hazards", "auditor", json=body).status_code == 403


def test_loop_through_the_api_with_refusals_in_both_languages(api: Api) -> None:
    hid = api.new()["id"]
    assert api.call("POST", f"/hazards/{hid}/register", json={"category": "electrical"}).status_code == 200
    r = api.call("POST", f"/hazards/{hid}/assess", json={"grade": "major", "basis": ["GM10-3"]})
    assert r.status_code == 200 and r.json()["missing_five_items"]
    # 重大 without the five items: 409 naming them, nothing changed
    before = api.call("GET", f"/hazards/{hid}").json()
    for lang in ("en", "zh-CN"):
        r = api.call("POST", f"/hazards/{hid}/start", "worker", lang=lang)
        assert r.status_code == 409 and "%(" not in r.json()["detail"]
    assert "responsibility" in r.json()["detail"] or "责任" in r.json()["detail"]
    en = api.call("POST", f"/hazards/{hid}/start", "worker").json()["detail"]
    assert all(w in en for w in ("responsibility", "measures", "funds", "time limit", "emergency plan"))
    assert api.call("GET", f"/hazards/{hid}").json() == before
    plan = {"measures": "加装防护", "funds": "5000元", "plan_deadline_at": "2099-01-01T00:00:00Z",
            "emergency_plan": "断电隔离"}
    r = api.call("POST", f"/hazards/{hid}/plan", json=plan)
    assert r.status_code == 200 and r.json()["missing_five_items"] == ["responsibility (responsible person)"]
    users = api.call("GET", f"/hazards/{hid}").json()["reporter_id"]
    assert api.call("POST", f"/hazards/{hid}/plan", json={"responsible_id": users}).status_code == 200
    assert api.call("POST", f"/hazards/{hid}/start", "worker").status_code == 200
    # photos: type checked by content, kinds checked
    r = api.call("POST", f"/hazards/{hid}/attachments", "worker",
                 files={"file": ("x.png", b"not an image", "image/png")}, data={"kind": "before"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = api.call("POST", f"/hazards/{hid}/attachments", "worker",
                 files={"file": ("x.png", png(), "image/png")}, data={"kind": "sideways"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    for kind, data in (("before", png()), ("after", png()[:-1] + b"\x82")):
        r = api.call("POST", f"/hazards/{hid}/attachments", "worker", files={"file": ("x.png", data, "image/png")},
                     data={"kind": kind})
        assert r.status_code == 201, r.text
        assert len(r.json()["original_sha256"]) == 64
    att = r.json()["id"]
    assert api.call("GET", f"/hazards/{hid}/attachments/{att}").status_code == 200
    # close without acceptance
    assert api.call("POST", f"/hazards/{hid}/submit", "worker").status_code == 200
    before = api.call("GET", f"/hazards/{hid}").json()
    r = api.call("POST", f"/hazards/{hid}/close")
    assert r.status_code == 409 and "accepted" in r.json()["detail"]
    zh = api.call("POST", f"/hazards/{hid}/close", lang="zh-CN").json()["detail"]
    assert "待验收" in zh  # the status, in the user's language
    assert api.call("GET", f"/hazards/{hid}").json() == before
    # the rectifier may not accept
    r = api.call("POST", f"/hazards/{hid}/accept", "worker")
    assert r.status_code == 403
    assert api.call("GET", f"/hazards/{hid}").json() == before
    assert api.call("POST", f"/hazards/{hid}/accept", "team_leader").status_code == 200
    r = api.call("POST", f"/hazards/{hid}/close")
    assert r.status_code == 200 and r.json()["status"] == "closed"


def test_deadline_configuration_and_criteria(api: Api) -> None:
    assert api.call("GET", "/hazard-deadlines").json()["general_days"] == 7
    body = {"immediate_hours": 8, "general_days": 10, "major_days": 60, "escalate_every_hours": 12}
    assert api.call("PUT", "/hazard-deadlines", "worker", json=body).status_code == 403
    r = api.call("PUT", "/hazard-deadlines", json={**body, "general_days": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "general_days"
    assert api.call("PUT", "/hazard-deadlines", json=body).json() == body
    hid = api.new()["id"]
    api.call("POST", f"/hazards/{hid}/register")
    h = api.call("POST", f"/hazards/{hid}/assess", json={"grade": "general"}).json()
    assert h["deadline_at"] is not None
    lists = api.call("GET", "/hazard-criteria").json()["lists"]
    assert {cl["document"] for cl in lists} == {"应急管理部令第10号", "安监总管三〔2017〕121号"}
    assert len(next(cl for cl in lists if cl["year"] == 2017)["items"]) == 20


def test_console_pages(api: Api) -> None:
    from tests.web.test_pages import login

    hid = api.new()["id"]
    client = api.env.client
    login(client, api.env.t1.users["safety_manager"])
    r = client.get("/hazards?status=open")
    assert r.status_code == 200 and f'data-hazard="{hid}"' in r.text
    r = client.get(f"/hazards/{hid}")
    assert r.status_code == 200 and 'data-action="register"' in r.text
    from tests.web.test_pages import csrf_of

    token = csrf_of(r.text)
    refused = client.post(f"/hazards/{hid}/close", data={"csrf_token": token})
    assert refused.status_code == 409 and 'id="hz-error"' in refused.text
    ok = client.post(f"/hazards/{hid}/register", data={"csrf_token": token, "category": "fire"},
                     follow_redirects=False)
    assert ok.status_code == 303
    assert api.call("GET", f"/hazards/{hid}").json()["status"] == "registered"
