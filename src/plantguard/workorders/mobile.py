"""The phone task app (``/m/``) for team leaders and workers: "my tasks" and one task with
big buttons (take on, progress note, photo from the camera, hand over for acceptance).

The pages are rendered here; every step is sent by ``mobile.js`` to the JSON API through
an offline queue (IndexedDB) with an ``Idempotency-Key`` per step, so a step taken without
network is kept on the phone and replayed once, in order, when the network returns. The
service worker keeps the last copy of these pages so that they open offline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.db import utcnow
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.views import when
from plantguard.tenancy.models import Person, Team, User
from plantguard.web.render import render
from plantguard.web.session import WebId
from plantguard.workorders import assignment, service, uploads
from plantguard.workorders.models import (
    ATTACHMENT_KINDS,
    EVENT_KINDS,
    OPEN_STATUSES,
    PRIORITY_LABELS,
    STATUS_LABELS,
    WorkOrder,
)
from plantguard.workorders.views import names

DONE_SHOWN: Final = 10  # finished tasks listed under the open ones
OPEN_LIMIT: Final = 200
PHOTO_KINDS: Final = {"before": N_("Photo before the work"), "after": N_("Photo after the work")}


def team_ids(session: Session, actor: Actor) -> list[int]:
    """The caller's team (through their person record) and the teams they lead."""
    person_id = session.scalar(select(User.person_id).where(
        User.id == actor.user_id, User.enterprise_id == actor.enterprise_id))
    if person_id is None:
        return []
    own = session.scalar(select(Person.team_id).where(Person.id == person_id))
    led = session.scalars(select(Team.id).where(Team.enterprise_id == actor.enterprise_id,
                                                Team.leader_id == person_id)).all()
    return sorted({int(t) for t in [own, *led] if t is not None})


def my_tasks(session: Session, actor: Actor) -> tuple[list[WorkOrder], list[WorkOrder]]:
    """(open, recently finished) orders assigned to the caller or to one of their teams; open
    ones by priority, then the nearest due time."""
    actor.require(Perm.READ)
    teams = team_ids(session, actor)
    mine: ColumnElement[bool] = or_(WorkOrder.assignee_id == actor.user_id,
                                    WorkOrder.team_id.in_(teams) if teams else false())
    base = select(WorkOrder).where(WorkOrder.enterprise_id == actor.enterprise_id, mine)
    open_ = session.scalars(base.where(WorkOrder.status.in_(sorted(OPEN_STATUSES)))
                            .order_by(WorkOrder.priority, WorkOrder.due_at.is_(None), WorkOrder.due_at,
                                      WorkOrder.id).limit(OPEN_LIMIT)).all()
    done = session.scalars(base.where(WorkOrder.status.not_in(sorted(OPEN_STATUSES)))
                           .order_by(WorkOrder.updated_at.desc(), WorkOrder.id.desc()).limit(DONE_SHOWN)).all()
    return list(open_), list(done)


def is_overdue(order: WorkOrder, now: datetime) -> bool:
    return order.status in OPEN_STATUSES and order.due_at is not None and order.due_at < now


def works_on(session: Session, actor: Actor, order: WorkOrder) -> bool:
    """Whether the caller may do the worker's steps on this order (assignee or team member)."""
    return actor.can(Perm.HANDLE_WORKORDERS) and (order.assignee_id == actor.user_id or assignment.team_member(
        session, actor.enterprise_id, actor.user_id, order.team_id))


def common() -> dict[str, Any]:
    return {"STATUS_LABELS": STATUS_LABELS, "PRIORITY_LABELS": PRIORITY_LABELS, "EVENT_KINDS": EVENT_KINDS,
            "ATTACHMENT_KINDS": ATTACHMENT_KINDS, "PHOTO_KINDS": PHOTO_KINDS, "when": when,
            "OPEN_STATUSES": OPEN_STATUSES}


def mount(app: FastAPI) -> None:
    if getattr(app.state, "mobile_pages", False):
        return
    app.state.mobile_pages = True
    from plantguard.web.views import Page, _db

    def shell(page: Page) -> dict[str, Any]:
        return {"max_bytes": uploads.max_bytes(), **page.ctx(**common())}

    @app.get("/m/tasks", include_in_schema=False, response_class=HTMLResponse)
    def tasks_page(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            open_, done = my_tasks(session, page.actor)
            nm = names(session, page.actor)
        now = utcnow()
        resp = render(request, "mobile/tasks.html", open_orders=open_, done_orders=done, names=nm, now=now,
                      overdue={o.id for o in open_ if is_overdue(o, now)}, **shell(page))
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/m/tasks/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def task_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            order = service.get(session, page.actor, item_id)
            ctx: dict[str, Any] = {
                "o": order, "events": service.history(session, page.actor, order),
                "attachments": service.attachments(session, page.actor, order),
                "equipment": session.get(Equipment, order.equipment_id) if order.equipment_id else None,
                "names": names(session, page.actor), "works_on": works_on(session, page.actor, order)}
        now = utcnow()
        resp = render(request, "mobile/task.html", overdue=is_overdue(order, now), now=now, **ctx,
                      **shell(page))
        resp.headers["Cache-Control"] = "no-cache"
        return resp
