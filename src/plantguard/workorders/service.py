"""What people do with work orders: every function takes the caller, checks the role and
scopes every query to the caller's enterprise (another tenant's order is "not found").

Roles (``core/permissions.py``): ``workorders.manage`` creates, dispatches, reassigns and
cancels; ``workorders.handle`` takes on, records progress and hands over — only the assignee
or a member of the assigned team; ``workorders.accept`` closes or rejects — never someone
who did the work (the assignee, anyone who took it on, recorded progress or handed it over).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.crud import Page
from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, NotFound, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.events.envelope import Context
from plantguard.tenancy.models import Area, Team, User
from plantguard.workorders import assignment, lifecycle, sla, uploads
from plantguard.workorders.contract import Priority
from plantguard.workorders.lifecycle import Who
from plantguard.workorders.models import (
    ATTACHMENT_KINDS,
    OPEN_STATUSES,
    STATUS_LABELS,
    WorkOrder,
    WorkOrderAlarm,
    WorkOrderAttachment,
    WorkOrderEvent,
)

WORK_ORDER = N_("Work order")
ATTACHMENT = N_("Attachment")


class NotYours(PlantGuardError):
    status_code = 403
    code = "forbidden"


def who(actor: Actor) -> Who:
    return Who(user_id=actor.user_id or None, name=actor.display_name or actor.username)


def open_order(session: Session, enterprise_id: int, *, title: str, at: datetime, who: Who = lifecycle.SYSTEM,
               description: str = "", source: str = "manual", priority: str = Priority.P3.value,
               alarm_id: int | None = None, equipment_id: int | None = None, area_id: int | None = None,
               skills: Sequence[str] = (), team_id: int | None = None, assignee_id: int | None = None,
               routed_rule: str = "", routed_version: int | None = None, open_key: str | None = None) -> WorkOrder:
    """Create an order and, when it has a team, dispatch it (choosing the assignee by skills
    and shift unless one is given). Without a team it stays pending for a manager."""
    ctx = session.info.get("context") or Context(user_id=who.user_id)
    session.info["context"] = ctx
    order = WorkOrder(enterprise_id=enterprise_id, number=lifecycle.next_number(session, enterprise_id, at),
                      title=title[:200], description=description, source=source, priority=priority,
                      alarm_id=alarm_id, equipment_id=equipment_id, area_id=area_id, skills=list(skills),
                      routed_rule=routed_rule, routed_version=routed_version, open_key=open_key,
                      context_id=ctx.id, status="pending", worked_by=[],
                      due_at=at + sla.for_priority(session, enterprise_id, priority).resolve)
    session.add(order)
    session.flush()
    if alarm_id is not None:
        session.add(WorkOrderAlarm(enterprise_id=enterprise_id, work_order_id=order.id, alarm_id=alarm_id,
                                   attached_at=at))
    lifecycle.record(session, order, "created", at=at, who=who, rule=routed_rule, rule_set_version=routed_version,
                     detail={"rule": routed_rule, "rule_set_version": routed_version} if routed_rule else None)
    if team_id is not None:
        team = session.get(Team, team_id)
        if assignee_id is None and team is not None:
            assignee_id = assignment.pick(session, team, skills, at)
        lifecycle.dispatch(session, order, at, who, team_id, assignee_id)
    return order


def _ref(session: Session, actor: Actor, model: Any, ident: int | None, field: str, label: str) -> None:
    if ident is None:
        return
    found = session.scalar(select(model.id).where(model.id == ident, model.enterprise_id == actor.enterprise_id))
    if found is None:
        raise ValidationFailed([FieldError(field, N_("%(entity)s not found"), {"entity": label})])


def create(session: Session, actor: Actor, values: dict[str, Any], now: datetime | None = None) -> WorkOrder:
    actor.require(Perm.MANAGE_WORKORDERS)
    for model, field, label in ((Equipment, "equipment_id", N_("Equipment")), (Area, "area_id", N_("Area")),
                                (Team, "team_id", N_("Team")), (User, "assignee_id", N_("User"))):
        _ref(session, actor, model, values.get(field), field, label)
    area_id = values.get("area_id")
    if area_id is None and values.get("equipment_id") is not None:
        area_id = session.scalar(select(Equipment.area_id).where(Equipment.id == values["equipment_id"]))
    order = open_order(session, actor.enterprise_id, title=values["title"], at=now or utcnow(), who=who(actor),
                       description=values.get("description", ""), source=values.get("source", "manual"),
                       priority=values.get("priority", Priority.P3.value), equipment_id=values.get("equipment_id"),
                       area_id=area_id, skills=values.get("skills", ()), team_id=values.get("team_id"),
                       assignee_id=values.get("assignee_id"))
    session.flush()
    return order


def get(session: Session, actor: Actor, order_id: int, *, for_update: bool = False) -> WorkOrder:
    actor.require(Perm.READ)
    q = select(WorkOrder).where(WorkOrder.id == order_id, WorkOrder.enterprise_id == actor.enterprise_id)
    order = session.scalars(q.with_for_update() if for_update else q).first()
    if order is None:
        raise NotFound(WORK_ORDER, order_id)
    return order


def list_orders(session: Session, actor: Actor, *, status: str | None = None, priority: str | None = None,
                team_id: int | None = None, assignee: str | None = None, overdue: bool | None = None,
                limit: int = 50, offset: int = 0, now: datetime | None = None) -> Page[WorkOrder]:
    actor.require(Perm.READ)
    errors = []
    statuses = [s for s in (status or "").split(",") if s]
    if status == "open":
        statuses = sorted(OPEN_STATUSES)
    for s in statuses:
        if s not in STATUS_LABELS:
            errors.append(FieldError("status", N_("Must be one of: %(expected)s"),
                                     {"expected": ", ".join([*STATUS_LABELS, "open"])}))
            break
    if priority and priority not in {p.value for p in Priority}:
        errors.append(FieldError("priority", N_("Must be one of: %(expected)s"),
                                 {"expected": ", ".join(p.value for p in Priority)}))
    if assignee and assignee != "me":
        errors.append(FieldError("assignee", N_("Must be one of: %(expected)s"), {"expected": "me"}))
    if errors:
        raise ValidationFailed(errors)
    conds: list[ColumnElement[bool]] = [WorkOrder.enterprise_id == actor.enterprise_id]
    if statuses:
        conds.append(WorkOrder.status.in_(statuses))
    if priority:
        conds.append(WorkOrder.priority == priority)
    if team_id is not None:
        conds.append(WorkOrder.team_id == team_id)
    if assignee == "me":
        conds.append(WorkOrder.assignee_id == actor.user_id)
    if overdue:
        conds += [WorkOrder.status.in_(sorted(OPEN_STATUSES)), WorkOrder.due_at < (now or utcnow())]
    total = int(session.scalar(select(func.count()).select_from(WorkOrder).where(*conds)) or 0)
    items = session.scalars(select(WorkOrder).where(*conds).order_by(WorkOrder.id.desc())
                            .limit(limit).offset(offset)).all()
    return Page(items, total)


def history(session: Session, actor: Actor, order: WorkOrder) -> list[WorkOrderEvent]:
    return list(session.scalars(select(WorkOrderEvent).where(
        WorkOrderEvent.work_order_id == order.id, WorkOrderEvent.enterprise_id == actor.enterprise_id)
        .order_by(WorkOrderEvent.id)))


def alarm_ids(session: Session, actor: Actor, order: WorkOrder) -> list[int]:
    return [int(i) for i in session.scalars(select(WorkOrderAlarm.alarm_id).where(
        WorkOrderAlarm.work_order_id == order.id, WorkOrderAlarm.enterprise_id == actor.enterprise_id)
        .order_by(WorkOrderAlarm.id))]


def attachments(session: Session, actor: Actor, order: WorkOrder) -> list[WorkOrderAttachment]:
    return list(session.scalars(select(WorkOrderAttachment).where(
        WorkOrderAttachment.work_order_id == order.id, WorkOrderAttachment.enterprise_id == actor.enterprise_id)
        .order_by(WorkOrderAttachment.id)))


def get_attachment(session: Session, actor: Actor, order_id: int, attachment_id: int) -> WorkOrderAttachment:
    get(session, actor, order_id)
    att = session.scalars(select(WorkOrderAttachment).where(
        WorkOrderAttachment.id == attachment_id, WorkOrderAttachment.work_order_id == order_id,
        WorkOrderAttachment.enterprise_id == actor.enterprise_id)).first()
    if att is None:
        raise NotFound(ATTACHMENT, attachment_id)
    return att


# -- steps -----------------------------------------------------------------------------------


def dispatch(session: Session, actor: Actor, order_id: int, team_id: int | None, assignee_id: int | None,
             note: str = "", now: datetime | None = None) -> WorkOrder:
    actor.require(Perm.MANAGE_WORKORDERS)
    _ref(session, actor, Team, team_id, "team_id", N_("Team"))
    _ref(session, actor, User, assignee_id, "assignee_id", N_("User"))
    if team_id is None and assignee_id is None:
        raise ValidationFailed([FieldError("team_id", N_("Give a team or an assignee"))])
    order = get(session, actor, order_id, for_update=True)
    lifecycle.check(order, "dispatch")
    at = now or utcnow()
    if assignee_id is None and team_id is not None:
        team = session.get(Team, team_id)
        assert team is not None
        assignee_id = assignment.pick(session, team, order.skills, at)
    lifecycle.dispatch(session, order, at, who(actor), team_id, assignee_id, note)
    session.flush()
    return order


def _require_worker(session: Session, actor: Actor, order: WorkOrder) -> None:
    actor.require(Perm.HANDLE_WORKORDERS)
    if order.assignee_id == actor.user_id:
        return
    if assignment.team_member(session, actor.enterprise_id, actor.user_id, order.team_id):
        return
    raise NotYours(N_("Only the assignee or a member of the assigned team may do this"))


def _worked(order: WorkOrder, actor: Actor) -> None:
    if actor.user_id not in order.worked_by:
        order.worked_by = [*order.worked_by, actor.user_id]


def accept(session: Session, actor: Actor, order_id: int, note: str = "", now: datetime | None = None) -> WorkOrder:
    order = get(session, actor, order_id, for_update=True)
    _require_worker(session, actor, order)
    lifecycle.check(order, "accept")
    at = now or utcnow()
    if order.assignee_id is None:
        order.assignee_id = actor.user_id
    order.started_at = at
    _worked(order, actor)
    lifecycle.move(session, order, "accept", at, who(actor), note)
    session.flush()
    return order


def update(session: Session, actor: Actor, order_id: int, note: str, now: datetime | None = None) -> WorkOrder:
    if not note.strip():
        raise ValidationFailed([FieldError("note", N_("This field is required"))])
    order = get(session, actor, order_id, for_update=True)
    _require_worker(session, actor, order)
    lifecycle.check(order, "update")
    _worked(order, actor)
    lifecycle.move(session, order, "update", now or utcnow(), who(actor), note.strip())
    session.flush()
    return order


def submit(session: Session, actor: Actor, order_id: int, note: str = "", now: datetime | None = None) -> WorkOrder:
    order = get(session, actor, order_id, for_update=True)
    _require_worker(session, actor, order)
    lifecycle.check(order, "submit")
    at = now or utcnow()
    order.submitted_at = at
    _worked(order, actor)
    lifecycle.move(session, order, "submit", at, who(actor), note)
    session.flush()
    return order


def _require_acceptor(actor: Actor, order: WorkOrder) -> None:
    actor.require(Perm.ACCEPT_WORKORDERS)
    if actor.user_id == order.assignee_id or actor.user_id in order.worked_by:
        raise NotYours(N_("Acceptance must be done by someone other than the person who did the work"))


def close(session: Session, actor: Actor, order_id: int, signature: str, var_dir: Path, note: str = "",
          now: datetime | None = None) -> WorkOrder:
    order = get(session, actor, order_id, for_update=True)
    _require_acceptor(actor, order)
    lifecycle.check(order, "close")
    checked = uploads.check(uploads.decode_data_url(signature), "signature", only=("image/png",))
    at = now or utcnow()
    att = _store(session, actor, order, "signature", "signature.png", checked, var_dir, at)
    order.accepted_by, order.accepted_at, order.closed_at = actor.user_id, at, at
    order.signature_attachment_id, order.signature_sha256 = att.id, checked.sha256
    lifecycle.move(session, order, "close", at, who(actor), note, detail={"signature_sha256": checked.sha256},
                   accepted_by=actor.user_id)
    session.flush()
    return order


def reject(session: Session, actor: Actor, order_id: int, reason: str, now: datetime | None = None) -> WorkOrder:
    if not reason.strip():
        raise ValidationFailed([FieldError("reason", N_("This field is required"))])
    order = get(session, actor, order_id, for_update=True)
    _require_acceptor(actor, order)
    lifecycle.move(session, order, "reject", now or utcnow(), who(actor), reason.strip(), reason=reason.strip())
    session.flush()
    return order


def cancel(session: Session, actor: Actor, order_id: int, reason: str, now: datetime | None = None) -> WorkOrder:
    actor.require(Perm.MANAGE_WORKORDERS)
    if not reason.strip():
        raise ValidationFailed([FieldError("reason", N_("This field is required"))])
    order = get(session, actor, order_id, for_update=True)
    lifecycle.check(order, "cancel")
    order.cancel_reason = reason.strip()[:500]
    lifecycle.move(session, order, "cancel", now or utcnow(), who(actor), reason.strip(), reason=reason.strip())
    session.flush()
    return order


def _store(session: Session, actor: Actor, order: WorkOrder, kind: str, filename: str, checked: uploads.Checked,
           var_dir: Path, at: datetime) -> WorkOrderAttachment:
    name = uploads.store(var_dir, actor.enterprise_id, checked)
    att = WorkOrderAttachment(enterprise_id=actor.enterprise_id, work_order_id=order.id, kind=kind,
                              filename=filename[:200], stored_name=name, content_type=checked.content_type,
                              size=len(checked.data), sha256=checked.sha256, uploaded_by=actor.user_id or None,
                              uploaded_at=at)
    session.add(att)
    session.flush()
    return att


def add_attachment(session: Session, actor: Actor, order_id: int, kind: str, filename: str, data: bytes,
                   var_dir: Path, note: str = "", now: datetime | None = None) -> WorkOrderAttachment:
    """Evidence from whoever works the order or accepts it (a photo at acceptance is common)."""
    if kind not in ATTACHMENT_KINDS or kind == "signature":
        raise ValidationFailed([FieldError("kind", N_("Must be one of: %(expected)s"),
                                           {"expected": "before, after, other"})])
    order = get(session, actor, order_id, for_update=True)
    if not (actor.can(Perm.MANAGE_WORKORDERS) or actor.can(Perm.ACCEPT_WORKORDERS)):
        _require_worker(session, actor, order)
    else:
        actor.require(Perm.READ)
    if order.status not in OPEN_STATUSES:
        raise lifecycle_closed(order)
    checked = uploads.check(data, "file")
    at = now or utcnow()
    att = _store(session, actor, order, kind, filename, checked, var_dir, at)
    lifecycle.record(session, order, "attachment", at=at, who=who(actor), note=note,
                     detail={"attachment_id": att.id, "kind": kind}, attachment_id=att.id)
    session.flush()
    return att


def lifecycle_closed(order: WorkOrder) -> PlantGuardError:
    return Conflict(N_("This work order is %(status)s: nothing can be added"),
                    status=STATUS_LABELS.get(order.status, order.status))


def open_counts(session: Session, actor: Actor, now: datetime | None = None) -> dict[str, int]:
    """Open orders per status, plus ``overdue`` (for the dashboard)."""
    actor.require(Perm.READ)
    rows = session.execute(select(WorkOrder.status, func.count()).where(
        WorkOrder.enterprise_id == actor.enterprise_id, WorkOrder.status.in_(sorted(OPEN_STATUSES)))
        .group_by(WorkOrder.status)).all()
    out = {s: 0 for s in STATUS_LABELS if s in OPEN_STATUSES}
    out.update({str(r[0]): int(r[1]) for r in rows})
    out["overdue"] = int(session.scalar(select(func.count()).select_from(WorkOrder).where(
        WorkOrder.enterprise_id == actor.enterprise_id, WorkOrder.status.in_(sorted(OPEN_STATUSES)),
        WorkOrder.due_at < (now or utcnow()))) or 0)
    return out
