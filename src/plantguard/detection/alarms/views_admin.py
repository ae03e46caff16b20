"""Console pages around the board: analytics (with a chart), silences and policies.

Forms go through the same schemas and services as the API, so the console refuses exactly
what the API refuses, and the error names the field next to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from plantguard.api.errors import field_errors_from_pydantic
from plantguard.assets.models import Equipment
from plantguard.audit.ledger import bind_actor
from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, ValidationFailed
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Perm
from plantguard.detection.alarms import policy, silences
from plantguard.detection.alarms.analytics import analytics
from plantguard.detection.alarms.models import POLICY_FIELDS, SILENCE_SCOPES
from plantguard.detection.alarms.schemas import AnalyticsOut, PoliciesIn, SilenceCreate
from plantguard.detection.alarms.views import common
from plantguard.tenancy.models import Area
from plantguard.web.render import render
from plantguard.web.session import WebId, clean_text

PERIODS: Final = (1, 7, 30, 90, 365)
SEVERITY_COLOURS: Final = {"critical": "#c0392b", "major": "#e67e22", "minor": "#d4ac0d", "warning": "#2e86c1"}
MAX_OVERRIDES_SHOWN: Final = 1000


def hours(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return _("%(n)s s", n=int(seconds))
    if seconds < 2 * 3600:
        return _("%(n)s min", n=round(seconds / 60, 1))
    return _("%(n)s h", n=round(seconds / 3600, 1))


def chart(report: AnalyticsOut) -> dict[str, Any]:
    """Counts per kind (bars) and mean duration in minutes (line), for ECharts."""
    labels = [g.label for g in report.by_kind]
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [_("Alarms"), _("Mean duration (min)")]},
        "grid": {"left": 48, "right": 48, "top": 40, "bottom": 40},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": [{"type": "value", "name": _("Alarms"), "minInterval": 1},
                  {"type": "value", "name": _("min")}],
        "series": [
            {"name": _("Alarms"), "type": "bar", "data": [g.count for g in report.by_kind],
             "itemStyle": {"color": "#0b5cad"}},
            {"name": _("Mean duration (min)"), "type": "line", "yAxisIndex": 1,
             "data": [round((g.mean_s or 0) / 60, 1) for g in report.by_kind]},
        ],
    }


def severity_chart(report: AnalyticsOut) -> dict[str, Any]:
    return {"tooltip": {"trigger": "item"},
            "series": [{"type": "pie", "radius": ["40%", "70%"],
                        "data": [{"name": g.label, "value": g.count, "itemStyle": {"color": SEVERITY_COLOURS[g.key]}}
                                 for g in report.by_severity if g.count]}]}


def _policy_value(raw: str) -> int | str | None:
    raw = raw.strip()
    if raw == "":
        return None
    return int(raw) if raw.isdigit() and len(raw) < 10 else raw


def mount(app: FastAPI) -> None:
    from plantguard.web.views import Page, _db

    @app.get("/alarms/analytics", include_in_schema=False, response_class=HTMLResponse)
    def analytics_page(request: Request) -> Response:
        page = Page(request)
        raw = request.query_params.get("days", "30")
        days = int(raw) if raw.isdigit() and int(raw) in PERIODS else 30
        now = utcnow()
        with _db(request) as session:
            report = analytics(session, page.actor, now - timedelta(days=days), now, now=now)
        return render(request, "alarms/analytics.html", **page.ctx(
            nav="alarms", report=report, days=days, periods=PERIODS, hours=hours, chart=chart(report),
            severity_chart=severity_chart(report), **common()))

    # -- silences ---------------------------------------------------------------------------------

    def silences_page(request: Request, page: Any, errors: dict[str, str] | None = None,
                      values: dict[str, str] | None = None, status_code: int = 200) -> Response:
        with _db(request) as session:
            items = silences.list_silences(session, page.actor, include_past=True)[:100]
            areas = session.execute(select(Area.id, Area.code, Area.name).where(
                Area.enterprise_id == page.actor.enterprise_id).order_by(Area.code)).all()
            equipment = session.execute(select(Equipment.id, Equipment.code, Equipment.name).where(
                Equipment.enterprise_id == page.actor.enterprise_id).order_by(Equipment.code).limit(2000)).all()
        return render(request, "alarms/silences.html", status_code=status_code, **page.ctx(
            nav="alarms", items=items, in_force=silences.in_force, scopes=SILENCE_SCOPES, areas=areas,
            equipment=equipment, errors=errors or {}, values=values or {}, **common()))

    @app.get("/alarm-silences", include_in_schema=False, response_class=HTMLResponse)
    def silences_list(request: Request) -> Response:
        return silences_page(request, Page(request))

    @app.post("/alarm-silences", include_in_schema=False, response_class=HTMLResponse)
    async def silences_create(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.HANDLE_ALARMS)
        values = {k: clean_text(str(form.get(k) or "")).strip()[:500] for k in ("target", "rule_id", "hours", "reason")}
        # The target select says "enterprise", "area:3" or "equipment:5"; a rule id overrides it.
        scope, _sep, target = values["target"].partition(":")
        if values["rule_id"]:
            scope, target = "rule", values["rule_id"]
        errors: dict[str, str] = {}
        try:
            duration = float(values["hours"] or "0")
            if not 0 < duration <= 24 * 366:
                raise ValueError
        except ValueError:
            errors["hours"] = _("Must be between %(min)s and %(max)s", min="0", max=24 * 366)
            duration = 0
        body: SilenceCreate | None = None
        if not errors:
            try:
                body = SilenceCreate.model_validate({
                    "scope": scope or "enterprise", "target_id": target or None, "reason": values["reason"],
                    "ends_at": datetime.now(UTC) + timedelta(hours=duration)})
            except ValidationError as exc:
                errors = {e["field"]: e["message"] for e in field_errors_from_pydantic(exc.errors())}
        if body is None:
            return silences_page(request, page, errors, values, 422)

        def run() -> Response | None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                try:
                    silences.create_silence(session, page.actor, body)
                except ValidationFailed as exc:
                    session.rollback()
                    found = {e.field: _(e.message) % {k: _(v) if isinstance(v, str) else v
                                                      for k, v in e.params.items()} if e.params else _(e.message)
                             for e in exc.errors}
                    return silences_page(request, page, found, values, 422)
                session.commit()
            return None

        failed = await run_in_threadpool(run)
        return failed or RedirectResponse("/alarm-silences", status_code=303)

    @app.post("/alarm-silences/{item_id}/cancel", include_in_schema=False)
    async def silences_cancel(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        await page.form()
        page.actor.require(Perm.HANDLE_ALARMS)

        def run() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                try:
                    silences.cancel_silence(session, page.actor, item_id)
                except Conflict:
                    return
                session.commit()

        await run_in_threadpool(run)
        return RedirectResponse("/alarm-silences", status_code=303)

    # -- policies ---------------------------------------------------------------------------------

    def policies_page(request: Request, page: Any, errors: dict[str, str] | None = None,
                      status_code: int = 200) -> Response:
        with _db(request) as session:
            current = policy.policies_out(session, page.actor)
            equipment = dict((int(i), f"{c} {n}") for i, c, n in session.execute(
                select(Equipment.id, Equipment.code, Equipment.name).where(
                    Equipment.enterprise_id == page.actor.enterprise_id).order_by(Equipment.code).limit(2000)))
        return render(request, "alarms/policies.html", status_code=status_code, **page.ctx(
            nav="alarms", current=current, fields=POLICY_FIELDS, equipment=equipment, errors=errors or {},
            **common()))

    @app.get("/alarm-policies", include_in_schema=False, response_class=HTMLResponse)
    def policies_view(request: Request) -> Response:
        return policies_page(request, Page(request))

    @app.post("/alarm-policies", include_in_schema=False, response_class=HTMLResponse)
    async def policies_save(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.MANAGE_ALARM_POLICY)
        default = {f: _policy_value(str(form.get(f"default.{f}") or "")) for f in POLICY_FIELDS}
        doc: dict[str, Any] = {"default": default, "overrides": []}
        raw_count = str(form.get("override_count") or "0")
        count = min(int(raw_count), MAX_OVERRIDES_SHOWN) if raw_count.isdigit() and len(raw_count) < 6 else 0
        for i in range(count + 1):  # the last row is the empty "add" row
            if form.get(f"overrides.{i}.delete"):
                continue
            target = clean_text(str(form.get(f"overrides.{i}.target") or "")).strip()
            if not target:
                continue
            scope, _sep, ident = target.partition(":")
            row: dict[str, Any] = {f: _policy_value(str(form.get(f"overrides.{i}.{f}") or "")) for f in POLICY_FIELDS}
            row[{"rule": "rule_id", "equipment": "equipment_id"}.get(scope, "kind")] = ident
            doc["overrides"].append(row)
        try:
            body = PoliciesIn.model_validate(doc)
        except ValidationError as exc:
            return policies_page(request, page, {e["field"]: e["message"]
                                                 for e in field_errors_from_pydantic(exc.errors())}, 422)

        def run() -> Response | None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                try:
                    policy.replace_policies(session, page.actor, body)
                except ValidationFailed as exc:
                    session.rollback()
                    return policies_page(request, page, {e.field: _(e.message) % {
                        k: _(v) if isinstance(v, str) else v for k, v in e.params.items()} if e.params
                        else _(e.message) for e in exc.errors}, 422)
                session.commit()
            return None

        failed = await run_in_threadpool(run)
        return failed or RedirectResponse("/alarm-policies", status_code=303)
