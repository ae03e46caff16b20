"""The inspection API and pages through HTTP: plans CRUD, list filters, checklist edit, check-in
and results with Idempotency-Key, labels, console pages, tenancy and roles (SQLite; the service
tests cover PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.inspections.models import InspectionTag
from tests.api.conftest import Env, build_app
from tests.conftest import Db
from tests.factories import make_tenant
from tests.inspections.conftest import Point, make_point
from tests.web.test_pages import login
from tests.workorders.conftest import wire_roster


class Api:
    def __init__(self, env: Env, p1: Point, p2: Point) -> None:
        self.env, self.p1, self.p2 = env, p1, p2

    @property
    def c(self) -> TestClient:
        return self.env.client

    def h(self, role: str, tenant: Any = None, **extra: str) -> dict[str, str]:
        return {**self.env.as_role(role, tenant or self.env.t1), **extra}


@pytest.fixture
def api(sqlite_db: Db, tmp_path: object) -> Iterator[Api]:
    t1 = make_tenant(sqlite_db.factory, "E1")
    t2 = make_tenant(sqlite_db.factory, "E2")
    wire_roster(sqlite_db, t1)
    wire_roster(sqlite_db, t2)
    p1, p2 = make_point(sqlite_db, t1), make_point(sqlite_db, t2)
    with build_app(sqlite_db, tmp_path) as client:
        yield Api(Env(sqlite_db, client, t1, t2, {}), p1, p2)


def test_plan_crud_tasks_checkin_results(api: Api) -> None:
    c, t1 = api.c, api.env.t1
    body = {"name": "冲压班检", "frequency": "shift", "risk_point_ids": [api.p1.id], "team_id": t1.team_id}
    assert c.post("/api/v1/inspection-plans", json=body, headers=api.h("worker")).status_code == 403
    bad = c.post("/api/v1/inspection-plans", json={**body, "frequency": "hourly"}, headers=api.h("safety_manager"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "frequency"
    r = c.post("/api/v1/inspection-plans", json=body, headers=api.h("safety_manager"))
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["risk_point_ids"] == [api.p1.id]
    # another tenant sees neither the plan nor its tasks
    other = api.h("safety_manager", api.env.t2)
    assert c.get(f"/api/v1/inspection-plans/{plan['id']}", headers=other).status_code == 404
    assert c.get("/api/v1/inspections", headers=api.h("safety_manager", api.env.t2)).json()["total"] == 0
    page = c.get("/api/v1/inspections?status=open&mine=true", headers=api.h("worker")).json()
    assert page["total"] == 1
    task = page["items"][0]
    assert c.get("/api/v1/inspections?status=late", headers=api.h("worker")).status_code == 422
    detail = c.get(f"/api/v1/inspections/{task['id']}", headers=api.h("worker")).json()
    assert [i["measure_id"] for i in detail["checklist"]] == api.p1.measure_ids

    with api.env.db.factory() as s:
        token = s.scalar(select(InspectionTag.token).where(InspectionTag.risk_point_id == api.p1.id))
    wrong = c.post(f"/api/v1/inspections/{task['id']}/checkin", json={"token": "nope-nope-nope"},
                   headers=api.h("worker"))
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "token"
    key = {"Idempotency-Key": "checkin-0001"}
    ci = c.post(f"/api/v1/inspections/{task['id']}/checkin", json={"token": token, "geo_status": "denied"},
                headers=api.h("worker", **key))
    assert ci.status_code == 201 and ci.json()["geo_status"] == "denied" and ci.json()["lat"] is None
    again = c.post(f"/api/v1/inspections/{task['id']}/checkin", json={"token": token, "geo_status": "denied"},
                   headers=api.h("worker", **key))
    assert again.status_code == 201 and again.json()["id"] == ci.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    photo = c.post(f"/api/v1/inspections/{task['id']}/photos", files={"file": ("a.png", png, "image/png")},
                   headers=api.h("worker"))
    assert photo.status_code == 201, photo.text
    exe = c.post(f"/api/v1/inspections/{task['id']}/photos", files={"file": ("a.png", b"MZ\x90\x00", "image/png")},
                 headers=api.h("worker"))
    assert exe.status_code == 422
    items = detail["checklist"]
    res = c.post(f"/api/v1/inspections/{task['id']}/results", headers=api.h("worker"), json={
        "checkin_id": ci.json()["id"], "results": [
            {"item_id": items[0]["id"], "outcome": "not_ok", "note": "光电保护失效", "photo_id": photo.json()["id"]},
            {"item_id": items[1]["id"], "outcome": "ok"}]})
    assert res.status_code == 200, res.text
    done = res.json()
    assert done["status"] == "done"
    assert done["results"][0]["hazard_id"] is not None and done["results"][1]["hazard_id"] is None
    late = c.post(f"/api/v1/inspections/{task['id']}/checkin", json={"token": token}, headers=api.h("worker"))
    assert late.status_code == 409
    assert c.get("/api/v1/inspections?status=done", headers=api.h("auditor")).json()["total"] == 1

    upd = c.put(f"/api/v1/inspection-plans/{plan['id']}", json={**body, "active": False},
                headers=api.h("team_leader"))
    assert upd.status_code == 200 and upd.json()["active"] is False
    assert c.delete(f"/api/v1/inspection-plans/{plan['id']}", headers=api.h("worker")).status_code == 403


def test_checklist_edit_and_labels(api: Api) -> None:
    c, pid = api.c, api.p1.id
    first = c.get(f"/api/v1/inspection-checklists/{pid}", headers=api.h("safety_manager")).json()["items"]
    assert len(first) == 2
    edited = c.put(f"/api/v1/inspection-checklists/{pid}/items/{first[0]['id']}", json={"text": "改写的检查项"},
                   headers=api.h("safety_manager"))
    assert edited.status_code == 200 and edited.json()["edited"] is True
    empty = c.put(f"/api/v1/inspection-checklists/{pid}/items/{first[0]['id']}", json={"text": ""},
                  headers=api.h("safety_manager"))
    assert empty.status_code == 422
    added = c.post(f"/api/v1/inspection-checklists/{pid}/items", json={"text": "消防通道畅通"},
                   headers=api.h("safety_manager"))
    assert added.status_code == 201
    assert c.delete(f"/api/v1/inspection-checklists/{pid}/items/{first[1]['id']}",
                    headers=api.h("safety_manager")).status_code == 204
    order = [added.json()["id"], first[0]["id"]]
    out = c.put(f"/api/v1/inspection-checklists/{pid}/order", json={"order": order}, headers=api.h("safety_manager"))
    assert [i["id"] for i in out.json()["items"]] == order
    regen = c.post(f"/api/v1/inspection-checklists/{pid}/regenerate", headers=api.h("safety_manager")).json()
    assert [i["text"] for i in regen["items"]] == ["消防通道畅通", "改写的检查项"]
    assert c.post(f"/api/v1/inspection-checklists/{api.p2.id}/regenerate",
                  headers=api.h("safety_manager")).status_code == 404
    pdf = c.get("/api/v1/inspection-labels", headers=api.h("safety_manager"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert c.get("/api/v1/inspection-labels", headers=api.h("worker")).status_code == 403
    svg = c.get(f"/api/v1/inspection-tags/{pid}/qr.svg", headers=api.h("safety_manager"))
    assert svg.status_code == 200 and b"<svg" in svg.content


def test_console_pages_and_dashboard_panel(api: Api) -> None:
    c, env = api.c, api.env
    login(c, env.t1.users["safety_manager"])
    empty = c.get("/dashboard/inspections")
    assert empty.status_code == 200 and 'class="empty"' in empty.text
    body = {"name": "冲压日检", "frequency": "day", "risk_point_ids": [api.p1.id], "assignee_role": "worker"}
    assert c.post("/api/v1/inspection-plans", json=body, headers=api.h("safety_manager")).status_code == 201
    panel = c.get("/dashboard/inspections")
    assert 'data-k="due"' in panel.text and "<strong>1</strong>" in panel.text
    for path in ("/inspections", "/inspections/plans/new", f"/inspections/checklists/{api.p1.id}",
                 "/inspections/labels"):
        page = c.get(path)
        assert page.status_code == 200, path
    assert "<svg" in c.get("/inspections/labels").text
    assert c.get(f"/inspections/checklists/{api.p2.id}").status_code == 404
