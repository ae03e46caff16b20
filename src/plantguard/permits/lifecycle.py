"""A permit's life as a transition table: 申请 → 审批 → 批准 → 作业 (⇄ 暂停) → 完工 → 验收关闭.

:data:`TRANSITIONS` is the whole state machine: an action is allowed only from the statuses it
lists; a refused one is a 409 naming the current status in the user's language. One function
(:func:`record`) writes the history line and the outbox event, so no change goes unrecorded;
the caller's transaction carries both, and the audit ledger records the row change.

Context chain: a permit's ``context_id`` is the context it was applied in; every later event
of the permit has it as parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.core.errors import Conflict
from plantguard.core.i18n import N_
from plantguard.events.envelope import Context
from plantguard.events.outbox import enqueue
from plantguard.permits import events as ev
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import STATUS_LABELS, Permit, PermitEvent
from plantguard.timeseries.alignment.times import plant_tz


@dataclass(frozen=True)
class Who:
    user_id: int | None = None
    name: str = ""


SYSTEM = Who()

_ALIVE = frozenset({S.DRAFT, S.PENDING, S.APPROVED, S.ACTIVE, S.SUSPENDED})

# action → (statuses it may start from, status it leads to; None = unchanged)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "edit": (frozenset({S.DRAFT}), None),  # 4.18: an approved permit is never altered
    "submit": (frozenset({S.DRAFT}), S.PENDING),
    "approve_step": (frozenset({S.PENDING}), None),
    "approve": (frozenset({S.PENDING}), S.APPROVED),
    "reject": (frozenset({S.PENDING}), S.REJECTED),
    "confirm_measure": (frozenset({S.DRAFT, S.PENDING, S.APPROVED}), None),
    "gas": (frozenset({S.PENDING, S.APPROVED, S.ACTIVE, S.SUSPENDED}), None),
    "sign": (frozenset({S.APPROVED, S.ACTIVE, S.SUSPENDED}), None),
    "start": (frozenset({S.APPROVED}), S.ACTIVE),
    "suspend": (frozenset({S.ACTIVE}), S.SUSPENDED),
    "resume": (frozenset({S.SUSPENDED}), S.ACTIVE),
    "complete": (frozenset({S.ACTIVE}), S.COMPLETED),
    "close": (frozenset({S.COMPLETED}), S.CLOSED),
    "cancel": (_ALIVE, S.CANCELLED),
    "expire": (frozenset({S.APPROVED, S.ACTIVE, S.SUSPENDED}), S.EXPIRED),
}
ACTION_LABELS: dict[str, str] = {
    "edit": N_("change"), "submit": N_("submit for approval"), "approve_step": N_("approve"),
    "approve": N_("approve"), "reject": N_("refuse"), "confirm_measure": N_("confirm a measure of"),
    "gas": N_("record a gas analysis for"), "sign": N_("sign"), "start": N_("start work under"),
    "suspend": N_("suspend"), "resume": N_("resume work under"), "complete": N_("complete"),
    "close": N_("accept and close"), "cancel": N_("cancel"), "expire": N_("expire"),
}
# action → the history/event kind it writes
ACTION_KIND: dict[str, str] = {
    "edit": "edited", "submit": "submitted", "approve_step": "approval_step", "approve": "approved",
    "reject": "rejected", "confirm_measure": "measure_confirmed", "gas": "gas_recorded", "sign": "signed",
    "start": "started", "suspend": "suspended", "resume": "resumed", "complete": "completed",
    "close": "closed", "cancel": "cancelled", "expire": "expired",
}
EVENT_KINDS: dict[str, str] = {
    "applied": N_("Applied for"), "edited": N_("Changed"), "submitted": N_("Submitted for approval"),
    "approval_step": N_("Approval signed"), "approved": N_("Approved"), "rejected": N_("Approval refused"),
    "measure_confirmed": N_("Safety measure confirmed"), "gas_recorded": N_("Gas analysis recorded"),
    "signed": N_("Signed"), "started": N_("Work started"), "suspended": N_("Suspended"),
    "resumed": N_("Work resumed"), "completed": N_("Work completed"), "closed": N_("Accepted and closed"),
    "cancelled": N_("Cancelled"), "expired": N_("Expired"),
    # History only (no outbox event): the live sensor link (permits/points.py).
    "point_bound": N_("Sensing point bound"), "point_unbound": N_("Sensing point unbound"),
}
# history kind → outbox event (kinds without an event stay in the history only)
EVENTS: dict[str, type[ev.PermitEventBase]] = {
    "applied": ev.PermitApplied, "submitted": ev.PermitSubmitted, "approval_step": ev.PermitApprovalStep,
    "approved": ev.PermitApproved, "rejected": ev.PermitRejected, "gas_recorded": ev.PermitGasRecorded,
    "started": ev.PermitStarted, "suspended": ev.PermitSuspended, "resumed": ev.PermitResumed,
    "completed": ev.PermitCompleted, "closed": ev.PermitClosed, "cancelled": ev.PermitCancelled,
    "expired": ev.PermitExpired,
}


def check(permit: Permit, action: str) -> str | None:
    """The status ``action`` leads to; 409 naming the current status when not allowed."""
    allowed, target = TRANSITIONS[action]
    if permit.status not in allowed:
        status = STATUS_LABELS.get(permit.status, permit.status)
        if action == "edit":
            raise Conflict(N_("This permit is %(status)s and can no longer be changed: a change needs a new "
                              "permit (GB 30871-2022 4.18)"), status=status)
        raise Conflict(N_("Cannot %(action)s this permit: it is %(status)s"),
                       action=ACTION_LABELS[action], status=status)
    return target


def notify_user_ids(session: Session, permit: Permit) -> list[int]:
    """User accounts of the permit's work leader and guardian (people may have none)."""
    from plantguard.tenancy.models import User

    people = [p for p in (permit.work_leader_id, permit.guardian_id) if p is not None]
    if not people:
        return []
    rows = session.scalars(select(User.id).where(User.enterprise_id == permit.enterprise_id,
                                                 User.person_id.in_(people), User.active.is_(True)))
    return sorted(set(rows))


def payload(session: Session, p: Permit) -> dict[str, Any]:
    return {"id": p.id, "number": p.number, "type_code": p.type_code, "grade": p.grade, "status": p.status,
            "area_id": p.area_id, "work_leader_id": p.work_leader_id, "guardian_id": p.guardian_id,
            "applicant_user_id": p.applicant_user_id, "notify_user_ids": notify_user_ids(session, p),
            "planned_start": p.planned_start, "planned_end": p.planned_end}


def record(session: Session, permit: Permit, kind: str, *, at: datetime, who: Who = SYSTEM, note: str = "",
           status_from: str | None = None, detail: dict[str, Any] | None = None, **extra: Any) -> None:
    """History line + outbox event (when the kind has one) for a change already applied."""
    session.flush()
    changed = status_from is not None and status_from != permit.status
    session.add(PermitEvent(enterprise_id=permit.enterprise_id, permit_id=permit.id, kind=kind, at=at,
                            user_id=who.user_id, actor_name=who.name, note=note,
                            status_from=status_from if changed else None,
                            status_to=permit.status if changed else None, detail=detail or {}))
    event_cls = EVENTS.get(kind)
    if event_cls is None:
        return
    event = event_cls(**{**payload(session, permit), "by_user_id": who.user_id, "note": note, **extra})
    if kind == "applied":
        parent = session.info.get("context")
        context = Context(id=permit.context_id, parent_id=parent.parent_id if parent else None,
                          user_id=who.user_id)
    else:
        context = Context(parent_id=permit.context_id or None, user_id=who.user_id)
    enqueue(session, event, context=context, enterprise_id=permit.enterprise_id)


def next_number(session: Session, enterprise_id: int, prefix: str, at: datetime) -> str:
    """``<type prefix>-<plant date>-<NNN>`` (DH-20261128-001 for 动火), counting per enterprise,
    type and day: the numbering plants print on paper permits."""
    head = f"{prefix}-{at.astimezone(plant_tz()):%Y%m%d}-"
    last = session.scalar(select(func.max(Permit.number)).where(
        Permit.enterprise_id == enterprise_id, Permit.number.like(head + "%")))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{head}{seq:03d}"


def move(session: Session, permit: Permit, action: str, at: datetime, who: Who, note: str = "",
         detail: dict[str, Any] | None = None, **extra: Any) -> None:
    """Check, set the status, record."""
    before = permit.status
    target = check(permit, action)
    if target is not None:
        permit.status = target
    record(session, permit, ACTION_KIND[action], at=at, who=who, note=note, status_from=before,
           detail=detail, **extra)
