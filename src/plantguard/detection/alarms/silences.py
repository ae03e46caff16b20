"""Silences (屏蔽时段): planned quiet periods, e.g. during maintenance of one machine.

Silence versus throttle: a silence is a person's decision for a scope and a period, recorded
with a reason; alarms raised inside it are still recorded (flagged ``silenced``, visible on the
board) but nobody is notified. The throttle is automatic, per source: a condition that clears
and comes back within ``throttle_s`` is counted on the same alarm instead of raising a new one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.db import Base, utcnow
from plantguard.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.detection.alarms.models import AlarmSilence
from plantguard.detection.alarms.schemas import SilenceCreate
from plantguard.tenancy.models import Area

SILENCE = N_("Silence")
MAX_SILENCE_DAYS = 366
TARGETS: dict[str, tuple[type[Base], str]] = {
    "area": (Area, N_("Area")),
    "equipment": (Equipment, N_("Equipment")),
    "point": (MeasurementPoint, N_("Measurement point")),
}


def list_silences(session: Session, actor: Actor, *, include_past: bool = False,
                  now: datetime | None = None) -> list[AlarmSilence]:
    actor.require(Perm.READ)
    now = now or utcnow()
    q = select(AlarmSilence).where(AlarmSilence.enterprise_id == actor.enterprise_id)
    if not include_past:
        q = q.where(AlarmSilence.cancelled_at.is_(None), AlarmSilence.ends_at > now)
    return list(session.scalars(q.order_by(AlarmSilence.starts_at.desc(), AlarmSilence.id.desc()).limit(500)))


def in_force(s: AlarmSilence, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return s.cancelled_at is None and s.starts_at <= now < s.ends_at


def create_silence(session: Session, actor: Actor, body: SilenceCreate, now: datetime | None = None) -> AlarmSilence:
    actor.require(Perm.HANDLE_ALARMS)
    now = now or utcnow()
    starts = body.starts_at or now
    errors: list[FieldError] = []
    if body.ends_at <= starts:
        errors.append(FieldError("ends_at", N_("Must be later than the start")))
    elif (body.ends_at - starts).days > MAX_SILENCE_DAYS:
        errors.append(FieldError("ends_at", N_("At most %(days)s days after the start"), {"days": MAX_SILENCE_DAYS}))
    elif body.ends_at <= now:
        errors.append(FieldError("ends_at", N_("Must be in the future")))
    target = body.target_id
    if body.scope == "enterprise":
        target = None
    elif target is None:
        errors.append(FieldError("target_id", N_("This field is required")))
    elif body.scope != "rule":  # rules live in another table (migration 0005): any id is accepted
        model, label = TARGETS[body.scope]
        found = session.scalar(select(model.id).where(  # type: ignore[attr-defined]
            model.id == target, model.enterprise_id == actor.enterprise_id))  # type: ignore[attr-defined]
        if found is None:
            errors.append(FieldError("target_id", N_("No %(entity)s with this id"), {"entity": label}))
    if errors:
        raise ValidationFailed(errors)
    silence = AlarmSilence(enterprise_id=actor.enterprise_id, scope=body.scope, target_id=target, starts_at=starts,
                           ends_at=body.ends_at, reason=body.reason, created_by=actor.user_id or None)
    session.add(silence)
    session.flush()
    return silence


def cancel_silence(session: Session, actor: Actor, silence_id: int, now: datetime | None = None) -> AlarmSilence:
    """Ends a silence now (kept, with who cancelled it, for the record)."""
    actor.require(Perm.HANDLE_ALARMS)
    silence = session.scalars(select(AlarmSilence).where(
        AlarmSilence.id == silence_id, AlarmSilence.enterprise_id == actor.enterprise_id)).first()
    if silence is None:
        raise NotFound(SILENCE, silence_id)
    if silence.cancelled_at is not None:
        raise Conflict(N_("This silence is already cancelled"))
    silence.cancelled_at = now or utcnow()
    silence.cancelled_by = actor.user_id or None
    session.flush()
    return silence
