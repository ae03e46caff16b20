"""Typed events of the hazard loop (names from :data:`contract.HAZARD_EVENTS`).

Every payload carries the hazard's identity and state so a consumer (notifications,
dashboards) needs no query to act.
"""

from __future__ import annotations

from datetime import datetime

from plantguard.events.envelope import Event, event_type


class HazardEventBase(Event):
    id: int
    number: str
    title: str
    status: str
    grade: str | None = None
    category: str | None = None
    area_id: int | None = None
    equipment_id: int | None = None
    risk_point_id: int | None = None
    source: str = "report"
    deadline_at: datetime | None = None
    by_user_id: int | None = None
    note: str = ""


@event_type("hazard.reported")
class HazardReported(HazardEventBase):
    source_ref: str = ""


@event_type("hazard.registered")
class HazardRegistered(HazardEventBase):
    pass


@event_type("hazard.assessed")
class HazardAssessed(HazardEventBase):
    basis: list[str] = []
    treatment: str = "deadline"


@event_type("hazard.plan_updated")
class HazardPlanUpdated(HazardEventBase):
    pass


@event_type("hazard.treatment_started")
class HazardTreatmentStarted(HazardEventBase):
    pass


@event_type("hazard.progress")
class HazardProgress(HazardEventBase):
    attachment_id: int | None = None


@event_type("hazard.submitted")
class HazardSubmitted(HazardEventBase):
    pass


@event_type("hazard.accepted")
class HazardAccepted(HazardEventBase):
    accepted_by: int | None = None


@event_type("hazard.acceptance_rejected")
class HazardAcceptanceRejected(HazardEventBase):
    reason: str = ""


@event_type("hazard.closed")
class HazardClosed(HazardEventBase):
    pass


@event_type("hazard.rejected")
class HazardRejected(HazardEventBase):
    reason: str = ""


@event_type("hazard.overdue")
class HazardOverdue(HazardEventBase):
    level: int = 1
    work_order_id: int | None = None
    target_user_ids: list[int] = []
