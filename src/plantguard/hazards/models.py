"""Tables of the hazards domain (migration 0012): the register, its history, evidence photos
and the per-enterprise deadline configuration.

Why ``hazard`` is ``Audited`` while ``hazard_event`` is not: a hazard changes at human pace and
every step must be in the ledger; the event table is its readable history, written in the
same transaction as the change and never updated (like work orders).

``risk_point_id`` is a foreign key with ``SET NULL``: a hazard must outlive a deleted risk
point (the register deactivates rather than deletes, but a hazard record is evidence); the
service checks the id belongs to the caller's enterprise.

The classifier's suggestion (``suggested_*``) is stored beside what people chose
(``category``, ``grade``): it is advice, never silently applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin
from plantguard.core.i18n import N_
from plantguard.hazards.contract import HazardGrade, HazardStatus
from plantguard.tenancy.models import TenantMixin

STATUS_LABELS: dict[str, str] = {
    HazardStatus.REPORTED: N_("Reported"),
    HazardStatus.REGISTERED: N_("Registered"),
    HazardStatus.ASSESSED: N_("Assessed"),
    HazardStatus.IN_TREATMENT: N_("In rectification"),
    HazardStatus.AWAITING_ACCEPTANCE: N_("Awaiting acceptance"),
    HazardStatus.ACCEPTED: N_("Accepted"),
    HazardStatus.CLOSED: N_("Closed out"),
    HazardStatus.REJECTED: N_("Not registered"),
}
GRADE_LABELS: dict[str, str] = {HazardGrade.GENERAL: N_("General hazard"), HazardGrade.MAJOR: N_("Major hazard")}
SOURCE_LABELS: dict[str, str] = {"report": N_("Report"), "inspection": N_("Inspection"), "alarm": N_("Alarm"),
                                 "manual": N_("Manual")}
TREATMENT_LABELS: dict[str, str] = {"immediate": N_("Immediate"), "deadline": N_("By deadline")}
ATTACHMENT_KINDS: dict[str, str] = {"before": N_("Before"), "after": N_("After"), "other": N_("Other")}
EVENT_KINDS: dict[str, str] = {
    "reported": N_("Reported"), "registered": N_("Registered"), "assessed": N_("Assessed"),
    "plan_updated": N_("Treatment plan recorded"), "treatment_started": N_("Rectification started"),
    "progress": N_("Progress"), "attachment": N_("Photo added"), "submitted": N_("Handed over for acceptance"),
    "accepted": N_("Accepted"), "acceptance_rejected": N_("Acceptance refused"), "closed": N_("Closed out"),
    "rejected": N_("Not registered"), "overdue": N_("Overdue: escalated"),
}


class Hazard(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "hazard"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "number"),
        UniqueConstraint("enterprise_id", "client_key"),
        Index("ix_hazard_ent_status", "enterprise_id", "status"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    number: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="SET NULL"), default=None)
    risk_point_id: Mapped[int | None] = mapped_column(ForeignKey("risk_point.id", ondelete="SET NULL"), default=None,
                                                      index=True)
    location: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    category: Mapped[str | None] = mapped_column(String(40), default=None)
    grade: Mapped[str | None] = mapped_column(String(10), default=None)
    # The basis of the grade: criterion codes from hazards/data/criteria_*.yaml and/or free text.
    grade_basis: Mapped[list[str]] = mapped_column(JSONType, default=list)
    grade_basis_text: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="report")
    source_ref: Mapped[str] = mapped_column(String(200), default="")
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    reported_at: Mapped[datetime]
    suggested_category: Mapped[str | None] = mapped_column(String(40), default=None)
    suggested_grade: Mapped[str | None] = mapped_column(String(10), default=None)
    suggestion_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(24), default=HazardStatus.REPORTED.value)
    treatment: Mapped[str] = mapped_column(String(12), default="deadline")  # immediate | deadline
    deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    # 重大隐患 five items (五落实): 责任, 措施, 资金, 时限, 预案.
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    measures: Mapped[str] = mapped_column(Text, default="")
    funds: Mapped[str] = mapped_column(String(200), default="")
    plan_deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    emergency_plan: Mapped[str] = mapped_column(Text, default="")
    # Everyone who rectified (started, recorded progress, handed over): none may accept.
    rectified_by: Mapped[list[int]] = mapped_column(JSONType, default=list)
    treatment_started_at: Mapped[datetime | None] = mapped_column(default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    reject_reason: Mapped[str] = mapped_column(String(500), default="")
    # Overdue escalation: the work order opened once, and how often it was escalated.
    overdue_work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_order.id", ondelete="SET NULL"), default=None)
    escalation_level: Mapped[int] = mapped_column(default=0)
    last_escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    context_id: Mapped[str] = mapped_column(String(32), default="")
    # The phone's Idempotency-Key of the report: a replayed report returns this hazard.
    client_key: Mapped[str | None] = mapped_column(String(64), default=None)


class HazardEvent(TenantMixin, Base):
    """One line of a hazard's history; rows are only ever inserted."""

    __tablename__ = "hazard_event"
    __table_args__ = (Index("ix_hazard_event_hazard", "hazard_id", "id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazard.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    actor_name: Mapped[str] = mapped_column(String(200), default="")  # "" = the system
    note: Mapped[str] = mapped_column(Text, default="")
    status_from: Mapped[str | None] = mapped_column(String(24), default=None)
    status_to: Mapped[str | None] = mapped_column(String(24), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class HazardAttachment(Audited, TenantMixin, Base):
    """A before/after/other photo. ``sha256`` is of the stored file (stamped with time and
    place when the stamping module is present); ``original_sha256`` is of the file as uploaded,
    so the evidence can be traced to what the phone sent."""

    __tablename__ = "hazard_attachment"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazard.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200), default="")
    stored_name: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    original_sha256: Mapped[str] = mapped_column(String(64))
    stamped: Mapped[bool] = mapped_column(default=False)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    uploaded_at: Mapped[datetime]


class HazardDeadlineConfig(Audited, TenantMixin, TimestampMixin, Base):
    """Per-enterprise rectification deadlines. ⚠ Not statutory (regulations.md §3.4): the
    defaults in ``hazards/deadlines.py`` are common practice, each plant sets its own."""

    __tablename__ = "hazard_deadline_config"
    __table_args__ = (UniqueConstraint("enterprise_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    immediate_hours: Mapped[int] = mapped_column(default=24)
    general_days: Mapped[int] = mapped_column(default=7)
    major_days: Mapped[int] = mapped_column(default=30)  # used only when the plan gives no date
    escalate_every_hours: Mapped[int] = mapped_column(default=24)
