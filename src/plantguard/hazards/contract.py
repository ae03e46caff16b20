"""What other domains may use from hazards (issue 6): grades, statuses, event names and the
entry point for inspections.

Why a separate module: inspections, dashboards and the phone report page are built side by
side with the hazard register and meet only here; none imports the others' internals.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from plantguard.core.permissions import Actor


class HazardGrade(StrEnum):
    """安监总局令第16号 (2008): 一般隐患 can be fixed at once; 重大隐患 needs a stop and time,
    or outside help."""

    GENERAL = "general"  # 一般
    MAJOR = "major"  # 重大


class HazardStatus(StrEnum):
    """The closed loop 排查/上报 → 登记 → 评估 → 治理 → 验收 → 销号 (see ``hazards/lifecycle.py``)."""

    REPORTED = "reported"  # 排查/上报: found and reported, not yet checked by the safety department
    REGISTERED = "registered"  # 登记: confirmed as a hazard and entered in the register
    ASSESSED = "assessed"  # 评估: graded 一般/重大, deadline set
    IN_TREATMENT = "in_treatment"  # 治理: being rectified
    AWAITING_ACCEPTANCE = "awaiting_acceptance"  # 待验收: rectification handed over
    ACCEPTED = "accepted"  # 验收通过: accepted by someone other than the rectifier
    CLOSED = "closed"  # 销号
    REJECTED = "rejected"  # 不予登记: not a hazard / duplicate (terminal)


OPEN_HAZARD_STATUSES: frozenset[str] = frozenset({
    HazardStatus.REPORTED, HazardStatus.REGISTERED, HazardStatus.ASSESSED, HazardStatus.IN_TREATMENT,
    HazardStatus.AWAITING_ACCEPTANCE, HazardStatus.ACCEPTED})

# Where a hazard came from.
HAZARD_SOURCES: tuple[str, ...] = ("report", "inspection", "alarm", "manual")

# Events hazards write to the outbox (payload: the hazard's id, number, title, status, grade,
# category, area_id, equipment_id, risk_point_id, source, deadline_at, by_user_id, note, plus
# the step's own fields).
HAZARD_EVENTS: tuple[str, ...] = (
    "hazard.reported",  # a new hazard (phone, inspection, alarm, console) [source, source_ref]
    "hazard.registered",  # 登记
    "hazard.assessed",  # 评估: graded [grade, basis_items, treatment, deadline_at]
    "hazard.plan_updated",  # the five items of a 重大隐患 recorded/changed
    "hazard.treatment_started",  # 治理 began
    "hazard.progress",  # a note or a photo during treatment
    "hazard.submitted",  # rectification handed over for acceptance
    "hazard.accepted",  # 验收通过 [accepted_by]
    "hazard.acceptance_rejected",  # 验收不通过: back to treatment [reason]
    "hazard.closed",  # 销号
    "hazard.rejected",  # not a hazard [reason]
    "hazard.overdue",  # past its deadline: escalated [level, work_order_id]
)


def report_from_inspection(session: Session, actor: Actor, *, risk_point_id: int | None, area_id: int,
                           equipment_id: int | None, description: str, source_ref: str,
                           photo_ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Raise a hazard for a failed inspection item, in the caller's transaction; returns its id.

    ``source_ref`` identifies the inspection record (e.g. ``inspection:12/item:3``);
    ``photo_ids`` are ids of hazard attachments already stored (ignored when unknown). The
    caller needs ``hazards.report``; the classifier's suggestion is stored beside the hazard.
    The ``hazard.reported`` event goes to the outbox with the caller's session. ``now`` is the
    moment of the failed check (the inspection's own clock), so the hazard is reported when
    the item failed.
    """
    from plantguard.hazards import service

    hazard = service.report(session, actor, {
        "description": description, "area_id": area_id, "equipment_id": equipment_id,
        "risk_point_id": risk_point_id}, source="inspection", source_ref=source_ref, photo_ids=photo_ids,
        now=now)
    return hazard.id
