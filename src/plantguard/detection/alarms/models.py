"""Alarms, their append-only history, the policies that time them and silences.

Why alarms and their history are not ``Audited``: an open alarm is refreshed by every signal
of its source (last active time, score), and a no-data alarm is re-notified every few minutes;
one ledger entry per refresh would bury the ledger. ``alarm_event`` is the alarm's own
history, append-only and written in the same transaction as the change it records. Policies
and silences are configuration a person edits, so they are audited like any record.

``alarm.open_key`` is the source while the alarm is not cleared and NULL afterwards: a unique
``(enterprise_id, open_key)`` keeps one open alarm per source on both backends (NULLs are
distinct in SQLite and PostgreSQL unique constraints), even when the ingest leader and an
edge box's HTTP call raise the same source at the same moment.

``rule_id`` is a plain integer without a foreign key: the ``detection_rule`` table arrives in
a later migration (0005) owned by the detection work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin
from plantguard.core.i18n import N_
from plantguard.tenancy.models import TenantMixin

SEVERITY_LABELS: dict[str, str] = {
    "critical": N_("Critical"),
    "major": N_("Major"),
    "minor": N_("Minor"),
    "warning": N_("Warning"),
}

# ThingsBoard's four states: active/cleared × acknowledged/unacknowledged.
STATUSES: dict[str, str] = {
    "active_unack": N_("Active, unacknowledged"),
    "active_ack": N_("Active, acknowledged"),
    "cleared_unack": N_("Cleared, unacknowledged"),
    "cleared_ack": N_("Cleared, acknowledged"),
}

# History entries (alarm_event.kind).
EVENT_KINDS: dict[str, str] = {
    "raised": N_("Raised"),
    "repeated": N_("Repeated"),
    "condition_ended": N_("Condition ended"),
    "acked": N_("Acknowledged"),
    "cleared": N_("Cleared"),
    "escalated": N_("Escalated (not acknowledged)"),
    "severity_up": N_("Severity raised"),
    "severity_down": N_("Severity lowered"),
    "commented": N_("Comment"),
    "silenced": N_("Raised during a silence"),
}

CLEAR_REASONS: dict[str, str] = {"manual": N_("Cleared by hand"), "auto": N_("Cleared automatically")}

KIND_LABELS: dict[str, str] = {
    "no_data": N_("No data"),
    "offline": N_("Device offline"),
    "threshold": N_("Threshold"),
    "trend": N_("Trend"),
}

SILENCE_SCOPES: dict[str, str] = {
    "enterprise": N_("Whole enterprise"),
    "area": N_("Area"),
    "equipment": N_("Equipment"),
    "point": N_("Measurement point"),
    "rule": N_("Detection rule"),
}

POLICY_FIELDS: tuple[str, ...] = ("auto_clear_after_s", "escalate_after_s", "downgrade_after_s",
                                  "unack_escalate_after_s", "throttle_s", "no_data_after_s", "repeat_no_data_s")


class Alarm(TenantMixin, TimestampMixin, Base):
    __tablename__ = "alarm"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "open_key"),
        Index("ix_alarm_ent_source", "enterprise_id", "source", "id"),
        Index("ix_alarm_ent_first", "enterprise_id", "first_active_at"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    initial_severity: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(default=True)  # False once cleared
    acknowledged: Mapped[bool] = mapped_column(default=False)
    title: Mapped[str] = mapped_column(String(200), default="")
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="SET NULL"), index=True,
                                                     default=None)
    point_id: Mapped[int | None] = mapped_column(ForeignKey("measurement_point.id", ondelete="SET NULL"),
                                                 index=True, default=None)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"), default=None)
    rule_id: Mapped[int | None] = mapped_column(Integer, default=None)  # no FK: detection_rule comes in 0005
    score: Mapped[float] = mapped_column(Float, default=0.0)
    first_active_at: Mapped[datetime]
    last_active_at: Mapped[datetime]
    condition_ended_at: Mapped[datetime | None] = mapped_column(default=None)
    occurrences: Mapped[int] = mapped_column(default=1)
    escalation_level: Mapped[int] = mapped_column(default=0)
    severity_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    unack_escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    last_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    silenced: Mapped[bool] = mapped_column(default=False)
    acked_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    acked_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)
    clear_reason: Mapped[str] = mapped_column(String(10), default="")  # "" | manual | auto
    # The events of one alarm form one chain: every later event's context names this as parent.
    context_id: Mapped[str] = mapped_column(String(32), default="")
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    @property
    def status(self) -> str:
        return f"{'active' if self.active else 'cleared'}_{'ack' if self.acknowledged else 'unack'}"


class AlarmEvent(TenantMixin, Base):
    """One line of an alarm's history; rows are only ever inserted."""

    __tablename__ = "alarm_event"
    __table_args__ = (Index("ix_alarm_event_alarm", "alarm_id", "id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarm.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    actor_name: Mapped[str] = mapped_column(String(200), default="")  # "" = the system
    note: Mapped[str] = mapped_column(Text, default="")
    severity_from: Mapped[str | None] = mapped_column(String(10), default=None)
    severity_to: Mapped[str | None] = mapped_column(String(10), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AlarmPolicy(Audited, TenantMixin, TimestampMixin, Base):
    """Timing of alarms: the enterprise default (``scope_key`` "default") or an override for
    one rule ("rule:12"), one piece of equipment ("equipment:5") or one kind ("kind:no_data").

    A NULL setting inherits from the next broader policy (rule → equipment → kind → default →
    built-in); 0 switches the behaviour off."""

    __tablename__ = "alarm_policy"
    __table_args__ = (UniqueConstraint("enterprise_id", "scope_key"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(80))
    rule_id: Mapped[int | None] = mapped_column(Integer, default=None)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str | None] = mapped_column(String(40), default=None)
    auto_clear_after_s: Mapped[int | None] = mapped_column(Integer, default=None)
    escalate_after_s: Mapped[int | None] = mapped_column(Integer, default=None)
    downgrade_after_s: Mapped[int | None] = mapped_column(Integer, default=None)
    unack_escalate_after_s: Mapped[int | None] = mapped_column(Integer, default=None)
    throttle_s: Mapped[int | None] = mapped_column(Integer, default=None)
    no_data_after_s: Mapped[int | None] = mapped_column(Integer, default=None)
    repeat_no_data_s: Mapped[int | None] = mapped_column(Integer, default=None)


class AlarmSilence(Audited, TenantMixin, TimestampMixin, Base):
    """A quiet period: alarms raised inside it are recorded, flagged silenced, not notified."""

    __tablename__ = "alarm_silence"
    __table_args__ = (Index("ix_alarm_silence_ent_until", "enterprise_id", "ends_at"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))  # enterprise | area | equipment | point | rule
    target_id: Mapped[int | None] = mapped_column(Integer, default=None)  # None for the enterprise
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
