"""Console pages: the phase-risk report and the context lookup of one machine at one moment.

Both are read-only pages for any signed-in role; bad dates are shown next to the form rather
than as an error page, so that the user can correct them in place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from plantguard.api.deps import runtime
from plantguard.assets.models import Equipment
from plantguard.core.errors import NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.ingest.reading import now_us
from plantguard.timeseries.alignment.asof import AlignedContext, context_at
from plantguard.timeseries.alignment.models import EVENT_KINDS, ZONE_SOURCES
from plantguard.timeseries.alignment.phase_risk import HOUR_US, PhaseRiskReport, phase_risk
from plantguard.timeseries.alignment.times import TimeError, parse_time, plant_tz, to_datetime
from plantguard.web.render import render
from plantguard.web.session import clean_text
from plantguard.web.views import Page

DEFAULT_DAYS = 30
CONFIDENCES = (0.9, 0.95, 0.99)
MAX_EQUIPMENT_OPTIONS = 1000
BAD_EQUIPMENT = N_("Choose a piece of equipment")


def _labels() -> dict[str, str]:
    return {"from": _("From"), "to": _("To"), "at": _("Time"), "equipment_id": _("Equipment"),
            "confidence": _("Confidence")}


def _param(request: Request, name: str, limit: int = 64) -> str:
    return clean_text(request.query_params.get(name, "")).strip()[:limit]


def _time(text: str, errors: dict[str, str], name: str, default: int) -> int:
    if not text:
        return default
    try:
        return parse_time(text, plant_tz())
    except TimeError as exc:
        errors[name] = _(exc.message)
        return default


def _local(us: int) -> datetime:
    return to_datetime(us, plant_tz())


def _chart(report: PhaseRiskReport) -> dict[str, Any]:
    """ECharts options: each phase's ratio to the plant mean, the interval as a line, 1 marked."""
    rows = [p for p in report.phases if p.ratio is not None]
    labels = [_(p.label) for p in rows]
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 24, "top": 10, "bottom": 30, "containLabel": True},
        "xAxis": {"type": "value", "name": _("× plant mean"), "nameLocation": "middle", "nameGap": 24},
        "yAxis": {"type": "category", "data": labels, "inverse": True, "axisLabel": {"interval": 0}},
        "series": [
            {"name": _("Ratio to the plant mean"), "type": "bar",
             "data": [{"value": round(p.ratio or 0, 3), "itemStyle": {"color": "#c0392b" if p.elevated else "#2e86c1"}}
                      for p in rows],
             "markLine": {"symbol": "none", "data": [{"xAxis": 1}], "lineStyle": {"type": "dashed"},
                          "label": {"formatter": "1"}}},
            {"name": _("Confidence interval"), "type": "scatter", "symbolSize": 6, "color": "#333",
             "data": [[round(p.ratio_low or 0, 3), i] for i, p in enumerate(rows)]
             + [[round(p.ratio_high or 0, 3), i] for i, p in enumerate(rows)]},
        ],
    }


def mount(app: FastAPI) -> None:
    @app.get("/alignment/phase-risk", include_in_schema=False, response_class=HTMLResponse)
    def phase_risk_page(request: Request) -> Response:
        page = Page(request)
        errors: dict[str, str] = {}
        raw_from, raw_to = _param(request, "from"), _param(request, "to")
        end = _time(raw_to, errors, "to", now_us())
        start = _time(raw_from, errors, "from", end - DEFAULT_DAYS * 24 * HOUR_US)
        try:
            confidence = float(_param(request, "confidence", 8) or 0.95)
        except ValueError:
            confidence = 0.95
        if confidence not in CONFIDENCES:
            confidence = 0.95
        report = None
        if not errors:
            try:
                with runtime(request).read_factory() as session:
                    report = phase_risk(session, page.actor, start, end, confidence=confidence)
            except ValidationFailed as exc:
                errors.update({e.field: _(e.message) % e.params if e.params else _(e.message) for e in exc.errors})
        return render(request, "alignment/phase_risk.html", **page.ctx(
            nav="alignment", report=report, errors=errors, labels=_labels(), confidence=confidence,
            confidences=CONFIDENCES,
            start=_local(start), end=_local(end), raw_from=raw_from or _local(start).strftime("%Y-%m-%d"),
            raw_to=raw_to or _local(end).strftime("%Y-%m-%d %H:%M"), chart=_chart(report) if report else None,
        ))

    @app.get("/alignment/context", include_in_schema=False, response_class=HTMLResponse)
    def context_page(request: Request) -> Response:
        page = Page(request)
        errors: dict[str, str] = {}
        raw_at = _param(request, "at")
        at = _time(raw_at, errors, "at", now_us())
        raw_eq = _param(request, "equipment_id", 20)
        ctx: AlignedContext | None = None
        with runtime(request).read_factory() as session:
            options = session.execute(
                select(Equipment.id, Equipment.code, Equipment.name)
                .where(Equipment.enterprise_id == page.actor.enterprise_id)
                .order_by(Equipment.code).limit(MAX_EQUIPMENT_OPTIONS)
            ).all()
            equipment_id = int(raw_eq) if raw_eq.isdigit() and len(raw_eq) <= 18 else None
            if raw_eq and equipment_id is None:
                errors["equipment_id"] = _(BAD_EQUIPMENT)
            if equipment_id is not None and not errors:
                try:
                    ctx = context_at(session, page.actor, equipment_id, at)
                except NotFound:
                    errors["equipment_id"] = _(BAD_EQUIPMENT)
        return render(request, "alignment/context.html", **page.ctx(
            nav="alignment", ctx=ctx, errors=errors, labels=_labels(), options=options, equipment_id=equipment_id,
            raw_at=raw_at or _local(at).strftime("%Y-%m-%d %H:%M"), local=_local,
            EVENT_KINDS=EVENT_KINDS, ZONE_SOURCES=ZONE_SOURCES, timedelta=timedelta,
        ))
