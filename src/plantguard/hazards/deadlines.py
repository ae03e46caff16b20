"""Rectification deadlines by grade, per enterprise.

⚠ Not statutory (regulations.md §3.4): 16号令 sets no fixed number of days. The defaults are
common practice — an immediate fix within a shift or a day, a 一般隐患 within 7 days, a 重大隐患
by the date in its treatment plan (``major_days`` only when the plan gives none). Each
enterprise sets its own through ``PUT /api/v1/hazard-deadlines``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.permissions import Actor, Perm
from plantguard.hazards.contract import HazardGrade
from plantguard.hazards.models import HazardDeadlineConfig


@dataclass(frozen=True)
class Deadlines:
    immediate_hours: int = 24
    general_days: int = 7
    major_days: int = 30
    escalate_every_hours: int = 24


DEFAULTS = Deadlines()


def of(session: Session, enterprise_id: int) -> Deadlines:
    row = session.scalars(select(HazardDeadlineConfig).where(
        HazardDeadlineConfig.enterprise_id == enterprise_id)).first()
    if row is None:
        return DEFAULTS
    return Deadlines(row.immediate_hours, row.general_days, row.major_days, row.escalate_every_hours)


def deadline_for(d: Deadlines, grade: str, treatment: str, at: datetime, plan_date: datetime | None) -> datetime:
    if grade == HazardGrade.MAJOR:
        return plan_date if plan_date is not None else at + timedelta(days=d.major_days)
    if treatment == "immediate":
        return at + timedelta(hours=d.immediate_hours)
    return at + timedelta(days=d.general_days)


def replace(session: Session, actor: Actor, d: Deadlines) -> Deadlines:
    actor.require(Perm.MANAGE_HAZARDS)
    row = session.scalars(select(HazardDeadlineConfig).where(
        HazardDeadlineConfig.enterprise_id == actor.enterprise_id)).first()
    if row is None:
        row = HazardDeadlineConfig(enterprise_id=actor.enterprise_id)
        session.add(row)
    row.immediate_hours, row.general_days = d.immediate_hours, d.general_days
    row.major_days, row.escalate_every_hours = d.major_days, d.escalate_every_hours
    session.flush()
    return d
