"""Work orders (工单), their append-only history, the alarms attached to them, evidence files
and the SLA table.

Why ``work_order`` is ``Audited`` while ``work_order_event`` is not: an order changes at human
pace (a handful of steps), and every step must be in the ledger; the event table is the
order's own readable history (who, when, from which status to which), written in the same
transaction as the change, never updated.

``open_key`` is ``equipment:<id>`` (or ``alarm:<id>`` for an alarm without equipment) while an
order opened from an alarm is open, NULL otherwise: a unique ``(enterprise_id, open_key)``
keeps one open alarm order per piece of equipment on both backends, even when two alarms of
the same machine are consumed at the same moment (the loser's transaction rolls back, the bus
delivers its event again and it attaches to the winner's order).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin
from plantguard.core.i18n import N_
from plantguard.tenancy.models import TenantMixin
from plantguard.workorders.contract import Priority, WorkOrderStatus

STATUS_LABELS: dict[str, str] = {
    WorkOrderStatus.PENDING: N_("Pending dispatch"),
    WorkOrderStatus.DISPATCHED: N_("Dispatched"),
    WorkOrderStatus.IN_PROGRESS: N_("In progress"),
    WorkOrderStatus.AWAITING_ACCEPTANCE: N_("Awaiting acceptance"),
    WorkOrderStatus.CLOSED: N_("Closed"),
    WorkOrderStatus.CANCELLED: N_("Cancelled"),
}
OPEN_STATUSES: frozenset[str] = frozenset(
    {WorkOrderStatus.PENDING, WorkOrderStatus.DISPATCHED, WorkOrderStatus.IN_PROGRESS,
     WorkOrderStatus.AWAITING_ACCEPTANCE})
PRIORITY_LABELS: dict[str, str] = {Priority.P1: N_("P1 urgent"), Priority.P2: N_("P2 high"),
                                   Priority.P3: N_("P3 normal"), Priority.P4: N_("P4 low")}
SOURCES: dict[str, str] = {"alarm": N_("Alarm"), "hazard": N_("Hazard"), "inspection": N_("Inspection"),
                           "manual": N_("Manual")}
ATTACHMENT_KINDS: dict[str, str] = {"before": N_("Before"), "after": N_("After"), "other": N_("Other"),
                                    "signature": N_("Signature")}
EVENT_KINDS: dict[str, str] = {
    "created": N_("Created"), "dispatched": N_("Dispatched"), "accepted": N_("Accepted the task"),
    "updated": N_("Progress"), "submitted": N_("Handed over for acceptance"), "rejected": N_("Rejected"),
    "closed": N_("Accepted and closed"), "cancelled": N_("Cancelled"), "escalated": N_("Escalated"),
    "alarm_attached": N_("Alarm attached"), "attachment": N_("Evidence added"),
}


class WorkOrder(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "work_order"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "number"),
        UniqueConstraint("enterprise_id", "open_key"),
        Index("ix_work_order_ent_status", "enterprise_id", "status"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    number: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarm.id", ondelete="SET NULL"), default=None)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="SET NULL"), index=True,
                                                     default=None)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"), default=None)
    priority: Mapped[str] = mapped_column(String(4), default=Priority.P3.value)
    status: Mapped[str] = mapped_column(String(24), default=WorkOrderStatus.PENDING.value)
    open_key: Mapped[str | None] = mapped_column(String(60), default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"), index=True,
                                                default=None)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), index=True,
                                                    default=None)
    skills: Mapped[list[str]] = mapped_column(JSONType, default=list)
    routed_rule: Mapped[str] = mapped_column(String(200), default="")
    routed_version: Mapped[int | None] = mapped_column(default=None)
    # The order's own events have this as their context's parent; it is the child of the
    # alarm event's context when the order comes from an alarm.
    context_id: Mapped[str] = mapped_column(String(32), default="")
    ack_due_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    escalation_level: Mapped[int] = mapped_column(default=0)
    unack_escalations: Mapped[int] = mapped_column(default=0)
    overdue_escalations: Mapped[int] = mapped_column(default=0)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    # Everyone who did the work (took it on, handed it over): none of them may accept it.
    worked_by: Mapped[list[int]] = mapped_column(JSONType, default=list)
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    signature_attachment_id: Mapped[int | None] = mapped_column(default=None)
    signature_sha256: Mapped[str] = mapped_column(String(64), default="")
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")


class WorkOrderEvent(TenantMixin, Base):
    """One line of an order's history; rows are only ever inserted."""

    __tablename__ = "work_order_event"
    __table_args__ = (Index("ix_work_order_event_order", "work_order_id", "id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    actor_name: Mapped[str] = mapped_column(String(200), default="")  # "" = the system
    note: Mapped[str] = mapped_column(Text, default="")
    status_from: Mapped[str | None] = mapped_column(String(24), default=None)
    status_to: Mapped[str | None] = mapped_column(String(24), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class WorkOrderAlarm(TenantMixin, Base):
    __tablename__ = "work_order_alarm"
    __table_args__ = (UniqueConstraint("work_order_id", "alarm_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id", ondelete="CASCADE"), index=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarm.id", ondelete="CASCADE"), index=True)
    attached_at: Mapped[datetime]


class WorkOrderAttachment(Audited, TenantMixin, Base):
    """Evidence: a photo (before/after/other) or an acceptance signature. The file lives under
    ``var_dir/uploads/`` with a random name; the original name is only shown."""

    __tablename__ = "work_order_attachment"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200), default="")
    stored_name: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    uploaded_at: Mapped[datetime]


class WorkOrderSla(Audited, TenantMixin, TimestampMixin, Base):
    """Per-enterprise SLA for one priority; a priority without a row uses the built-in default."""

    __tablename__ = "work_order_sla"
    __table_args__ = (UniqueConstraint("enterprise_id", "priority"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    priority: Mapped[str] = mapped_column(String(4))
    ack_minutes: Mapped[int]
    resolve_minutes: Mapped[int]


class WorkOrderClientAction(TenantMixin, Base):
    """One step a client sent with an ``Idempotency-Key`` and the answer it got.

    Why: the phone app queues steps taken offline and replays them; a reply lost on a shaky
    network makes it send the same step again. The key (client-generated, unique per
    enterprise) turns the second send into a read of the first answer instead of a second
    note, a second photo or a 409 "already in progress". Only successful steps are kept: a
    refused one changed nothing, so sending it again simply asks again.
    """

    __tablename__ = "work_order_client_action"
    __table_args__ = (UniqueConstraint("enterprise_id", "key"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    action: Mapped[str] = mapped_column(String(20))
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id", ondelete="CASCADE"), index=True)
    status_code: Mapped[int] = mapped_column(Integer, default=200)
    response: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime]
