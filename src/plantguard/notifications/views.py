"""Console pages: the bell (polled by htmx every few seconds, so the count changes without a
reload), the feed ``/notifications`` with mark-as-read, and the dead letter with "retry".
Nothing here is cached: the count must be live."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from plantguard.core.errors import NotAuthenticated
from plantguard.core.permissions import Perm
from plantguard.notifications import service
from plantguard.notifications.models import KIND_LABELS
from plantguard.notifications.models import STATUSES as DELIVERY_STATUSES
from plantguard.web.render import render
from plantguard.web.session import WebId, WebOffset

BELL_REFRESH_S: Final = 5
PAGE_SIZE: Final = 50


def mount(app: FastAPI) -> None:
    if getattr(app.state, "notification_pages", False):
        return
    app.state.notification_pages = True
    from plantguard.notifications.config_views import mount as mount_config
    from plantguard.web.views import Page, _db

    mount_config(app)  # /notifications/channels, /notifications/rules: before /notifications/{id}/…

    @app.get("/notifications/bell", include_in_schema=False, response_class=HTMLResponse)
    def bell(request: Request) -> Response:
        try:
            page = Page(request)
        except NotAuthenticated:
            return Response(status_code=204)
        with _db(request) as session:
            n = service.unread_count(session, page.actor)
        resp = render(request, "notifications/_bell.html", **page.ctx(unread=n, refresh_s=BELL_REFRESH_S))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/notifications", include_in_schema=False, response_class=HTMLResponse)
    def feed_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        with _db(request) as session:
            items, total, unread = service.feed(session, page.actor, limit=PAGE_SIZE, offset=offset)
        return render(request, "notifications/feed.html", **page.ctx(
            nav="notifications", items=items, total=total, unread=unread, offset=offset, limit=PAGE_SIZE))

    @app.post("/notifications/{item_id}/read", include_in_schema=False)
    async def read_one(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        await page.form()

        def run() -> str:
            with _db(request, write=True) as session:
                row = service.mark_read(session, page.actor, item_id)
                link = row.link
                session.commit()
                return link

        link = await run_in_threadpool(run)
        return RedirectResponse(link if link.startswith("/") else "/notifications", status_code=303)

    @app.post("/notifications/read-all", include_in_schema=False)
    async def read_all(request: Request) -> Response:
        page = await Page.load(request)
        await page.form()

        def run() -> None:
            with _db(request, write=True) as session:
                service.mark_all_read(session, page.actor)
                session.commit()

        await run_in_threadpool(run)
        return RedirectResponse("/notifications", status_code=303)

    @app.get("/notifications/dead-letter", include_in_schema=False, response_class=HTMLResponse)
    def dead_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        page.actor.require(Perm.MANAGE_NOTIFICATIONS)
        with _db(request) as session:
            items, total = service.dead_letters(session, page.actor, limit=PAGE_SIZE, offset=offset)
        return render(request, "notifications/dead_letter.html", **page.ctx(
            nav="notifications", items=items, total=total, KIND_LABELS=KIND_LABELS,
            DELIVERY_STATUSES=DELIVERY_STATUSES))

    @app.post("/notifications/dead-letter/{item_id}/retry", include_in_schema=False)
    async def retry(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        await page.form()
        page.actor.require(Perm.MANAGE_NOTIFICATIONS)

        def run() -> None:
            with _db(request, write=True) as session:
                service.retry_dead(session, page.actor, item_id)
                session.commit()

        await run_in_threadpool(run)
        return RedirectResponse("/notifications/dead-letter", status_code=303)
