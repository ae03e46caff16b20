"""/api/v1/inspections (tasks and their records), /api/v1/inspection-plans,
/api/v1/inspection-checklists, /api/v1/inspection-tags and /api/v1/inspection-labels.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Routes are thin: the services check the role again and scope every query to the tenant.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from plantguard.api.crud import ItemId, Limit, Offset, RefId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires, runtime, writer_session
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text
from plantguard.inspections import checklists, idempotency, labels, plans, tags, tasks
from plantguard.inspections.schemas import (
    CheckinIn,
    CheckinOut,
    ChecklistOut,
    ItemIn,
    ItemOut,
    OrderIn,
    PhotoOut,
    PlanIn,
    PlanOut,
    ResultOut,
    ResultsIn,
    TaskDetail,
    TaskOut,
)
from plantguard.workorders import uploads
from plantguard.workorders.api import NOT_A_FORM

router = APIRouter(tags=["inspections"], route_class=GuardedRoute)
Word = Annotated[Text | None, Query(max_length=80)]
KEYED = {"parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                         "description": "Client-chosen id of this step: a repeat returns the first answer"}]}


def plan_out(session: Session, plan: Any) -> PlanOut:
    return PlanOut.model_validate(plan).model_copy(update={"risk_point_ids": plans.point_ids(session, plan)})


def task_detail(session: Session, actor: Actor, task_id: int) -> TaskDetail:
    task = tasks.get(session, actor, task_id)
    base = TaskOut.model_validate(task).model_dump()
    return TaskDetail(**base, checkins=[CheckinOut.model_validate(c) for c in tasks.checkins_of(session, actor, task)],
                      results=[ResultOut.model_validate(r) for r in tasks.results_of(session, actor, task)],
                      checklist=[ItemOut.model_validate(i) for i in
                                 checklists.items(session, actor.enterprise_id, task.risk_point_id)])


def answer(result: idempotency.Answer) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status_code, headers=headers)


def keyed(request: Request, session: Session, actor: Actor, task_id: int, action: str,
          work: Callable[[], tuple[int, dict[str, Any]]]) -> JSONResponse:
    key = idempotency.key_of(request)
    acting(session, actor)
    return answer(idempotency.run(session, actor, key, action, task_id, work))


# -- tasks ---------------------------------------------------------------------------------


@router.get("/inspections", response_model=PageOut[TaskOut], summary="Inspection tasks, latest window first")
def list_inspections(limit: Limit = 50, offset: Offset = 0, status: Word = None, plan_id: RefId = None,
                     risk_point_id: RefId = None, team_id: RefId = None, mine: bool | None = None,
                     due: Word = None, actor: Actor = Depends(current_actor),
                     session: Session = Depends(db_session)) -> Any:
    page = tasks.list_tasks(session, actor, status=status, plan_id=plan_id, risk_point_id=risk_point_id,
                            team_id=team_id, mine=mine, due=due, limit=limit, offset=offset)
    return model_response(PageOut[TaskOut](items=[TaskOut.model_validate(t) for t in page.items], total=page.total))


@router.get("/inspections/{item_id}", response_model=TaskDetail,
            summary="One task with its check-ins, results and the point's checklist")
def read_inspection(item_id: ItemId, actor: Actor = Depends(current_actor),
                    session: Session = Depends(db_session)) -> Any:
    return model_response(task_detail(session, actor, item_id))


@router.post("/inspections/{item_id}/checkin", response_model=CheckinOut, status_code=201,
             summary="Check in at the point: the scanned QR token, time and location", openapi_extra=KEYED)
@requires(Perm.PERFORM_INSPECTIONS)
def checkin(request: Request, item_id: ItemId, body: CheckinIn, actor: Actor = Depends(current_actor),
            session: Session = Depends(db_session)) -> Any:
    def work() -> tuple[int, dict[str, Any]]:
        row = tasks.checkin(session, actor, item_id, body.token,
                            tasks.Geo(body.geo_status, body.lat, body.lon, body.accuracy))
        return 201, CheckinOut.model_validate(row).model_dump(mode="json")

    return keyed(request, session, actor, item_id, "checkin", work)


@router.post("/inspections/{item_id}/results", response_model=TaskDetail,
             summary="Results of every checklist item; a failed item raises a hazard", openapi_extra=KEYED)
@requires(Perm.PERFORM_INSPECTIONS)
def results(request: Request, item_id: ItemId, body: ResultsIn, actor: Actor = Depends(current_actor),
            session: Session = Depends(db_session)) -> Any:
    def work() -> tuple[int, dict[str, Any]]:
        tasks.submit_results(session, actor, item_id, body.checkin_id,
                             [tasks.ItemResult(r.item_id, r.outcome, r.note, r.photo_id) for r in body.results])
        return 200, task_detail(session, actor, item_id).model_dump(mode="json")

    return keyed(request, session, actor, item_id, "results", work)


UPLOAD_DOC: dict[str, Any] = {**KEYED, "requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"],
               "properties": {"file": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"}}}}}}}


@router.post("/inspections/{item_id}/photos", response_model=PhotoOut, status_code=201,
             summary="A photo for a result (JPEG, PNG or WebP, checked by content)", openapi_extra=UPLOAD_DOC)
@requires(Perm.PERFORM_INSPECTIONS)
async def add_photo(request: Request, item_id: ItemId, actor: Actor = Depends(current_actor)) -> Any:
    rt = runtime(request)
    key = idempotency.key_of(request)
    try:
        form = await request.form(max_files=1, max_fields=3)
    except Exception:  # malformed multipart: a field error, not a 500
        raise ValidationFailed([FieldError("file", NOT_A_FORM)]) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed([FieldError("file", NOT_A_FORM)])
        data = await upload.read(uploads.max_bytes() + 1)
        filename = (upload.filename or "")[:200]
    finally:
        await form.close()

    def work() -> idempotency.Answer:
        with rt.factory() as session:
            def add() -> tuple[int, dict[str, Any]]:
                photo = tasks.add_photo(acting(session, actor), actor, item_id, filename, data, rt.settings.var_dir)
                return 201, PhotoOut.model_validate(photo).model_dump(mode="json")

            return idempotency.run(session, actor, key, "photo", item_id, add)

    return answer(await run_in_threadpool(work))


@router.get("/inspections/{item_id}/photos/{photo_id}", summary="The file of a photo")
def get_photo(request: Request, item_id: ItemId, photo_id: ItemId, actor: Actor = Depends(current_actor),
              session: Session = Depends(db_session)) -> Any:
    photo = tasks.get_photo(session, actor, item_id, photo_id)
    path = uploads.path_of(runtime(request).settings.var_dir, actor.enterprise_id, photo.stored_name)
    if not path.is_file():
        raise NotFound(tasks.PHOTO, photo_id)
    return FileResponse(path, media_type=photo.content_type,
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"})


# -- plans ---------------------------------------------------------------------------------


@router.get("/inspection-plans", response_model=PageOut[PlanOut], summary="Inspection plans")
def list_plans(limit: Limit = 50, offset: Offset = 0, active: bool | None = None,
               actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    page = plans.list_plans(session, actor, active=active, limit=limit, offset=offset)
    return model_response(PageOut[PlanOut](items=[plan_out(session, p) for p in page.items], total=page.total))


@router.post("/inspection-plans", response_model=PlanOut, status_code=201,
             summary="Create a plan (its current window's tasks are made at once)")
@requires(Perm.MANAGE_INSPECTIONS)
def create_plan(body: PlanIn, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    plan = plans.create(acting(session, actor), actor, body.model_dump())
    out = plan_out(session, plan)
    session.commit()
    return model_response(out, 201)


@router.get("/inspection-plans/{item_id}", response_model=PlanOut, summary="One plan")
def read_plan(item_id: ItemId, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return model_response(plan_out(session, plans.get(session, actor, item_id)))


@router.put("/inspection-plans/{item_id}", response_model=PlanOut, summary="Replace a plan's settings")
@requires(Perm.MANAGE_INSPECTIONS)
def update_plan(item_id: ItemId, body: PlanIn, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    plan = plans.update(acting(session, actor), actor, item_id, body.model_dump())
    out = plan_out(session, plan)
    session.commit()
    return model_response(out)


@router.delete("/inspection-plans/{item_id}", status_code=204, response_class=Response,
                summary="Delete a plan with its tasks")
@requires(Perm.MANAGE_INSPECTIONS)
def delete_plan(item_id: ItemId, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Response:
    plans.remove(acting(session, actor), actor, item_id)
    session.commit()
    return Response(status_code=204)


# -- checklists ----------------------------------------------------------------------------


def _checklist(session: Session, actor: Actor, risk_point_id: int) -> ChecklistOut:
    return ChecklistOut(risk_point_id=risk_point_id, items=[
        ItemOut.model_validate(i) for i in checklists.items(session, actor.enterprise_id, risk_point_id)])


@router.get("/inspection-checklists/{item_id}", response_model=ChecklistOut,
            summary="A risk point's checklist (generated from its control measures on first use)")
def read_checklist(item_id: ItemId, actor: Actor = Depends(current_actor),
                   session: Session = Depends(writer_session)) -> Any:
    checklists.point_of(session, actor, item_id)
    if actor.can(Perm.MANAGE_INSPECTIONS):
        checklists.ensure(acting(session, actor), actor.enterprise_id, item_id)
        session.commit()
    return model_response(_checklist(session, actor, item_id))


@router.post("/inspection-checklists/{item_id}/regenerate", response_model=ChecklistOut,
             summary="Bring the checklist up to date with the control measures, keeping manual edits")
@requires(Perm.MANAGE_INSPECTIONS)
def regenerate(item_id: ItemId, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    checklists.regenerate(acting(session, actor), actor, item_id)
    session.commit()
    return model_response(_checklist(session, actor, item_id))


@router.post("/inspection-checklists/{item_id}/items", response_model=ItemOut, status_code=201,
             summary="Add an item by hand (at the end)")
@requires(Perm.MANAGE_INSPECTIONS)
def add_item(item_id: ItemId, body: ItemIn, actor: Actor = Depends(current_actor),
             session: Session = Depends(db_session)) -> Any:
    item = checklists.add(acting(session, actor), actor, item_id, body.text)
    session.commit()
    return model_response(ItemOut.model_validate(item), 201)


@router.put("/inspection-checklists/{item_id}/items/{check_item_id}", response_model=ItemOut,
            summary="Change an item's text (kept on regeneration)")
@requires(Perm.MANAGE_INSPECTIONS)
def edit_item(item_id: ItemId, check_item_id: ItemId, body: ItemIn, actor: Actor = Depends(current_actor),
              session: Session = Depends(db_session)) -> Any:
    item = checklists.edit(acting(session, actor), actor, item_id, check_item_id, body.text)
    session.commit()
    return model_response(ItemOut.model_validate(item))


@router.delete("/inspection-checklists/{item_id}/items/{check_item_id}", status_code=204,
               summary="Take an item off (a generated one stays off on regeneration)")
@requires(Perm.MANAGE_INSPECTIONS)
def remove_item(item_id: ItemId, check_item_id: ItemId, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Response:
    checklists.remove(acting(session, actor), actor, item_id, check_item_id)
    session.commit()
    return Response(status_code=204)


@router.post("/inspection-checklists/{item_id}/items/{check_item_id}/restore", response_model=ItemOut,
             summary="Put a removed generated item back (at the end)")
@requires(Perm.MANAGE_INSPECTIONS)
def restore_item(item_id: ItemId, check_item_id: ItemId, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    item = checklists.restore(acting(session, actor), actor, item_id, check_item_id)
    session.commit()
    return model_response(ItemOut.model_validate(item))


@router.put("/inspection-checklists/{item_id}/order", response_model=ChecklistOut,
            summary="Reorder: every item's id once, in the new order")
@requires(Perm.MANAGE_INSPECTIONS)
def reorder(item_id: ItemId, body: OrderIn, actor: Actor = Depends(current_actor),
            session: Session = Depends(db_session)) -> Any:
    checklists.reorder(acting(session, actor), actor, item_id, body.order)
    session.commit()
    return model_response(_checklist(session, actor, item_id))


# -- tags and labels -----------------------------------------------------------------------


@router.get("/inspection-tags/{item_id}/qr.{fmt}", summary="A point's QR code (svg or png)")
def tag_qr(request: Request, item_id: ItemId, fmt: str, actor: Actor = Depends(current_actor),
           session: Session = Depends(writer_session)) -> Any:
    actor.require(Perm.MANAGE_INSPECTIONS)
    if fmt not in ("svg", "png"):
        raise ValidationFailed([FieldError("fmt", N_("Must be one of: %(expected)s"), {"expected": "svg, png"})])
    checklists.point_of(session, actor, item_id)
    tag = tags.ensure(acting(session, actor), actor.enterprise_id, item_id)
    session.commit()
    link = tags.url(str(request.base_url), tag.token)
    if fmt == "svg":
        return Response(tags.qr_svg(link), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
    return Response(tags.qr_png(link), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/inspection-tags/{item_id}/renew", summary="New token for a point (the old label stops working)")
@requires(Perm.MANAGE_INSPECTIONS)
def renew_tag(request: Request, item_id: ItemId, actor: Actor = Depends(current_actor),
              session: Session = Depends(db_session)) -> Any:
    checklists.point_of(session, actor, item_id)
    tag = tags.renew(acting(session, actor), actor, item_id)
    session.commit()
    return {"risk_point_id": item_id, "url": tags.url(str(request.base_url), tag.token)}


@router.get("/inspection-labels", summary="Printable QR labels (PDF, A4, CJK font embedded)")
def labels_pdf(request: Request, plan_id: RefId = None, area_id: RefId = None,
               actor: Actor = Depends(current_actor), session: Session = Depends(writer_session)) -> Any:
    sheet = labels.collect(acting(session, actor), actor, str(request.base_url), plan_id=plan_id, area_id=area_id)
    session.commit()
    return Response(labels.pdf(sheet), media_type="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="inspection-labels.pdf"',
                             "Cache-Control": "no-store"})
