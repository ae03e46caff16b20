"""/api/v1/workorders and /api/v1/workorder-sla.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Routes are thin: the service checks the role again and scopes every query to the tenant.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from plantguard.api.crud import ItemId, Limit, Offset, RefId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires, runtime
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text
from plantguard.workorders import idempotency, metrics, service, sla, uploads
from plantguard.workorders.metrics_schemas import MetricsOut
from plantguard.workorders.schemas import (
    AttachmentPublic,
    CloseIn,
    DispatchIn,
    NoteIn,
    ProgressIn,
    ReasonIn,
    SlaIn,
    SlaOut,
    WorkOrderCreate,
    WorkOrderDetail,
    WorkOrderEventPublic,
    WorkOrderPublic,
)

router = APIRouter(tags=["workorders"], route_class=GuardedRoute)
Word = Annotated[Text | None, Query(max_length=80)]
ID = ItemId
KEYED = {"parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                         "description": "Client-chosen id of this step: a repeat returns the first answer"}]}


def detail_of(session: Session, actor: Actor, order_id: int) -> WorkOrderDetail:
    order = service.get(session, actor, order_id)
    base = WorkOrderPublic.model_validate(order).model_dump()
    return WorkOrderDetail(**base, history=[WorkOrderEventPublic.model_validate(e)
                                            for e in service.history(session, actor, order)],
                           alarm_ids=service.alarm_ids(session, actor, order),
                           attachments=[AttachmentPublic.model_validate(a)
                                        for a in service.attachments(session, actor, order)])


def answer(result: idempotency.Answer) -> JSONResponse:
    headers = {idempotency.REPLAYED_HEADER: "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status_code, headers=headers)


def step(request: Request, session: Session, actor: Actor, item_id: int, action: str,
         do: Callable[[Session], object]) -> JSONResponse:
    """One lifecycle step answered with the order's detail; at most once per ``Idempotency-Key``."""
    key = idempotency.key_of(request)

    def work() -> tuple[int, dict[str, Any]]:
        do(acting(session, actor))
        return 200, detail_of(session, actor, item_id).model_dump(mode="json")

    return answer(idempotency.run(session, actor, key, action, item_id, work))


@router.get("/workorders", response_model=PageOut[WorkOrderPublic], summary="Work orders, newest first")
def list_workorders(limit: Limit = 50, offset: Offset = 0, status: Word = None, priority: Word = None,
                    team_id: RefId = None, assignee: Word = None, overdue: bool | None = None,
                    actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    page = service.list_orders(session, actor, status=status, priority=priority, team_id=team_id,
                               assignee=assignee, overdue=overdue, limit=limit, offset=offset)
    return model_response(PageOut[WorkOrderPublic](items=[WorkOrderPublic.model_validate(o) for o in page.items],
                                                   total=page.total))


@router.post("/workorders", response_model=WorkOrderDetail, status_code=201, summary="Open a work order by hand")
@requires(Perm.MANAGE_WORKORDERS)
def create_workorder(body: WorkOrderCreate, actor: Actor = Depends(current_actor),
                     session: Session = Depends(db_session)) -> Any:
    order = service.create(acting(session, actor), actor, body.model_dump())
    session.commit()
    return model_response(detail_of(session, actor, order.id), 201)


@router.get("/workorders/{item_id}", response_model=WorkOrderDetail,
            summary="One work order with its history, alarms and attachments")
def read_workorder(item_id: ID, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return model_response(detail_of(session, actor, item_id))


@router.post("/workorders/{item_id}/dispatch", response_model=WorkOrderDetail,
             summary="Dispatch or reassign to a team and/or a person", openapi_extra=KEYED)
@requires(Perm.MANAGE_WORKORDERS)
def dispatch(request: Request, item_id: ID, body: DispatchIn, actor: Actor = Depends(current_actor),
             session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, "dispatch",
                lambda s: service.dispatch(s, actor, item_id, body.team_id, body.assignee_id, body.note))


@router.post("/workorders/{item_id}/accept", response_model=WorkOrderDetail, summary="Take the task on (处理中)",
             openapi_extra=KEYED)
@requires(Perm.HANDLE_WORKORDERS)
def accept(request: Request, item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, "accept",
                lambda s: service.accept(s, actor, item_id, body.note if body else ""))


@router.post("/workorders/{item_id}/update", response_model=WorkOrderDetail, summary="Record progress",
             openapi_extra=KEYED)
@requires(Perm.HANDLE_WORKORDERS)
def update(request: Request, item_id: ID, body: ProgressIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, "update",
                lambda s: service.update(s, actor, item_id, body.note))


@router.post("/workorders/{item_id}/submit", response_model=WorkOrderDetail,
             summary="Hand over for acceptance (待验收)", openapi_extra=KEYED)
@requires(Perm.HANDLE_WORKORDERS)
def submit(request: Request, item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, "submit",
                lambda s: service.submit(s, actor, item_id, body.note if body else ""))


@router.post("/workorders/{item_id}/close", response_model=WorkOrderDetail,
             summary="Accept and close, with a drawn signature (PNG data URL)", openapi_extra=KEYED)
@requires(Perm.ACCEPT_WORKORDERS)
def close(request: Request, item_id: ID, body: CloseIn, actor: Actor = Depends(current_actor),
          session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, "close",
                lambda s: service.close(s, actor, item_id, body.signature, runtime(request).settings.var_dir,
                                        body.note))


@router.post("/workorders/{item_id}/reject", response_model=WorkOrderDetail,
             summary="Reject (驳回): back to in progress, with a reason", openapi_extra=KEYED)
@requires(Perm.ACCEPT_WORKORDERS)
def reject(request: Request, item_id: ID, body: ReasonIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, "reject",
                lambda s: service.reject(s, actor, item_id, body.reason))


@router.post("/workorders/{item_id}/cancel", response_model=WorkOrderDetail, summary="Cancel (撤销), with a reason",
             openapi_extra=KEYED)
@requires(Perm.MANAGE_WORKORDERS)
def cancel(request: Request, item_id: ID, body: ReasonIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, "cancel",
                lambda s: service.cancel(s, actor, item_id, body.reason))


UPLOAD_DOC: dict[str, Any] = {**KEYED, "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"},
                   "kind": {"type": "string", "enum": ["before", "after", "other"]},
                   "note": {"type": "string"}}}}}}}
NOT_A_FORM = N_("Send the file as multipart/form-data in the field 'file'")


async def read_upload(request: Request) -> tuple[bytes, str, str, str]:
    """(data, filename, kind, note) from the multipart body; at most the size limit + 1 byte read."""
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception:  # malformed multipart: a field error, not a 500
        raise ValidationFailed([FieldError("file", NOT_A_FORM)]) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed([FieldError("file", NOT_A_FORM)])
        data = await upload.read(uploads.max_bytes() + 1)
        kind, note = form.get("kind") or "other", form.get("note") or ""
        return data, (upload.filename or "")[:200], str(kind)[:20], str(note)[:2000]
    finally:
        await form.close()


@router.post("/workorders/{item_id}/attachments", response_model=AttachmentPublic, status_code=201,
             summary="Add a photo (before/after/other): JPEG, PNG or WebP, checked by content",
             openapi_extra=UPLOAD_DOC)
@requires(Perm.HANDLE_WORKORDERS)
async def add_attachment(request: Request, item_id: ID, actor: Actor = Depends(current_actor)) -> Any:
    rt = runtime(request)
    key = idempotency.key_of(request)
    data, filename, kind, note = await read_upload(request)

    def work() -> idempotency.Answer:
        with rt.factory() as session:
            def add() -> tuple[int, dict[str, Any]]:
                att = service.add_attachment(acting(session, actor), actor, item_id, kind, filename, data,
                                             rt.settings.var_dir, note)
                return 201, AttachmentPublic.model_validate(att).model_dump(mode="json")

            return idempotency.run(session, actor, key, "attachment", item_id, add)

    return answer(await run_in_threadpool(work))


@router.get("/workorders/{item_id}/attachments/{attachment_id}", summary="The file of an attachment")
def get_attachment(request: Request, item_id: ID, attachment_id: ID, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    att = service.get_attachment(session, actor, item_id, attachment_id)
    path = uploads.path_of(runtime(request).settings.var_dir, actor.enterprise_id, att.stored_name)
    if not path.is_file():
        raise NotFound(service.ATTACHMENT, attachment_id)
    return FileResponse(path, media_type=att.content_type,
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"})


def _sla_out(table: dict[str, sla.Sla]) -> SlaOut:
    return SlaOut(items=[{"priority": p, "ack_minutes": s.ack_minutes, "resolve_minutes": s.resolve_minutes}
                         for p, s in sorted(table.items())])


@router.get("/workorder-sla", response_model=SlaOut, summary="SLA per priority (acknowledge, resolve)")
def get_sla(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    actor.require(Perm.READ)
    return _sla_out(sla.table(session, actor.enterprise_id))


@router.put("/workorder-sla", response_model=SlaOut, summary="Set the SLA of the priorities given")
@requires(Perm.MANAGE_WORKORDERS)
def put_sla(body: SlaIn, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    seen: set[str] = set()
    for i, row in enumerate(body.items):
        if row.priority in seen:
            raise ValidationFailed([FieldError(f"items.{i}.priority", N_("Given twice"))])
        if row.ack_minutes > row.resolve_minutes:
            raise ValidationFailed([FieldError(f"items.{i}.ack_minutes",
                                               N_("Must not be longer than the time to resolve"))])
        seen.add(row.priority)
    table = sla.replace(acting(session, actor), actor,
                        {r.priority: sla.Sla(r.ack_minutes, r.resolve_minutes) for r in body.items})
    out = _sla_out(table)
    session.commit()
    return out


DayParam = Annotated[Text | None, Query(alias="from", max_length=20, description="first plant-local day, YYYY-MM-DD")]
ToParam = Annotated[Text | None, Query(max_length=20, description="last plant-local day (inclusive), YYYY-MM-DD")]


@router.get("/workorder-metrics", response_model=MetricsOut,
            summary="MTTA, MTTR, on-time and closure rate (bar 92 %), backlog per team, overdue list")
def get_metrics(from_: DayParam = None, to: ToParam = None, team_id: RefId = None,
                actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    m = metrics.metrics(session, actor, from_, to, team_id)
    body = MetricsOut.model_validate(metrics.as_dict(m)).model_dump_json(by_alias=True)
    return Response(body, media_type="application/json")
