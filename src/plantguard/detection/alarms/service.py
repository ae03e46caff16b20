"""What people do with alarms, and what they may see: every function takes the caller,
checks the role and scopes every query to the caller's enterprise (another tenant's alarm is
"not found"). Routes and pages stay thin and call these.

State changes go through :mod:`lifecycle`, so each has its history line (who, when, note) and
its outbox event in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from plantguard.core.crud import Page
from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.detection.alarms import lifecycle
from plantguard.detection.alarms.models import Alarm, AlarmEvent
from plantguard.detection.signals import Severity
from plantguard.tenancy.models import User

ALARM = N_("Alarm")
STATUS_FILTERS = ("active", "cleared", "ack", "unack", "active_unack", "active_ack", "cleared_unack", "cleared_ack")
ORDERS = ("time", "severity")


def who(actor: Actor) -> lifecycle.Who:
    return lifecycle.Who(user_id=actor.user_id or None, name=actor.display_name or actor.username)


def severity_rank() -> ColumnElement[int]:
    return case(*((Alarm.severity == s.value, s.rank) for s in Severity), else_=len(Severity))


def status_filter(status: str) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if status.startswith("active"):
        out.append(Alarm.active.is_(True))
    elif status.startswith("cleared"):
        out.append(Alarm.active.is_(False))
    if status.endswith("unack"):
        out.append(Alarm.acknowledged.is_(False))
    elif status.endswith("ack"):
        out.append(Alarm.acknowledged.is_(True))
    return out


def list_alarms(session: Session, actor: Actor, *, status: str | None = None, severity: str | None = None,
                kind: str | None = None, equipment_id: int | None = None, since: datetime | None = None,
                until: datetime | None = None, order: str = "time", limit: int = 50,
                offset: int = 0) -> Page[Alarm]:
    """Alarms of the caller's enterprise; ``since``/``until`` bound the time they were raised."""
    actor.require(Perm.READ)
    errors = []
    if status and status not in STATUS_FILTERS:
        errors.append(FieldError("status", N_("Must be one of: %(expected)s"), {"expected": ", ".join(STATUS_FILTERS)}))
    if severity and severity not in {s.value for s in Severity}:
        errors.append(FieldError("severity", N_("Must be one of: %(expected)s"),
                                 {"expected": ", ".join(s.value for s in Severity)}))
    if order not in ORDERS:
        errors.append(FieldError("order", N_("Must be one of: %(expected)s"), {"expected": ", ".join(ORDERS)}))
    if since is not None and until is not None and until <= since:
        errors.append(FieldError("to", N_("Must be later than the start")))
    if errors:
        raise ValidationFailed(errors)
    conds: list[ColumnElement[bool]] = [Alarm.enterprise_id == actor.enterprise_id]
    if status:
        conds += status_filter(status)
    if severity:
        conds.append(Alarm.severity == severity)
    if kind:
        conds.append(Alarm.kind == kind)
    if equipment_id is not None:
        conds.append(Alarm.equipment_id == equipment_id)
    if since is not None:
        conds.append(Alarm.first_active_at >= since)
    if until is not None:
        conds.append(Alarm.first_active_at < until)
    total = int(session.scalar(select(func.count()).select_from(Alarm).where(*conds)) or 0)
    ordering: Sequence[Any] = ((Alarm.active.desc(), severity_rank(), Alarm.last_active_at.desc(), Alarm.id.desc())
                               if order == "severity" else (Alarm.first_active_at.desc(), Alarm.id.desc()))
    items = session.scalars(select(Alarm).where(*conds).order_by(*ordering).limit(limit).offset(offset)).all()
    return Page(items, total)


def get_alarm(session: Session, actor: Actor, alarm_id: int, *, for_update: bool = False) -> Alarm:
    actor.require(Perm.READ)
    q = select(Alarm).where(Alarm.id == alarm_id, Alarm.enterprise_id == actor.enterprise_id)
    alarm = session.scalars(q.with_for_update() if for_update else q).first()
    if alarm is None:
        raise NotFound(ALARM, alarm_id)
    return alarm


def history(session: Session, actor: Actor, alarm: Alarm) -> list[AlarmEvent]:
    actor.require(Perm.READ)
    return list(session.scalars(select(AlarmEvent).where(
        AlarmEvent.alarm_id == alarm.id, AlarmEvent.enterprise_id == actor.enterprise_id).order_by(AlarmEvent.id)))


def user_names(session: Session, actor: Actor, ids: Sequence[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.username).where(
        User.id.in_(wanted), User.enterprise_id == actor.enterprise_id)).all()
    return {int(r[0]): r[1] or r[2] for r in rows}


def acknowledge(session: Session, actor: Actor, alarm_id: int, note: str = "", now: datetime | None = None) -> Alarm:
    actor.require(Perm.HANDLE_ALARMS)
    alarm = get_alarm(session, actor, alarm_id, for_update=True)
    if alarm.acknowledged:
        raise Conflict(N_("This alarm is already acknowledged"))
    lifecycle.acknowledge(session, alarm, now or utcnow(), who(actor), note)
    session.flush()
    return alarm


def clear(session: Session, actor: Actor, alarm_id: int, note: str = "", now: datetime | None = None) -> Alarm:
    actor.require(Perm.HANDLE_ALARMS)
    alarm = get_alarm(session, actor, alarm_id, for_update=True)
    if not alarm.active:
        raise Conflict(N_("This alarm is already cleared"))
    lifecycle.clear(session, alarm, now or utcnow(), who(actor), "manual", note)
    session.flush()
    return alarm


def comment(session: Session, actor: Actor, alarm_id: int, note: str, now: datetime | None = None) -> Alarm:
    actor.require(Perm.HANDLE_ALARMS)
    if not note.strip():
        raise ValidationFailed([FieldError("note", N_("This field is required"))])
    alarm = get_alarm(session, actor, alarm_id)
    lifecycle.comment(session, alarm, now or utcnow(), who(actor), note.strip())
    session.flush()
    return alarm


def active_counts(session: Session, actor: Actor) -> dict[str, int]:
    """Active alarms per severity (every severity present, zero included)."""
    actor.require(Perm.READ)
    rows = session.execute(select(Alarm.severity, func.count()).where(
        Alarm.enterprise_id == actor.enterprise_id, Alarm.active.is_(True)).group_by(Alarm.severity)).all()
    found = {str(s): int(n) for s, n in rows}
    return {s.value: found.get(s.value, 0) for s in Severity}
