"""What was going on at the machine when an alarm was raised, frozen into the alarm.

Why store it instead of looking it up when the alarm is shown: the MES phase, the open work
order and who was in the zone are the facts at the moment of the alarm; imported later or
corrected, they would change the story of an alarm already handled. The lookup is the as-of
join of ``timeseries.alignment`` (a few indexed queries per raised alarm, none per refresh).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from plantguard.core.errors import NotFound
from plantguard.core.permissions import Actor, Role
from plantguard.timeseries.alignment.asof import context_at

log = logging.getLogger("plantguard.alarms")

MAX_PEOPLE = 50
MAX_AMBIENT = 20


def system_actor(enterprise_id: int) -> Actor:
    """The lifecycle acting for itself inside one enterprise (it reads, it never bypasses tenancy)."""
    return Actor(user_id=0, enterprise_id=enterprise_id, role=Role.ADMIN, username="system",
                 display_name="PlantGuard")


def aligned_context(session: Session, enterprise_id: int, equipment_id: int, at: datetime) -> dict[str, Any] | None:
    """The as-of context of ``equipment_id`` at ``at`` as plain JSON, or None if unknown."""
    at_us = int(at.timestamp() * 1_000_000)
    try:
        ctx = context_at(session, system_actor(enterprise_id), equipment_id, at_us)
    except NotFound:
        return None
    phase: dict[str, Any] | None = None
    if ctx.phase is not None:
        wo = ctx.phase.work_order
        phase = {"phase": ctx.phase.phase, "label": ctx.phase.label, "start": ctx.phase.start,
                 "end": ctx.phase.end,
                 "work_order": {"id": wo.id, "order_no": wo.order_no, "product": wo.product} if wo else None}
    return {
        "at": at_us,
        "equipment": {"id": ctx.equipment_id, "code": ctx.equipment_code, "name": ctx.equipment_name},
        "area": {"id": ctx.area_id, "code": ctx.area_code, "name": ctx.area_name},
        "phase": phase,
        "work_order": phase["work_order"] if phase else None,
        "people": [{"badge": p.badge, "person_id": p.person_id, "employee_no": p.employee_no, "name": p.name,
                    "entered": p.entered} for p in ctx.people[:MAX_PEOPLE]],
        "ambient": [{"code": a.code, "name": a.name, "value": a.value, "unit": a.unit}
                    for a in ctx.ambient[:MAX_AMBIENT] if a.value is not None],
    }
