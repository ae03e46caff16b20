"""XLSX exports of the dual-prevention lists and of work orders.

Why through the list services: an export must hold exactly what the list shows for the same
filters, with the same validation (errors naming the field), the same role check and the
same tenant scope. Each function calls the domain's own list function with a large page
(:data:`plantguard.core.xlsx.MAX_ROWS`) and only adds names for the ids (each lookup scoped
to the caller's enterprise) and the columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor
from plantguard.core.xlsx import MAX_ROWS, Column, workbook
from plantguard.hazards import service as hazards
from plantguard.hazards.categories import category_label
from plantguard.hazards.models import GRADE_LABELS, SOURCE_LABELS
from plantguard.hazards.models import STATUS_LABELS as HAZARD_STATUS
from plantguard.inspections import tasks
from plantguard.inspections.models import TASK_STATUSES, InspectionPlan, InspectionResult
from plantguard.risk import service as risk
from plantguard.risk.contract import LEVEL_LABELS
from plantguard.risk.models import POINT_KINDS, RESPONSIBLE_LEVELS, RiskPoint
from plantguard.tenancy.models import Area, Person, Team, User
from plantguard.workorders import service as workorders
from plantguard.workorders.models import PRIORITY_LABELS
from plantguard.workorders.models import STATUS_LABELS as ORDER_STATUS

ROLE_LABELS: dict[str, str] = {"admin": N_("Administrator"), "safety_manager": N_("Safety manager"),
                               "team_leader": N_("Team leader"), "worker": N_("Worker"), "auditor": N_("Auditor")}


@dataclass(frozen=True)
class Export:
    stem: str  # file name stem
    content: bytes
    rows: int
    total: int  # rows matching the filters (more than ``rows`` when capped)


def _label(labels: dict[str, str], code: str | None) -> str:
    return _(labels[code]) if code in labels else (code or "")


def _names(session: Session, actor: Actor, model: Any, *cols: Any) -> dict[int, str]:
    ent = actor.enterprise_id
    return {int(row[0]): " ".join(str(c) for c in row[1:] if c)
            for row in session.execute(select(model.id, *cols).where(model.enterprise_id == ent))}


def _users(session: Session, actor: Actor) -> dict[int, str]:
    return {int(i): d or u for i, d, u in session.execute(
        select(User.id, User.display_name, User.username).where(User.enterprise_id == actor.enterprise_id))}


def _get(names: dict[int, str], ident: int | None) -> str:
    return names.get(ident, "") if ident is not None else ""


def _done(stem: str, title: str, columns: Sequence[Column], items: Sequence[Any], total: int) -> Export:
    return Export(stem, workbook(title, columns, items), len(items), total)


def hazards_xlsx(session: Session, actor: Actor, *, status: str | None = None, grade: str | None = None,
                 category: str | None = None, area_id: int | None = None, overdue: bool | None = None) -> Export:
    page = hazards.list_hazards(session, actor, status=status, grade=grade, category=category, area_id=area_id,
                                overdue=overdue, limit=MAX_ROWS, offset=0)
    area, users = _names(session, actor, Area, Area.code, Area.name), _users(session, actor)
    eq = _names(session, actor, Equipment, Equipment.code, Equipment.name)
    point = _names(session, actor, RiskPoint, RiskPoint.code, RiskPoint.name)
    cols = [
        Column(N_("Number"), lambda h: h.number),
        Column(N_("Title"), lambda h: h.title),
        Column(N_("Grade"), lambda h: _label(GRADE_LABELS, h.grade)),
        Column(N_("Category"), lambda h: _(category_label(h.category)) if h.category else ""),
        Column(N_("Status"), lambda h: _label(HAZARD_STATUS, h.status)),
        Column(N_("Overdue"), lambda h: hazards.is_overdue(h)),
        Column(N_("Area"), lambda h: _get(area, h.area_id)),
        Column(N_("Equipment"), lambda h: _get(eq, h.equipment_id)),
        Column(N_("Risk point"), lambda h: _get(point, h.risk_point_id)),
        Column(N_("Location"), lambda h: h.location),
        Column(N_("Source"), lambda h: _label(SOURCE_LABELS, h.source)),
        Column(N_("Reporter"), lambda h: _get(users, h.reporter_id)),
        Column(N_("Reported at"), lambda h: h.reported_at),
        Column(N_("Deadline"), lambda h: h.deadline_at),
        Column(N_("Accepted at"), lambda h: h.accepted_at),
        Column(N_("Closed out at"), lambda h: h.closed_at),
        Column(N_("Description"), lambda h: h.description),
    ]
    return _done("hazards", N_("Hazards"), cols, page.items, page.total)


def risk_points_xlsx(session: Session, actor: Actor, *, area_id: int | None = None, level: str | None = None,
                     q: str | None = None, active: bool | None = True) -> Export:
    page = risk.list_points(session, actor, area_id=area_id, level=level, q=q, active=active, limit=MAX_ROWS,
                            offset=0)
    area = _names(session, actor, Area, Area.code, Area.name)
    eq = _names(session, actor, Equipment, Equipment.code, Equipment.name)
    team = _names(session, actor, Team, Team.code, Team.name)
    person = _names(session, actor, Person, Person.name)
    cols = [
        Column(N_("Code"), lambda p: p.code),
        Column(N_("Name"), lambda p: p.name),
        Column(N_("Kind"), lambda p: _label(POINT_KINDS, p.kind)),
        Column(N_("Area"), lambda p: _get(area, p.area_id)),
        Column(N_("Equipment"), lambda p: _get(eq, p.equipment_id)),
        Column(N_("Job"), lambda p: p.job),
        Column(N_("Risk level"), lambda p: _(LEVEL_LABELS[p.current_level]) if p.current_level in LEVEL_LABELS
               else _("Not assessed")),
        Column(N_("Responsible level"), lambda p: _label(RESPONSIBLE_LEVELS, p.responsible_level)),
        Column(N_("Responsible team"), lambda p: _get(team, p.responsible_team_id)),
        Column(N_("Responsible person"), lambda p: _get(person, p.responsible_person_id)),
        Column(N_("Active"), lambda p: bool(p.active)),
        Column(N_("Description"), lambda p: p.description),
    ]
    return _done("risk-points", N_("Risk register"), cols, page.items, page.total)


def inspections_xlsx(session: Session, actor: Actor, *, status: str | None = None, plan_id: int | None = None,
                     risk_point_id: int | None = None, team_id: int | None = None, mine: bool | None = None,
                     due: str | None = None) -> Export:
    page = tasks.list_tasks(session, actor, status=status, plan_id=plan_id, risk_point_id=risk_point_id,
                            team_id=team_id, mine=mine, due=due, limit=MAX_ROWS, offset=0)
    plan = _names(session, actor, InspectionPlan, InspectionPlan.name)
    point = _names(session, actor, RiskPoint, RiskPoint.code, RiskPoint.name)
    team, users = _names(session, actor, Team, Team.code, Team.name), _users(session, actor)
    ids = [t.id for t in page.items]
    failed: dict[int, int] = {}
    for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
        failed.update({int(tid): int(n) for tid, n in session.execute(
            select(InspectionResult.task_id, func.count()).where(
                InspectionResult.enterprise_id == actor.enterprise_id, InspectionResult.task_id.in_(chunk),
                InspectionResult.outcome == "not_ok").group_by(InspectionResult.task_id))})
    cols = [
        Column(N_("Task"), lambda t: t.id),
        Column(N_("Plan"), lambda t: _get(plan, t.plan_id)),
        Column(N_("Risk point"), lambda t: _get(point, t.risk_point_id)),
        Column(N_("Period"), lambda t: t.period),
        Column(N_("Window start"), lambda t: t.window_start),
        Column(N_("Window end"), lambda t: t.window_end),
        Column(N_("Status"), lambda t: _label(TASK_STATUSES, t.status)),
        Column(N_("Team"), lambda t: _get(team, t.team_id)),
        Column(N_("Role"), lambda t: _label(ROLE_LABELS, t.assignee_role)),
        Column(N_("Done at"), lambda t: t.done_at),
        Column(N_("Done by"), lambda t: _get(users, t.done_by)),
        Column(N_("Failed items"), lambda t: failed.get(t.id, 0) if t.status == "done" else None),
    ]
    return _done("inspections", N_("Inspections"), cols, page.items, page.total)


def workorders_xlsx(session: Session, actor: Actor, *, status: str | None = None, priority: str | None = None,
                    team_id: int | None = None, assignee: str | None = None, overdue: bool | None = None) -> Export:
    page = workorders.list_orders(session, actor, status=status, priority=priority, team_id=team_id,
                                  assignee=assignee, overdue=overdue, limit=MAX_ROWS, offset=0)
    area, team = _names(session, actor, Area, Area.code, Area.name), _names(session, actor, Team, Team.code, Team.name)
    eq, users = _names(session, actor, Equipment, Equipment.code, Equipment.name), _users(session, actor)
    cols = [
        Column(N_("Number"), lambda o: o.number),
        Column(N_("Title"), lambda o: o.title),
        Column(N_("Priority"), lambda o: _label(PRIORITY_LABELS, o.priority)),
        Column(N_("Status"), lambda o: _label(ORDER_STATUS, o.status)),
        Column(N_("Team"), lambda o: _get(team, o.team_id)),
        Column(N_("Assignee"), lambda o: _get(users, o.assignee_id)),
        Column(N_("Equipment"), lambda o: _get(eq, o.equipment_id)),
        Column(N_("Area"), lambda o: _get(area, o.area_id)),
        Column(N_("Created"), lambda o: o.created_at),
        Column(N_("Due"), lambda o: o.due_at),
        Column(N_("Closed at"), lambda o: o.closed_at),
        Column(N_("Description"), lambda o: o.description),
    ]
    return _done("workorders", N_("Work orders"), cols, page.items, page.total)
