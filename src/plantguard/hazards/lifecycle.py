"""The hazard closed loop 排查/上报 → 登记 → 评估 → 治理 → 验收 → 销号 as a transition table.

:data:`TRANSITIONS` is the whole state machine: an action is allowed only from the statuses it
lists, and a refused one is a 409 naming the current status in the user's language. One
function (:func:`record`) writes the history line and the outbox event, so no change goes
unrecorded; the caller's transaction carries both, and the ledger records the row change.

Context chain: a hazard's ``context_id`` is the context it was reported in; every later event
of the hazard has it as parent (like a work order's events have the order's).
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
from plantguard.hazards import events as ev
from plantguard.hazards.contract import OPEN_HAZARD_STATUSES
from plantguard.hazards.contract import HazardStatus as S
from plantguard.hazards.models import STATUS_LABELS, Hazard, HazardEvent
from plantguard.timeseries.alignment.times import plant_tz


@dataclass(frozen=True)
class Who:
    user_id: int | None = None
    name: str = ""


SYSTEM = Who()

# action → (statuses it may start from, status it leads to; None = unchanged)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "register": (frozenset({S.REPORTED}), S.REGISTERED),
    "reject": (frozenset({S.REPORTED, S.REGISTERED}), S.REJECTED),
    "assess": (frozenset({S.REGISTERED, S.ASSESSED}), S.ASSESSED),
    "plan": (frozenset({S.REGISTERED, S.ASSESSED, S.IN_TREATMENT}), None),
    "start": (frozenset({S.ASSESSED}), S.IN_TREATMENT),
    "progress": (frozenset({S.IN_TREATMENT}), None),
    "submit": (frozenset({S.IN_TREATMENT}), S.AWAITING_ACCEPTANCE),
    "accept": (frozenset({S.AWAITING_ACCEPTANCE}), S.ACCEPTED),
    "refuse": (frozenset({S.AWAITING_ACCEPTANCE}), S.IN_TREATMENT),
    "close": (frozenset({S.ACCEPTED}), S.CLOSED),
    "attach": (OPEN_HAZARD_STATUSES, None),
}
ACTION_LABELS: dict[str, str] = {
    "register": N_("register"), "reject": N_("decline to register"), "assess": N_("assess"),
    "plan": N_("record the treatment plan of"), "start": N_("start rectifying"),
    "progress": N_("record progress on"), "submit": N_("hand over"), "accept": N_("accept"),
    "refuse": N_("refuse acceptance of"), "close": N_("close out"), "attach": N_("add a photo to"),
}
ACTION_KIND: dict[str, str] = {
    "register": "registered", "reject": "rejected", "assess": "assessed", "plan": "plan_updated",
    "start": "treatment_started", "progress": "progress", "submit": "submitted", "accept": "accepted",
    "refuse": "acceptance_rejected", "close": "closed", "attach": "attachment",
}
EVENTS: dict[str, type[ev.HazardEventBase]] = {
    "reported": ev.HazardReported, "registered": ev.HazardRegistered, "assessed": ev.HazardAssessed,
    "plan_updated": ev.HazardPlanUpdated, "treatment_started": ev.HazardTreatmentStarted,
    "progress": ev.HazardProgress, "attachment": ev.HazardProgress, "submitted": ev.HazardSubmitted,
    "accepted": ev.HazardAccepted, "acceptance_rejected": ev.HazardAcceptanceRejected,
    "closed": ev.HazardClosed, "rejected": ev.HazardRejected, "overdue": ev.HazardOverdue,
}


def check(hazard: Hazard, action: str) -> str | None:
    """The status ``action`` leads to; 409 naming the current status when not allowed."""
    allowed, target = TRANSITIONS[action]
    if hazard.status not in allowed:
        status = STATUS_LABELS.get(hazard.status, hazard.status)
        if action == "close":
            raise Conflict(N_("Cannot close out this hazard: it is %(status)s. A hazard is closed out only "
                              "after its rectification has been accepted"), status=status)
        raise Conflict(N_("Cannot %(action)s this hazard: it is %(status)s"),
                       action=ACTION_LABELS[action], status=status)
    return target


def payload(h: Hazard) -> dict[str, Any]:
    return {"id": h.id, "number": h.number, "title": h.title, "status": h.status, "grade": h.grade,
            "category": h.category, "area_id": h.area_id, "equipment_id": h.equipment_id,
            "risk_point_id": h.risk_point_id, "source": h.source, "deadline_at": h.deadline_at}


def record(session: Session, hazard: Hazard, kind: str, *, at: datetime, who: Who = SYSTEM, note: str = "",
           status_from: str | None = None, detail: dict[str, Any] | None = None, **extra: Any) -> None:
    """History line + outbox event for a change already applied to ``hazard``."""
    session.flush()
    changed = status_from is not None and status_from != hazard.status
    session.add(HazardEvent(enterprise_id=hazard.enterprise_id, hazard_id=hazard.id, kind=kind, at=at,
                            user_id=who.user_id, actor_name=who.name, note=note,
                            status_from=status_from if changed else None,
                            status_to=hazard.status if changed else None, detail=detail or {}))
    event = EVENTS[kind](**{**payload(hazard), "by_user_id": who.user_id, "note": note, **extra})
    if kind == "reported":
        parent = session.info.get("context")
        context = Context(id=hazard.context_id, parent_id=parent.parent_id if parent else None,
                          user_id=who.user_id)
    else:
        context = Context(parent_id=hazard.context_id or None, user_id=who.user_id)
    enqueue(session, event, context=context, enterprise_id=hazard.enterprise_id)


def next_number(session: Session, enterprise_id: int, at: datetime) -> str:
    """``YH-<plant date>-<NNNN>`` (隐患), counting per enterprise and day, like work orders."""
    prefix = f"YH-{at.astimezone(plant_tz()):%Y%m%d}-"
    last = session.scalar(select(func.max(Hazard.number)).where(
        Hazard.enterprise_id == enterprise_id, Hazard.number.like(prefix + "%")))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def move(session: Session, hazard: Hazard, action: str, at: datetime, who: Who, note: str = "",
         detail: dict[str, Any] | None = None, **extra: Any) -> None:
    """Check, set the status, record."""
    before = hazard.status
    target = check(hazard, action)
    if target is not None:
        hazard.status = target
    record(session, hazard, ACTION_KIND[action], at=at, who=who, note=note, status_from=before,
           detail=detail, **extra)
