"""Typed events of permits (names from :data:`contract.PERMIT_EVENTS`).

Every payload carries the permit's identity, state and people so a consumer (notifications,
the board) needs no query to act: a ``permit.suspended`` names the guardian and the work
leader it must alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from plantguard.events.envelope import Event, event_type


class PermitEventBase(Event):
    id: int
    number: str
    type_code: str
    grade: str
    status: str
    area_id: int | None = None
    work_leader_id: int | None = None  # person ids
    guardian_id: int | None = None
    applicant_user_id: int | None = None
    # User accounts of the work leader and guardian, when they have one (for notifications).
    notify_user_ids: list[int] = []
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    by_user_id: int | None = None
    note: str = ""


@event_type("permit.applied")
class PermitApplied(PermitEventBase):
    pass


@event_type("permit.submitted")
class PermitSubmitted(PermitEventBase):
    conflicts: list[dict[str, Any]] = []


@event_type("permit.approval_step")
class PermitApprovalStep(PermitEventBase):
    role: str = ""
    decision: str = ""


@event_type("permit.approved")
class PermitApproved(PermitEventBase):
    pass


@event_type("permit.rejected")
class PermitRejected(PermitEventBase):
    role: str = ""
    reason: str = ""


@event_type("permit.gas_recorded")
class PermitGasRecorded(PermitEventBase):
    analysis_id: int | None = None
    passed: bool = True


@event_type("permit.started")
class PermitStarted(PermitEventBase):
    pass


@event_type("permit.suspended")
class PermitSuspended(PermitEventBase):
    reason: str = ""
    point_id: int | None = None
    value: float | None = None
    limit: str = ""


@event_type("permit.resumed")
class PermitResumed(PermitEventBase):
    pass


@event_type("permit.completed")
class PermitCompleted(PermitEventBase):
    pass


@event_type("permit.closed")
class PermitClosed(PermitEventBase):
    pass


@event_type("permit.cancelled")
class PermitCancelled(PermitEventBase):
    reason: str = ""


@event_type("permit.expired")
class PermitExpired(PermitEventBase):
    pass
