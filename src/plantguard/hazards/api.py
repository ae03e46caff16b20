"""/api/v1/hazards, /api/v1/hazard-criteria and /api/v1/hazard-deadlines.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Routes are thin: the service checks the role again and scopes every query to the tenant.
Each step commits once, after the service has checked everything (nothing half-written).
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.crud import ItemId, Limit, Offset, RefId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires, runtime
from plantguard.core.errors import NotFound
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text
from plantguard.hazards import criteria, deadlines, service
from plantguard.hazards.schemas import (
    AssessIn,
    DeadlinesIO,
    HazardAttachmentPublic,
    HazardDetail,
    HazardEventPublic,
    HazardPublic,
    HazardReport,
    NoteIn,
    PlanIn,
    ProgressIn,
    ReasonIn,
    RegisterIn,
    SuggestIn,
    SuggestOut,
)
from plantguard.workorders import idempotency, uploads
from plantguard.workorders.api import UPLOAD_DOC, read_upload

router = APIRouter(tags=["hazards"], route_class=GuardedRoute)
Word = Annotated[Text | None, Query(max_length=80)]
ID = ItemId


def public(h: Any) -> dict[str, Any]:
    return {**HazardPublic.model_validate(h).model_dump(), "overdue": service.is_overdue(h)}


def detail_of(session: Session, actor: Actor, hazard_id: int) -> HazardDetail:
    h = service.get(session, actor, hazard_id)
    return HazardDetail(**public(h),
                        history=[HazardEventPublic.model_validate(e) for e in service.history(session, actor, h)],
                        attachments=[HazardAttachmentPublic.model_validate(a)
                                     for a in service.attachments(session, actor, h)],
                        missing_five_items=service.missing_five_items(h) if h.grade == "major" else [])


def step(session: Session, actor: Actor, item_id: int, do: Callable[[Session], object]) -> Any:
    do(acting(session, actor))
    session.commit()
    return model_response(detail_of(session, actor, item_id))


@router.get("/hazards", response_model=PageOut[HazardPublic], summary="Hazards (隐患), newest first")
def list_hazards(limit: Limit = 50, offset: Offset = 0, status: Word = None, grade: Word = None,
                 category: Word = None, area_id: RefId = None, overdue: bool | None = None,
                 actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    page = service.list_hazards(session, actor, status=status, grade=grade, category=category, area_id=area_id,
                                overdue=overdue, limit=limit, offset=offset)
    return model_response(PageOut[HazardPublic](items=[HazardPublic(**public(h)) for h in page.items],
                                                total=page.total))


@router.post("/hazards", response_model=HazardDetail, status_code=201,
             summary="Report a hazard (排查/上报); a repeated Idempotency-Key returns the first report",
             openapi_extra={"parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"}}]})
@requires(Perm.REPORT_HAZARDS)
def report(request: Request, body: HazardReport, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    key = idempotency.key_of(request)
    replayed = key is not None and service.by_client_key(session, actor, key) is not None
    h = service.report(acting(session, actor), actor, body.model_dump(), client_key=key)
    session.commit()
    headers = {idempotency.REPLAYED_HEADER: "true"} if replayed else None
    return JSONResponse(detail_of(session, actor, h.id).model_dump(mode="json"), status_code=201, headers=headers)


@router.post("/hazards/suggest", response_model=SuggestOut,
             summary="The classifier's suggested category and grade for a description")
@requires(Perm.REPORT_HAZARDS)
def suggest(body: SuggestIn, actor: Actor = Depends(current_actor)) -> Any:
    actor.require(Perm.REPORT_HAZARDS)
    s = service.suggest(body.text)
    if s is None:
        return SuggestOut(available=False)
    return SuggestOut(available=True, **s)


@router.get("/hazards/{item_id}", response_model=HazardDetail,
            summary="One hazard with its history and photos")
def read_hazard(item_id: ID, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return model_response(detail_of(session, actor, item_id))


@router.post("/hazards/{item_id}/register", response_model=HazardDetail, summary="Register (登记)")
@requires(Perm.MANAGE_HAZARDS)
def register(item_id: ID, body: RegisterIn | None = None, actor: Actor = Depends(current_actor),
             session: Session = Depends(db_session)) -> Any:
    b = body or RegisterIn()
    return step(session, actor, item_id, lambda s: service.register(
        s, actor, item_id, title=b.title or None, category=b.category, note=b.note))


@router.post("/hazards/{item_id}/reject", response_model=HazardDetail,
             summary="Decline to register (not a hazard, duplicate), with a reason")
@requires(Perm.MANAGE_HAZARDS)
def reject(item_id: ID, body: ReasonIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(session, actor, item_id, lambda s: service.reject(s, actor, item_id, body.reason))


@router.post("/hazards/{item_id}/assess", response_model=HazardDetail,
             summary="Assess (评估): grade 一般/重大 with its basis, treatment and deadline")
@requires(Perm.MANAGE_HAZARDS)
def assess(item_id: ID, body: AssessIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(session, actor, item_id, lambda s: service.assess(
        s, actor, item_id, grade=body.grade, basis=body.basis, basis_text=body.basis_text,
        treatment=body.treatment, category=body.category, deadline_at=body.deadline_at, note=body.note))


@router.post("/hazards/{item_id}/plan", response_model=HazardDetail,
             summary="Record the treatment plan's five items (责任, 措施, 资金, 时限, 预案)")
@requires(Perm.MANAGE_HAZARDS)
def plan(item_id: ID, body: PlanIn, actor: Actor = Depends(current_actor),
         session: Session = Depends(db_session)) -> Any:
    values = body.model_dump(exclude_unset=True)
    return step(session, actor, item_id, lambda s: service.plan(s, actor, item_id, values))


@router.post("/hazards/{item_id}/start", response_model=HazardDetail, summary="Start rectification (治理)")
@requires(Perm.RECTIFY_HAZARDS)
def start(item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
          session: Session = Depends(db_session)) -> Any:
    return step(session, actor, item_id, lambda s: service.start(s, actor, item_id, body.note if body else ""))


@router.post("/hazards/{item_id}/progress", response_model=HazardDetail, summary="Record rectification progress")
@requires(Perm.RECTIFY_HAZARDS)
def progress(item_id: ID, body: ProgressIn, actor: Actor = Depends(current_actor),
             session: Session = Depends(db_session)) -> Any:
    return step(session, actor, item_id, lambda s: service.progress(s, actor, item_id, body.note))


@router.post("/hazards/{item_id}/submit", response_model=HazardDetail,
             summary="Hand the rectification over for acceptance (待验收)")
@requires(Perm.RECTIFY_HAZARDS)
def submit(item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(session, actor, item_id, lambda s: service.submit(s, actor, item_id, body.note if body else ""))


@router.post("/hazards/{item_id}/accept", response_model=HazardDetail,
             summary="Accept (验收): not by a rectifier; before and after photos required")
@requires(Perm.ACCEPT_HAZARDS)
def accept(item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(session, actor, item_id, lambda s: service.accept(s, actor, item_id, body.note if body else ""))


@router.post("/hazards/{item_id}/refuse", response_model=HazardDetail,
             summary="Refuse acceptance: back to rectification, with a reason")
@requires(Perm.ACCEPT_HAZARDS)
def refuse(item_id: ID, body: ReasonIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(session, actor, item_id, lambda s: service.refuse(s, actor, item_id, body.reason))


@router.post("/hazards/{item_id}/close", response_model=HazardDetail, summary="Close out (销号), after acceptance")
@requires(Perm.MANAGE_HAZARDS)
def close(item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
          session: Session = Depends(db_session)) -> Any:
    return step(session, actor, item_id, lambda s: service.close(s, actor, item_id, body.note if body else ""))


@router.post("/hazards/{item_id}/attachments", response_model=HazardAttachmentPublic, status_code=201,
             summary="Add a photo (before/after/other): JPEG, PNG or WebP, checked by content; time and place "
                     "stamped into it", openapi_extra=UPLOAD_DOC)
@requires(Perm.REPORT_HAZARDS)
async def add_attachment(request: Request, item_id: ID, actor: Actor = Depends(current_actor)) -> Any:
    rt = runtime(request)
    idempotency.key_of(request)  # validated; a replay is recognised by the photo's content
    data, filename, kind, note = await read_upload(request)

    def work() -> dict[str, Any]:
        with rt.factory() as session:
            att = service.add_attachment(acting(session, actor), actor, item_id, kind, filename, data,
                                         rt.settings.var_dir, note)
            out = HazardAttachmentPublic.model_validate(att).model_dump(mode="json")
            session.commit()
            return out

    return JSONResponse(await run_in_threadpool(work), status_code=201)


@router.get("/hazards/{item_id}/attachments/{attachment_id}", summary="The file of a hazard photo")
def get_attachment(request: Request, item_id: ID, attachment_id: ID, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    att = service.get_attachment(session, actor, item_id, attachment_id)
    path = uploads.path_of(runtime(request).settings.var_dir, actor.enterprise_id, att.stored_name)
    if not path.is_file():
        raise NotFound(service.ATTACHMENT, attachment_id)
    return FileResponse(path, media_type=att.content_type,
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"})


@router.get("/hazard-criteria", summary="The 重大事故隐患 criteria lists (工贸 2023, 危化 2017), with sources")
def get_criteria(actor: Actor = Depends(current_actor)) -> Any:
    actor.require(Perm.READ)
    return {"lists": criteria.as_dicts()}


@router.get("/hazard-deadlines", response_model=DeadlinesIO,
            summary="Rectification deadlines by grade (⚠ not statutory: each plant sets its own)")
def get_deadlines(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    actor.require(Perm.READ)
    d = deadlines.of(session, actor.enterprise_id)
    return DeadlinesIO(**d.__dict__)


@router.put("/hazard-deadlines", response_model=DeadlinesIO, summary="Set the rectification deadlines")
@requires(Perm.MANAGE_HAZARDS)
def put_deadlines(body: DeadlinesIO, actor: Actor = Depends(current_actor),
                  session: Session = Depends(db_session)) -> Any:
    d = deadlines.replace(acting(session, actor), actor, deadlines.Deadlines(**body.model_dump()))
    session.commit()
    return DeadlinesIO(**d.__dict__)
