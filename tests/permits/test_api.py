"""/api/v1/permits over HTTP: apply, read, list with filters, change a draft and the 409 after
submission (4.18) in zh-CN and en, refusals naming the field, the work steps with
Idempotency-Key replays, the signature as a PNG data URL, tenancy (404), roles (403) and the
permit-type catalogue in the caller's language."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from plantguard.audit.ledger import bind_actor
from plantguard.core.permissions import Actor, Role
from plantguard.permits.models import PermitEvent
from plantguard.tenancy.models import Person, User
from tests.api.conftest import Env, build_app
from tests.conftest import Db
from tests.factories import make_tenant
from tests.permits.factories import DAY, crew, make_approved, values

H = "Idempotency-Key"


@pytest.fixture
def env(db: Db, tmp_path: Path) -> Iterator[Env]:
    t1 = make_tenant(db.factory, "E1")
    t2 = make_tenant(db.factory, "E2")
    with build_app(db, tmp_path) as client:
        yield Env(db, client, t1, t2, {})


def actor(env: Env, role: str = "safety_manager") -> Actor:
    with env.db.factory() as s:
        u = s.scalars(select(User).where(User.username == env.t1.users[role])).one()
        return Actor(u.id, u.enterprise_id, Role(role), u.username, u.display_name)


def as_person(env: Env, person_id: int, lang: str = "en") -> dict[str, str]:
    with env.db.factory() as s:
        username = s.scalars(select(User.username).where(User.person_id == person_id)).one()
    return {"Authorization": f"Bearer {env.token(username)}", "Accept-Language": lang}


def body(env: Env, code: str = "hot_work", **kw: Any) -> dict[str, Any]:
    with env.db.factory() as s:
        b = values(s, env.t1.enterprise_id, code, **kw)
        s.commit()
    b = {k: v for k, v in b.items() if v is not None}
    return dict(json.loads(json.dumps(b, default=lambda o: o.isoformat())))


def post(env: Env, url: str, json_body: Any = None, role: str = "safety_manager", lang: str = "en",
         key: str | None = None, headers: dict[str, str] | None = None) -> Any:
    h = dict(headers or env.as_role(role, lang=lang))
    if key:
        h[H] = key
    return env.client.post(f"/api/v1{url}", json=json_body, headers=h)


def png_url() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (6, 3), (0, 0, 0)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_apply_read_and_replay(env: Env) -> None:
    b = body(env, "hot_work")
    r = post(env, "/permits", b, key="apply-key-0001", lang="zh-CN")
    assert r.status_code == 201, r.text
    d = r.json()
    assert re.fullmatch(r"DH-\d{8}-001", d["number"]) and d["status"] == "draft" and d["status_label"] == "草稿"
    assert d["type_name"] == "动火作业" and d["grade_name"] == "二级"
    assert len(d["measures"]) == 16 and d["measures"][0]["applicable"] is None
    assert [w["name"] for w in d["workers"]] == ["赵焊工", "钱电工"] and d["workers"][0]["certificate_no"]
    assert d["history"][0]["kind"] == "applied" and d["history"][0]["kind_label"] == "已申请"
    assert d["conflicts"] == [] and d["links"] == []
    again = post(env, "/permits", b, key="apply-key-0001")
    assert again.status_code == 201 and again.json()["id"] == d["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    en = env.client.get(f"/api/v1/permits/{d['id']}", headers=env.as_role("worker")).json()
    assert en["type_name"] == "Hot work" and en["status_label"] == "Draft"


def test_apply_refused_in_both_languages(env: Env) -> None:
    b = body(env, "work_at_height", fields={"height_m": 1.5})
    for lang, word in (("en", "not work at height"), ("zh-CN", "不属于高处作业")):
        r = post(env, "/permits", b, lang=lang)
        assert r.status_code == 422
        err = next(e for e in r.json()["errors"] if e["field"] == "fields.height_m")
        assert word in err["message"] and "GB 30871-2022 §8" in err["message"]
    r = post(env, "/permits", {**b, "fields": {"height_m": 8}, "colour": "red"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"
    assert post(env, "/permits", b, role="auditor").status_code == 403
    assert post(env, "/permits", b, role="worker").status_code == 403


def test_list_filters_and_tenancy(env: Env) -> None:
    pid = post(env, "/permits", body(env, "hot_work")).json()["id"]
    post(env, "/permits", body(env, "confined_space"))
    h = env.as_role("worker")
    r = env.client.get("/api/v1/permits", params={"type_code": "hot_work"}, headers=h).json()
    assert r["total"] == 1 and r["items"][0]["id"] == pid
    assert env.client.get("/api/v1/permits", headers=h).json()["total"] == 2
    window = {"from": (DAY + timedelta(days=1)).isoformat(), "to": (DAY + timedelta(days=2)).isoformat()}
    assert env.client.get("/api/v1/permits", params=window, headers=h).json()["total"] == 0
    assert env.client.get("/api/v1/permits", params={"status": "live"}, headers=h).json()["total"] == 0
    bad = env.client.get("/api/v1/permits", params={"status": "open"}, headers=env.as_role("worker", lang="zh-CN"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    other = env.as_role("safety_manager", env.t2)
    assert env.client.get(f"/api/v1/permits/{pid}", headers=other).status_code == 404
    assert env.client.get("/api/v1/permits", headers=other).json()["total"] == 0
    assert post(env, f"/permits/{pid}/submit", headers=other).status_code == 404
    assert env.client.patch(f"/api/v1/permits/{pid}", json={"content": "x"}, headers=other).status_code == 404


def test_patch_a_draft_and_409_after_submission(env: Env) -> None:
    pid = post(env, "/permits", body(env, "work_at_height")).json()["id"]
    h = env.as_role("safety_manager")
    r = env.client.patch(f"/api/v1/permits/{pid}", json={"fields": {"height_m": 35}}, headers=h)
    assert r.status_code == 200 and r.json()["grade"] == "IV"
    assert post(env, f"/permits/{pid}/submit", {"note": "请审批"}).status_code == 200
    for lang, word in (("en", "can no longer be changed"), ("zh-CN", "不能再更改")):
        r = env.client.patch(f"/api/v1/permits/{pid}", json={"content": "改一下"},
                             headers=env.as_role("safety_manager", lang=lang))
        assert r.status_code == 409
        assert word in r.json()["detail"] and "GB 30871-2022 4.18" in r.json()["detail"]
    with env.db.factory() as s:
        n = s.scalar(select(func.count()).select_from(PermitEvent).where(PermitEvent.permit_id == pid))
    assert n == 3  # applied, edited, submitted: the refused change left nothing


def test_work_steps_with_idempotency_keys(env: Env) -> None:
    sm = actor(env)
    with env.db.factory() as s:
        bind_actor(s, sm)
        p = make_approved(s, sm, "hot_work")
        s.commit()
        pid, guardian_id = p.id, p.guardian_id
        c = crew(s, sm.enterprise_id)
        leader_id, worker_id = c.leader.id, c.workers[0].id
    assert guardian_id is not None
    url = f"/permits/{pid}/measures/HW01"
    r1 = post(env, url, {"applicable": True}, key="measure-key-01")
    r2 = post(env, url, {"applicable": True}, key="measure-key-01")
    assert r1.status_code == r2.status_code == 200 and r2.headers.get("Idempotent-Replayed") == "true"
    assert [h["kind"] for h in r2.json()["history"]].count("measure_confirmed") == 1
    assert post(env, f"/permits/{pid}/measures/XX99", {"applicable": True}).status_code == 422
    r = post(env, f"/permits/{pid}/gas-analyses", {"kind": "combustible", "value": 30, "unit": "%LEL",
                                                   "gas_code": "methane", "sample_point": "动火点"})
    a = r.json()["analyses"][0]
    assert r.status_code == 200 and a["passed"] is False and a["vol_pct"] == 1.5 and "5.3.2" in a["limit_text"]
    bad = post(env, f"/permits/{pid}/gas-analyses", {"kind": "oxygen", "value": 20, "unit": "ppm"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "unit"
    sig = {"step": "guardian", "signature_png": png_url(), "lat": 31.2, "lon": 121.5}
    r = post(env, f"/permits/{pid}/signatures", sig, headers=as_person(env, leader_id, "zh-CN"))
    assert r.status_code == 409 and "GB 30871-2022 4.10" in r.json()["detail"]
    r = post(env, f"/permits/{pid}/signatures", sig, headers={**as_person(env, guardian_id), H: "sign-key-0001"})
    assert r.status_code == 200 and r.json()["signatures"][-1]["step"] == "guardian"
    assert r.json()["signatures"][-1]["image_sha256"]
    again = post(env, f"/permits/{pid}/signatures", sig, headers={**as_person(env, guardian_id), H: "sign-key-0001"})
    assert again.status_code == 200 and len(again.json()["signatures"]) == len(r.json()["signatures"])
    bad_png = post(env, f"/permits/{pid}/signatures", {"step": "briefee", "signature_png": "data:image/gif;base64,R0"},
                   headers=as_person(env, worker_id))
    assert bad_png.status_code == 422 and bad_png.json()["errors"][0]["field"] == "signature_png"
    # start refused with every missing condition named (the clock is now, outside the window)
    r = post(env, f"/permits/{pid}/start", role="team_leader", lang="zh-CN")
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"planned_start", "signatures", "measures", "gas_analyses"} <= fields
    assert any("GB 30871-2022 4.16" in e["message"] for e in r.json()["errors"])
    assert post(env, f"/permits/{pid}/close").status_code == 409  # not completed
    assert post(env, f"/permits/{pid}/suspend", {"reason": "break"}).status_code == 409  # not active
    r = post(env, f"/permits/{pid}/cancel", {"reason": "方案变更"}, role="admin")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    with env.db.factory() as s:
        assert s.get(Person, guardian_id) is not None


def test_permit_types_catalogue_in_the_callers_language(env: Env) -> None:
    zh = env.client.get("/api/v1/permit-types", headers=env.as_role("auditor", lang="zh-CN")).json()
    en = env.client.get("/api/v1/permit-types", headers=env.as_role("auditor", lang="en")).json()
    assert [t["code"] for t in zh["types"]][:2] == ["hot_work", "confined_space"] and len(zh["types"]) == 8
    hot_zh, hot_en = zh["types"][0], en["types"][0]
    assert hot_zh["name"] == "动火作业" and hot_en["name"] == "Hot work"
    assert [g["validity_max_h"] for g in hot_en["grades"]] == [8, 8, 72]
    assert hot_en["grades"][0]["approvers"][-1]["role"] == "plant_leader"
    assert hot_zh["fields"][0]["label"] == "动火方式" and hot_en["fields"][0]["label"] == "Hot-work method"
    assert len(hot_en["measures"]) == 16 and hot_en["gas"]["before_start_min"] == 30
    assert en["gases"]["methane"] == {"name": "Methane", "lel_vol": 5.0}


def test_apply_with_only_the_required_keys(env: Env) -> None:
    full = body(env, "road_breaking")
    keep = ("type_code", "content", "area_id", "planned_start", "planned_end", "fields", "work_leader_id", "workers")
    r = post(env, "/permits", {k: full[k] for k in keep}, role="contractor")
    assert r.status_code == 201, r.text
    d = r.json()
    assert (d["applicant_unit"], d["location"], d["jsa"], d["grade"]) == ("", "", [], "none")
    assert d["continuous_monitoring"] is False
