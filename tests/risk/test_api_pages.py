"""The register over HTTP: list with current level and filters, detail with sources, measures
and history, writes by role, a value outside its table refused naming the field in zh-CN and
en with nothing written, method versions; the console pages render and their forms work."""

from __future__ import annotations

from typing import Any

from plantguard.core.i18n import gettext
from plantguard.risk.methods import OUT_OF_TABLE
from plantguard.risk.models import RiskAssessment
from tests.api.conftest import Env
from tests.risk.test_register import count
from tests.web.test_pages import csrf_of, login


def post(env: Env, path: str, body: dict[str, Any], role: str = "safety_manager", lang: str = "en",
         method: str = "POST") -> Any:
    return env.client.request(method, path, json=body, headers=env.as_role(role, lang=lang))


def test_register_api(env: Env) -> None:
    t = env.t1
    r = post(env, "/api/v1/risk-points", {"code": "RP-1", "name": "压力机", "kind": "equipment", "area_id": t.area_id,
                                          "equipment_id": t.equipment_id, "responsible_level": "team"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    post(env, "/api/v1/risk-points", {"code": "RP-2", "name": "通道", "area_id": t.area2_id})
    src = post(env, f"/api/v1/risk-points/{pid}/hazard-sources", {"name": "模具", "consequences": ["machinery"]}).json()
    m = post(env, f"/api/v1/risk-sources/{src['id']}/measures", {"kind": "engineering", "description": "光幕"})
    assert m.status_code == 201
    a = post(env, f"/api/v1/risk-points/{pid}/assessments",
             {"method": "lec", "hazard_source_id": src["id"], "values": {"L": 6, "E": 6, "C": 7}})
    assert a.status_code == 201 and a.json()["level"] == "major" and a.json()["score"] == 252
    # refusals: the field named, in the caller's language, nothing written
    before = count(env.db, RiskAssessment)
    en = post(env, f"/api/v1/risk-points/{pid}/assessments", {"method": "lec", "values": {"L": 4, "E": 6, "C": 7}})
    zh = post(env, f"/api/v1/risk-points/{pid}/assessments", {"method": "lec", "values": {"L": 4, "E": 6, "C": 7}},
              lang="zh-CN")
    assert en.status_code == zh.status_code == 422
    assert en.json()["errors"][0]["field"] == zh.json()["errors"][0]["field"] == "values.L"
    assert "L = 4" in en.json()["errors"][0]["message"] and "table" in en.json()["errors"][0]["message"]
    # zh-CN: the catalogue's text for the same message (取值表 once the new msgids are merged)
    params = {"factor": "L", "value": "4", "allowed": "10, 6, 3, 1, 0.5, 0.2, 0.1"}
    assert zh.json()["errors"][0]["message"] == gettext(OUT_OF_TABLE, "zh_CN") % params
    assert en.json()["errors"][0]["message"] == OUT_OF_TABLE % params
    text = post(env, f"/api/v1/risk-points/{pid}/assessments", {"method": "ls", "values": {"L": "x", "S": 2}})
    assert text.status_code == 422 and text.json()["errors"][0]["field"] == "values.L"
    assert count(env.db, RiskAssessment) == before
    # list: current level, filters, tenancy
    h = env.as_role("worker")
    items = env.client.get("/api/v1/risk-points", headers=h).json()
    assert items["total"] == 2 and items["items"][0]["current_level"] == "major"
    none = env.client.get("/api/v1/risk-points", params={"level": "none"}, headers=h).json()
    assert [p["code"] for p in none["items"]] == ["RP-2"]
    assert env.client.get("/api/v1/risk-points", params={"area_id": t.area_id}, headers=h).json()["total"] == 1
    assert env.client.get("/api/v1/risk-points", params={"q": "通道"}, headers=h).json()["total"] == 1
    bad = env.client.get("/api/v1/risk-points", params={"level": "red"}, headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "level"
    assert env.client.get("/api/v1/risk-points", headers=env.as_role("safety_manager", env.t2)).json()["total"] == 0
    other = env.as_role("safety_manager", env.t2)
    assert env.client.get(f"/api/v1/risk-points/{pid}", headers=other).status_code == 404
    detail = env.client.get(f"/api/v1/risk-points/{pid}", headers=h).json()
    assert detail["hazard_sources"][0]["measures"][0]["description"] == "光幕"
    assert [x["score"] for x in detail["assessments"]] == [252]
    # roles: a worker reads but may not write
    assert post(env, f"/api/v1/risk-points/{pid}/assessments", {"method": "ls", "values": {"L": 1, "S": 1}},
                role="worker").status_code == 403
    # deactivate
    assert post(env, f"/api/v1/risk-points/{pid}", {"active": False}, method="PATCH").json()["active"] is False
    assert env.client.get("/api/v1/risk-points", headers=h).json()["total"] == 1
    # methods: defaults shown without writing; selecting a variant makes a version
    methods = env.client.get("/api/v1/risk-methods", headers=h).json()
    assert methods["lec"]["version"] == 1 and methods["ls"]["version"] == 0 and methods["ls"]["variant"] == "V1"
    assert set(methods["variants"]["ls"]) == {"V1", "V2", "V3"}
    put = post(env, "/api/v1/risk-methods/ls", {"variant": "V3"}, method="PUT")
    assert put.status_code == 200 and put.json()["version"] == 1 and put.json()["variant"] == "V3"
    wrong = post(env, "/api/v1/risk-methods/ls", {"variant": "custom", "spec": {"factors": {}}}, method="PUT",
                 lang="zh-CN")
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "spec.factors"


def test_console_pages(sqlite_env: Env) -> None:
    env, t = sqlite_env, sqlite_env.t1
    c = env.client
    assert login(c, t.users["safety_manager"]).status_code == 303  # type: ignore[attr-defined]
    page = c.get("/risk")
    assert page.status_code == 200 and 'href="/risk"' in page.text and 'id="risk-new"' in page.text
    r = c.post("/risk", data={"csrf_token": csrf_of(page.text), "code": "RP-9", "name": "配电室", "kind": "area",
                              "area_id": str(t.area_id), "responsible_level": "workshop"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    detail = c.get(url)
    assert detail.status_code == 200 and 'id="risk-assess"' in detail.text and "risk-method-data" in detail.text
    assert 'name="lec_L"' in detail.text and "完全可以预料" in detail.text
    token = csrf_of(detail.text)
    bad = c.post(url + "/assess", data={"csrf_token": token, "method": "lec", "lec_L": "4", "lec_E": "6", "lec_C": "7"})
    assert bad.status_code == 422 and "L = 4" in bad.text and 'id="risk-error"' in bad.text
    ok = c.post(url + "/assess", data={"csrf_token": token, "method": "ls", "ls_L": "4", "ls_S": "5"},
                follow_redirects=True)
    assert ok.status_code == 200 and 'data-level="major"' in ok.text and "risk-level-major" in ok.text
    listing = c.get("/risk", params={"level": "major"})
    assert "RP-9" in listing.text and "risk-level-major" in listing.text
    methods = c.get("/risk/methods")
    assert methods.status_code == 200 and 'id="variant-lec"' in methods.text and "V3" in methods.text
    saved = c.post("/risk/methods/lec", data={"csrf_token": csrf_of(methods.text), "variant": "B"},
                   follow_redirects=True)
    assert saved.status_code == 200 and "v1 · B" in saved.text  # the refused LEC assessment wrote no version
