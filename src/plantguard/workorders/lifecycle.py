"""State changes of one work order, each with its history line and its outbox event.

The transition table :data:`TRANSITIONS` is the whole state machine: an action is allowed
only from the statuses it lists, and a refused one is a 409 naming the current status. One
function writes history and event (:func:`record`) so that no change goes unrecorded; the
caller's transaction carries both, and the ledger records the row change itself.

Context chain: an order's ``context_id`` is the context it was created in (the child of the
alarm event's context when an alarm opened it); every later event of the order has it as
parent, like an alarm's events have the raise's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.core.errors import Conflict
from plantguard.core.i18n import N_
from plantguard.events.envelope import Context
from plantguard.events.outbox import enqueue
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.workorders import events as ev
from plantguard.workorders import sla
from plantguard.workorders.contract import WorkOrderStatus as S
from plantguard.workorders.models import OPEN_STATUSES, STATUS_LABELS, WorkOrder, WorkOrderEvent


@dataclass(frozen=True)
class Who:
    user_id: int | None = None
    name: str = ""


SYSTEM = Who()

# action → (statuses it may start from, status it leads to; None = unchanged)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "dispatch": (frozenset({S.PENDING, S.DISPATCHED, S.IN_PROGRESS}), S.DISPATCHED),
    "accept": (frozenset({S.DISPATCHED}), S.IN_PROGRESS),
    "update": (frozenset({S.IN_PROGRESS}), None),
    "submit": (frozenset({S.IN_PROGRESS}), S.AWAITING_ACCEPTANCE),
    "close": (frozenset({S.AWAITING_ACCEPTANCE}), S.CLOSED),
    "reject": (frozenset({S.AWAITING_ACCEPTANCE}), S.IN_PROGRESS),
    "cancel": (OPEN_STATUSES, S.CANCELLED),
}
ACTION_LABELS: dict[str, str] = {
    "dispatch": N_("dispatch"), "accept": N_("take on"), "update": N_("record progress on"),
    "submit": N_("hand over"), "close": N_("accept and close"), "reject": N_("reject"), "cancel": N_("cancel"),
}
EVENTS: dict[str, type[ev.WorkOrderEventBase]] = {
    "created": ev.WorkOrderCreated, "dispatched": ev.WorkOrderDispatched, "accepted": ev.WorkOrderAccepted,
    "updated": ev.WorkOrderUpdated, "attachment": ev.WorkOrderUpdated, "submitted": ev.WorkOrderSubmitted,
    "rejected": ev.WorkOrderRejected, "closed": ev.WorkOrderClosed, "cancelled": ev.WorkOrderCancelled,
    "escalated": ev.WorkOrderEscalated, "alarm_attached": ev.WorkOrderAlarmAttached,
}
ACTION_KIND = {"dispatch": "dispatched", "accept": "accepted", "update": "updated", "submit": "submitted",
               "close": "closed", "reject": "rejected", "cancel": "cancelled"}


def check(order: WorkOrder, action: str) -> str | None:
    """The status ``action`` leads to; 409 naming the current status when not allowed."""
    allowed, target = TRANSITIONS[action]
    if order.status not in allowed:
        raise Conflict(N_("Cannot %(action)s this work order: it is %(status)s"),
                       action=ACTION_LABELS[action], status=STATUS_LABELS.get(order.status, order.status))
    return target


def payload(order: WorkOrder) -> dict[str, Any]:
    return {"id": order.id, "number": order.number, "title": order.title, "priority": order.priority,
            "status": order.status, "source": order.source, "alarm_id": order.alarm_id,
            "equipment_id": order.equipment_id, "area_id": order.area_id, "team_id": order.team_id,
            "assignee_user_id": order.assignee_id, "due_at": order.due_at, "ack_due_at": order.ack_due_at}


def record(session: Session, order: WorkOrder, kind: str, *, at: datetime, who: Who = SYSTEM, note: str = "",
           status_from: str | None = None, detail: dict[str, Any] | None = None, **extra: Any) -> None:
    """History line + outbox event for a change already applied to ``order``."""
    session.flush()  # the order's id
    changed = status_from is not None and status_from != order.status
    session.add(WorkOrderEvent(enterprise_id=order.enterprise_id, work_order_id=order.id, kind=kind, at=at,
                               user_id=who.user_id, actor_name=who.name, note=note,
                               status_from=status_from if changed else None,
                               status_to=order.status if changed else None, detail=detail or {}))
    body = {**payload(order), "by_user_id": who.user_id, "note": note, **extra}
    event = EVENTS[kind](**body)
    if kind == "created":
        parent = session.info.get("context")
        context = Context(id=order.context_id, parent_id=parent.parent_id if parent else None, user_id=who.user_id)
    else:
        context = Context(parent_id=order.context_id or None, user_id=who.user_id)
    enqueue(session, event, context=context, enterprise_id=order.enterprise_id)


def next_number(session: Session, enterprise_id: int, at: datetime) -> str:
    """``WO-<plant date>-<NNNN>``, counting per enterprise and day."""
    prefix = f"WO-{at.astimezone(plant_tz()):%Y%m%d}-"
    last = session.scalar(select(func.max(WorkOrder.number)).where(
        WorkOrder.enterprise_id == enterprise_id, WorkOrder.number.like(prefix + "%")))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def dispatch(session: Session, order: WorkOrder, at: datetime, who: Who, team_id: int | None,
             assignee_id: int | None, note: str = "") -> None:
    before = order.status
    check(order, "dispatch")
    order.team_id = team_id
    order.assignee_id = assignee_id
    order.status = S.DISPATCHED
    order.dispatched_at = at
    order.ack_due_at = sla.ack_due(session, order.enterprise_id, order.priority, at)
    order.unack_escalations = 0
    record(session, order, "dispatched", at=at, who=who, note=note, status_from=before,
           detail={"team_id": team_id, "assignee_id": assignee_id})


def move(session: Session, order: WorkOrder, action: str, at: datetime, who: Who, note: str = "",
         detail: dict[str, Any] | None = None, **extra: Any) -> None:
    """Any transition but dispatch: check, set the status, record."""
    before = order.status
    target = check(order, action)
    if target is not None:
        order.status = target
    if order.status not in OPEN_STATUSES:
        order.open_key = None
    record(session, order, ACTION_KIND[action], at=at, who=who, note=note, status_from=before,
           detail=detail, **extra)
