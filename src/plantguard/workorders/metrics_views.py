"""Console: the metrics page ``/workorders/metrics`` (period and team form, errors at the field)
and the dashboard's "Work-order closure" panel ``/dashboard/workorder-metrics``.

Both read :mod:`plantguard.workorders.metrics`; the page shows the counts behind every rate
and says what will appear where there is nothing to count yet, so no number is made up.
Mounted before ``/workorders/{id}`` so that ``metrics`` is not read as an order id.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from plantguard.api.errors import error_body
from plantguard.core.errors import ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Perm
from plantguard.ingest.views import when
from plantguard.web.render import render
from plantguard.web.session import clean_text
from plantguard.workorders import metrics
from plantguard.workorders.models import PRIORITY_LABELS, STATUS_LABELS

INVALID = N_("Invalid value")
BACKLOG_STATUSES = ("pending", "dispatched", "in_progress", "awaiting_acceptance")


def duration(seconds: int | None) -> str:
    """``1 d 2 h``, ``3 h 05 min``, ``12 min``, ``40 s``; "—" without data."""
    if seconds is None:
        return "—"
    d, rest = divmod(max(0, int(seconds)), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return _("%(d)s d %(h)s h", d=d, h=h)
    if h:
        return _("%(h)s h %(m)s min", h=h, m=f"{m:02d}")
    if m:
        return _("%(m)s min", m=m)
    return _("%(s)s s", s=s)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def helpers() -> dict[str, Any]:
    return {"duration": duration, "percent": percent, "when": when, "STATUS_LABELS": STATUS_LABELS,
            "PRIORITY_LABELS": PRIORITY_LABELS, "BACKLOG_STATUSES": BACKLOG_STATUSES,
            "TARGET": metrics.CLOSURE_TARGET}


def mount(app: FastAPI) -> None:
    if getattr(app.state, "workorder_metric_pages", False):
        return
    app.state.workorder_metric_pages = True
    from sqlalchemy import select

    from plantguard.tenancy.models import Team
    from plantguard.web.views import Page, _db

    @app.get("/workorders/metrics", include_in_schema=False, response_class=HTMLResponse)
    def metrics_page(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.MANAGE_WORKORDERS)
        qp = request.query_params
        form = {k: clean_text(qp.get(k, ""))[:20].strip() for k in ("from", "to", "team_id")}
        team_raw = form["team_id"]
        errors: dict[str, str] = {}
        m = None
        with _db(request) as session:
            teams = session.execute(select(Team.id, Team.code, Team.name).where(
                Team.enterprise_id == page.actor.enterprise_id).order_by(Team.code)).all()
            bad_team = bool(team_raw) and not (team_raw.isdigit() and len(team_raw) <= 18)
            try:
                m = metrics.metrics(session, page.actor, form["from"] or None, form["to"] or None,
                                    int(team_raw) if team_raw and not bad_team else None)
            except ValidationFailed as exc:
                errors = {e["field"]: e["message"] for e in error_body(exc)["errors"]}
            if bad_team:
                errors["team_id"], m = _(INVALID), None
        if m is not None:
            form["from"], form["to"] = m.period.first_day.isoformat(), m.period.last_day.isoformat()
        return render(request, "workorders/metrics.html", status_code=422 if errors else 200, **page.ctx(
            nav="workorders", m=m, form=form, errors=errors, teams=teams, **helpers()))

    @app.get("/dashboard/workorder-metrics", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_panel(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.MANAGE_WORKORDERS)
        with _db(request) as session:
            m = metrics.metrics(session, page.actor)
        resp = render(request, "workorders/_metrics_panel.html", **page.ctx(m=m, **helpers()))
        resp.headers["Cache-Control"] = "no-store"
        return resp
