"""Inspection tasks: listing, who may do one, check-in, results, photos, missed detection.

A task is done by one check-in (the QR token of the point must match; time and the phone's
location, or why there is none) followed by the results of every item of the point's
checklist. A failed item raises a hazard through ``hazards.contract.report_from_inspection``
in the same transaction: results, hazards and events commit together or not at all.

Who may do a task: ``inspections.perform`` and either the plan's role, a member or the leader
of the plan's team, or ``inspections.manage`` (a manager covering for someone). A task is
done only within its window: after ``window_end`` it is (or is about to be marked) missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from plantguard.core.crud import Page
from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.events.envelope import Context
from plantguard.events.outbox import enqueue
from plantguard.inspections import checklists, periods, tags
from plantguard.inspections.events import InspectionDone, InspectionMissed
from plantguard.inspections.models import (
    GEO_STATUSES,
    OUTCOMES,
    TASK_STATUSES,
    InspectionCheckin,
    InspectionPhoto,
    InspectionPlan,
    InspectionResult,
    InspectionTask,
)
from plantguard.risk.models import RiskPoint
from plantguard.tenancy.models import Person, Team, User
from plantguard.workorders import uploads

TASK = N_("Inspection task")
CHECKIN = N_("Check-in")
PHOTO = N_("Photo")


def get(session: Session, actor: Actor, task_id: int, *, for_update: bool = False) -> InspectionTask:
    actor.require(Perm.READ)
    q = select(InspectionTask).where(InspectionTask.id == task_id,
                                     InspectionTask.enterprise_id == actor.enterprise_id)
    task = session.scalars(q.with_for_update() if for_update else q).first()
    if task is None:
        raise NotFound(TASK, task_id)
    return task


def my_team_ids(session: Session, actor: Actor) -> list[int]:
    """The caller's team (through their person record) and the teams they lead."""
    person_id = session.scalar(select(User.person_id).where(User.id == actor.user_id,
                                                            User.enterprise_id == actor.enterprise_id))
    if person_id is None:
        return []
    own = session.scalar(select(Person.team_id).where(Person.id == person_id))
    led = session.scalars(select(Team.id).where(Team.enterprise_id == actor.enterprise_id,
                                                Team.leader_id == person_id)).all()
    return sorted({int(t) for t in [own, *led] if t is not None})


def mine_condition(session: Session, actor: Actor) -> ColumnElement[bool]:
    teams = my_team_ids(session, actor)
    return or_(InspectionTask.assignee_role == actor.role.value,
               InspectionTask.team_id.in_(teams) if teams else false())


def may_perform(session: Session, actor: Actor, task: InspectionTask) -> bool:
    if not actor.can(Perm.PERFORM_INSPECTIONS):
        return False
    if actor.can(Perm.MANAGE_INSPECTIONS) or task.assignee_role == actor.role.value:
        return True
    return task.team_id is not None and task.team_id in my_team_ids(session, actor)


def _statuses(raw: str | None) -> list[str]:
    out = [s for s in (raw or "").split(",") if s]
    for s in out:
        if s not in TASK_STATUSES:
            raise ValidationFailed([FieldError("status", N_("Must be one of: %(expected)s"),
                                               {"expected": ", ".join(TASK_STATUSES)})])
    return out


def list_tasks(session: Session, actor: Actor, *, status: str | None = None, plan_id: int | None = None,
               risk_point_id: int | None = None, team_id: int | None = None, mine: bool | None = None,
               due: str | None = None, limit: int = 50, offset: int = 0,
               now: datetime | None = None) -> Page[InspectionTask]:
    """Tasks, nearest window end first. ``due=today``: windows ending within today (plant day)."""
    actor.require(Perm.READ)
    statuses = _statuses(status)
    if due not in (None, "", "today"):
        raise ValidationFailed([FieldError("due", N_("Must be one of: %(expected)s"), {"expected": "today"})])
    conds: list[ColumnElement[bool]] = [InspectionTask.enterprise_id == actor.enterprise_id]
    if statuses:
        conds.append(InspectionTask.status.in_(statuses))
    if plan_id is not None:
        conds.append(InspectionTask.plan_id == plan_id)
    if risk_point_id is not None:
        conds.append(InspectionTask.risk_point_id == risk_point_id)
    if team_id is not None:
        conds.append(InspectionTask.team_id == team_id)
    if mine:
        conds.append(mine_condition(session, actor))
    if due == "today":
        start, end = periods.local_day(now or utcnow())
        conds += [InspectionTask.window_end > start, InspectionTask.window_end <= end]
    total = int(session.scalar(select(func.count()).select_from(InspectionTask).where(*conds)) or 0)
    rows = session.scalars(select(InspectionTask).where(*conds)
                           .order_by(InspectionTask.window_end.desc(), InspectionTask.id.desc())
                           .limit(limit).offset(offset)).all()
    return Page(rows, total)


def open_task_of_point(session: Session, actor: Actor, risk_point_id: int,
                       now: datetime | None = None) -> InspectionTask | None:
    """The open task of a point whose window contains now, the caller's own first."""
    at = now or utcnow()
    rows = session.scalars(select(InspectionTask).where(
        InspectionTask.enterprise_id == actor.enterprise_id, InspectionTask.risk_point_id == risk_point_id,
        InspectionTask.status == "open", InspectionTask.window_start <= at, InspectionTask.window_end > at)
        .order_by(InspectionTask.window_end, InspectionTask.id)).all()
    mine = [t for t in rows if may_perform(session, actor, t)]
    chosen = mine or list(rows)
    return chosen[0] if chosen else None


def _open_for_work(session: Session, actor: Actor, task_id: int, at: datetime) -> InspectionTask:
    actor.require(Perm.PERFORM_INSPECTIONS)
    task = get(session, actor, task_id, for_update=True)
    if not may_perform(session, actor, task):
        raise NotYours(N_("This inspection is assigned to someone else"))
    if task.status != "open":
        raise Conflict(N_("This inspection is already %(status)s"), status=TASK_STATUSES[task.status])
    if at >= task.window_end:
        raise Conflict(N_("The window of this inspection has ended"))
    if at < task.window_start:
        raise Conflict(N_("The window of this inspection has not started yet"))
    return task


class NotYours(Conflict):
    status_code = 403
    code = "forbidden"


@dataclass(frozen=True)
class Geo:
    status: str = "absent"
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None


def check_geo(geo: Geo) -> Geo:
    """Coordinates are kept only as the browser gave them; without them, the reason."""
    errors: list[FieldError] = []
    has = geo.lat is not None or geo.lon is not None
    if has:
        if geo.lat is None or not -90 <= geo.lat <= 90:
            errors.append(FieldError("lat", N_("Must be between %(lo)s and %(hi)s"), {"lo": -90, "hi": 90}))
        if geo.lon is None or not -180 <= geo.lon <= 180:
            errors.append(FieldError("lon", N_("Must be between %(lo)s and %(hi)s"), {"lo": -180, "hi": 180}))
        if geo.accuracy is not None and not 0 <= geo.accuracy <= 100000:
            errors.append(FieldError("accuracy", N_("Must be between %(lo)s and %(hi)s"), {"lo": 0, "hi": 100000}))
        if geo.status not in ("ok", "absent"):
            errors.append(FieldError("geo_status", N_("Coordinates were sent, so the status must be 'ok'")))
    elif geo.status not in GEO_STATUSES or geo.status == "ok":
        errors.append(FieldError("geo_status", N_("Must be one of: %(expected)s"),
                                 {"expected": "denied, unavailable, absent"}))
    if errors:
        raise ValidationFailed(errors)
    if has:
        return Geo("ok", geo.lat, geo.lon, geo.accuracy)
    return Geo(geo.status, None, None, None)


def checkin(session: Session, actor: Actor, task_id: int, token: str, geo: Geo,
            now: datetime | None = None) -> InspectionCheckin:
    at = now or utcnow()
    task = _open_for_work(session, actor, task_id, at)
    geo = check_geo(geo)
    expected = tags.token_of(session, actor.enterprise_id, task.risk_point_id)
    if not token or expected is None or not _same(token, expected):
        raise ValidationFailed([FieldError("token", N_("This QR code does not belong to the point of this "
                                                       "inspection: scan the label at the point"))])
    row = InspectionCheckin(enterprise_id=actor.enterprise_id, task_id=task.id, risk_point_id=task.risk_point_id,
                            user_id=actor.user_id or None, at=at, token_matched=True, geo_status=geo.status,
                            lat=geo.lat, lon=geo.lon, accuracy_m=geo.accuracy)
    session.add(row)
    session.flush()
    return row


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode()[:64], b.encode())


def add_photo(session: Session, actor: Actor, task_id: int, filename: str, data: bytes, var_dir: Path,
              now: datetime | None = None) -> InspectionPhoto:
    at = now or utcnow()
    task = _open_for_work(session, actor, task_id, at)
    checked = uploads.check(data)
    stored = uploads.store(var_dir, actor.enterprise_id, checked)
    photo = InspectionPhoto(enterprise_id=actor.enterprise_id, task_id=task.id, filename=filename[:200],
                            stored_name=stored, content_type=checked.content_type, size=len(checked.data),
                            sha256=checked.sha256, uploaded_by=actor.user_id or None, uploaded_at=at)
    session.add(photo)
    session.flush()
    return photo


def get_photo(session: Session, actor: Actor, task_id: int, photo_id: int) -> InspectionPhoto:
    get(session, actor, task_id)
    photo = session.scalars(select(InspectionPhoto).where(
        InspectionPhoto.id == photo_id, InspectionPhoto.task_id == task_id,
        InspectionPhoto.enterprise_id == actor.enterprise_id)).first()
    if photo is None:
        raise NotFound(PHOTO, photo_id)
    return photo


@dataclass(frozen=True)
class ItemResult:
    item_id: int
    outcome: str
    note: str = ""
    photo_id: int | None = None


def _payload(session: Session, task: InspectionTask) -> dict[str, Any]:
    plan = session.get(InspectionPlan, task.plan_id)
    point = session.get(RiskPoint, task.risk_point_id)
    return {"id": task.id, "plan_id": task.plan_id, "plan_name": plan.name if plan else "",
            "risk_point_id": task.risk_point_id, "risk_point_code": point.code if point else "",
            "risk_point_name": point.name if point else "", "area_id": point.area_id if point else None,
            "period": task.period, "window_start": task.window_start, "window_end": task.window_end,
            "status": task.status, "team_id": task.team_id, "assignee_role": task.assignee_role}


def submit_results(session: Session, actor: Actor, task_id: int, checkin_id: int, results: list[ItemResult],
                   now: datetime | None = None) -> InspectionTask:
    """Record every item's result, raise a hazard per failed item, and mark the task done."""
    at = now or utcnow()
    task = _open_for_work(session, actor, task_id, at)
    ci = session.scalars(select(InspectionCheckin).where(
        InspectionCheckin.id == checkin_id, InspectionCheckin.task_id == task.id,
        InspectionCheckin.enterprise_id == actor.enterprise_id)).first()
    if ci is None or ci.user_id != (actor.user_id or None) or not ci.token_matched:
        raise ValidationFailed([FieldError("checkin_id", N_("Check in at the point first (scan its QR code)"))])
    shown = checklists.ensure(session, actor.enterprise_id, task.risk_point_id)
    by_id = {i.id: i for i in shown}
    errors: list[FieldError] = []
    seen: set[int] = set()
    photos = set(session.scalars(select(InspectionPhoto.id).where(
        InspectionPhoto.task_id == task.id, InspectionPhoto.enterprise_id == actor.enterprise_id)))
    for n, r in enumerate(results):
        if r.item_id not in by_id or r.item_id in seen:
            errors.append(FieldError(f"results.{n}.item_id", N_("Not an item of this checklist, or given twice")))
        seen.add(r.item_id)
        if r.outcome not in OUTCOMES:
            errors.append(FieldError(f"results.{n}.outcome", N_("Must be one of: %(expected)s"),
                                     {"expected": ", ".join(OUTCOMES)}))
        if r.outcome == "not_ok" and not r.note.strip():
            errors.append(FieldError(f"results.{n}.note", N_("Describe what is wrong")))
        if r.photo_id is not None and r.photo_id not in photos:
            errors.append(FieldError(f"results.{n}.photo_id", N_("%(entity)s not found"), {"entity": PHOTO}))
    if not errors and seen != set(by_id):
        errors.append(FieldError("results", N_("Give a result for every item of the checklist (%(n)s)"),
                                 {"n": len(by_id)}))
    if errors:
        raise ValidationFailed(errors)
    point = session.get(RiskPoint, task.risk_point_id)
    assert point is not None
    from plantguard.hazards.contract import report_from_inspection

    hazard_ids: list[int] = []
    for r in results:
        item = by_id[r.item_id]
        row = InspectionResult(enterprise_id=actor.enterprise_id, task_id=task.id, checkin_id=ci.id,
                               item_id=item.id, text=item.text, outcome=r.outcome, note=r.note.strip(),
                               photo_id=r.photo_id, user_id=actor.user_id or None, at=at)
        session.add(row)
        session.flush()
        if r.outcome == "not_ok":
            description = f"{point.code} {point.name}: {item.text} — {r.note.strip()}"
            row.hazard_id = report_from_inspection(
                session, actor, risk_point_id=point.id, area_id=point.area_id, equipment_id=point.equipment_id,
                description=description[:2000], source_ref=f"inspection:{task.id}/item:{item.id}/result:{row.id}",
                photo_ids=None, now=at)
            hazard_ids.append(row.hazard_id)
    task.status, task.done_at, task.done_by = "done", at, actor.user_id or None
    session.flush()
    enqueue(session, InspectionDone(**_payload(session, task), by_user_id=actor.user_id or None,
                                    failed_items=len(hazard_ids), hazard_ids=hazard_ids),
            context=Context(user_id=actor.user_id or None), enterprise_id=actor.enterprise_id)
    return task


def results_of(session: Session, actor: Actor, task: InspectionTask) -> list[InspectionResult]:
    return list(session.scalars(select(InspectionResult).where(
        InspectionResult.task_id == task.id, InspectionResult.enterprise_id == actor.enterprise_id)
        .order_by(InspectionResult.id)))


def checkins_of(session: Session, actor: Actor, task: InspectionTask) -> list[InspectionCheckin]:
    return list(session.scalars(select(InspectionCheckin).where(
        InspectionCheckin.task_id == task.id, InspectionCheckin.enterprise_id == actor.enterprise_id)
        .order_by(InspectionCheckin.id)))


# -- missed --------------------------------------------------------------------------------


def targets(session: Session, task: InspectionTask) -> list[int]:
    """Users to remind: the team's members and leader, or every active user of the role."""
    ent = task.enterprise_id
    if task.team_id is not None:
        team = session.get(Team, task.team_id)
        people = list(session.scalars(select(Person.id).where(Person.enterprise_id == ent,
                                                              Person.team_id == task.team_id)))
        if team is not None and team.leader_id is not None:
            people.append(team.leader_id)
        if not people:
            return []
        return [int(u) for u in session.scalars(select(User.id).where(
            User.enterprise_id == ent, User.active.is_(True), User.person_id.in_(people)).order_by(User.id))]
    if task.assignee_role:
        return [int(u) for u in session.scalars(select(User.id).where(
            User.enterprise_id == ent, User.active.is_(True), User.role == task.assignee_role).order_by(User.id))]
    return []


def mark_missed(session: Session, now: datetime) -> int:
    """Open tasks whose window has ended become missed, each with an ``inspection.missed``
    event. Marking is by status, so a second run at the same moment finds nothing."""
    rows = session.scalars(select(InspectionTask).where(
        InspectionTask.status == "open", InspectionTask.window_end <= now)
        .order_by(InspectionTask.id).with_for_update()).all()
    for task in rows:
        task.status, task.missed_at = "missed", now
        session.flush()
        body = _payload(session, task)
        title = f"{body['risk_point_code']} {body['risk_point_name']} · {body['plan_name']}".strip()
        enqueue(session, InspectionMissed(**body, title=title, target_user_ids=targets(session, task)),
                context=Context(), enterprise_id=task.enterprise_id)
    session.flush()
    return len(rows)


# -- dashboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Today:
    due: int  # tasks whose window ends today (plant day)
    done: int
    missed: int
    open: int
    rate: float | None  # done ÷ (done + missed) of those; None when none has ended or been done


def today(session: Session, actor: Actor, now: datetime | None = None) -> Today:
    actor.require(Perm.READ)
    start, end = periods.local_day(now or utcnow())
    rows = session.execute(select(InspectionTask.status, func.count()).where(
        InspectionTask.enterprise_id == actor.enterprise_id, InspectionTask.window_end > start,
        InspectionTask.window_end <= end).group_by(InspectionTask.status)).all()
    counts = {str(s): int(n) for s, n in rows}
    done, missed, open_ = counts.get("done", 0), counts.get("missed", 0), counts.get("open", 0)
    settled = done + missed
    return Today(due=done + missed + open_, done=done, missed=missed, open=open_,
                 rate=round(done / settled, 3) if settled else None)
