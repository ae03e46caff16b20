"""Tables of the inspection domain (隐患排查, migration 0011).

* ``inspection_check_item``: a risk point's checklist. Items generated from a control measure
  keep ``measure_id``; ``edited`` marks a text changed by hand and ``removed`` one taken off
  by hand, so that regenerating from the measures never undoes a person's edit (the rule is
  in :mod:`plantguard.inspections.checklists`).
* ``inspection_plan`` (+ ``inspection_plan_point``): what to inspect, how often, by whom.
* ``inspection_task``: one plan × point × period window; open → done | missed. The unique
  (plan, point, window start) makes generation idempotent on both backends.
* ``inspection_tag``: the random token printed as a QR code on each point (URL ``/i/{token}``).
* ``inspection_checkin`` / ``inspection_result`` / ``inspection_photo``: what happened on site.
* ``inspection_client_action``: Idempotency-Key answers of the phone page's steps.

Plans, items and tags are ``Audited`` (people change them); tasks, check-ins and results are
records of what happened and carry who/when themselves.
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

FREQUENCIES: dict[str, str] = {"shift": N_("Every shift"), "day": N_("Daily"), "week": N_("Weekly"),
                               "month": N_("Monthly"), "quarter": N_("Quarterly")}
TASK_STATUSES: dict[str, str] = {"open": N_("To inspect"), "done": N_("Done"), "missed": N_("Missed")}
OUTCOMES: dict[str, str] = {"ok": N_("OK"), "not_ok": N_("Not OK")}
GEO_STATUSES: dict[str, str] = {"ok": N_("Location recorded"), "denied": N_("Location permission denied"),
                                "unavailable": N_("Location unavailable"), "absent": N_("No location sent")}


class InspectionCheckItem(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "inspection_check_item"
    __table_args__ = (Index("ix_inspection_check_item_point", "risk_point_id", "position"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    risk_point_id: Mapped[int] = mapped_column(ForeignKey("risk_point.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(String(500))
    measure_id: Mapped[int | None] = mapped_column(ForeignKey("risk_control_measure.id", ondelete="SET NULL"),
                                                   default=None)
    edited: Mapped[bool] = mapped_column(default=False)
    removed: Mapped[bool] = mapped_column(default=False)


class InspectionPlan(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "inspection_plan"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    frequency: Mapped[str] = mapped_column(String(10))
    assignee_role: Mapped[str | None] = mapped_column(String(30), default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(Text, default="")


class InspectionPlanPoint(TenantMixin, Base):
    __tablename__ = "inspection_plan_point"
    __table_args__ = (UniqueConstraint("plan_id", "risk_point_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan.id", ondelete="CASCADE"), index=True)
    risk_point_id: Mapped[int] = mapped_column(ForeignKey("risk_point.id", ondelete="CASCADE"), index=True)


class InspectionTask(TenantMixin, Base):
    __tablename__ = "inspection_task"
    __table_args__ = (UniqueConstraint("plan_id", "risk_point_id", "window_start"),
                      Index("ix_inspection_task_ent_status", "enterprise_id", "status", "window_end"))

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan.id", ondelete="CASCADE"), index=True)
    risk_point_id: Mapped[int] = mapped_column(ForeignKey("risk_point.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(40))  # e.g. 2026-11-28/day, 2026-W48, 2026-Q4
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="open")
    # assignment copied from the plan when the task was made: a later plan change does not
    # move tasks already handed out
    assignee_role: Mapped[str | None] = mapped_column(String(30), default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    done_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    missed_at: Mapped[datetime | None] = mapped_column(default=None)


class InspectionTag(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "inspection_tag"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    risk_point_id: Mapped[int] = mapped_column(ForeignKey("risk_point.id", ondelete="CASCADE"), unique=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)


class InspectionCheckin(TenantMixin, Base):
    __tablename__ = "inspection_checkin"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("inspection_task.id", ondelete="CASCADE"), index=True)
    risk_point_id: Mapped[int] = mapped_column(ForeignKey("risk_point.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    at: Mapped[datetime]
    token_matched: Mapped[bool] = mapped_column(default=False)
    geo_status: Mapped[str] = mapped_column(String(12), default="absent")
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy_m: Mapped[float | None] = mapped_column(Float, default=None)


class InspectionPhoto(TenantMixin, Base):
    __tablename__ = "inspection_photo"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("inspection_task.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200), default="")
    stored_name: Mapped[str] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    uploaded_at: Mapped[datetime]


class InspectionResult(TenantMixin, Base):
    __tablename__ = "inspection_result"
    __table_args__ = (UniqueConstraint("task_id", "item_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("inspection_task.id", ondelete="CASCADE"), index=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("inspection_checkin.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("inspection_check_item.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(String(500))  # the item as it read when checked
    outcome: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("inspection_photo.id", ondelete="SET NULL"),
                                                 default=None)
    hazard_id: Mapped[int | None] = mapped_column(default=None)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    at: Mapped[datetime]


class InspectionClientAction(TenantMixin, Base):
    """A phone step sent with an ``Idempotency-Key`` and its answer (see workorders/idempotency.py)."""

    __tablename__ = "inspection_client_action"
    __table_args__ = (UniqueConstraint("enterprise_id", "key"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    action: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[int] = mapped_column(ForeignKey("inspection_task.id", ondelete="CASCADE"), index=True)
    status_code: Mapped[int] = mapped_column(Integer, default=200)
    response: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime]
