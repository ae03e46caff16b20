"""Reading permits: one permit, the filtered list, and the parts the detail page shows.

Why apart from the service: the steps (``permits/steps.py``), the approvals, the PDF and the
console all read permits the same tenant-scoped way; keeping the reads here lets them import
it without importing the writers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from plantguard.core.crud import Page
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.permits.contract import LIVE_STATUSES, PERMIT_TYPES
from plantguard.permits.lifecycle import Who
from plantguard.permits.models import (
    STATUS_LABELS,
    GasAnalysis,
    Permit,
    PermitEvent,
    PermitLink,
    PermitMeasure,
    PermitSignature,
    PermitWorker,
)

PERMIT = N_("Permit")


def who(actor: Actor) -> Who:
    return Who(user_id=actor.user_id or None, name=actor.display_name or actor.username)


def get(session: Session, actor: Actor, permit_id: int, *, for_update: bool = False) -> Permit:
    """The caller's permit; another enterprise's is "not found"."""
    actor.require(Perm.READ)
    q = select(Permit).where(Permit.id == permit_id, Permit.enterprise_id == actor.enterprise_id)
    permit = session.scalars(q.with_for_update() if for_update else q).first()
    if permit is None:
        raise NotFound(PERMIT, permit_id)
    return permit


def by_client_key(session: Session, actor: Actor, key: str) -> Permit | None:
    return session.scalars(select(Permit).where(Permit.enterprise_id == actor.enterprise_id,
                                                Permit.client_key == key)).first()


def _choice(value: str | None, allowed: list[str], field: str) -> list[FieldError]:
    if value and value not in allowed:
        return [FieldError(field, N_("Must be one of: %(expected)s"), {"expected": ", ".join(allowed)})]
    return []


def list_permits(session: Session, actor: Actor, *, status: str | None = None, type_code: str | None = None,
                 area_id: int | None = None, guardian_id: int | None = None, person_id: int | None = None,
                 start: datetime | None = None, end: datetime | None = None, limit: int = 50,
                 offset: int = 0) -> Page[Permit]:
    """Newest first. ``status``: a comma list or ``live``; ``person_id``: as work leader,
    guardian or worker; ``start``/``end``: the planned window overlaps [start, end)."""
    actor.require(Perm.READ)
    statuses = [s for s in (status or "").split(",") if s]
    if statuses == ["live"]:
        statuses = sorted(LIVE_STATUSES)
    errors: list[FieldError] = []
    if any(s not in STATUS_LABELS for s in statuses):
        errors.append(FieldError("status", N_("Must be one of: %(expected)s"),
                                 {"expected": ", ".join([*STATUS_LABELS, "live"])}))
    errors += _choice(type_code, list(PERMIT_TYPES), "type_code")
    if start is not None and end is not None and end <= start:
        errors.append(FieldError("to", N_("The end must be after the start")))
    if errors:
        raise ValidationFailed(errors)
    conds: list[ColumnElement[bool]] = [Permit.enterprise_id == actor.enterprise_id]
    if statuses:
        conds.append(Permit.status.in_(statuses))
    if type_code:
        conds.append(Permit.type_code == type_code)
    if area_id is not None:
        conds.append(Permit.area_id == area_id)
    if guardian_id is not None:
        conds.append(Permit.guardian_id == guardian_id)
    if person_id is not None:
        as_worker = exists().where(PermitWorker.permit_id == Permit.id, PermitWorker.person_id == person_id,
                                   PermitWorker.enterprise_id == actor.enterprise_id)
        conds.append(or_(Permit.work_leader_id == person_id, Permit.guardian_id == person_id, as_worker))
    if start is not None:
        conds.append(Permit.planned_end > start)
    if end is not None:
        conds.append(Permit.planned_start < end)
    total = int(session.scalar(select(func.count()).select_from(Permit).where(*conds)) or 0)
    items = session.scalars(select(Permit).where(*conds).order_by(Permit.id.desc()).limit(limit).offset(offset)).all()
    return Page(list(items), total)


def _rows(session: Session, permit: Permit, model: Any, order: Any) -> list[Any]:
    return list(session.scalars(select(model).where(model.permit_id == permit.id,
                                                    model.enterprise_id == permit.enterprise_id).order_by(order)))


def workers(session: Session, permit: Permit) -> list[PermitWorker]:
    return _rows(session, permit, PermitWorker, PermitWorker.id)


def measures(session: Session, permit: Permit) -> list[PermitMeasure]:
    return _rows(session, permit, PermitMeasure, PermitMeasure.code)


def signatures(session: Session, permit: Permit) -> list[PermitSignature]:
    return _rows(session, permit, PermitSignature, PermitSignature.id)


def analyses(session: Session, permit: Permit) -> list[GasAnalysis]:
    return _rows(session, permit, GasAnalysis, GasAnalysis.sampled_at)


def history(session: Session, permit: Permit) -> list[PermitEvent]:
    return _rows(session, permit, PermitEvent, PermitEvent.id)


def linked(session: Session, permit: Permit) -> list[Permit]:
    """The permits this one is linked to, either direction (hot work ↔ its confined space)."""
    ids = set(session.scalars(select(PermitLink.linked_id).where(PermitLink.permit_id == permit.id,
                                                                 PermitLink.enterprise_id == permit.enterprise_id)))
    ids |= set(session.scalars(select(PermitLink.permit_id).where(PermitLink.linked_id == permit.id,
                                                                  PermitLink.enterprise_id == permit.enterprise_id)))
    if not ids:
        return []
    return list(session.scalars(select(Permit).where(Permit.id.in_(ids), Permit.enterprise_id == permit.enterprise_id)
                                .order_by(Permit.id)))


def conflicts_of(session: Session, permit: Permit) -> list[dict[str, Any]]:
    """The overlaps found when it was last applied for or submitted (shown, never refused)."""
    for e in reversed(history(session, permit)):
        if e.kind in ("applied", "edited", "submitted") and "conflicts" in (e.detail or {}):
            found: list[dict[str, Any]] = e.detail["conflicts"]
            return found
    return []


def replayed(session: Session, permit: Permit, key: str | None) -> bool:
    """A step sent again with the same Idempotency-Key (a phone replaying its queue): the first
    send's history line carries the key, so the second changes nothing."""
    if not key:
        return False
    rows = session.scalars(select(PermitEvent.detail).where(PermitEvent.permit_id == permit.id,
                                                            PermitEvent.enterprise_id == permit.enterprise_id))
    return any(isinstance(d, dict) and d.get("client_key") == key for d in rows)
