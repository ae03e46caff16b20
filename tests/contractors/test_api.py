"""The contractors API on one app per backend: companies (status, credit code, unique name,
delete refused while workers are on record), qualifications, workers (new or attached, one
company at a time), workers' certificates with kind_code, the admission endpoint, safety
inductions (valid_until default and its setting), the expiring list; field errors named and
translated (en, zh-CN), roles, and another tenant's records not found."""

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


@dataclass
class Api:
    env: Env

    def call(self, method: str, path: str, role: str = "safety_manager", lang: str = "en", other: bool = False,
             **kw: Any) -> Any:
        headers = self.env.as_role(role, self.env.t2 if other else None, lang=lang)
        return self.env.client.request(method, f"/api/v1{path}", headers=headers, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    def fields(self, r: Any, status: int = 422) -> list[str]:
        assert r.status_code == status, r.text
        return [e["field"] for e in r.json()["errors"]]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("contractors")
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


def test_companies(api: Api) -> None:
    c = api.ok("POST", "/contractors", 201, json={
        "name": "苏州恒通机电安装有限公司", "credit_code": "91440300708461136t", "contact_name": "刘建明"})
    assert c["status"] == "pending" and c["credit_code"] == "91440300708461136T" and c["worker_count"] == 0
    assert api.fields(api.call("POST", "/contractors", json={"name": "苏州恒通机电安装有限公司"})) == ["name"]
    bad = api.call("POST", "/contractors", json={"name": "甲", "credit_code": "91440300708461136X"})
    assert api.fields(bad) == ["credit_code"] and bad.json()["errors"][0]["message"] == \
        "Not a valid unified social credit code"
    zh = api.call("POST", "/contractors", lang="zh-CN", json={"name": "甲", "credit_code": "123"})
    assert zh.json()["errors"][0]["message"] == "不是有效的统一社会信用代码"
    assert api.fields(api.call("POST", "/contractors", json={"name": "乙", "status": "approved"})) == ["status"]
    assert api.fields(api.call("POST", "/contractors", json={"name": "乙", "nonsense": 1})) == ["nonsense"]
    up = api.ok("PATCH", f"/contractors/{c['id']}", json={"status": "admitted", "agreement_until": "2030-01-01"})
    assert up["status"] == "admitted" and up["next_expiry"] == "2030-01-01"
    assert api.fields(api.call("PATCH", f"/contractors/{c['id']}", json={"name": None})) == ["name"]
    page = api.ok("GET", "/contractors", params={"status": "admitted"}, role="auditor")
    assert [x["id"] for x in page["items"]] == [c["id"]]
    assert api.ok("GET", "/contractors", params={"q": "恒通"}, role="contractor")["total"] == 1
    assert api.fields(api.call("GET", "/contractors", params={"status": "nope"})) == ["status"]
    # Roles: a team leader reads but may not write; another tenant does not see it at all.
    assert api.call("POST", "/contractors", "team_leader", json={"name": "丙"}).status_code == 403
    assert api.call("GET", f"/contractors/{c['id']}", other=True).status_code == 404
    assert api.call("PATCH", f"/contractors/{c['id']}", other=True, json={"status": "blacklisted"}).status_code == 404
    assert api.call("DELETE", f"/contractors/{c['id']}", other=True).status_code == 404
    assert api.ok("GET", "/contractors", other=True)["total"] == 0
    # A company with a worker on record is not deleted (its worker would pass as an employee).
    api.ok("POST", f"/contractors/{c['id']}/workers", 201, json={"employee_no": "CTX1", "name": "张三"})
    r = api.call("DELETE", f"/contractors/{c['id']}")
    assert r.status_code == 409 and "still has 1 workers" in r.json()["detail"]
    assert "仍有 1 名人员在册" in api.call("DELETE", f"/contractors/{c['id']}", lang="zh-CN").json()["detail"]
    empty = api.ok("POST", "/contractors", 201, json={"name": "待删除单位"})
    api.ok("DELETE", f"/contractors/{empty['id']}", 204)
    assert api.call("GET", f"/contractors/{empty['id']}").status_code == 404


def test_qualifications_workers_certificates_admission(api: Api) -> None:
    c = api.ok("POST", "/contractors", 201, json={"name": "昆山立达钢结构工程有限公司", "status": "admitted",
                                                  "agreement_until": "2031-12-31"})
    base = f"/contractors/{c['id']}"
    assert api.fields(api.call("POST", f"{base}/qualifications", json={
        "kind": "安全生产许可证", "issued_on": "2025-01-01", "expires_on": "2024-01-01"})) == ["expires_on"]
    assert api.fields(api.call("POST", f"{base}/qualifications", json={"kind": ""})) == ["kind"]
    q = api.ok("POST", f"{base}/qualifications", 201, json={"kind": "安全生产许可证", "number": "苏JZ-1",
                                                            "expires_on": "2031-06-30"})
    assert api.ok("PATCH", f"{base}/qualifications/{q['id']}", json={"number": "苏JZ-2"})["number"] == "苏JZ-2"
    assert api.fields(api.call("PATCH", f"{base}/qualifications/{q['id']}", json={"issued_on": "2032-01-01"})) \
        == ["expires_on"]
    assert [x["id"] for x in api.ok("GET", f"{base}/qualifications")] == [q["id"]]
    assert api.call("GET", f"{base}/qualifications", other=True).status_code == 404
    assert api.call("DELETE", f"{base}/qualifications/{q['id']}", other=True).status_code == 404

    # Workers: a new person, or a person of the roster; one company at a time.
    w = api.ok("POST", f"{base}/workers", 201, json={"employee_no": "CT0100", "name": "孙浩", "job_title": "焊工"})
    assert w["contractor_company_id"] == c["id"] and not w["admitted"]
    assert w["reasons"] == ["孙浩 (CT0100) has no passed safety induction valid on " + w["reasons"][0][-10:]]
    zh = api.ok("GET", f"{base}/workers", lang="zh-CN")
    assert zh[0]["reasons"][0].startswith("孙浩 (CT0100) 没有在 ")
    assert api.fields(api.call("POST", f"{base}/workers", json={"employee_no": "CT0100", "name": "重复"})) \
        == ["employee_no"]
    assert sorted(api.fields(api.call("POST", f"{base}/workers", json={}))) == ["employee_no", "name"]
    assert api.fields(api.call("POST", f"{base}/workers", json={"person_id": w["id"], "name": "x"})) == ["person_id"]
    emp = api.env.t1.person_id
    attached = api.ok("POST", f"{base}/workers", 201, json={"person_id": emp})
    assert attached["id"] == emp and attached["contractor_company_id"] == c["id"]
    other = api.ok("POST", "/contractors", 201, json={"name": "另一家单位"})
    r = api.call("POST", f"/contractors/{other['id']}/workers", json={"person_id": emp})
    assert api.fields(r) == ["person_id"]
    assert "already works for 昆山立达钢结构工程有限公司" in r.json()["errors"][0]["message"]
    # Another tenant's person cannot be attached (not found, named on the field).
    assert api.fields(api.call("POST", f"{base}/workers", json={"person_id": api.env.t2.person_id})) == ["person_id"]

    # Certificates with kind_code (what the permit rules match).
    cb = f"{base}/workers/{w['id']}/certificates"
    assert api.fields(api.call("POST", cb, json={"kind": "焊工证", "kind_code": "TZ WELD"})) == ["kind_code"]
    cert = api.ok("POST", cb, 201, json={"kind": "特种作业操作证（焊接与热切割作业）", "kind_code": "TZ-WELD",
                                         "number": "T3205", "expires_on": "2029-05-01"})
    assert cert["kind_code"] == "TZ-WELD" and cert["person_id"] == w["id"]
    assert api.ok("PATCH", f"{cb}/{cert['id']}", json={"kind_code": "TZ-HEIGHT"})["kind_code"] == "TZ-HEIGHT"
    assert api.fields(api.call("PATCH", f"{cb}/{cert['id']}", json={"kind": None})) == ["kind"]
    person = api.ok("GET", f"/people/{w['id']}")
    assert [x["number"] for x in person["certificates"]] == ["T3205"]
    # The person is this company's worker only: through another company, not found.
    assert api.call("GET", f"/contractors/{other['id']}/workers/{w['id']}/certificates").status_code == 404
    assert api.call("POST", f"/contractors/{other['id']}/workers/{w['id']}/certificates",
                    json={"kind": "x"}).status_code == 404

    # Admission: passed induction -> admitted today; a day past its validity -> refused, with the reason.
    ind = api.ok("POST", "/safety-inductions", 201, json={"person_id": w["id"], "held_on": "2026-01-31",
                                                          "topic": "入场三级安全教育", "hours": 24, "score": 88})
    assert ind["valid_until"] == "2027-01-31"
    adm = api.ok("GET", f"{base}/workers/{w['id']}/admission", params={"on": "2026-06-01"})
    assert adm["admitted"] and adm["reasons"] == [] and adm["company_name"] == "昆山立达钢结构工程有限公司"
    adm = api.ok("GET", f"{base}/workers/{w['id']}/admission", params={"on": "2027-02-01"})
    assert not adm["admitted"] and adm["reasons"] == ["The safety induction of 孙浩 (CT0100) expired on 2027-01-31"]
    adm = api.ok("GET", f"{base}/workers/{w['id']}/admission", params={"on": "2031-07-01"}, lang="zh-CN")
    assert "昆山立达钢结构工程有限公司的安全生产许可证 苏JZ-2 已于 2031-06-30 过期" in adm["reasons"]
    assert api.call("GET", f"{base}/workers/{w['id']}/admission", other=True).status_code == 404

    api.ok("DELETE", f"{cb}/{cert['id']}", 204)
    assert api.ok("GET", cb) == []
    # Leaving the company: no longer its worker, and inactive (not silently an employee).
    api.ok("DELETE", f"{base}/workers/{emp}", 204)
    assert api.ok("GET", f"/people/{emp}")["active"] is False
    assert [x["id"] for x in api.ok("GET", f"{base}/workers")] == [w["id"]]
    api.ok("PATCH", f"/people/{emp}", json={"active": True})


def test_inductions(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    c = api.ok("POST", "/contractors", 201, json={"name": "培训测试单位"})
    w = api.ok("POST", f"/contractors/{c['id']}/workers", 201, json={"employee_no": "CT0200", "name": "李四"})
    body = {"person_id": w["id"], "held_on": "2024-02-29", "topic": "入场安全教育"}
    leap = api.ok("POST", "/safety-inductions", 201, json=body)
    assert leap["valid_until"] == "2025-02-28" and leap["passed"] is True and leap["hours"] == 0
    monkeypatch.setenv("PLANTGUARD_INDUCTION_VALID_MONTHS", "6")
    assert api.ok("POST", "/safety-inductions", 201, json={**body, "held_on": "2026-08-31"})["valid_until"] \
        == "2027-02-28"
    monkeypatch.delenv("PLANTGUARD_INDUCTION_VALID_MONTHS")
    r = api.call("POST", "/safety-inductions", json={**body, "valid_until": "2024-01-01"}, lang="zh-CN")
    assert api.fields(r) == ["valid_until"] and r.json()["errors"][0]["message"] == "不得早于培训日期"
    assert api.fields(api.call("POST", "/safety-inductions", json={**body, "score": 101})) == ["score"]
    assert api.fields(api.call("POST", "/safety-inductions", json={**body, "person_id": api.env.t2.person_id})) \
        == ["person_id"]
    assert api.fields(api.call("POST", "/safety-inductions", json={**body, "topic": " "})) == ["topic"]
    assert api.call("POST", "/safety-inductions", "worker", json=body).status_code == 403
    by_company = api.ok("GET", "/safety-inductions", params={"company_id": c["id"]})
    assert by_company["total"] == 2 and by_company["items"][0]["held_on"] == "2026-08-31"
    assert api.ok("GET", "/safety-inductions", params={"person_id": api.env.t1.person_id})["total"] == 0
    assert api.ok("GET", "/safety-inductions", other=True)["total"] == 0
    upd = api.ok("PATCH", f"/safety-inductions/{leap['id']}", json={"passed": False, "score": 40})
    assert upd["passed"] is False and upd["score"] == 40
    assert api.fields(api.call("PATCH", f"/safety-inductions/{leap['id']}", json={"held_on": "2026-01-01"})) \
        == ["valid_until"]
    assert api.fields(api.call("PATCH", f"/safety-inductions/{leap['id']}", json={"valid_until": None})) \
        == ["valid_until"]
    assert api.call("PATCH", f"/safety-inductions/{leap['id']}", other=True, json={"passed": True}).status_code == 404
    assert api.call("DELETE", f"/safety-inductions/{leap['id']}", other=True).status_code == 404
    api.ok("DELETE", f"/safety-inductions/{leap['id']}", 204)
    assert api.call("GET", f"/safety-inductions/{leap['id']}").status_code == 404


def test_expiring_endpoint(api: Api) -> None:
    out = api.ok("GET", "/contractors/expiring", params={"days": 30}, role="worker")
    assert out["days"] == 30 and all(i["days_left"] <= 30 for i in out["items"])
    assert all(set(i) >= {"kind", "expires_on", "expired", "contractor", "company_name", "person_name"}
               for i in out["items"])
    assert api.fields(api.call("GET", "/contractors/expiring", params={"days": -1})) == ["days"]
    assert api.fields(api.call("GET", "/contractors/expiring", params={"days": 4000})) == ["days"]
    assert api.ok("GET", "/contractors/expiring", other=True)["items"] == []
