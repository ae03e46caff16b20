"""SLA timers per priority: data, per enterprise, editable through the API.

A priority without a row uses :data:`DEFAULTS`. ``ack`` is counted from dispatch (how long a
dispatched order may wait before someone takes it on), ``resolve`` from creation (when the
order must be handed over at the latest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.permissions import Actor, Perm
from plantguard.workorders.contract import Priority
from plantguard.workorders.models import WorkOrderSla


@dataclass(frozen=True)
class Sla:
    ack_minutes: int
    resolve_minutes: int

    @property
    def ack(self) -> timedelta:
        return timedelta(minutes=self.ack_minutes)

    @property
    def resolve(self) -> timedelta:
        return timedelta(minutes=self.resolve_minutes)


DEFAULTS: dict[str, Sla] = {
    Priority.P1: Sla(5, 4 * 60),
    Priority.P2: Sla(15, 8 * 60),
    Priority.P3: Sla(60, 24 * 60),
    Priority.P4: Sla(240, 72 * 60),
}


def table(session: Session, enterprise_id: int) -> dict[str, Sla]:
    out = dict(DEFAULTS)
    for row in session.scalars(select(WorkOrderSla).where(WorkOrderSla.enterprise_id == enterprise_id)):
        out[row.priority] = Sla(row.ack_minutes, row.resolve_minutes)
    return out


def for_priority(session: Session, enterprise_id: int, priority: str) -> Sla:
    return table(session, enterprise_id).get(priority, DEFAULTS[Priority.P3])


def ack_due(session: Session, enterprise_id: int, priority: str, dispatched_at: datetime) -> datetime:
    return dispatched_at + for_priority(session, enterprise_id, priority).ack


def replace(session: Session, actor: Actor, values: dict[str, Sla]) -> dict[str, Sla]:
    """Set the SLA of the priorities given (the others keep theirs); audited like any record."""
    actor.require(Perm.MANAGE_WORKORDERS)
    rows = {r.priority: r for r in session.scalars(
        select(WorkOrderSla).where(WorkOrderSla.enterprise_id == actor.enterprise_id))}
    for prio, sla in values.items():
        row = rows.get(prio)
        if row is None:
            session.add(WorkOrderSla(enterprise_id=actor.enterprise_id, priority=prio,
                                     ack_minutes=sla.ack_minutes, resolve_minutes=sla.resolve_minutes))
        else:
            row.ack_minutes, row.resolve_minutes = sla.ack_minutes, sla.resolve_minutes
    session.flush()
    return table(session, actor.enterprise_id)
