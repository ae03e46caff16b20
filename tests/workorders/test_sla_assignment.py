"""Assignment by skills and shift, and SLA escalation driven by an injected clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.core.permissions import Actor, Role
from plantguard.events.models import OutboxMessage
from plantguard.tenancy.models import Team
from plantguard.workorders import escalation, service, sla
from plantguard.workorders.models import WorkOrder
from tests.conftest import Db
from tests.factories import make_tenant
from tests.workorders.conftest import T0, Clock, wire_roster

NIGHT = T0 + timedelta(hours=13)  # 23:00 in Shanghai


def _open(db: Db, ent: int, team_id: int | None, skills: tuple[str, ...] = (), at=T0, priority: str = "p1") -> int:
    with db.factory() as s:
        bind_actor(s, None)
        order = service.open_order(s, ent, title="漏油", at=at, team_id=team_id, skills=skills, priority=priority)
        s.commit()
        return order.id


def _get(db: Db, oid: int) -> WorkOrder:
    with db.factory() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None
        return order


def test_assignment_by_skill_load_shift_and_fallbacks(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    ids = wire_roster(db, t)
    # only the worker holds "weld"
    a = _get(db, _open(db, t.enterprise_id, t.team_id, ("weld",)))
    assert a.status == "dispatched" and a.assignee_id == ids["worker"]
    # no skills needed: the least loaded member (worker has one open order, worker2 none)
    b = _get(db, _open(db, t.enterprise_id, t.team_id))
    assert b.assignee_id == ids["worker2"]
    # nobody holds the skill: the team leader
    c = _get(db, _open(db, t.enterprise_id, t.team_id, ("crane",)))
    assert c.assignee_id == ids["team_leader"]
    # a day team at night: the team leader
    d = _get(db, _open(db, t.enterprise_id, t.team_id, ("weld",), at=NIGHT))
    assert d.assignee_id == ids["team_leader"]
    # no team: pending for a manager
    e = _get(db, _open(db, t.enterprise_id, None))
    assert e.status == "pending" and e.assignee_id is None and e.ack_due_at is None
    numbers = [x.number for x in (a, b, c, d, e)]
    assert numbers[:3] == ["WO-20261128-0001", "WO-20261128-0002", "WO-20261128-0003"]
    assert numbers[3] == "WO-20261128-0004"  # 23:00 Shanghai is still the 28th


def _escalations(db: Db) -> list[dict[str, object]]:
    with db.factory() as s:
        return [m.envelope["payload"] for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.event_type == "workorder.escalated").order_by(OutboxMessage.id))]


def test_unacknowledged_then_overdue_escalation(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    ids = wire_roster(db, t)
    other = make_tenant(db.factory, "E2")
    clock = Clock()
    oid = _open(db, t.enterprise_id, t.team_id, ("weld",), priority="p1")  # ack 5 min, resolve 4 h
    untouched = _open(db, other.enterprise_id, None, priority="p1")
    assert escalation.tick(db.factory, clock.advance(minutes=4)) == 0
    assert escalation.tick(db.factory, clock.advance(minutes=1)) == 1  # 5 min: ack due
    assert escalation.tick(db.factory, clock.now) == 0  # the same moment twice changes nothing
    first = _escalations(db)[0]
    assert first["reason"] == "unacknowledged" and first["level"] == 1
    assert first["target_user_ids"] == [ids["team_leader"]]
    assert escalation.tick(db.factory, clock.advance(minutes=5)) == 1  # another period: level 2
    second = _escalations(db)[1]
    assert second["level"] == 2 and second["target_user_ids"] == [ids["safety_manager"]]
    # the worker takes it on: no more unacknowledged escalations
    worker = Actor(ids["worker"], t.enterprise_id, Role.WORKER, "w")
    with db.factory() as s:
        bind_actor(s, worker)
        service.accept(s, worker, oid, now=clock.now)
        s.commit()
    assert escalation.tick(db.factory, clock.advance(minutes=30)) == 0
    # past due (4 h after creation): overdue
    clock.now = T0 + timedelta(hours=4)
    assert escalation.tick(db.factory, clock.now) == 2  # this order and the other tenant's
    last = [e for e in _escalations(db) if e["id"] == oid][-1]
    assert last["reason"] == "overdue" and last["level"] == 2
    order = _get(db, oid)
    assert order.escalation_level == 2 and order.overdue_escalations == 1
    # the other tenant's pending order (no dispatch) escalates only as overdue, with its own managers
    other_order = _get(db, untouched)
    assert other_order.overdue_escalations == 1 and other_order.unack_escalations == 0


def test_sla_table_drives_due_times(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    wire_roster(db, t)
    admin = Actor(1, t.enterprise_id, Role.ADMIN, "a")
    with db.factory() as s:
        bind_actor(s, admin)
        sla.replace(s, admin, {"p2": sla.Sla(2, 30)})
        s.commit()
    oid = _open(db, t.enterprise_id, t.team_id, priority="p2")
    order = _get(db, oid)
    assert order.due_at == T0 + timedelta(minutes=30) and order.ack_due_at == T0 + timedelta(minutes=2)
    with db.factory() as s:
        team = s.get(Team, t.team_id)
        assert team is not None
