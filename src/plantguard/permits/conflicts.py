"""Permits that clash at the same place and time (issue 7 point 5).

Why flags and not refusals: GB 30871-2022 does not forbid most of these pairs outright; it asks
for measures that the people on site must take *because* of the other job (a named coordinator
for cross work, one set of lifting signals, no hot work within 30 m of a blind-plate point). The
applicant and the approvers must see them, so :func:`find` is called when a permit is applied
for and submitted (the ``permit.submitted`` event carries them) and shown on the permit.

The one pair the standard does forbid is two blind-plate points worked on the same line at
the same time (§7). Planned windows are plans, so overlapping windows are flagged as
``blocking`` at apply and submit, and :func:`refuse_start` refuses to *start* blind-plate work
while another permit on the same line is under way (active or suspended, i.e. the line is
open): that is the moment the two would really be worked "at the same time".

"Near" is the same area, or within 30 m on the site plan (plan units are metres) when both
permits carry a position; the 30 m is the distance of checklist items BP02 (no hot work within
30 m of a blind-plate point) and HW11. Either test flags: a false flag costs a glance, a missed
one a fire.

Permits linked to each other (hot work inside the confined space it belongs to, HW15) were
applied for together on purpose and are not flagged against each other, except for the §7 rule.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plantguard.core.errors import Conflict
from plantguard.core.i18n import N_
from plantguard.permits.contract import LIVE_STATUSES
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit, PermitLink

NEAR_M = 30.0  # checklist BP02 / HW11

HOT_NEAR_CONFINED = N_("Hot work and open confined-space work at the same place in the same period (with "
                       "%(number)s): name a coordinator for the cross work (checklist HW12)")
TWO_LIFTS = N_("Two lifts in the same zone in the same period (with %(number)s): agree one set of signals and "
               "one warning zone (checklist LF05, LF10)")
SAME_LINE = N_("Blind-plate work on the same line %(line)s in the same period (with %(number)s): only one "
               "blind-plate point of a line may be worked at a time (GB 30871-2022 §7)")
HOT_NEAR_BLIND = N_("Hot work within 30 m of blind-plate work in the same period (with %(number)s) "
                    "(checklist BP02)")
SAME_EQUIPMENT = N_("Another permit at the same equipment in the same period (%(number)s)")
LINE_BUSY = N_("Blind-plate work %(number)s on line %(line)s is under way: only one blind-plate point of a line "
               "may be worked at a time (GB 30871-2022 §7)")

UNDER_WAY: frozenset[str] = frozenset({S.ACTIVE, S.SUSPENDED})


def _line(p: Permit) -> str:
    return "".join(str((p.fields or {}).get("line_no") or "").split()).upper()


def _zone(p: Permit) -> str:
    return " ".join(str((p.fields or {}).get("zone") or "").split()).casefold()


def distance_m(a: Permit, b: Permit) -> float | None:
    """Plan distance in metres, or None when either permit has no position."""
    if a.plan_x is None or a.plan_y is None or b.plan_x is None or b.plan_y is None:
        return None
    return math.hypot(a.plan_x - b.plan_x, a.plan_y - b.plan_y)


def near(a: Permit, b: Permit) -> bool:
    d = distance_m(a, b)
    return a.area_id == b.area_id or (d is not None and d <= NEAR_M)


def overlap(a: Permit, b: Permit) -> bool:
    return a.planned_start < b.planned_end and b.planned_start < a.planned_end


def _pair(a: Permit, b: Permit, linked: bool) -> list[tuple[str, dict[str, Any], bool]]:
    """The reasons ``a`` clashes with ``b`` (windows already known to overlap)."""
    out: list[tuple[str, dict[str, Any], bool]] = []
    types = {a.type_code, b.type_code}
    if a.type_code == b.type_code == "blind_plate" and _line(a) and _line(a) == _line(b):
        out.append((SAME_LINE, {"line": (a.fields or {}).get("line_no"), "number": b.number}, True))
    if linked:
        return out
    if types == {"hot_work", "confined_space"} and near(a, b):
        out.append((HOT_NEAR_CONFINED, {"number": b.number}, False))
    if types == {"hot_work", "blind_plate"} and near(a, b):
        out.append((HOT_NEAR_BLIND, {"number": b.number}, False))
    if a.type_code == b.type_code == "lifting":
        za, zb = _zone(a), _zone(b)
        if (za == zb) if (za and zb) else a.area_id == b.area_id:
            out.append((TWO_LIFTS, {"number": b.number}, False))
    if a.equipment_id is not None and a.equipment_id == b.equipment_id:
        out.append((SAME_EQUIPMENT, {"number": b.number}, False))
    return out


def _linked_ids(session: Session, permit: Permit) -> set[int]:
    rows = session.execute(select(PermitLink.permit_id, PermitLink.linked_id).where(
        PermitLink.enterprise_id == permit.enterprise_id,
        or_(PermitLink.permit_id == permit.id, PermitLink.linked_id == permit.id))).all()
    return {x for row in rows for x in row} - {permit.id}


def find(session: Session, permit: Permit) -> list[dict[str, Any]]:
    """Live permits of the same enterprise whose planned windows overlap ``permit``'s and that
    clash with it at the same place: ``[{permit_id, number, type_code, status, reason, params,
    blocking}]`` (``reason`` a msgid, translated where shown). ``permit`` may be a draft."""
    if permit.planned_start is None or permit.planned_end is None:
        return []
    others = session.scalars(select(Permit).where(
        Permit.enterprise_id == permit.enterprise_id, Permit.status.in_(LIVE_STATUSES),
        Permit.id != permit.id,
        Permit.planned_start < permit.planned_end, Permit.planned_end > permit.planned_start,
    ).order_by(Permit.planned_start, Permit.id)).all()
    linked = _linked_ids(session, permit) if permit.id is not None else set()
    out: list[dict[str, Any]] = []
    for other in others:
        for reason, params, blocking in _pair(permit, other, other.id in linked):
            out.append({"permit_id": other.id, "number": other.number, "type_code": other.type_code,
                        "status": other.status, "reason": reason, "params": params, "blocking": blocking})
    return out


def refuse_start(session: Session, permit: Permit) -> None:
    """Refuse to start (or resume) blind-plate work while another permit on the same line is
    under way (GB 30871-2022 §7). Called by the service before it changes anything."""
    line = _line(permit)
    if permit.type_code != "blind_plate" or not line:
        return
    busy = session.scalars(select(Permit).where(
        Permit.enterprise_id == permit.enterprise_id, Permit.type_code == "blind_plate",
        Permit.status.in_(UNDER_WAY), Permit.id != permit.id).order_by(Permit.id)).all()
    for other in busy:
        if _line(other) == line:
            raise Conflict(LINE_BUSY, number=other.number, line=(other.fields or {}).get("line_no"))
