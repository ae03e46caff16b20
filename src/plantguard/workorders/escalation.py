"""SLA escalation: the tick that notices orders nobody took on, or that run past their due time.

* still ``dispatched`` at ``ack_due_at`` → ``workorder.escalated`` (reason ``unacknowledged``),
  again every acknowledgement period while nobody takes it on;
* still open at ``due_at`` → ``workorder.escalated`` (reason ``overdue``), again every resolve
  period.

Each step raises ``escalation_level`` by one, up to :data:`MAX_LEVEL`: level 1 goes to the
team leader, level 2 and beyond to the enterprise's safety managers (``target_user_ids`` in
the event; notifications turn it into messages). Steps are counted from the stamps, so a late
tick applies exactly the due steps and two ticks at the same moment change nothing.

Runs like the alarm tick: in the process holding the ``workorders`` leader lock, every
``PLANTGUARD_WORKORDER_TICK_S`` seconds (default 30; 0 = off). Time is injected (``now``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.core.db import utcnow
from plantguard.core.permissions import Role
from plantguard.events.leader import LeaderLock, every_when_leader, interval_from_env
from plantguard.tenancy.models import Team, User
from plantguard.workorders import lifecycle, sla
from plantguard.workorders.assignment import leader_user
from plantguard.workorders.contract import WorkOrderStatus as S
from plantguard.workorders.models import OPEN_STATUSES, WorkOrder

log = logging.getLogger("plantguard.workorders")

MAX_LEVEL = 2
MAX_STEPS = 3  # per reason: after three reminders more would only be noise
DEFAULT_TICK_S = 30.0


def _due_steps(now: datetime, start: datetime, period: timedelta) -> int:
    if now < start:
        return 0
    seconds = max(period.total_seconds(), 60.0)
    return min(MAX_STEPS, 1 + int((now - start).total_seconds() // seconds))


def targets(session: Session, order: WorkOrder, level: int) -> list[int]:
    if level <= 1 and order.team_id is not None:
        team = session.get(Team, order.team_id)
        leader = leader_user(session, team) if team is not None else None
        if leader is not None:
            return [leader]
    return [int(i) for i in session.scalars(select(User.id).where(
        User.enterprise_id == order.enterprise_id, User.role == Role.SAFETY_MANAGER.value,
        User.active.is_(True)).order_by(User.id))]


def _escalate(session: Session, order: WorkOrder, at: datetime, reason: str) -> None:
    order.escalation_level = min(order.escalation_level + 1, MAX_LEVEL)
    to = targets(session, order, order.escalation_level)
    lifecycle.record(session, order, "escalated", at=at, note=reason,
                     detail={"level": order.escalation_level, "reason": reason, "targets": to},
                     level=order.escalation_level, reason=reason, target_user_ids=to)


def tick_session(session: Session, now: datetime) -> int:
    """Apply the due escalations in one transaction (the caller commits); returns how many."""
    count = 0
    orders = session.scalars(select(WorkOrder).where(
        WorkOrder.status.in_(sorted(OPEN_STATUSES)),
        or_(WorkOrder.due_at <= now, (WorkOrder.status == S.DISPATCHED) & (WorkOrder.ack_due_at <= now)))
        .order_by(WorkOrder.id).with_for_update()).all()
    tables: dict[int, dict[str, sla.Sla]] = {}
    for order in orders:
        table = tables.setdefault(order.enterprise_id, sla.table(session, order.enterprise_id))
        period = table.get(order.priority, sla.DEFAULTS["p3"])
        if order.status == S.DISPATCHED and order.ack_due_at is not None:
            for _ in range(order.unack_escalations, _due_steps(now, order.ack_due_at, period.ack)):
                order.unack_escalations += 1
                _escalate(session, order, now, "unacknowledged")
                count += 1
        if order.due_at is not None:
            for _ in range(order.overdue_escalations, _due_steps(now, order.due_at, period.resolve)):
                order.overdue_escalations += 1
                _escalate(session, order, now, "overdue")
                count += 1
    session.flush()
    return count


def tick(factory: sessionmaker[Session], now: datetime | None = None) -> int:
    with factory() as session:
        n = tick_session(session, now or utcnow())
        session.commit()
        return n


def tick_interval() -> float:
    return interval_from_env("PLANTGUARD_WORKORDER_TICK_S", DEFAULT_TICK_S)



async def tick_when_leader(factory: sessionmaker[Session], lock: LeaderLock, stop: asyncio.Event, interval: float,
                           clock: Callable[[], datetime] = utcnow, retry_s: float = 5.0) -> None:
    await every_when_leader(lock, stop, interval, lambda: tick(factory, clock()), name="work-order", retry_s=retry_s,
                            report=lambda n: f"{n} escalations" if n else None)
