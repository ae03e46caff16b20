"""The approval API on one app per backend: processes (list, XML, upload as a file or JSON,
refused uploads as 422 naming what is wrong in en and zh-CN, reset), approver assignments,
permit settings, and signing a permit from the phone (Idempotency-Key replay, a signature PNG,
403 naming the role needed in both languages, the inbox), with roles and tenants apart."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.permissions import Actor, Role
from plantguard.permits import service, workflow
from plantguard.tenancy.models import User
from tests.api.conftest import Env, build_app
from tests.conftest import Db, _truncate_all
from tests.factories import make_tenant
from tests.permits.factories import DAY, make_permit
from tests.permits.test_approvals import _override
from tests.permits.test_workflow import png

XML = {"Content-Type": "application/xml"}


@dataclass
class Api:
    env: Env

    def call(self, method: str, path: str, role: str = "safety_manager", lang: str = "en", tenant: Any = None,
             headers: dict[str, str] | None = None, **kw: Any) -> Any:
        h = {**self.env.as_role(role, tenant, lang=lang), **(headers or {})}
        return self.env.client.request(method, f"/api/v1{path}", headers=h, **kw)

    def user_id(self, role: str, tenant: Any = None) -> int:
        name = (tenant or self.env.t1).users[role]
        with self.env.db.factory() as s:
            uid = s.scalar(select(User.id).where(User.username == name))
            assert uid is not None
            return int(uid)

    def actor(self, role: str) -> Actor:
        return Actor(self.user_id(role), self.env.t1.enterprise_id, Role(role), self.env.t1.users[role])

    def pending_permit(self, type_code: str = "hot_work", grade: str = "second") -> int:
        sm = self.actor("safety_manager")
        with self.env.db.factory() as s:
            bind_actor(s, sm)
            p = make_permit(s, sm, type_code, grade)
            service.submit(s, sm, p.id, now=DAY - timedelta(minutes=30))
            s.commit()
            return int(p.id)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("permit-processes")
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
        with build_app(db, tmp) as client:
            yield Api(Env(db, client, t1, t2, {}))
    finally:
        if request.param == "postgres":
            _truncate_all(engine)
        engine.dispose()


def test_processes_upload_refusals_and_reset(api: Api) -> None:
    listed = api.call("GET", "/permit-processes", "auditor").json()
    assert len(listed) == 15 and {p["source"] for p in listed} == {"default"}
    special = next(p for p in listed if p["process_id"] == "permit_hot_work_special")
    assert special["roles"] == ["unit", "safety_dept", "plant_leader"] and special["grade_name"] == "特级"
    r = api.call("GET", "/permit-processes/permit_hot_work_second", "worker")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert r.text == workflow.default_xml("permit_hot_work_second")
    assert api.call("GET", "/permit-processes/permit_nothing").status_code == 404

    # Upload the file itself, then as JSON; the other enterprise keeps the default.
    body = _override(["unit", "safety_dept"])
    assert api.call("PUT", "/permit-processes/permit_hot_work_second", "team_leader", content=body,
                    headers=XML).status_code == 403
    r = api.call("PUT", "/permit-processes/permit_hot_work_second", content=body, headers=XML)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "enterprise" and r.json()["roles"] == ["unit", "safety_dept"]
    assert api.call("GET", "/permit-processes/permit_hot_work_second").text == body
    assert api.call("GET", "/permit-processes/permit_hot_work_second",
                    params={"default": "true"}).text == workflow.default_xml("permit_hot_work_second")
    other = api.call("GET", "/permit-processes", tenant=api.env.t2).json()
    assert {p["source"] for p in other} == {"default"}
    r = api.call("PUT", "/permit-processes/permit_hot_work_second",
                 json={"bpmn_xml": _override(["safety_dept"]), "name": "只由安全部审批"})
    assert r.status_code == 200 and r.json()["name"] == "只由安全部审批" and r.json()["roles"] == ["safety_dept"]

    # Refused uploads: 422 on bpmn_xml naming what is wrong, in both languages; nothing stored.
    cases = {
        "not xml at all": ("not well-formed XML", "XML"),
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "a"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&b;</bpmn:definitions>':
            ("DOCTYPE", "DOCTYPE"),
        _override(["unit", "boss"]): ("User task t1 is in lane boss, which is not an approver role", "t1"),
        _override(["unit"], "permit_hot_work_first"): ("with id permit_hot_work_second", "permit_hot_work_second"),
    }
    for xml, (en, zh) in cases.items():
        r = api.call("PUT", "/permit-processes/permit_hot_work_second", content=xml, headers=XML)
        assert r.status_code == 422, r.text
        err = r.json()["errors"][0]
        assert err["field"] == "bpmn_xml" and en in err["message"], err
        rz = api.call("PUT", "/permit-processes/permit_hot_work_second", content=xml, headers=XML, lang="zh-CN")
        assert zh in rz.json()["errors"][0]["message"] and "%(" not in rz.json()["errors"][0]["message"]
    zh_lane = api.call("PUT", "/permit-processes/permit_hot_work_second", content=_override(["unit", "boss"]),
                       headers=XML, lang="zh-CN").json()["errors"][0]["message"]
    assert "泳道" in zh_lane and "审批角色" in zh_lane
    r = api.call("PUT", "/permit-processes/permit_hot_work_second", json={"xml": "wrong field"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "bpmn_xml"
    big = b"<x>" + b" " * (workflow.MAX_BPMN_BYTES + 70 * 1024) + b"</x>"
    r = api.call("PUT", "/permit-processes/permit_hot_work_second", content=big, headers=XML)
    assert r.status_code == 422 and "too large" in r.json()["errors"][0]["message"]
    assert api.call("PUT", "/permit-processes/permit_nothing", content=body, headers=XML).status_code == 404
    assert api.call("GET", "/permit-processes/permit_hot_work_second").text == _override(["safety_dept"])

    # Back to the default; a second reset finds nothing.
    assert api.call("DELETE", "/permit-processes/permit_hot_work_second", "worker").status_code == 403
    assert api.call("DELETE", "/permit-processes/permit_hot_work_second").status_code == 204
    assert api.call("DELETE", "/permit-processes/permit_hot_work_second").status_code == 404
    assert api.call("GET", "/permit-processes/permit_hot_work_second").text == workflow.default_xml(
        "permit_hot_work_second")


def test_approvers_and_settings(api: Api) -> None:
    tl = api.user_id("team_leader")
    r = api.call("POST", "/permit-approvers", json={"role": "plant_leader", "user_id": tl,
                                                    "area_id": api.env.t1.area2_id})
    assert r.status_code == 201 and r.json()["role_name"].startswith("主管领导")
    aid = r.json()["id"]
    assert api.call("POST", "/permit-approvers", json={"role": "plant_leader", "user_id": tl,
                                                       "area_id": api.env.t1.area2_id}).status_code == 409
    bad = api.call("POST", "/permit-approvers", json={"role": "boss", "user_id": api.user_id("worker")})
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["role", "user_id"]
    assert api.call("POST", "/permit-approvers", "team_leader", json={"role": "unit", "user_id": tl}).status_code == 403
    listed = api.call("GET", "/permit-approvers", "auditor", params={"role": "plant_leader"}).json()
    assert [a["id"] for a in listed] == [aid]
    assert api.call("DELETE", f"/permit-approvers/{aid}", tenant=api.env.t2).status_code == 404
    assert api.call("DELETE", f"/permit-approvers/{aid}").status_code == 204
    assert api.call("GET", "/permit-approvers", params={"role": "plant_leader"}).json() == []

    assert api.call("GET", "/permit-config", "worker").json() == {
        "night_start": "20:00", "night_end": "06:00", "holidays": [], "workdays": [], "overrides": {}}
    body = {"night_start": "19:00", "night_end": "07:00", "holidays": ["2026-12-31", "2026-12-30"],
            "workdays": ["2026-10-10"], "overrides": {"blind_plate": {"validity_max_h": 12}}}
    assert api.call("PUT", "/permit-config", "team_leader", json=body).status_code == 403
    r = api.call("PUT", "/permit-config", json=body)
    assert r.status_code == 200 and r.json()["holidays"] == ["2026-12-30", "2026-12-31"]
    assert r.json()["overrides"] == {"blind_plate": {"validity_max_h": 12.0}}
    wrong = {**body, "night_start": "25:00", "holidays": ["2026-02-30"], "workdays": ["2026-12-31"],
             "overrides": {"flying": {}}}
    r = api.call("PUT", "/permit-config", json=wrong, lang="zh-CN")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["night_start", "holidays.0", "overrides.flying"]
    both = api.call("PUT", "/permit-config", json={**body, "workdays": ["2026-12-31"]}).json()
    assert both["errors"][0]["field"] == "workdays" and "2026-12-31" in both["errors"][0]["message"]
    assert api.call("GET", "/permit-config", tenant=api.env.t2).json()["night_start"] == "20:00"
    assert api.call("GET", "/permit-config").json()["night_start"] == "19:00"


def test_signing_on_the_phone(api: Api) -> None:
    tl, admin = api.user_id("team_leader"), api.user_id("admin")
    assert api.call("POST", "/permit-approvers", json={"role": "unit", "user_id": tl}).status_code == 201
    assert api.call("POST", "/permit-approvers", json={"role": "safety_dept", "user_id": admin}).status_code == 201
    pid = api.pending_permit("hot_work", "first")
    r = api.call("GET", f"/permits/{pid}/approval", "team_leader")
    assert r.status_code == 200
    step = r.json()["steps"][0]
    assert step["role"] == "unit" and step["can_sign"] and step["candidates"] == [
        {"user_id": tl, "name": "team_leader of E1"}]
    inbox = api.call("GET", "/permit-approvals/mine", "team_leader").json()
    assert [p["id"] for p in inbox] == [pid] and inbox[0]["steps"][0]["role"] == "unit"
    assert api.call("GET", "/permit-approvals/mine", "admin").json() == []

    # Not your step: 403 naming the role needed, in both languages; nothing changes.
    r = api.call("POST", f"/permits/{pid}/approval", "admin", json={"approve": True})
    assert r.status_code == 403
    assert r.json()["detail"] == "Only an approver assigned to Operating unit may sign this step"
    rz = api.call("POST", f"/permits/{pid}/approval", "admin", json={"approve": True}, lang="zh-CN")
    assert rz.status_code == 403 and "所在基层单位" in rz.json()["detail"]
    assert api.call("POST", f"/permits/{pid}/approval", "worker", json={"approve": True}).status_code == 403
    bad = api.call("POST", f"/permits/{pid}/approval", "team_leader", json={"approve": False})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "comment"
    bad = api.call("POST", f"/permits/{pid}/approval", "team_leader", json={"approve": True, "signature_png": "%%"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "signature_png"

    # Signed with a drawn signature and the phone's position; a replay returns the first answer.
    key = {"Idempotency-Key": "phone-sign-0001"}
    body = {"approve": True, "comment": "现场已确认", "lat": 31.2, "lon": 121.5,
            "signature_png": "data:image/png;base64," + base64.b64encode(png()).decode()}
    first = api.call("POST", f"/permits/{pid}/approval", "team_leader", json=body, headers=key)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pending_approval" and first.json()["steps"][0]["role"] == "safety_dept"
    sig = first.json()["signatures"][0]
    assert sig["step"] == "approve:unit" and sig["decision"] == "approved" and len(sig["image_sha256"]) == 64
    again = api.call("POST", f"/permits/{pid}/approval", "team_leader", json=body, headers=key)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["signatures"] == first.json()["signatures"]
    assert api.call("GET", "/permit-approvals/mine", "team_leader").json() == []
    assert [p["id"] for p in api.call("GET", "/permit-approvals/mine", "admin").json()] == [pid]

    # Another enterprise sees nothing; the admin's signature approves.
    assert api.call("GET", f"/permits/{pid}/approval", tenant=api.env.t2).status_code == 404
    assert api.call("POST", f"/permits/{pid}/approval", tenant=api.env.t2, json={"approve": True}).status_code == 404
    done = api.call("POST", f"/permits/{pid}/approval", "admin", json={"approve": True})
    assert done.status_code == 200 and done.json()["status"] == "approved"
    assert len(done.json()["content_sha256"]) == 64 and done.json()["steps"] == []
    r = api.call("POST", f"/permits/{pid}/approval", "admin", json={"approve": True})
    assert r.status_code == 409 and r.json()["detail"] == "Cannot approve this permit: it is Approved"

    # A refusal needs its reason and rejects the permit.
    pid2 = api.pending_permit("hot_work", "second")
    r = api.call("POST", f"/permits/{pid2}/approval", "team_leader", json={"approve": False, "comment": "措施不全"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["signatures"][-1]["decision"] == "rejected"
