"""Typed events of the work-order lifecycle (names from :data:`contract.WORKORDER_EVENTS`).

Every payload carries the order's identity and state, so a consumer (notifications, metrics)
needs no query to act; the step-specific fields are empty where they do not apply.
"""

from __future__ import annotations

from datetime import datetime

from plantguard.events.envelope import Event, event_type


class WorkOrderEventBase(Event):
    id: int
    number: str
    title: str
    priority: str
    status: str
    source: str
    alarm_id: int | None = None
    equipment_id: int | None = None
    area_id: int | None = None
    team_id: int | None = None
    assignee_user_id: int | None = None
    due_at: datetime | None = None
    ack_due_at: datetime | None = None
    by_user_id: int | None = None
    note: str = ""


@event_type("workorder.created")
class WorkOrderCreated(WorkOrderEventBase):
    rule: str = ""
    rule_set_version: int | None = None


@event_type("workorder.dispatched")
class WorkOrderDispatched(WorkOrderEventBase):
    pass


@event_type("workorder.accepted")
class WorkOrderAccepted(WorkOrderEventBase):
    pass


@event_type("workorder.updated")
class WorkOrderUpdated(WorkOrderEventBase):
    attachment_id: int | None = None


@event_type("workorder.submitted")
class WorkOrderSubmitted(WorkOrderEventBase):
    pass


@event_type("workorder.rejected")
class WorkOrderRejected(WorkOrderEventBase):
    reason: str = ""


@event_type("workorder.closed")
class WorkOrderClosed(WorkOrderEventBase):
    accepted_by: int | None = None


@event_type("workorder.cancelled")
class WorkOrderCancelled(WorkOrderEventBase):
    reason: str = ""


@event_type("workorder.escalated")
class WorkOrderEscalated(WorkOrderEventBase):
    level: int = 1
    reason: str = "unacknowledged"  # unacknowledged | overdue
    target_user_ids: list[int] = []


@event_type("workorder.alarm_attached")
class WorkOrderAlarmAttached(WorkOrderEventBase):
    """``alarm_id`` is the alarm that joined; ``first_alarm_id`` the one that opened the order."""

    first_alarm_id: int | None = None
