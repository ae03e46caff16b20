"""Overdue hazards: the tick that escalates a hazard still unrectified at its deadline.

* first time past ``deadline_at`` (status 评估 or 治理) → a work order with source ``hazard`` is
  opened, once, routed by the enterprise's routing rules (``workorders.routing_hook.get_router``
  with the facts of :func:`facts_for`) through the work-order service, and ``hazard.overdue``
  (level 1: the routed team's leader) is emitted;
* still overdue every ``escalate_every_hours`` after that → ``hazard.overdue`` again, level 2
  and beyond going to the enterprise's safety managers, at most :data:`MAX_STEPS` times.

Steps are counted from the stamps, so two ticks at the same moment change nothing, and a late
tick (or a hazard several periods overdue when first seen) goes straight to the level now due
with one event rather than one per missed step. Runs in the process holding the ``hazards`` leader lock,
every ``PLANTGUARD_HAZARD_TICK_S`` seconds (default 60; 0 = off). Time is injected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.assets.models import Equipment
from plantguard.core.db import utcnow
from plantguard.events.leader import LeaderLock, every_when_leader, interval_from_env
from plantguard.hazards import deadlines, lifecycle
from plantguard.hazards.contract import HazardGrade
from plantguard.hazards.models import Hazard
from plantguard.hazards.service import OVERDUE_STATUSES
from plantguard.tenancy.models import Area, Site, Team, User
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.workorders import escalation as wo_escalation
from plantguard.workorders import service as wo_service
from plantguard.workorders.assignment import local_hour, shift_of
from plantguard.workorders.models import WorkOrder
from plantguard.workorders.routing_hook import get_router

log = logging.getLogger("plantguard.hazards")

MAX_STEPS = 3
MAX_LEVEL = 3
DEFAULT_TICK_S = 60.0
# Routing facts speak alarm severities; a 重大隐患 past its deadline is as urgent as a critical
# alarm, a 一般隐患 as a minor one (an ungraded hazard cannot be overdue: it has no deadline).
GRADE_SEVERITY: dict[str, str] = {HazardGrade.MAJOR: "critical", HazardGrade.GENERAL: "minor"}


def facts_for(session: Session, hazard: Hazard, at: datetime) -> dict[str, Any]:
    local = at.astimezone(plant_tz())
    facts: dict[str, Any] = {
        "source": "hazard", "severity": GRADE_SEVERITY.get(hazard.grade or "", "minor"),
        "kind": f"hazard_{hazard.category or 'uncategorised'}", "shift": shift_of(at),
        "time_of_day": local_hour(at) * 60 + local.minute, "weekday": local.isoweekday(), "skills": [],
    }
    if hazard.equipment_id is not None:
        equipment = session.get(Equipment, hazard.equipment_id)
        if equipment is not None:
            facts.update(equipment_code=equipment.code, equipment_type=equipment.type,
                         equipment_criticality=equipment.criticality)
    area = session.get(Area, hazard.area_id)
    if area is not None:
        facts["area_code"] = area.code
        site = session.get(Site, area.site_id)
        if site is not None:
            facts["site_code"] = site.code
    return facts


def _open_order(session: Session, hazard: Hazard, at: datetime, read_factory: sessionmaker[Session]) -> WorkOrder:
    decision = get_router(read_factory).route(hazard.enterprise_id, facts_for(session, hazard, at))
    team_id = session.scalar(select(Team.id).where(Team.enterprise_id == hazard.enterprise_id,
                                                   Team.code == decision.team_code)) if decision.team_code else None
    assignee_id = session.scalar(select(User.id).where(
        User.enterprise_id == hazard.enterprise_id, User.username == decision.assignee_username)) \
        if decision.assignee_username else None
    title = f"{hazard.number} {hazard.title}"
    return wo_service.open_order(
        session, hazard.enterprise_id, title=title, at=at, source="hazard",
        description=hazard.description, priority=decision.priority.value, equipment_id=hazard.equipment_id,
        area_id=hazard.area_id, skills=decision.skills, team_id=team_id, assignee_id=assignee_id,
        routed_rule=decision.rule, routed_version=decision.rule_set_version, open_key=f"hazard:{hazard.id}")


def _steps(now: datetime, start: datetime, period: timedelta) -> int:
    if now < start:
        return 0
    seconds = max(period.total_seconds(), 60.0)
    return min(MAX_STEPS, 1 + int((now - start).total_seconds() // seconds))


def tick_session(session: Session, now: datetime, read_factory: sessionmaker[Session]) -> int:
    """Apply the due escalations in one transaction (the caller commits); returns how many."""
    count = 0
    hazards = session.scalars(select(Hazard).where(
        Hazard.status.in_(sorted(OVERDUE_STATUSES)), Hazard.deadline_at <= now)
        .order_by(Hazard.id).with_for_update()).all()
    configs: dict[int, deadlines.Deadlines] = {}
    for hazard in hazards:
        assert hazard.deadline_at is not None
        cfg = configs.setdefault(hazard.enterprise_id, deadlines.of(session, hazard.enterprise_id))
        due = _steps(now, hazard.deadline_at, timedelta(hours=cfg.escalate_every_hours))
        level = min(due, MAX_LEVEL)
        if level <= hazard.escalation_level:
            continue
        # A hazard found several steps late (a server that was down, a seeded history) jumps
        # straight to the level now due, with one event: three messages at once would be noise.
        if hazard.overdue_work_order_id is None:
            order: WorkOrder | None = _open_order(session, hazard, now, read_factory)
            assert order is not None
            hazard.overdue_work_order_id = order.id
        else:
            order = session.get(WorkOrder, hazard.overdue_work_order_id)
        hazard.escalation_level = level
        hazard.last_escalated_at = now
        to = wo_escalation.targets(session, order, hazard.escalation_level) if order is not None else []
        lifecycle.record(session, hazard, "overdue", at=now, note="overdue",
                         detail={"level": hazard.escalation_level, "work_order_id": hazard.overdue_work_order_id,
                                 "targets": to},
                         level=hazard.escalation_level, work_order_id=hazard.overdue_work_order_id,
                         target_user_ids=to)
        count += 1
    session.flush()
    return count


def tick(factory: sessionmaker[Session], read_factory: sessionmaker[Session], now: datetime | None = None) -> int:
    with factory() as session:
        n = tick_session(session, now or utcnow(), read_factory)
        session.commit()
        return n


def tick_interval() -> float:
    return interval_from_env("PLANTGUARD_HAZARD_TICK_S", DEFAULT_TICK_S)



async def tick_when_leader(factory: sessionmaker[Session], read_factory: sessionmaker[Session], lock: LeaderLock,
                           stop: asyncio.Event, interval: float, clock: Callable[[], datetime] = utcnow,
                           retry_s: float = 5.0) -> None:
    await every_when_leader(lock, stop, interval, lambda: tick(factory, read_factory, clock()), name="hazard",
                            retry_s=retry_s, report=lambda n: f"{n} escalations" if n else None)
