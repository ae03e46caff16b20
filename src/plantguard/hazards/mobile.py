"""The phone hazard report (``/m/hazards/new``) and the reporter's own list (``/m/hazards``).

Why a separate page and script: a worker on the shop floor often has no network where the
hazard is (basements, electrical rooms, tank farms). The page is rendered here with the area
and equipment lists inside it, so the service worker's last copy opens offline with its
selects filled; ``hazard-report.js`` keeps each report (fields and camera photos as Blobs) in
IndexedDB and sends it to ``POST /api/v1/hazards`` and ``/attachments`` with an
``Idempotency-Key``, so a report replayed after a lost answer is recorded once. While typing,
the classifier's suggestion (``POST /api/v1/hazards/suggest``) is shown as a chip the
reporter may take or leave; it never fills anything by itself.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Perm
from plantguard.hazards.categories import CATEGORY_LABELS
from plantguard.hazards.classifier import CONFIDENT
from plantguard.hazards.models import GRADE_LABELS, STATUS_LABELS, Hazard
from plantguard.ingest.views import when
from plantguard.tenancy.models import Area
from plantguard.web.render import render
from plantguard.workorders import uploads

MINE_SHOWN: Final = 30
EQUIPMENT_LIMIT: Final = 2000  # a plant's equipment list; more than this is chosen by area first anyway
MAX_PHOTOS: Final = 4


def choices(session: Session, actor: Actor) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(areas, equipment) of the caller's enterprise for the selects, by code."""
    actor.require(Perm.REPORT_HAZARDS)
    areas = session.execute(select(Area.id, Area.code, Area.name).where(Area.enterprise_id == actor.enterprise_id)
                            .order_by(Area.code, Area.id)).all()
    equipment = session.execute(
        select(Equipment.id, Equipment.code, Equipment.name, Equipment.area_id)
        .where(Equipment.enterprise_id == actor.enterprise_id).order_by(Equipment.code, Equipment.id)
        .limit(EQUIPMENT_LIMIT)).all()
    return ([{"id": a.id, "label": f"{a.code} {a.name}"} for a in areas],
            [{"id": e.id, "label": f"{e.code} {e.name}", "area": e.area_id} for e in equipment])


def my_reports(session: Session, actor: Actor) -> list[Hazard]:
    """The caller's own reports, newest first."""
    actor.require(Perm.READ)
    if not actor.user_id:
        return []
    return list(session.scalars(select(Hazard).where(Hazard.enterprise_id == actor.enterprise_id,
                                                     Hazard.reporter_id == actor.user_id)
                                .order_by(Hazard.reported_at.desc(), Hazard.id.desc()).limit(MINE_SHOWN)))


def common() -> dict[str, Any]:
    """Template context; the label dicts are translated here for the script's config."""
    return {"category_names": {k: gettext(v) for k, v in CATEGORY_LABELS.items()},
            "grade_names": {k: gettext(v) for k, v in GRADE_LABELS.items()},
            "CATEGORY_LABELS": CATEGORY_LABELS, "GRADE_LABELS": GRADE_LABELS, "STATUS_LABELS": STATUS_LABELS,
            "when": when, "max_bytes": uploads.max_bytes(), "max_photos": MAX_PHOTOS, "confident": CONFIDENT}


def mount(app: FastAPI) -> None:
    if getattr(app.state, "hazard_mobile_pages", False):
        return
    app.state.hazard_mobile_pages = True
    from plantguard.web.views import Page, _db

    @app.get("/m/hazards/new", include_in_schema=False, response_class=HTMLResponse)
    def report_page(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            areas, equipment = choices(session, page.actor)
        resp = render(request, "mobile/hazard_new.html", areas=areas, equipment=equipment,
                      **page.ctx(**common()))
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/m/hazards", include_in_schema=False, response_class=HTMLResponse)
    def mine_page(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            mine = my_reports(session, page.actor)
            area_names = {r.id: r.name for r in session.execute(select(Area.id, Area.name).where(
                Area.enterprise_id == page.actor.enterprise_id, Area.id.in_({h.area_id for h in mine})))}
        resp = render(request, "mobile/hazards.html", hazards=mine, area_names=area_names, **page.ctx(**common()))
        resp.headers["Cache-Control"] = "no-cache"
        return resp
