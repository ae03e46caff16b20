"""Inspection plans (排查计划) and the generation of their tasks.

A plan names a frequency, a set of risk points and who does it: a role (every user with that
role may do the tasks) or a team (its members and its leader). Exactly one of the two.

**Generation** makes, for each active plan and each of its active points, one task for the
period window containing ``now`` (see :mod:`periods`). It is idempotent: an existing task of
(plan, point, window start) is left alone, and the table's unique key refuses a duplicate
made by a racing process. Only the *current* window is generated: a plan saved mid-week gets
this week's task; windows that passed while nothing ran (the server was down) get no task
and so are never reported missed (documented limitation).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from plantguard.core.crud import Page
from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm, Role
from plantguard.inspections import checklists, periods, tags
from plantguard.inspections.models import FREQUENCIES, InspectionPlan, InspectionPlanPoint, InspectionTask
from plantguard.risk.models import RiskPoint
from plantguard.tenancy.models import Team

PLAN = N_("Inspection plan")
PERFORMING_ROLES = tuple(r.value for r in Role if r.value not in ("auditor",))


def get(session: Session, actor: Actor, plan_id: int) -> InspectionPlan:
    actor.require(Perm.READ)
    plan = session.scalars(select(InspectionPlan).where(InspectionPlan.id == plan_id,
                                                        InspectionPlan.enterprise_id == actor.enterprise_id)).first()
    if plan is None:
        raise NotFound(PLAN, plan_id)
    return plan


def point_ids(session: Session, plan: InspectionPlan) -> list[int]:
    return [int(i) for i in session.scalars(select(InspectionPlanPoint.risk_point_id).where(
        InspectionPlanPoint.plan_id == plan.id, InspectionPlanPoint.enterprise_id == plan.enterprise_id)
        .order_by(InspectionPlanPoint.risk_point_id))]


def list_plans(session: Session, actor: Actor, *, active: bool | None = None, limit: int = 50,
               offset: int = 0) -> Page[InspectionPlan]:
    actor.require(Perm.READ)
    conds = [InspectionPlan.enterprise_id == actor.enterprise_id]
    if active is not None:
        conds.append(InspectionPlan.active.is_(active))
    total = int(session.scalar(select(func.count()).select_from(InspectionPlan).where(*conds)) or 0)
    rows = session.scalars(select(InspectionPlan).where(*conds).order_by(InspectionPlan.id)
                           .limit(limit).offset(offset)).all()
    return Page(rows, total)


def _validate(session: Session, actor: Actor, values: dict[str, Any]) -> list[int]:
    errors: list[FieldError] = []
    if values.get("frequency") not in FREQUENCIES:
        errors.append(FieldError("frequency", N_("Must be one of: %(expected)s"),
                                 {"expected": ", ".join(FREQUENCIES)}))
    role, team_id = values.get("assignee_role"), values.get("team_id")
    if (role is None) == (team_id is None):
        errors.append(FieldError("assignee_role", N_("Give either a role or a team")))
    elif role is not None and role not in PERFORMING_ROLES:
        errors.append(FieldError("assignee_role", N_("Must be one of: %(expected)s"),
                                 {"expected": ", ".join(PERFORMING_ROLES)}))
    elif team_id is not None and session.scalar(select(Team.id).where(
            Team.id == team_id, Team.enterprise_id == actor.enterprise_id)) is None:
        errors.append(FieldError("team_id", N_("%(entity)s not found"), {"entity": N_("Team")}))
    ids = sorted(set(values.get("risk_point_ids") or []))
    if not ids:
        errors.append(FieldError("risk_point_ids", N_("Choose at least one risk point")))
    else:
        found = set(session.scalars(select(RiskPoint.id).where(RiskPoint.enterprise_id == actor.enterprise_id,
                                                               RiskPoint.id.in_(ids))))
        missing = [i for i in ids if i not in found]
        if missing:
            errors.append(FieldError("risk_point_ids", N_("%(entity)s not found"),
                                     {"entity": f"{checklists.RISK_POINT} {missing[0]}"}))
    if errors:
        raise ValidationFailed(errors)
    return ids


def _set_points(session: Session, plan: InspectionPlan, ids: Sequence[int]) -> None:
    have = set(point_ids(session, plan))
    want = set(ids)
    gone = have - want
    if gone:
        session.execute(delete(InspectionPlanPoint).where(InspectionPlanPoint.plan_id == plan.id,
                                                          InspectionPlanPoint.risk_point_id.in_(sorted(gone))))
    for pid in sorted(want - have):
        session.add(InspectionPlanPoint(enterprise_id=plan.enterprise_id, plan_id=plan.id, risk_point_id=pid))
    session.flush()


def create(session: Session, actor: Actor, values: dict[str, Any], now: datetime | None = None) -> InspectionPlan:
    actor.require(Perm.MANAGE_INSPECTIONS)
    ids = _validate(session, actor, values)
    plan = InspectionPlan(enterprise_id=actor.enterprise_id, name=values["name"], frequency=values["frequency"],
                          assignee_role=values.get("assignee_role"), team_id=values.get("team_id"),
                          active=values.get("active", True), note=values.get("note", ""))
    session.add(plan)
    session.flush()
    _set_points(session, plan, ids)
    generate_plan(session, plan, now or utcnow())
    return plan


def update(session: Session, actor: Actor, plan_id: int, values: dict[str, Any],
           now: datetime | None = None) -> InspectionPlan:
    """Replace the plan's settings. Tasks already made keep their window and assignment; open
    tasks of points taken off the plan are deleted (nobody has to do them any more)."""
    actor.require(Perm.MANAGE_INSPECTIONS)
    plan = get(session, actor, plan_id)
    ids = _validate(session, actor, values)
    plan.name, plan.frequency = values["name"], values["frequency"]
    plan.assignee_role, plan.team_id = values.get("assignee_role"), values.get("team_id")
    plan.active, plan.note = values.get("active", True), values.get("note", "")
    _set_points(session, plan, ids)
    session.execute(delete(InspectionTask).where(
        InspectionTask.plan_id == plan.id, InspectionTask.status == "open",
        InspectionTask.risk_point_id.not_in(ids)))
    if plan.active:
        generate_plan(session, plan, now or utcnow())
    session.flush()
    return plan


def remove(session: Session, actor: Actor, plan_id: int) -> None:
    """Delete a plan with its tasks and records; to keep the records, deactivate it instead."""
    actor.require(Perm.MANAGE_INSPECTIONS)
    plan = get(session, actor, plan_id)
    session.delete(plan)
    session.flush()


def generate_plan(session: Session, plan: InspectionPlan, now: datetime) -> int:
    """Tasks of the current window for one plan; returns how many were made."""
    if not plan.active:
        return 0
    w = periods.window(plan.frequency, now)
    points = [int(p) for p in session.scalars(
        select(RiskPoint.id).join(InspectionPlanPoint, InspectionPlanPoint.risk_point_id == RiskPoint.id)
        .where(InspectionPlanPoint.plan_id == plan.id, RiskPoint.enterprise_id == plan.enterprise_id,
               RiskPoint.active.is_(True)).order_by(RiskPoint.id))]
    have = set(session.scalars(select(InspectionTask.risk_point_id).where(
        InspectionTask.plan_id == plan.id, InspectionTask.window_start == w.start)))
    made = 0
    for pid in points:
        if pid in have:
            continue
        checklists.ensure(session, plan.enterprise_id, pid)
        tags.ensure(session, plan.enterprise_id, pid)
        session.add(InspectionTask(enterprise_id=plan.enterprise_id, plan_id=plan.id, risk_point_id=pid,
                                   period=f"{plan.frequency}:{w.label}", window_start=w.start, window_end=w.end,
                                   status="open", assignee_role=plan.assignee_role, team_id=plan.team_id,
                                   created_at=now))
        made += 1
    session.flush()
    return made


def generate(session: Session, now: datetime, enterprise_id: int | None = None) -> int:
    """Tasks of the current windows of every active plan (of one enterprise, or all)."""
    q = select(InspectionPlan).where(InspectionPlan.active.is_(True)).order_by(InspectionPlan.id)
    if enterprise_id is not None:
        q = q.where(InspectionPlan.enterprise_id == enterprise_id)
    return sum(generate_plan(session, plan, now) for plan in session.scalars(q).all())
