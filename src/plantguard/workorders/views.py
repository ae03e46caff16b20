"""Console pages: the work-order list (filters, status and priority badges), an order's detail
(history, alarms, before/after evidence, the actions the caller's role allows, the acceptance
form with a signature pad) and the dashboard's "Open work orders" panel.

Forms go through the same service as the API. A refused step (wrong status, not the
assignee, the worker trying to accept their own work) re-renders the page with the message
and the error's status code, so nothing is lost and nothing pretends to have happened.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from plantguard.api.deps import runtime
from plantguard.api.errors import error_body
from plantguard.assets.models import Equipment
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import PlantGuardError
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.views import when
from plantguard.tenancy.models import Team, User
from plantguard.web.render import render
from plantguard.web.session import WebId, WebOffset, clean_text
from plantguard.workorders import service, uploads
from plantguard.workorders.lifecycle import TRANSITIONS
from plantguard.workorders.models import (
    ATTACHMENT_KINDS,
    EVENT_KINDS,
    OPEN_STATUSES,
    PRIORITY_LABELS,
    SOURCES,
    STATUS_LABELS,
    WorkOrder,
)

PAGE_SIZE: Final = 50
ACTIONS: Final = ("dispatch", "accept", "update", "submit", "close", "reject", "cancel")


def common() -> dict[str, Any]:
    return {"STATUS_LABELS": STATUS_LABELS, "PRIORITY_LABELS": PRIORITY_LABELS, "SOURCES": SOURCES,
            "EVENT_KINDS": EVENT_KINDS, "ATTACHMENT_KINDS": ATTACHMENT_KINDS, "when": when,
            "OPEN_STATUSES": OPEN_STATUSES}


def names(session: Session, actor: Actor) -> dict[str, dict[int, str]]:
    ent = actor.enterprise_id
    return {
        "team": {int(i): f"{c} {n}" for i, c, n in session.execute(
            select(Team.id, Team.code, Team.name).where(Team.enterprise_id == ent))},
        "user": {int(i): d or u for i, d, u in session.execute(
            select(User.id, User.display_name, User.username).where(User.enterprise_id == ent))},
    }


def list_query(request: Request) -> dict[str, str]:
    qp = request.query_params
    status = qp.get("status", "open")
    priority = qp.get("priority", "")
    return {"status": status if status in {*STATUS_LABELS, "open", ""} else "open",
            "priority": priority if priority in PRIORITY_LABELS else "",
            "assignee": "me" if qp.get("assignee") == "me" else "",
            "overdue": "1" if qp.get("overdue") == "1" else ""}


def allowed(actor: Actor, order: WorkOrder) -> set[str]:
    """Actions the page offers: allowed from the status and by the role (the service re-checks,
    including the assignee and "not your own work" rules)."""
    perms = {"dispatch": Perm.MANAGE_WORKORDERS, "cancel": Perm.MANAGE_WORKORDERS,
             "accept": Perm.HANDLE_WORKORDERS, "update": Perm.HANDLE_WORKORDERS, "submit": Perm.HANDLE_WORKORDERS,
             "close": Perm.ACCEPT_WORKORDERS, "reject": Perm.ACCEPT_WORKORDERS}
    out = {a for a in ACTIONS if order.status in TRANSITIONS[a][0] and actor.can(perms[a])}
    if actor.user_id == order.assignee_id or actor.user_id in (order.worked_by or []):
        out -= {"close", "reject"}
    return out


def detail_ctx(session: Session, actor: Actor, order_id: int) -> dict[str, Any]:
    order = service.get(session, actor, order_id)
    equipment = session.get(Equipment, order.equipment_id) if order.equipment_id else None
    return {"o": order, "events": service.history(session, actor, order),
            "alarm_ids": service.alarm_ids(session, actor, order),
            "attachments": service.attachments(session, actor, order), "names": names(session, actor),
            "equipment": equipment, "actions": allowed(actor, order),
            "teams": session.execute(select(Team.id, Team.code, Team.name).where(
                Team.enterprise_id == actor.enterprise_id).order_by(Team.code)).all(), **common()}


def mount(app: FastAPI) -> None:
    if getattr(app.state, "workorder_pages", False):
        return
    app.state.workorder_pages = True
    from plantguard.web.views import Page, _db
    from plantguard.workorders.metrics_views import mount as mount_metrics

    mount_metrics(app)  # before /workorders/{item_id}

    @app.get("/workorders", include_in_schema=False, response_class=HTMLResponse)
    def list_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        q = list_query(request)
        with _db(request) as session:
            result = service.list_orders(session, page.actor, status=q["status"] or None,
                                         priority=q["priority"] or None, assignee=q["assignee"] or None,
                                         overdue=bool(q["overdue"]), limit=PAGE_SIZE, offset=offset)
            nm = names(session, page.actor)
            teams = session.execute(select(Team.id, Team.code, Team.name).where(
                Team.enterprise_id == page.actor.enterprise_id).order_by(Team.code)).all()
        args = {k: v for k, v in q.items() if v}
        return render(request, "workorders/list.html", **page.ctx(
            nav="workorders", orders=result.items, total=result.total, offset=offset, limit=PAGE_SIZE, query=q,
            names=nm, teams=teams, page_url=lambda off: "/workorders?" + urlencode({**args, "offset": off}),
            **common()))

    @app.post("/workorders", include_in_schema=False)
    async def create(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        values: dict[str, Any] = {"title": clean_text(str(form.get("title") or "")).strip()[:200],
                                  "priority": str(form.get("priority") or "p3"),
                                  "description": clean_text(str(form.get("description") or ""))[:5000]}
        team = str(form.get("team_id") or "")
        if team.isdigit():
            values["team_id"] = int(team)

        def run() -> int:
            from plantguard.workorders.schemas import WorkOrderCreate

            body = WorkOrderCreate.model_validate(values)
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                order = service.create(session, page.actor, body.model_dump())
                session.commit()
                return order.id

        try:
            oid = await run_in_threadpool(run)
        except (PlantGuardError, ValidationError):  # invalid form: back to the list, which says so
            return RedirectResponse("/workorders?error=1", status_code=303)
        return RedirectResponse(f"/workorders/{oid}", status_code=303)

    @app.get("/workorders/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def detail_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            ctx = detail_ctx(session, page.actor, item_id)
        return render(request, "workorders/detail.html", **page.ctx(nav="workorders", **ctx))

    async def act(request: Request, item_id: int, action: str) -> Response:
        page = await Page.load(request)
        form = await page.form()
        text = {k: clean_text(str(form.get(k) or "")).strip() for k in ("note", "reason")}
        signature = str(form.get("signature") or "")
        team = str(form.get("team_id") or "")
        assignee = str(form.get("assignee_id") or "")
        upload = form.get("file")
        data = await upload.read(uploads.max_bytes() + 1) if isinstance(upload, UploadFile) else b""
        filename = upload.filename or "" if isinstance(upload, UploadFile) else ""
        var_dir = runtime(request).settings.var_dir

        def run() -> None:
            a = page.actor
            with _db(request, write=True) as session:
                bind_actor(session, a)
                if action == "dispatch":
                    service.dispatch(session, a, item_id, int(team) if team.isdigit() else None,
                                     int(assignee) if assignee.isdigit() else None, text["note"][:2000])
                elif action == "accept":
                    service.accept(session, a, item_id, text["note"][:2000])
                elif action == "update":
                    service.update(session, a, item_id, text["note"][:2000])
                elif action == "submit":
                    service.submit(session, a, item_id, text["note"][:2000])
                elif action == "close":
                    service.close(session, a, item_id, signature, var_dir, text["note"][:2000])
                elif action == "reject":
                    service.reject(session, a, item_id, text["reason"][:500])
                elif action == "cancel":
                    service.cancel(session, a, item_id, text["reason"][:500])
                else:
                    service.add_attachment(session, a, item_id, str(form.get("kind") or "other"), filename, data,
                                           var_dir, text["note"][:2000])
                session.commit()

        try:
            await run_in_threadpool(run)
        except PlantGuardError as exc:
            body = error_body(exc)
            message = body["detail"] if not body.get("errors") else "; ".join(
                f"{e['label']}: {e['message']}" if e.get("label") else e["message"] for e in body["errors"])

            def again() -> dict[str, Any]:
                with _db(request) as session:
                    return detail_ctx(session, page.actor, item_id)

            ctx = await run_in_threadpool(again)
            return render(request, "workorders/detail.html", status_code=exc.status_code,
                          **page.ctx(nav="workorders", error=message, **ctx))
        return RedirectResponse(f"/workorders/{item_id}", status_code=303)

    for name in (*ACTIONS, "attachments"):
        def make(action: str) -> Any:
            async def endpoint(request: Request, item_id: WebId) -> Response:
                return await act(request, item_id, action)
            return endpoint

        app.add_api_route(f"/workorders/{{item_id}}/{name}", make(name), methods=["POST"], include_in_schema=False)

    @app.get("/dashboard/workorders", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_panel(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            counts = service.open_counts(session, page.actor)
        resp = render(request, "workorders/_dashboard.html", **page.ctx(counts=counts, **common()))
        resp.headers["Cache-Control"] = "no-store"
        return resp
