"""Alarm → work order: an idempotent consumer of ``alarm.raised`` and ``alarm.repeated``.

For each alarm event it builds the routing facts (``contract.FACT_FIELDS``) from the alarm,
its equipment, area, site and point and the time (shift, time of day, weekday), asks the
router (``routing_hook.get_router``) and then:

* an open alarm order exists for the same equipment (``open_key``) → the alarm is attached
  to it (``workorder.alarm_attached``), once; a repeat of an alarm already attached adds
  nothing;
* otherwise a new order is opened (and dispatched when routing names a team).

Silenced alarms (``silenced`` true, ``notify`` false) open and attach orders all the same:
the silence stops people being *told*, which is the notification side's business; the work
still has to be done and tracked.

The consumer runs inside :func:`events.consumer.apply_once`, so the dedup row, the order and
its outbox events commit together; its context is the child of the alarm event's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.db import utcnow
from plantguard.detection.alarms.models import Alarm
from plantguard.events.bus import Bus, Subscription
from plantguard.events.consumer import idempotent
from plantguard.events.envelope import Envelope
from plantguard.tenancy.models import Area, Site, Team, User
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.workorders import lifecycle, service
from plantguard.workorders.assignment import local_hour, shift_of
from plantguard.workorders.models import WorkOrder, WorkOrderAlarm
from plantguard.workorders.routing_hook import get_router

CONSUMER = "workorders_from_alarms"
SUBJECTS = "plantguard.alarm.*"
HANDLED = frozenset({"alarm.raised", "alarm.repeated"})


def facts_for(session: Session, alarm: Alarm, at: datetime) -> dict[str, Any]:
    local = at.astimezone(plant_tz())
    explanation = alarm.explanation or {}
    facts: dict[str, Any] = {
        "source": "alarm", "severity": alarm.severity, "kind": alarm.kind,
        "detector": str(explanation.get("detector") or alarm.kind), "score": float(alarm.score or 0.0),
        "shift": shift_of(at), "time_of_day": local_hour(at) * 60 + local.minute,
        "weekday": local.isoweekday(), "skills": [str(s) for s in explanation.get("skills") or []],
    }
    if alarm.point_id is not None:
        point = session.get(MeasurementPoint, alarm.point_id)
        if point is not None:
            facts.update(point_code=point.code, quantity=point.quantity)
    equipment = session.get(Equipment, alarm.equipment_id) if alarm.equipment_id is not None else None
    if equipment is not None:
        facts.update(equipment_code=equipment.code, equipment_type=equipment.type,
                     equipment_criticality=equipment.criticality)
        area = session.get(Area, equipment.area_id)
        if area is not None:
            facts["area_code"] = area.code
            site = session.get(Site, area.site_id)
            if site is not None:
                facts["site_code"] = site.code
    return facts


def open_key_of(alarm: Alarm) -> str:
    return f"equipment:{alarm.equipment_id}" if alarm.equipment_id is not None else f"alarm:{alarm.id}"


def apply_alarm(session: Session, env: Envelope, read_factory: sessionmaker[Session],
                clock: Callable[[], datetime] = utcnow) -> None:
    if env.type not in HANDLED or env.enterprise_id is None:
        return
    alarm = session.scalars(select(Alarm).where(Alarm.id == int(env.payload["alarm_id"]),
                                                Alarm.enterprise_id == env.enterprise_id)).first()
    if alarm is None:  # deleted since; nothing to work on
        return
    at = clock()
    key = open_key_of(alarm)
    order = session.scalars(select(WorkOrder).where(WorkOrder.enterprise_id == alarm.enterprise_id,
                                                    WorkOrder.open_key == key).with_for_update()).first()
    if order is not None:
        attached = session.scalar(select(WorkOrderAlarm.id).where(WorkOrderAlarm.work_order_id == order.id,
                                                                  WorkOrderAlarm.alarm_id == alarm.id))
        if attached is None:
            session.add(WorkOrderAlarm(enterprise_id=order.enterprise_id, work_order_id=order.id,
                                       alarm_id=alarm.id, attached_at=at))
            lifecycle.record(session, order, "alarm_attached", at=at, note=alarm.title,
                             detail={"alarm_id": alarm.id}, alarm_id=alarm.id, first_alarm_id=order.alarm_id)
        return
    decision = get_router(read_factory).route(alarm.enterprise_id, facts_for(session, alarm, at))
    team_id = None
    if decision.team_code:
        team_id = session.scalar(select(Team.id).where(Team.enterprise_id == alarm.enterprise_id,
                                                       Team.code == decision.team_code))
    assignee_id = None
    if decision.assignee_username:
        assignee_id = session.scalar(select(User.id).where(User.enterprise_id == alarm.enterprise_id,
                                                           User.username == decision.assignee_username))
    equipment = session.get(Equipment, alarm.equipment_id) if alarm.equipment_id is not None else None
    service.open_order(session, alarm.enterprise_id, title=alarm.title or alarm.source, at=at, source="alarm",
                       description=str((alarm.explanation or {}).get("summary", "")),
                       priority=decision.priority.value, alarm_id=alarm.id, equipment_id=alarm.equipment_id,
                       area_id=equipment.area_id if equipment is not None else None, skills=decision.skills,
                       team_id=team_id, assignee_id=assignee_id, routed_rule=decision.rule,
                       routed_version=decision.rule_set_version, open_key=key)


async def subscribe(bus: Bus, session_factory: sessionmaker[Session], read_factory: sessionmaker[Session],
                    clock: Callable[[], datetime] = utcnow) -> Subscription:
    """Start the consumer on ``bus`` (called from the app's lifespan). The router reads through
    ``read_factory``: on SQLite a second writer session would wait for the consumer's own lock."""

    def apply(session: Session, env: Envelope) -> None:
        apply_alarm(session, env, read_factory, clock)

    return await bus.subscribe(CONSUMER, idempotent(CONSUMER, session_factory, apply), subjects=SUBJECTS)
