"""Console pages: the live alarm board, an alarm's detail, acknowledge / clear / comment, and
the dashboard's alarm panel. Analytics, silences and policies are in ``views_admin``.

The board refreshes itself with htmx (it polls its own URL and swaps ``#alarm-board``), so a
new alarm appears without a reload. Buttons are rendered only for roles that may use them,
and the service checks again. Nothing here is cached: alarms change without audited writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import Conflict
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor, Perm
from plantguard.detection.alarms import service
from plantguard.detection.alarms.models import (
    CLEAR_REASONS,
    EVENT_KINDS,
    KIND_LABELS,
    SEVERITY_LABELS,
    STATUSES,
    Alarm,
)
from plantguard.detection.signals import Severity
from plantguard.ingest.models import Device
from plantguard.ingest.views import ago, when
from plantguard.web.render import render
from plantguard.web.session import WebId, WebOffset, clean_text, safe_next

PAGE_SIZE: Final = 50
BOARD_REFRESH_S: Final = 3
DASHBOARD_LATEST: Final = 5
STATUS_CHOICES: Final = ("active", "active_unack", "unack", "cleared", "")


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


def common() -> dict[str, Any]:
    return {"SEVERITY_LABELS": SEVERITY_LABELS, "STATUSES": STATUSES, "EVENT_KINDS": EVENT_KINDS,
            "CLEAR_REASONS": CLEAR_REASONS, "kind_label": kind_label, "ago": ago, "when": when,
            "SEVERITIES": [s.value for s in Severity]}


def names_for(session: Session, actor: Actor, alarms: Sequence[Alarm]) -> dict[str, dict[int, str]]:
    """Codes of the equipment, points and devices the alarms name (one query each)."""
    ent = actor.enterprise_id
    out: dict[str, dict[int, str]] = {"equipment": {}, "point": {}, "device": {}}
    for key, model, attr in (("equipment", Equipment, "equipment_id"), ("point", MeasurementPoint, "point_id"),
                             ("device", Device, "device_id")):
        ids = sorted({getattr(a, attr) for a in alarms if getattr(a, attr) is not None})
        if ids:
            out[key] = {int(i): f"{c} {n}".strip() for i, c, n in session.execute(
                select(model.id, model.code, model.name).where(model.enterprise_id == ent, model.id.in_(ids)))}
    return out


def board_query(request: Request) -> dict[str, str]:
    qp = request.query_params
    status = qp.get("status", "active")
    severity = qp.get("severity", "")
    kind = clean_text(qp.get("kind", ""))[:40]
    return {"status": status if status in STATUS_CHOICES else "active",
            "severity": severity if severity in {s.value for s in Severity} else "", "kind": kind}


def board_ctx(session: Session, actor: Actor, query: dict[str, str], offset: int) -> dict[str, Any]:
    page = service.list_alarms(session, actor, status=query["status"] or None, severity=query["severity"] or None,
                               kind=query["kind"] or None, order="severity", limit=PAGE_SIZE, offset=offset)
    args = {k: v for k, v in query.items() if v or k == "status"}
    self_url = "/alarms?" + urlencode({**args, "offset": offset} if offset else args)
    return {"alarms": page.items, "total": page.total, "offset": offset, "limit": PAGE_SIZE, "query": query,
            "counts": service.active_counts(session, actor), "names": names_for(session, actor, page.items),
            "self_url": self_url, "refresh_s": BOARD_REFRESH_S,
            "page_url": lambda off: "/alarms?" + urlencode({**args, "offset": off}),
            "filtered": bool(query["severity"] or query["kind"] or query["status"] != "active"), **common()}


def mount(app: FastAPI) -> None:
    """Add the pages to the console (once, however often it is called)."""
    if getattr(app.state, "alarm_pages", False):
        return
    app.state.alarm_pages = True

    from plantguard.detection.alarms.views_admin import mount as mount_admin
    from plantguard.web.views import Page, _db

    mount_admin(app)

    @app.get("/alarms", include_in_schema=False, response_class=HTMLResponse)
    def board_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        page.actor.require(Perm.READ)
        with _db(request) as session:
            ctx = board_ctx(session, page.actor, board_query(request), offset)
        return render(request, "alarms/board.html", **page.ctx(nav="alarms", **ctx))

    @app.get("/alarms/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def detail_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            alarm = service.get_alarm(session, page.actor, item_id)
            events = service.history(session, page.actor, alarm)
            users = service.user_names(session, page.actor, [alarm.acked_by, alarm.cleared_by])
            names = names_for(session, page.actor, [alarm])
        ex = alarm.explanation or {}
        return render(request, "alarms/detail.html", **page.ctx(
            nav="alarms", a=alarm, events=events, users=users, names=names, ex=ex, context=ex.get("context") or {},
            **common()))

    async def act(request: Request, item_id: int, action: str) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.HANDLE_ALARMS)
        note = clean_text(str(form.get("note") or "")).strip()[:2000]
        target = safe_next(str(form.get("next") or f"/alarms/{item_id}"))

        def run() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                try:
                    if action == "ack":
                        service.acknowledge(session, page.actor, item_id, note)
                    elif action == "clear":
                        service.clear(session, page.actor, item_id, note)
                    else:
                        service.comment(session, page.actor, item_id, note)
                except Conflict:  # someone else was quicker: the page shows the state as it is
                    session.rollback()
                    return
                session.commit()

        await run_in_threadpool(run)
        return RedirectResponse(target, status_code=303)

    @app.post("/alarms/{item_id}/ack", include_in_schema=False)
    async def ack(request: Request, item_id: WebId) -> Response:
        return await act(request, item_id, "ack")

    @app.post("/alarms/{item_id}/clear", include_in_schema=False)
    async def clear(request: Request, item_id: WebId) -> Response:
        return await act(request, item_id, "clear")

    @app.post("/alarms/{item_id}/comment", include_in_schema=False)
    async def comment(request: Request, item_id: WebId) -> Response:
        return await act(request, item_id, "comment")

    @app.get("/dashboard/alarms", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_alarms(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            counts = service.active_counts(session, page.actor)
            latest = service.list_alarms(session, page.actor, status="active", order="time",
                                         limit=DASHBOARD_LATEST).items
            names = names_for(session, page.actor, latest)
        resp = render(request, "alarms/_dashboard.html", **page.ctx(counts=counts, latest=latest, names=names,
                                                                    total=sum(counts.values()), **common()))
        resp.headers["Cache-Control"] = "no-store"
        return resp
