"""Alarm → work order through the real parts: the alarm intake writes ``alarm.raised`` to the
outbox, the app's relay publishes it on the in-process bus, the idempotent consumer opens the
order (routed by the default router: the equipment's area → its team, severity → priority)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select

from plantguard.core.db import utcnow
from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.signals import ConditionSignal, Severity
from plantguard.events.consumer import apply_once
from plantguard.events.envelope import Envelope
from plantguard.events.models import OutboxMessage
from plantguard.workorders import from_alarms
from plantguard.workorders.contract import Priority, RoutingDecision
from plantguard.workorders.models import WorkOrder, WorkOrderAlarm
from plantguard.workorders.routing_hook import set_router
from tests.workorders.conftest import WoEnv

T = TypeVar("T")


def wait_for(fn: Callable[[], T], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def raise_alarm(wo: WoEnv, source: str, severity: Severity = Severity.CRITICAL, *, silenced: bool = False,
                active: bool = True, at: datetime | None = None) -> None:
    t = wo.env.t1
    sig = ConditionSignal(enterprise_id=t.enterprise_id, source=source, kind="threshold", active=active,
                          ts=at or utcnow(), severity=severity, score=0.8, equipment_id=t.equipment_id,
                          point_id=t.point_id, title="液压压力过高", explanation={"detector": "threshold"})
    AlarmIntake(wo.env.db.factory).apply([sig])


def orders(wo: WoEnv) -> list[WorkOrder]:
    with wo.env.db.factory() as s:
        return list(s.scalars(select(WorkOrder).order_by(WorkOrder.id)))


def outbox(wo: WoEnv, prefix: str) -> list[dict[str, Any]]:
    with wo.env.db.factory() as s:
        return [m.envelope for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.event_type.like(prefix + "%")).order_by(OutboxMessage.id))]


def test_alarm_opens_routed_order_and_repeats_attach(wo: WoEnv) -> None:
    raise_alarm(wo, "rule:1")
    found = wait_for(lambda: orders(wo))
    assert len(found) == 1, "no work order from the alarm"
    order = found[0]
    assert order.source == "alarm" and order.priority == Priority.P1.value
    assert order.team_id == wo.env.t1.team_id and order.status == "dispatched"
    assert order.assignee_id in (wo.ids["worker"], wo.ids["worker2"], wo.ids["team_leader"])
    assert order.equipment_id == wo.env.t1.equipment_id and order.area_id == wo.env.t1.area_id
    assert order.due_at is not None and order.ack_due_at is not None
    # one context chain: alarm.raised → workorder.created → workorder.dispatched
    raised = outbox(wo, "alarm.raised")[0]
    created, dispatched = outbox(wo, "workorder.created")[0], outbox(wo, "workorder.dispatched")[0]
    assert created["context"]["parent_id"] == raised["context"]["id"]
    assert created["context"]["id"] == order.context_id
    assert dispatched["context"]["parent_id"] == created["context"]["id"]
    assert created["payload"]["alarm_id"] == order.alarm_id

    # a second alarm on the same equipment attaches instead of opening another order
    raise_alarm(wo, "rule:2", Severity.MAJOR)
    attached = wait_for(lambda: outbox(wo, "workorder.alarm_attached"))
    assert len(attached) == 1 and len(orders(wo)) == 1
    assert attached[0]["payload"]["first_alarm_id"] == order.alarm_id
    assert attached[0]["payload"]["alarm_id"] != order.alarm_id
    with wo.env.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrderAlarm)) == 2
    detail = wo.client.get(f"/api/v1/workorders/{order.id}", headers=wo.h("auditor")).json()
    assert len(detail["alarm_ids"]) == 2 and detail["history"][-1]["kind"] == "alarm_attached"


def test_redelivery_is_idempotent_and_closed_order_lets_a_new_one_open(wo: WoEnv) -> None:
    raise_alarm(wo, "rule:1", Severity.WARNING)
    assert wait_for(lambda: orders(wo))
    env = Envelope.model_validate(outbox(wo, "alarm.raised")[0])
    db = wo.env.db

    def apply(session: Any, e: Envelope) -> None:
        from_alarms.apply_alarm(session, e, db.read_factory)

    assert apply_once(from_alarms.CONSUMER, db.factory, apply, env) is False  # already processed by the app
    # the same event under a fresh consumer name does its work, and again is a no-op
    assert apply_once("wo_test_replay", db.factory, apply, env) is True
    assert apply_once("wo_test_replay", db.factory, apply, env) is False
    assert len(orders(wo)) == 1  # replayed under another name: the alarm is already on the open order
    oid = orders(wo)[0].id
    assert orders(wo)[0].priority == "p4"
    r = wo.post(f"/workorders/{oid}/cancel", "safety_manager", json={"reason": "误报"})
    assert r.status_code == 200
    assert apply_once("wo_test_replay2", db.factory, apply, env) is True
    assert len(orders(wo)) == 2  # the machine's earlier order is closed: the alarm opens a new one


def test_silenced_alarm_opens_order_and_plugged_router_is_used(wo: WoEnv) -> None:
    calls: list[dict[str, Any]] = []

    class Fixed:
        def route(self, enterprise_id: int, facts: Any) -> RoutingDecision:
            calls.append(dict(facts))
            return RoutingDecision(None, Priority.P2, ("weld",), rule="night-leaks", rule_set_version=7)

    set_router(Fixed())
    try:
        env = Envelope(type="alarm.raised", enterprise_id=wo.env.t1.enterprise_id,
                       payload={"alarm_id": 0, "silenced": True, "notify": False})
        ends = (utcnow() + timedelta(hours=1)).isoformat()
        r = wo.client.post("/api/v1/alarm-silences", json={"scope": "equipment", "target_id": wo.env.t1.equipment_id,
                                                           "ends_at": ends, "reason": "检修"},
                           headers=wo.h("safety_manager"))
        assert r.status_code == 201, r.text
        raise_alarm(wo, "rule:9", Severity.MINOR)
        found = wait_for(lambda: orders(wo))
        raised = outbox(wo, "alarm.raised")[0]["payload"]
        assert raised["silenced"] is True and raised["notify"] is False
        assert found and found[0].status == "pending" and found[0].team_id is None
        assert found[0].routed_rule == "night-leaks" and found[0].routed_version == 7
        assert found[0].skills == ["weld"] and found[0].priority == "p2"
        facts = calls[0]
        assert facts["equipment_code"] == "EQ-1" and facts["area_code"] == "ST" and facts["site_code"] == "S1"
        assert facts["point_code"] == "EQ-1-HP" and facts["severity"] == "minor" and facts["source"] == "alarm"
        assert facts["shift"] in ("day", "middle", "night") and 0 <= facts["time_of_day"] < 1440
        from plantguard.workorders.contract import FACT_FIELDS

        assert set(facts) <= set(FACT_FIELDS)
        # an alarm id that does not exist (deleted) is skipped without error
        with wo.env.db.factory() as s:
            from_alarms.apply_alarm(s, env, wo.env.db.read_factory)
    finally:
        set_router(None)
