"""/api/v1/site-plans, /api/v1/risk-map and the risk notification card PDF.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
The served plan gets a Content-Security-Policy that forbids scripts and every load (and a
sandbox): even opened on its own in a tab, a plan cannot run anything, whatever the
sanitiser might have missed.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from plantguard.api.crud import ItemId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires, runtime
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import ID_MAX, Input, Number, Output
from plantguard.risk import cards, map, siteplan

router = APIRouter(tags=["risk map"], route_class=GuardedRoute)
PLAN_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
NOT_A_FORM = N_("Send the file as multipart/form-data in the field 'file'")


class SitePlanPublic(Output):
    id: int
    site_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    min_x: float
    min_y: float
    width: float
    height: float


class SitePlanUploaded(SitePlanPublic):
    removed: list[str] = Field(default_factory=list, description="SVG elements/attributes the sanitiser dropped")


Point = Annotated[list[Number], Field(min_length=2, max_length=2)]


class PolygonIn(Input):
    polygon: Annotated[list[Point], Field(min_length=3, max_length=siteplan.MAX_POINTS)]


class AreaOutline(BaseModel):
    id: int
    code: str
    name: str
    polygon: list[list[float]]


class MapPointOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    level: str | None
    colour: str


class MapAreaOut(AreaOutline):
    level: str | None
    colour: str
    points: list[MapPointOut]


class MapOut(BaseModel):
    site_id: int
    plan: SitePlanPublic | None
    box: list[float]
    areas: list[MapAreaOut]


async def read_plan_upload(request: Request) -> tuple[bytes, str, int]:
    """(data, filename, site_id) from the multipart body; at most the size limit + 1 byte read."""
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception:  # malformed multipart: a field error, not a 500
        raise ValidationFailed([FieldError("file", NOT_A_FORM)]) from None
    try:
        raw_site = str(form.get("site_id") or "")
        if not raw_site.isdigit() or not 1 <= int(raw_site) <= ID_MAX:
            raise ValidationFailed([FieldError("site_id", N_("This field is required"))])
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed([FieldError("file", NOT_A_FORM)])
        data = await upload.read(siteplan.max_bytes() + 1)
        return data, (upload.filename or "")[:200], int(raw_site)
    finally:
        await form.close()


UPLOAD_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "site_id"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "SVG, PNG, JPEG or WebP"},
                   "site_id": {"type": "integer", "minimum": 1}}}}}}}


@router.get("/site-plans", response_model=list[SitePlanPublic], summary="The enterprise's site plans")
def list_site_plans(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return [SitePlanPublic.model_validate(p) for p in siteplan.list_plans(session, actor)]


@router.post("/site-plans", response_model=SitePlanUploaded, status_code=201, openapi_extra=UPLOAD_DOC,
             summary="Upload (or replace) a site's plan: SVG (sanitised) or PNG/JPEG/WebP, checked by content")
@requires(Perm.MANAGE_RISK)
async def upload_site_plan(request: Request, actor: Actor = Depends(current_actor)) -> Any:
    rt = runtime(request)
    data, filename, site_id = await read_plan_upload(request)

    def work() -> dict[str, Any]:
        with rt.factory() as session:
            plan, checked = siteplan.upload(acting(session, actor), actor, site_id, filename, data)
            out = SitePlanUploaded(**SitePlanPublic.model_validate(plan).model_dump(), removed=list(checked.removed))
            session.commit()
            return out.model_dump(mode="json")

    return model_response(SitePlanUploaded.model_validate(await run_in_threadpool(work)), 201)


@router.get("/site-plans/{item_id}/file", summary="The plan's file (sanitised SVG or the image)")
def site_plan_file(item_id: ItemId, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    plan = siteplan.get(session, actor, item_id)
    return Response(plan.content, media_type=plan.content_type, headers={
        "Content-Security-Policy": PLAN_CSP, "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "inline", "Cache-Control": "private, max-age=60", "ETag": f'"{plan.sha256}"'})


@router.get("/risk-map", response_model=MapOut, summary="A site's four-colour map: outlines, levels, risk points")
def risk_map(site_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None, actor: Actor = Depends(current_actor),
             session: Session = Depends(db_session)) -> Any:
    m = map.site_map(session, actor, site_id)
    if m is None:
        raise ValidationFailed([FieldError("site_id", N_("No such site"))])
    return MapOut(site_id=m.site.id, plan=SitePlanPublic.model_validate(m.plan) if m.plan else None,
                  box=list(m.box), areas=[MapAreaOut(
                      id=a.id, code=a.code, name=a.name, polygon=a.polygon, level=a.level, colour=a.colour,
                      points=[MapPointOut(**vars(p)) for p in a.points]) for a in m.areas])


@router.put("/risk-map/areas/{item_id}/polygon", response_model=AreaOutline,
            summary="Save an area's outline on its site's plan (≥ 3 points inside the plan)")
@requires(Perm.MANAGE_RISK)
def put_polygon(item_id: ItemId, body: PolygonIn, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    area = siteplan.set_polygon(acting(session, actor), actor, item_id, body.polygon)
    out = AreaOutline(id=area.id, code=area.code, name=area.name, polygon=area.polygon)
    session.commit()
    return out


@router.get("/risk-points/{item_id}/card.pdf", summary="岗位风险告知卡 of a risk point (PDF, CJK font embedded)",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def risk_card(item_id: ItemId, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    pdf = cards.card_pdf(session, actor, item_id)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="risk-card-{item_id}.pdf"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store"})
