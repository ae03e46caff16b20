"""Hazard loop at the service level, on both backends: the full transition table, the whole
loop with history/outbox/context chain, the refusals of requirement 7 leaving nothing
half-written, report_from_inspection in the caller's transaction, overdue → exactly one work
order routed by area, and tenancy."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import Conflict, NotFound, PlantGuardError, ValidationFailed
from plantguard.core.permissions import Actor, Role
from plantguard.events.models import OutboxMessage
from plantguard.hazards import escalation, lifecycle, service
from plantguard.hazards.contract import HazardStatus, report_from_inspection
from plantguard.hazards.models import Hazard, HazardEvent
from plantguard.workorders.models import WorkOrder
from tests.conftest import Db
from tests.factories import Tenant, make_tenant
from tests.workorders.conftest import wire_roster

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_transition_table_every_action_from_every_status() -> None:
    """Each action is allowed exactly from the statuses the table lists; otherwise a 409."""
    for action, (allowed, target) in lifecycle.TRANSITIONS.items():
        for status in HazardStatus:
            h = Hazard(status=status.value)
            if status in allowed:
                assert lifecycle.check(h, action) == target, (action, status)
            else:
                with pytest.raises(Conflict) as exc:
                    lifecycle.check(h, action)
                assert exc.value.params["status"], (action, status)
    # the loop's order: no shortcut from report to treatment, acceptance or close-out
    assert HazardStatus.REPORTED not in lifecycle.TRANSITIONS["start"][0]
    assert lifecycle.TRANSITIONS["close"][0] == frozenset({HazardStatus.ACCEPTED})
    assert lifecycle.TRANSITIONS["accept"][0] == frozenset({HazardStatus.AWAITING_ACCEPTANCE})


class W:
    def __init__(self, db: Db, t: Tenant, ids: dict[str, int], var: Path) -> None:
        self.db, self.t, self.var = db, t, var
        self.sm = Actor(ids["safety_manager"], t.enterprise_id, Role.SAFETY_MANAGER, "sm")
        self.worker = Actor(ids["worker"], t.enterprise_id, Role.WORKER, "w")
        self.leader = Actor(ids["team_leader"], t.enterprise_id, Role.TEAM_LEADER, "tl")

    def do(self, actor: Actor, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        with self.db.factory() as s:
            bind_actor(s, actor)
            out = fn(s, actor, *args, **kw)
            s.commit()
            return getattr(out, "id", out)

    def state(self, hid: int) -> tuple[dict[str, Any], int]:
        with self.db.factory() as s:
            h = s.get(Hazard, hid)
            assert h is not None
            row = {c.name: getattr(h, c.name) for c in Hazard.__table__.columns}
            n = int(s.scalar(select(func.count()).select_from(HazardEvent).where(HazardEvent.hazard_id == hid)) or 0)
            return row, n

    def new(self, **values: Any) -> int:
        body = {"description": "冲压机防护罩缺失", "area_id": self.t.area_id, **values}
        return int(self.do(self.worker, service.report, body, now=T0))

    def to_assessed(self, grade: str = "general", **kw: Any) -> int:
        hid = self.new()
        self.do(self.sm, service.register, hid, now=T0)
        if grade == "major":
            kw.setdefault("basis", ["WH121-02"])
        self.do(self.sm, service.assess, hid, grade=grade, now=T0 + timedelta(minutes=5), **kw)
        return hid


@pytest.fixture
def w(db: Db, tmp_path: Path) -> W:
    t = make_tenant(db.factory, "E1")
    return W(db, t, wire_roster(db, t), tmp_path)


def test_full_loop_history_events_and_context(w: W) -> None:
    hid = w.to_assessed()
    w.do(w.worker, service.add_attachment, hid, "before", "a.png", png(), w.var)
    w.do(w.worker, service.start, hid, now=T0 + timedelta(hours=1))
    w.do(w.worker, service.progress, hid, "已安装防护罩", now=T0 + timedelta(hours=2))
    w.do(w.worker, service.add_attachment, hid, "after", "b.png", png()[:-1] + b"\x82", w.var)
    w.do(w.worker, service.submit, hid, now=T0 + timedelta(hours=3))
    w.do(w.leader, service.accept, hid, now=T0 + timedelta(hours=4))
    w.do(w.sm, service.close, hid, now=T0 + timedelta(hours=5))
    with w.db.factory() as s:
        h = s.get(Hazard, hid)
        assert h is not None and h.status == "closed" and h.accepted_by == w.leader.user_id
        assert h.number.startswith("YH-20261128-") and h.deadline_at == T0 + timedelta(minutes=5, days=7)
        kinds = list(s.scalars(select(HazardEvent.kind).where(HazardEvent.hazard_id == hid).order_by(HazardEvent.id)))
        assert kinds == ["reported", "registered", "assessed", "attachment", "treatment_started", "progress",
                         "attachment", "submitted", "accepted", "closed"]
        envs = [m.envelope for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.event_type.like("hazard.%")).order_by(OutboxMessage.id))]
    assert [e["type"] for e in envs][:3] == ["hazard.reported", "hazard.registered", "hazard.assessed"]
    first = envs[0]["context"]["id"]
    assert first == h.context_id and all(e["context"]["parent_id"] == first for e in envs[1:])


def test_close_without_acceptance_is_refused_and_changes_nothing(w: W) -> None:
    hid = w.to_assessed()
    for at_status in ("assessed", "awaiting_acceptance"):
        if at_status == "awaiting_acceptance":
            w.do(w.worker, service.start, hid)
            w.do(w.worker, service.submit, hid)
        before = w.state(hid)
        with pytest.raises(Conflict) as exc:
            w.do(w.sm, service.close, hid)
        assert "accepted" in exc.value.message and exc.value.params["status"]
        assert w.state(hid) == before


def test_accepting_ones_own_rectification_is_refused(w: W) -> None:
    hid = w.to_assessed()
    w.do(w.leader, service.start, hid)  # the team leader rectifies …
    w.do(w.leader, service.add_attachment, hid, "before", "a.png", png(), w.var)
    w.do(w.leader, service.add_attachment, hid, "after", "b.png", png()[:-1] + b"\x82", w.var)
    w.do(w.leader, service.submit, hid)
    before = w.state(hid)
    with pytest.raises(PlantGuardError) as exc:  # … and may not accept it
        w.do(w.leader, service.accept, hid)
    assert exc.value.status_code == 403 and "someone other" in exc.value.message
    with pytest.raises(PlantGuardError) as exc2:
        w.do(w.leader, service.refuse, hid, "不合格")
    assert exc2.value.status_code == 403
    assert w.state(hid) == before
    w.do(w.sm, service.accept, hid)  # someone else may
    assert w.state(hid)[0]["status"] == "accepted"


def test_acceptance_needs_before_and_after_photos(w: W) -> None:
    hid = w.to_assessed()
    w.do(w.worker, service.start, hid)
    w.do(w.worker, service.submit, hid)
    before = w.state(hid)
    with pytest.raises(Conflict) as exc:
        w.do(w.leader, service.accept, hid)
    assert exc.value.params["missing"] == ("Before", "After")
    assert w.state(hid) == before


def test_major_hazard_needs_basis_and_five_items_before_treatment(w: W) -> None:
    hid = w.new()
    w.do(w.sm, service.register, hid)
    with pytest.raises(ValidationFailed) as exc:  # 重大 without a basis
        w.do(w.sm, service.assess, hid, grade="major")
    assert [e.field for e in exc.value.errors] == ["basis"]
    with pytest.raises(ValidationFailed) as exc:
        w.do(w.sm, service.assess, hid, grade="major", basis=["NOPE-1"])
    assert [e.field for e in exc.value.errors] == ["basis"]
    w.do(w.sm, service.assess, hid, grade="major", basis_text="需停产整改")
    before = w.state(hid)
    with pytest.raises(Conflict) as c:
        w.do(w.worker, service.start, hid)
    assert len(c.value.params["missing"]) == 5
    assert w.state(hid) == before
    plan_at = T0 + timedelta(days=40)
    w.do(w.sm, service.plan, hid, {"responsible_id": w.leader.user_id, "measures": "加装联锁", "funds": "2万元"})
    with pytest.raises(Conflict) as c:
        w.do(w.worker, service.start, hid)
    assert c.value.params["missing"] == ("time limit", "emergency plan")
    w.do(w.sm, service.plan, hid, {"plan_deadline_at": datetime.now(UTC) + timedelta(days=40),
                                   "emergency_plan": "停机隔离"})
    w.do(w.worker, service.start, hid)
    row, _ = w.state(hid)
    assert row["status"] == "in_treatment" and row["deadline_at"] == row["plan_deadline_at"] != plan_at


def test_report_from_inspection_joins_the_callers_transaction(w: W) -> None:
    with w.db.factory() as s:
        bind_actor(s, w.worker)
        hid = report_from_inspection(s, w.worker, risk_point_id=None, area_id=w.t.area_id,
                                     equipment_id=w.t.equipment_id, description="灭火器过期",
                                     source_ref="inspection:1/item:2")
        s.rollback()  # the caller's transaction failed: no hazard, no event
    with w.db.factory() as s:
        assert s.get(Hazard, hid) is None
        bind_actor(s, w.worker)
        hid = report_from_inspection(s, w.worker, risk_point_id=None, area_id=w.t.area_id,
                                     equipment_id=w.t.equipment_id, description="灭火器过期",
                                     source_ref="inspection:1/item:2", photo_ids=[7])
        s.commit()
    with w.db.factory() as s:
        h = s.get(Hazard, hid)
        assert h is not None and (h.source, h.source_ref, h.status) == ("inspection", "inspection:1/item:2", "reported")
        ev = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == "hazard.reported")).one()
        assert ev.envelope["payload"]["id"] == hid and ev.enterprise_id == w.t.enterprise_id


def test_overdue_opens_one_routed_work_order_then_escalates(w: W) -> None:
    hid = w.to_assessed()  # general: deadline T0 + 5 min + 7 days
    deadline = T0 + timedelta(minutes=5, days=7)
    with w.db.factory() as s:
        assert escalation.tick_session(s, deadline - timedelta(minutes=1), w.db.read_factory) == 0
        s.commit()
    at = deadline + timedelta(hours=1)
    for _ in range(2):  # the same moment twice: one step only
        with w.db.factory() as s:
            escalation.tick_session(s, at, w.db.read_factory)
            s.commit()
    with w.db.factory() as s:
        orders = list(s.scalars(select(WorkOrder).where(WorkOrder.source == "hazard")))
        assert len(orders) == 1
        wo = orders[0]
        assert wo.team_id == w.t.team_id and wo.area_id == w.t.area_id and wo.open_key == f"hazard:{hid}"
        h = s.get(Hazard, hid)
        assert h is not None and h.overdue_work_order_id == wo.id and h.escalation_level == 1
    with w.db.factory() as s:
        assert escalation.tick_session(s, at + timedelta(days=1), w.db.read_factory) == 1
        s.commit()
    with w.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.source == "hazard")) == 1
        levels = [e.detail["level"] for e in s.scalars(select(HazardEvent).where(
            HazardEvent.hazard_id == hid, HazardEvent.kind == "overdue").order_by(HazardEvent.id))]
        assert levels == [1, 2]
        page = service.list_hazards(s, w.sm, overdue=True, now=at)
        assert [h.id for h in page.items] == [hid]


def test_tenancy(w: W) -> None:
    hid = w.new()
    t2 = make_tenant(w.db.factory, "E2")
    other = Actor(wire_roster(w.db, t2)["safety_manager"], t2.enterprise_id, Role.SAFETY_MANAGER, "sm2")
    with w.db.factory() as s:
        with pytest.raises(NotFound):
            service.get(s, other, hid)
        assert service.list_hazards(s, other).total == 0
    with pytest.raises(NotFound):
        w.do(other, service.register, hid)
    with pytest.raises(ValidationFailed) as exc:  # another enterprise's area
        w.do(other, service.report, {"description": "x", "area_id": w.t.area_id})
    assert [e.field for e in exc.value.errors] == ["area_id"]
