"""The lifecycle through the API: every allowed step, every refused one (409 naming the current
status), roles, the assignee/team rule, acceptance by someone else, tenancy, history and audit."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from sqlalchemy import select

from plantguard.audit.models import AuditEntry
from plantguard.core.i18n import gettext
from plantguard.events.models import OutboxMessage
from plantguard.workorders.lifecycle import TRANSITIONS
from tests.workorders.conftest import WoEnv


def png_bytes(width: int = 4, height: int = 2) -> bytes:
    """A real (tiny) PNG, built by hand."""
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


SIGNATURE = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()


def to_awaiting(wo: WoEnv) -> dict[str, Any]:
    order = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])
    assert order["status"] == "dispatched" and order["assignee_id"] == wo.ids["worker"]
    oid = order["id"]
    assert wo.post(f"/workorders/{oid}/accept", "worker").json()["status"] == "in_progress"
    r = wo.post(f"/workorders/{oid}/update", "worker", json={"note": "更换密封圈"})
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    assert wo.post(f"/workorders/{oid}/submit", "worker", json={"note": "done"}).json()["status"] == \
        "awaiting_acceptance"
    return order


def test_full_path_reject_then_close(wo: WoEnv) -> None:
    order = to_awaiting(wo)
    oid = order["id"]
    assert order["number"].startswith("WO-") and len(order["number"]) == len("WO-20261128-0001")
    r = wo.post(f"/workorders/{oid}/reject", "team_leader", json={"reason": "还在漏"})
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    assert wo.post(f"/workorders/{oid}/submit", "worker").status_code == 200
    r = wo.post(f"/workorders/{oid}/close", "team_leader", json={"signature": SIGNATURE, "note": "验收合格"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "closed" and body["accepted_by"] == wo.ids["team_leader"]
    assert len(body["signature_sha256"]) == 64
    assert [a["kind"] for a in body["attachments"]] == ["signature"]
    kinds = [(e["kind"], e["status_from"], e["status_to"]) for e in body["history"]]
    assert kinds == [("created", None, None), ("dispatched", "pending", "dispatched"),
                     ("accepted", "dispatched", "in_progress"), ("updated", None, None),
                     ("submitted", "in_progress", "awaiting_acceptance"),
                     ("rejected", "awaiting_acceptance", "in_progress"),
                     ("submitted", "in_progress", "awaiting_acceptance"),
                     ("closed", "awaiting_acceptance", "closed")]
    with wo.env.db.factory() as s:
        types = list(s.scalars(select(OutboxMessage.event_type).where(OutboxMessage.event_type.like("workorder.%"))
                               .order_by(OutboxMessage.id)))
        assert types == ["workorder.created", "workorder.dispatched", "workorder.accepted", "workorder.updated",
                         "workorder.submitted", "workorder.rejected", "workorder.submitted", "workorder.closed"]
        envs = [m.envelope for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.event_type.like("workorder.%")).order_by(OutboxMessage.id))]
        root = envs[0]["context"]["id"]
        assert root == body["context_id"]
        assert all(e["context"]["parent_id"] == root for e in envs[1:])
        audited = list(s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "work_order")))
        assert audited.count("create") == 1 and audited.count("update") >= 7


def test_acceptance_by_the_worker_refused(wo: WoEnv) -> None:
    """The team leader who took the work on may not accept it either."""
    order = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["team_leader"])
    oid = order["id"]
    wo.post(f"/workorders/{oid}/accept", "team_leader")
    wo.post(f"/workorders/{oid}/submit", "team_leader")
    r = wo.post(f"/workorders/{oid}/close", "team_leader", json={"signature": SIGNATURE})
    assert r.status_code == 403
    assert "someone other than the person who did the work" in r.json()["detail"]
    r = wo.post(f"/workorders/{oid}/reject", "team_leader", json={"reason": "x"})
    assert r.status_code == 403
    # a teammate who submitted is refused too; the safety manager may accept
    assert wo.post(f"/workorders/{oid}/close", "safety_manager", json={"signature": SIGNATURE}).status_code == 200


def test_refused_transitions_answer_409_naming_status(wo: WoEnv) -> None:
    pending = wo.create()
    assert pending["status"] == "pending"
    oid = pending["id"]
    for action, role, body in (("accept", "worker", None), ("update", "worker", {"note": "x"}),
                               ("submit", "worker", None), ("close", "safety_manager", {"signature": SIGNATURE}),
                               ("reject", "safety_manager", {"reason": "x"})):
        r = wo.post(f"/workorders/{oid}/{action}", role, json=body)
        # a worker not yet assigned is refused as "not yours" before the status check
        assert r.status_code in (403, 409), (action, r.text)
        if r.status_code == 409:
            assert "Pending dispatch" in r.json()["detail"], r.json()
    r = wo.client.post(f"/api/v1/workorders/{oid}/close", json={"signature": SIGNATURE},
                       headers=wo.env.as_role("safety_manager", lang="zh-CN"))
    assert r.status_code == 409
    assert gettext("Pending dispatch", "zh_CN") in r.json()["detail"]
    assert wo.post(f"/workorders/{oid}/cancel", "safety_manager", json={"reason": "重复"}).json()["status"] == \
        "cancelled"
    for action in ("dispatch", "cancel"):
        r = wo.post(f"/workorders/{oid}/{action}", "safety_manager",
                    json={"team_id": wo.env.t1.team_id} if action == "dispatch" else {"reason": "x"})
        assert r.status_code == 409 and "Cancelled" in r.json()["detail"]


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_transition_table_against_every_status(wo: WoEnv, action: str) -> None:
    """Each action from each reachable status: allowed exactly where the table says."""
    bodies = {"dispatch": {"assignee_id": None, "team_id": None}, "update": {"note": "n"},
              "close": {"signature": SIGNATURE}, "reject": {"reason": "r"}, "cancel": {"reason": "r"}}
    roles = {"dispatch": "safety_manager", "accept": "worker", "update": "worker", "submit": "worker",
             "close": "safety_manager", "reject": "safety_manager", "cancel": "safety_manager"}
    paths = {"pending": [], "dispatched": ["dispatch"], "in_progress": ["dispatch", "accept"],
             "awaiting_acceptance": ["dispatch", "accept", "submit"],
             "closed": ["dispatch", "accept", "submit", "close"], "cancelled": ["dispatch", "cancel"]}
    for status, steps in paths.items():
        oid = wo.create()["id"]
        for step in steps:
            body = dict(bodies.get(step, {}))
            if step == "dispatch":
                body = {"team_id": wo.env.t1.team_id, "assignee_id": wo.ids["worker"]}
            assert wo.post(f"/workorders/{oid}/{step}", roles[step], json=body or None).status_code == 200
        body = bodies.get(action)
        if action == "dispatch":
            body = {"team_id": wo.env.t1.team_id, "assignee_id": wo.ids["worker"]}
        r = wo.post(f"/workorders/{oid}/{action}", roles[action], json=body)
        allowed = status in TRANSITIONS[action][0]
        if allowed:
            assert r.status_code == 200, (status, action, r.text)
        elif action in ("accept", "update", "submit") and status == "pending":
            assert r.status_code == 403  # nobody is assigned yet: the worker is not the assignee
        else:
            assert r.status_code == 409, (status, action, r.text)


def test_roles_and_assignee_rule(wo: WoEnv) -> None:
    for role in ("worker", "contractor", "auditor"):
        assert wo.post("/workorders", role, json={"title": "x"}).status_code == 403
    order = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])
    oid = order["id"]
    # a contractor outside the team may not take it on; a teammate may
    r = wo.post(f"/workorders/{oid}/accept", "contractor")
    assert r.status_code == 403 and "assignee or a member" in r.json()["detail"]
    assert wo.post(f"/workorders/{oid}/accept", "worker2").status_code == 200
    assert wo.post(f"/workorders/{oid}/submit", "worker", json={}).status_code == 200
    # the worker may not close (role), the auditor may not reject (role)
    assert wo.post(f"/workorders/{oid}/close", "worker", json={"signature": SIGNATURE}).status_code == 403
    assert wo.post(f"/workorders/{oid}/reject", "auditor", json={"reason": "x"}).status_code == 403


def test_validation_and_tenancy(wo: WoEnv) -> None:
    r = wo.post("/workorders", "safety_manager", json={"title": "", "priority": "p9", "bogus": 1})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"title", "priority", "bogus"} <= fields
    r = wo.post("/workorders", "safety_manager", json={"title": "x", "team_id": wo.env.t2.team_id})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "team_id"
    order = wo.create()
    oid = order["id"]
    r = wo.post(f"/workorders/{oid}/cancel", "safety_manager", json={"reason": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    other = wo.client.get(f"/api/v1/workorders/{oid}", headers=wo.h("safety_manager", wo.env.t2))
    assert other.status_code == 404
    r = wo.client.post(f"/api/v1/workorders/{oid}/cancel", json={"reason": "x"},
                       headers=wo.h("safety_manager", wo.env.t2))
    assert r.status_code == 404
    assert wo.client.get("/api/v1/workorders", headers=wo.h("auditor", wo.env.t2)).json()["total"] == 0


def test_list_filters(wo: WoEnv) -> None:
    a = wo.create(priority="p1", team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])
    wo.create(priority="p4")
    h = wo.h("worker")
    get = wo.client.get
    assert get("/api/v1/workorders", headers=h).json()["total"] == 2
    assert [o["id"] for o in get("/api/v1/workorders?assignee=me", headers=h).json()["items"]] == [a["id"]]
    assert get("/api/v1/workorders?priority=p4", headers=h).json()["total"] == 1
    assert get("/api/v1/workorders?status=pending", headers=h).json()["total"] == 1
    assert get("/api/v1/workorders?status=open", headers=h).json()["total"] == 2
    assert get(f"/api/v1/workorders?team_id={wo.env.t1.team_id}", headers=h).json()["total"] == 1
    assert get("/api/v1/workorders?overdue=true", headers=h).json()["total"] == 0
    assert get("/api/v1/workorders?limit=1", headers=h).json()["items"].__len__() == 1
    r = get("/api/v1/workorders?status=nope&assignee=you", headers=h)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"status", "assignee"}


def test_sla_config(wo: WoEnv) -> None:
    r = wo.client.get("/api/v1/workorder-sla", headers=wo.h("worker"))
    assert {i["priority"]: i["ack_minutes"] for i in r.json()["items"]} == {"p1": 5, "p2": 15, "p3": 60, "p4": 240}
    r = wo.client.put("/api/v1/workorder-sla", json={"items": [{"priority": "p1", "ack_minutes": 3,
                                                                 "resolve_minutes": 120}]},
                      headers=wo.h("safety_manager"))
    assert r.status_code == 200
    assert r.json()["items"][0] == {"priority": "p1", "ack_minutes": 3, "resolve_minutes": 120}
    r = wo.client.put("/api/v1/workorder-sla", json={"items": [{"priority": "p2", "ack_minutes": 90,
                                                                 "resolve_minutes": 60}]},
                      headers=wo.h("safety_manager"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items.0.ack_minutes"
    assert wo.client.put("/api/v1/workorder-sla", json={"items": []}, headers=wo.h("worker")).status_code == 403
    # other tenant still on defaults
    r = wo.client.get("/api/v1/workorder-sla", headers=wo.h("worker", wo.env.t2))
    assert r.json()["items"][0]["ack_minutes"] == 5
