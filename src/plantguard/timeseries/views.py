"""Console pages of the readings store: a point's trend chart and the live plant overview.

The trend page is a shell: the chart (``static/timeseries.js``) fetches the series API as the
range changes, so zooming in asks the store for a finer resolution instead of thinning a
fixed download. The live overview is rendered on the server and refreshed by htmx polling a
fragment every 5 seconds; nothing of it is cached (readings are not audited, see api.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from plantguard.assets.service import point_service
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.ingest.labels import STATE_LABELS as DEVICE_STATE_LABELS
from plantguard.tenancy.models import Area
from plantguard.timeseries.query import MAX_RANGE, LivePoint, iso, last_values
from plantguard.web.render import render
from plantguard.web.session import WebId

FilterId = Annotated[int | None, Query(ge=1, le=2**62)]

QUALITY_LABELS = {"good": N_("Good"), "uncertain": N_("Uncertain"), "bad": N_("Bad"), "none": N_("No data")}
STATE_LABELS = {"normal": N_("Normal"), "warning": N_("Warning"), "alarm": N_("Alarm"), "none": "—"}
RANGES = (("1 h", 3600), ("24 h", 86_400), ("7 d", 7 * 86_400), ("30 d", 30 * 86_400))
RANGE_LABELS = {"1 h": N_("1 h"), "24 h": N_("24 h"), "7 d": N_("7 d"), "30 d": N_("30 d")}
LIVE_REFRESH_S = 5


def fmt_value(v: float | None) -> str:
    return "—" if v is None else f"{v:.6g}"


def age_text(age_s: float | None) -> str:
    if age_s is None:
        return "—"
    if age_s < 90:
        return _("%(n)s s ago", n=int(age_s))
    if age_s < 90 * 60:
        return _("%(n)s min ago", n=int(age_s // 60))
    if age_s < 36 * 3600:
        return _("%(n)s h ago", n=int(age_s // 3600))
    return _("%(n)s d ago", n=int(age_s // 86_400))


@dataclass
class EquipmentGroup:
    id: int
    code: str
    name: str
    points: list[LivePoint]


@dataclass
class AreaGroup:
    id: int
    code: str
    name: str
    equipment: list[EquipmentGroup] = field(default_factory=list)


@dataclass
class LiveSummary:
    points: int = 0
    with_value: int = 0
    stale: int = 0
    warning: int = 0
    alarm: int = 0
    bad: int = 0
    devices_online: int = 0
    devices_offline: int = 0


def group(points: list[LivePoint]) -> list[AreaGroup]:
    out: list[AreaGroup] = []
    for (a_id, a_code, a_name), in_area in groupby(points, key=lambda p: (p.area_id, p.area_code, p.area_name)):
        area = AreaGroup(a_id, a_code, a_name)
        for (e_id, e_code, e_name), pts in groupby(
                in_area, key=lambda p: (p.equipment_id, p.equipment_code, p.equipment_name)):
            area.equipment.append(EquipmentGroup(e_id, e_code, e_name, list(pts)))
        out.append(area)
    return out


def summarise(points: list[LivePoint]) -> LiveSummary:
    s = LiveSummary(points=len(points))
    devices: dict[int, bool] = {}
    for p in points:
        s.with_value += p.ts is not None
        s.stale += p.stale
        s.warning += p.state == "warning"
        s.alarm += p.state == "alarm"
        s.bad += p.quality == 2
        if p.device is not None:
            devices[p.device.id] = p.device.available
    s.devices_online = sum(devices.values())
    s.devices_offline = len(devices) - s.devices_online
    return s


def mount(app: FastAPI) -> None:
    from plantguard.web.views import Page, _db

    @app.get("/points/{point_id}/trend", include_in_schema=False, response_class=HTMLResponse)
    def trend_page(request: Request, point_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            p = point_service.get(session, page.actor, point_id)
            equipment = p.equipment
            thresholds = [
                {"key": key, "value": getattr(p, key), "level": "alarm" if key.endswith("alarm") else "warning",
                 "label": _(label)}
                for key, label in (("low_alarm", N_("Low alarm")), ("low_warning", N_("Low warning")),
                                   ("high_warning", N_("High warning")), ("high_alarm", N_("High alarm")))
                if getattr(p, key) is not None
            ]
        config = {
            "url": f"/api/v1/points/{p.id}/series",
            "unit": p.unit,
            "range": [p.range_low, p.range_high],
            "thresholds": thresholds,
            "defaultRange": 86_400,
            "maxRange": int(MAX_RANGE.total_seconds()),
            "labels": {
                "value": _("Value"), "avg": _("Average"), "min": _("Minimum"), "max": _("Maximum"),
                "band": _("Min–max range"), "count": _("Readings"), "uncertain": _("Uncertain"), "bad": _("Bad"),
                "good": _("Good"), "quality": _("Quality"),
                "loading": _("Loading…"), "noData": _("No readings in this range"),
                "failed": _("The readings could not be loaded; try again"),
                "agg": {"raw": _("raw readings"), "1m": _("1-minute rollups"), "1h": _("1-hour rollups")},
                "statusRaw": _("%(agg)s · %(n)s readings · %(uncertain)s uncertain · %(bad)s bad (shown as gaps)"),
                "statusRollup": _("%(agg)s · %(n)s buckets · min–max band and average of good readings"),
            },
        }
        return render(request, "timeseries/trend.html", **page.ctx(
            p=p, equipment=equipment, config=config, ranges=RANGES, range_labels=RANGE_LABELS, nav="points"))

    def live_context(request: Request, page: Any, area_id: int | None, equipment_id: int | None) -> dict[str, Any]:
        now = datetime.now(UTC)
        with _db(request) as session:
            points = last_values(session, page.actor, area_id, equipment_id, now=now)
        query = urlencode({k: v for k, v in (("area_id", area_id), ("equipment_id", equipment_id)) if v})
        return {
            "groups": group(points), "summary": summarise(points), "generated": iso(int(now.timestamp() * 1e6)),
            "fragment_url": "/live/fragment" + (f"?{query}" if query else ""), "refresh_s": LIVE_REFRESH_S,
            "filtered": bool(area_id or equipment_id), "fmt_value": fmt_value, "age_text": age_text, "iso": iso,
            "QUALITY_LABELS": QUALITY_LABELS, "STATE_LABELS": STATE_LABELS,
            "DEVICE_STATE_LABELS": DEVICE_STATE_LABELS,
        }

    @app.get("/live", include_in_schema=False, response_class=HTMLResponse)
    def live_page(request: Request, area_id: FilterId = None, equipment_id: FilterId = None) -> Response:
        page = Page(request)
        with _db(request) as session:
            areas = session.execute(
                select(Area.id, Area.code, Area.name).where(Area.enterprise_id == page.actor.enterprise_id)
                .order_by(Area.code)).all()
        return render(request, "timeseries/live.html", **page.ctx(
            nav="live", areas=areas, area_id=area_id, equipment_id=equipment_id,
            **live_context(request, page, area_id, equipment_id)))

    @app.get("/live/fragment", include_in_schema=False, response_class=HTMLResponse)
    def live_fragment(request: Request, area_id: FilterId = None, equipment_id: FilterId = None) -> Response:
        page = Page(request)
        resp = render(request, "timeseries/_live.html", **page.ctx(**live_context(request, page, area_id,
                                                                                  equipment_id)))
        resp.headers["Cache-Control"] = "no-store"
        return resp
