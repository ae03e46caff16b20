"""Console page /routing: the YAML editor (errors listed with the rule they name), the version
history, and the "what would happen" tester showing the trace.

The page goes through the same service as the API, so what it refuses and why is exactly
what ``POST /api/v1/routing/rule-sets`` refuses.
"""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Perm
from plantguard.web.render import render
from plantguard.web.session import clean_text
from plantguard.workorders.contract import FACT_FIELDS
from plantguard.workorders.routing.api import try_out
from plantguard.workorders.routing.demo import DEMO_RULES
from plantguard.workorders.routing.service import routing_service

SAMPLE_FACTS = "area_code: PT\nquantity: gas_lel\nseverity: critical\nshift: day\ntime_of_day: \"10:30\"\n"


def shown(errors: list[FieldError]) -> list[dict[str, str]]:
    from plantguard.detection.rules.views import shown as detection_shown

    return detection_shown(errors)


def mount(app: FastAPI) -> None:
    from plantguard.web.views import Page, _db

    def page_view(request: Request, page: Any, *, source: str | None = None, comment: str = "",
                  errors: list[FieldError] | None = None, tried: Any = None, facts_text: str = SAMPLE_FACTS,
                  alarm_id: str = "", try_errors: list[FieldError] | None = None, version: int | None = None,
                  status_code: int = 200) -> Response:
        with _db(request) as session:
            versions = routing_service.versions(session, page.actor)
            shown_row = None
            if version is not None:
                shown_row = routing_service.version(session, page.actor, version)
            elif versions:
                shown_row = versions[0]
        if source is None:
            source = shown_row.source if shown_row is not None else DEMO_RULES
        return render(request, "routing/page.html", status_code=status_code, **page.ctx(
            nav="routing", source=source, comment=comment, error_list=shown(errors or []), versions=versions,
            current=versions[0] if versions else None, shown_row=shown_row, tried=tried, facts_text=facts_text,
            alarm_id=alarm_id, try_errors=shown(try_errors or []), fields=FACT_FIELDS))

    @app.get("/routing", include_in_schema=False, response_class=HTMLResponse)
    def routing_page(request: Request, version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> Response:
        return page_view(request, Page(request), version=version)

    @app.post("/routing", include_in_schema=False, response_class=HTMLResponse)
    async def save(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.MANAGE_ROUTING)
        source = str(form.get("source") or "").replace("\r\n", "\n")
        comment = clean_text(str(form.get("comment") or ""))[:300]

        def run() -> Response:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                try:
                    routing_service.save(session, page.actor, source, comment)
                    session.commit()
                    return RedirectResponse("/routing", status_code=303)
                except ValidationFailed as exc:
                    session.rollback()
                    errors = list(exc.errors)
            return page_view(request, page, source=source, comment=comment, errors=errors, status_code=422)

        return await run_in_threadpool(run)

    @app.post("/routing/try", include_in_schema=False, response_class=HTMLResponse)
    async def try_page(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.MANAGE_ROUTING)
        source = str(form.get("source") or "").replace("\r\n", "\n")
        facts_text = str(form.get("facts") or "")
        alarm_raw = str(form.get("alarm_id") or "").strip()

        def run() -> Response:
            errors: list[FieldError] = []
            facts: Any = {}
            try:
                facts = yaml.safe_load(facts_text) or {}
            except yaml.YAMLError:
                errors.append(FieldError("facts", N_("Not valid YAML or JSON%(where)s"), {"where": ""}))
            if not isinstance(facts, dict):
                errors.append(FieldError("facts", N_("Must be an object")))
                facts = {}
            alarm_id = int(alarm_raw) if alarm_raw.isdigit() and len(alarm_raw) < 18 else None
            if alarm_raw and alarm_id is None:
                errors.append(FieldError("alarm_id", N_("Must be a whole number")))
            tried = None
            if not errors:
                with _db(request) as session:
                    try:
                        # the draft in the editor, so an author can try before saving
                        tried = try_out(routing_service.try_route(session, page.actor, facts, alarm_id, source))
                    except ValidationFailed as exc:
                        errors = list(exc.errors)
                    except NotFound as exc:
                        errors = [FieldError("alarm_id", exc.message, exc.params)]
            return page_view(request, page, source=source, tried=tried, facts_text=facts_text, alarm_id=alarm_raw,
                             try_errors=errors, status_code=422 if errors else 200)

        return await run_in_threadpool(run)
