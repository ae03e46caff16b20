"""Idempotent steps (the phone app's offline replays): the same ``Idempotency-Key`` sent twice
has one effect and gets the same answer; a key is bound to one step of one order by one
person; a refused step records nothing and is refused again with the server's message;
keys of another enterprise are another namespace. Both backends (the ``db`` fixture)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from plantguard.workorders.models import WorkOrderClientAction
from tests.workorders.conftest import WoEnv
from tests.workorders.test_attachments import JPEG


def keyed(wo: WoEnv, path: str, role: str, key: str, json: Any = None, lang: str = "en", **kw: Any) -> Any:
    headers = {**wo.h(role), "Idempotency-Key": key, "Accept-Language": lang}
    return wo.client.post(f"/api/v1/workorders{path}", json=json, headers=headers, **kw)


def kinds(wo: WoEnv, oid: int) -> list[str]:
    detail = wo.client.get(f"/api/v1/workorders/{oid}", headers=wo.h("auditor")).json()
    return [e["kind"] for e in detail["history"]]


def test_same_key_twice_one_effect_same_answer(wo: WoEnv) -> None:
    oid = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])["id"]
    first = keyed(wo, f"/{oid}/accept", "worker", "k-accept-0001")
    again = keyed(wo, f"/{oid}/accept", "worker", "k-accept-0001")
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json() and first.json()["status"] == "in_progress"
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    # without the key, the repeat is what it always was: a refused transition
    assert wo.post(f"/workorders/{oid}/accept", "worker").status_code == 409

    for _ in range(2):
        r = keyed(wo, f"/{oid}/update", "worker", "k-note-0001", json={"note": "换了密封圈"})
        assert r.status_code == 200, r.text
    photos = [keyed(wo, f"/{oid}/attachments", "worker", "k-photo-0001", files={"file": ("a.jpg", JPEG, "image/jpeg")},
                    data={"kind": "after"}) for _ in range(2)]
    assert [p.status_code for p in photos] == [201, 201], photos[1].text
    assert photos[0].json() == photos[1].json()
    for _ in range(2):
        assert keyed(wo, f"/{oid}/submit", "worker", "k-submit-0001").status_code == 200

    detail = wo.client.get(f"/api/v1/workorders/{oid}", headers=wo.h("auditor")).json()
    assert detail["status"] == "awaiting_acceptance"
    assert [a["id"] for a in detail["attachments"]] == [photos[0].json()["id"]]
    history = kinds(wo, oid)
    for kind in ("accepted", "updated", "attachment", "submitted"):
        assert history.count(kind) == 1, history
    with wo.env.db.factory() as s:
        stored = s.scalar(select(func.count()).select_from(WorkOrderClientAction).where(
            WorkOrderClientAction.work_order_id == oid))
    assert stored == 4


def test_key_bound_to_one_step_and_well_formed(wo: WoEnv) -> None:
    a = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])["id"]
    b = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])["id"]
    assert keyed(wo, f"/{a}/accept", "worker", "k-bound-0001").status_code == 200
    for path, role in ((f"/{b}/accept", "worker"), (f"/{a}/submit", "worker"), (f"/{a}/accept", "worker2")):
        r = keyed(wo, path, role, "k-bound-0001")
        assert r.status_code == 422, (path, role, r.text)
        assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert kinds(wo, b).count("accepted") == 0
    for bad in ("short", "x" * 65, "spaces are bad", "key;drop-table"):
        r = wo.client.post(f"/api/v1/workorders/{b}/accept", headers={**wo.h("worker"), "Idempotency-Key": bad})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "Idempotency-Key", bad
    # another enterprise: its own namespace, its own order
    other = wo.client.post("/api/v1/workorders", json={"title": "t", "team_id": wo.env.t2.team_id},
                           headers=wo.h("safety_manager", wo.env.t2)).json()["id"]
    r = wo.client.post(f"/api/v1/workorders/{other}/accept",
                       headers={**wo.h("worker", wo.env.t2), "Idempotency-Key": "k-bound-0001"})
    assert r.status_code == 200 and r.json()["status"] == "in_progress", r.text


def test_refused_replay_names_the_reason_and_records_nothing(wo: WoEnv) -> None:
    """The phone queued "take on" offline; meanwhile the manager cancelled the order (or gave it
    to another team). The replay is refused with the server's message, every time."""
    oid = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])["id"]
    assert wo.post(f"/workorders/{oid}/cancel", "safety_manager", json={"reason": "重复工单"}).status_code == 200
    for _ in range(2):
        r = keyed(wo, f"/{oid}/accept", "worker", "k-late-0001", lang="zh-CN")
        assert r.status_code == 409, r.text
        assert "已取消" in r.json()["detail"]
    assert "accepted" not in kinds(wo, oid)

    moved = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])["id"]
    assert wo.post(f"/workorders/{moved}/dispatch", "safety_manager",
                   json={"team_id": wo.env.t1.team_id, "assignee_id": wo.ids["team_leader"]}).status_code == 200
    assert wo.post(f"/workorders/{moved}/accept", "team_leader").status_code == 200
    r = keyed(wo, f"/{moved}/update", "contractor", "k-late-0002", json={"note": "x"})
    assert r.status_code == 403 and r.json()["detail"], r.text
    with wo.env.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrderClientAction)) == 0
