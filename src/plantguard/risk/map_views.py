"""Console: the four-colour map page ``/risk/map`` and its plan upload form.

The page draws the plan (served by the API with its CSP) and the area outlines as one SVG,
so outlines stay on the plan at any zoom; clicking an area opens its risk points, each with
its register page and its printable card. Users with ``risk.manage`` get the editor: an
upload form (a plain POST, errors re-rendered at the field) and outline drawing, which
``risk-map.js`` saves through ``PUT /api/v1/risk-map/areas/{id}/polygon``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from plantguard.api.errors import error_body
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import FieldError, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.risk import map, siteplan
from plantguard.risk.contract import LEVEL_LABELS, RiskLevel
from plantguard.web.render import render


def _label_pos(polygon: list[list[float]]) -> tuple[float, float]:
    """Where an area's name goes: the mean of its vertices (inside for the usual convex halls)."""
    return (sum(p[0] for p in polygon) / len(polygon), sum(p[1] for p in polygon) / len(polygon))


def level_label(level: str | None) -> str:
    try:
        return LEVEL_LABELS[RiskLevel(level or "")]
    except ValueError:
        return N_("Not assessed")


def _ctx(session: Any, actor: Any, site_id: int | None) -> dict[str, Any]:
    m = map.site_map(session, actor, site_id)
    return {"m": m, "sites": map.sites(session, actor), "legend": map.legend(), "label_pos": _label_pos,
            "level_label": level_label,
            "points_attr": lambda poly: " ".join(f"{x:g},{y:g}" for x, y in poly)}


def _site_param(request: Request) -> int | None:
    raw = request.query_params.get("site_id", "")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 2**62 else None


def mount(app: FastAPI) -> None:
    if getattr(app.state, "risk_map_pages", False):
        return
    app.state.risk_map_pages = True
    from plantguard.web.views import Page, _db

    @app.get("/risk/map", include_in_schema=False, response_class=HTMLResponse)
    def map_page(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            ctx = _ctx(session, page.actor, _site_param(request))
        return render(request, "risk/map.html", **page.ctx(nav="risk-map", **ctx))

    @app.post("/risk/map/plan", include_in_schema=False)
    async def upload_plan(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        raw_site = str(form.get("site_id") or "")
        site_id = int(raw_site) if raw_site.isdigit() and 1 <= int(raw_site) <= 2**62 else None
        upload = form.get("file")
        data = await upload.read(siteplan.max_bytes() + 1) if isinstance(upload, UploadFile) else b""
        filename = (upload.filename or "") if isinstance(upload, UploadFile) else ""

        def run() -> None:
            if site_id is None:
                raise ValidationFailed([FieldError("site_id", N_("No such site"))])
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                siteplan.upload(session, page.actor, site_id, filename, data)
                session.commit()

        try:
            await run_in_threadpool(run)
        except PlantGuardError as exc:
            body = error_body(exc)
            message = body["detail"] if not body.get("errors") else "; ".join(
                f"{e['label']}: {e['message']}" if e.get("label") else e["message"] for e in body["errors"])

            def again() -> dict[str, Any]:
                with _db(request) as session:
                    return _ctx(session, page.actor, site_id)

            ctx = await run_in_threadpool(again)
            return render(request, "risk/map.html", status_code=exc.status_code,
                          **page.ctx(nav="risk-map", upload_error=message, **ctx))
        return RedirectResponse(f"/risk/map?site_id={site_id}", status_code=303)
