"""Console: the dual-prevention dashboard ``/dual-prevention`` (双重预防看板) and the main
dashboard's panel ``/dashboard/dual-prevention``.

Both read :mod:`plantguard.dualprevention.kpi`. The charts are ECharts options built here
(labels translated in the reader's language) and drawn by ``app.js`` from ``data-chart``;
a chart with nothing to show is replaced by a sentence saying what will appear there, and
every rate is shown with the counts it comes from, so no number is made up.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from plantguard.api.errors import error_body
from plantguard.core.errors import ValidationFailed
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Perm
from plantguard.dualprevention import kpi
from plantguard.hazards.categories import category_label
from plantguard.hazards.models import STATUS_LABELS
from plantguard.web.render import render
from plantguard.web.session import clean_text

GRADE_COLOURS = {"major": "#c0392b", "general": "#e67e22", "": "#95a5a6"}
STATUS_COLOURS = {"reported": "#7f8c8d", "registered": "#2e86c1", "assessed": "#8e44ad",
                  "in_treatment": "#e67e22", "awaiting_acceptance": "#f1c40f", "accepted": "#16a085",
                  "closed": "#27ae60", "rejected": "#bdc3c7"}


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _bars(names: list[str], values: list[int], colour: str, colours: list[str] | None = None) -> dict[str, Any]:
    data: list[Any] = ([{"value": v, "itemStyle": {"color": c}} for v, c in zip(values, colours, strict=True)]
                       if colours else values)
    return {"tooltip": {"trigger": "axis"},
            "grid": {"left": 8, "right": 16, "top": 10, "bottom": 10, "containLabel": True},
            "xAxis": {"type": "value", "minInterval": 1},
            "yAxis": {"type": "category", "data": names, "inverse": True, "axisLabel": {"interval": 0}},
            "series": [{"type": "bar", "data": data, "color": colour, "label": {"show": True, "position": "right"}}]}


def charts(k: kpi.Kpi) -> dict[str, dict[str, Any] | None]:
    """ECharts options per chart; ``None`` where there is nothing to draw."""
    h, t = k.hazards, k.trend
    grade_names = {"major": _("Major hazard"), "general": _("General hazard"), "": _("Not graded yet")}
    grades = [(g, n) for g, n in (("major", h.by_grade.get("major", 0)), ("general", h.by_grade.get("general", 0)),
                                  ("", h.by_grade.get("", 0))) if n]
    statuses = [(s, n) for s, n in h.by_status.items() if n]
    out: dict[str, dict[str, Any] | None] = {
        "grade": {"tooltip": {"trigger": "item"}, "legend": {"bottom": 0},
                  "series": [{"type": "pie", "radius": ["40%", "68%"], "label": {"formatter": "{b}: {c}"},
                              "data": [{"name": grade_names[g], "value": n,
                                        "itemStyle": {"color": GRADE_COLOURS[g]}} for g, n in grades]}]}
        if grades else None,
        "status": _bars([_(STATUS_LABELS[s]) if s in STATUS_LABELS else s for s, _n in statuses],
                        [n for _s, n in statuses], "#2e86c1", [STATUS_COLOURS.get(s, "#999") for s, _n in statuses])
        if statuses else None,
        "category": _bars([_(category_label(c)) if c else _("Not categorised yet") for c, _n in h.by_category],
                          [n for _c, n in h.by_category], "#8e44ad") if h.by_category else None,
        "area": _bars([name for _a, name, _n in h.by_area], [n for _a, _name, n in h.by_area], "#16a085")
        if h.by_area else None,
    }
    s = t.series
    if any(any(s[key]) for key in ("reported", "closed", "overdue")):
        out["trend"] = {
            "tooltip": {"trigger": "axis"}, "legend": {"bottom": 0},
            "grid": {"left": 8, "right": 16, "top": 16, "bottom": 40, "containLabel": True},
            "xAxis": {"type": "category", "data": t.months}, "yAxis": {"type": "value", "minInterval": 1},
            "series": [{"name": _("Reported"), "type": "line", "data": s["reported"], "color": "#2e86c1"},
                       {"name": _("Closed out"), "type": "line", "data": s["closed"], "color": "#27ae60"},
                       {"name": _("Went overdue"), "type": "line", "data": s["overdue"], "color": "#c0392b"}]}
    else:
        out["trend"] = None
    if any(s["inspections_done"]) or any(s["inspections_missed"]):
        out["inspections"] = {
            "tooltip": {"trigger": "axis"}, "legend": {"bottom": 0},
            "grid": {"left": 8, "right": 16, "top": 16, "bottom": 40, "containLabel": True},
            "xAxis": {"type": "category", "data": t.months}, "yAxis": {"type": "value", "minInterval": 1},
            "series": [{"name": _("Done"), "type": "bar", "stack": "i", "data": s["inspections_done"],
                        "color": "#27ae60"},
                       {"name": _("Missed"), "type": "bar", "stack": "i", "data": s["inspections_missed"],
                        "color": "#c0392b"}]}
    else:
        out["inspections"] = None
    return out


def mount(app: FastAPI) -> None:
    if getattr(app.state, "dual_prevention_pages", False):
        return
    app.state.dual_prevention_pages = True
    from plantguard.web.views import Page, _db

    @app.get("/dual-prevention", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_page(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.MANAGE_HAZARDS)
        page.actor.require(Perm.MANAGE_INSPECTIONS)
        qp = request.query_params
        form = {k: clean_text(qp.get(k, ""))[:20].strip() for k in ("from", "to", "recurrence_days")}
        errors: dict[str, str] = {}
        k = None
        with _db(request) as session:
            try:
                k = kpi.kpi(session, page.actor, form["from"] or None, form["to"] or None,
                            form["recurrence_days"] or None)
            except ValidationFailed as exc:
                errors = {e["field"]: e["message"] for e in error_body(exc)["errors"]}
        if k is not None:
            form["from"], form["to"] = k.period.first_day.isoformat(), k.period.last_day.isoformat()
            form["recurrence_days"] = str(k.hazards.recurrence_days)
        return render(request, "dualprevention/dashboard.html", status_code=422 if errors else 200, **page.ctx(
            nav="dual-prevention", k=k, form=form, errors=errors, charts=charts(k) if k else {},
            percent=percent, STATUS_LABELS=STATUS_LABELS))

    @app.get("/dashboard/dual-prevention", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_panel(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            k = kpi.kpi(session, page.actor)
        resp = render(request, "dualprevention/_panel.html", **page.ctx(k=k, percent=percent))
        resp.headers["Cache-Control"] = "no-store"
        return resp
