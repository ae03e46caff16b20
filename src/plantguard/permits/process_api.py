"""/api/v1/permit-processes, /api/v1/permit-approvers, /api/v1/permit-config and a permit's
approval (``/api/v1/permits/{id}/approval``, ``/api/v1/permit-approvals/mine``).

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Routes are thin: the services check the role again and scope every query to the tenant.
A process upload is either the ``.bpmn`` file itself (``Content-Type: application/xml``) or
JSON ``{"bpmn_xml": "...", "name": "..."}``; the body is read up to the size limit only.
"""

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.crud import ItemId, RefId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires, runtime
from plantguard.core.errors import FieldError, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import Id, Input, Number, Output, Storable, Text
from plantguard.permits import approvals, processes, types, workflow
from plantguard.permits.models import Permit
from plantguard.workorders import idempotency

router = APIRouter(tags=["permits"], route_class=GuardedRoute)
ProcessId = Annotated[str, StringConstraints(max_length=80, pattern=r"^[A-Za-z0-9_]+$")]
RoleCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30), Storable]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Storable]
# A drawn signature: ~3 MB of PNG at most, as base64 or a data URL.
SignatureB64 = Annotated[str, StringConstraints(max_length=4_000_000), Storable]
NOT_A_PROCESS = N_("Send the BPMN file (Content-Type: application/xml) or JSON with the field bpmn_xml")
KEYED = {"parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"}}]}


class ProcessOut(BaseModel):
    process_id: str
    type_code: str
    grade: str
    type_name: str
    type_name_en: str
    grade_name: str
    grade_name_en: str
    source: Literal["default", "enterprise"]
    name: str
    sha256: str
    default_sha256: str
    roles: list[str]
    default_roles: list[str]
    updated_at: datetime | None = None
    uploaded_by: int | None = None


class ApproverIn(Input):
    role: RoleCode
    user_id: Id
    area_id: Id | None = None


class ApproverOut(Output):
    id: int
    role: str
    user_id: int
    area_id: int | None
    role_name: str = ""
    role_name_en: str = ""


class ConfigIO(Input):
    night_start: Annotated[str, StringConstraints(max_length=5)] = "20:00"
    night_end: Annotated[str, StringConstraints(max_length=5)] = "06:00"
    holidays: list[Annotated[str, StringConstraints(max_length=10)]] = Field(default_factory=list, max_length=400)
    workdays: list[Annotated[str, StringConstraints(max_length=10)]] = Field(default_factory=list, max_length=400)
    overrides: dict[Annotated[str, StringConstraints(max_length=30)], Any] = Field(default_factory=dict)


class ApprovalIn(Input):
    approve: bool
    comment: Comment = ""
    lat: Number | None = None
    lon: Number | None = None
    signature_png: SignatureB64 | None = None
    role: RoleCode | None = None


class Candidate(BaseModel):
    user_id: int
    name: str


class StepOut(BaseModel):
    task: str
    role: str
    step: str
    kind: str
    role_name: str
    role_name_en: str
    clause: str
    candidates: list[Candidate]
    can_sign: bool


class SignatureOut(Output):
    id: int
    step: str
    decision: str
    user_id: int | None
    name: str
    at: datetime
    comment: str
    lat: float | None
    lon: float | None
    image_sha256: str


class ApprovalOut(BaseModel):
    permit_id: int
    number: str
    type_code: str
    grade: str
    status: str
    process_id: str
    approved_at: datetime | None
    content_sha256: str
    steps: list[StepOut]
    signatures: list[SignatureOut]


class InboxItem(BaseModel):
    id: int
    number: str
    type_code: str
    grade: str
    status: str
    content: str
    location: str
    area_id: int
    planned_start: datetime
    planned_end: datetime
    steps: list[StepOut]


# -- processes --------------------------------------------------------------------------------


@router.get("/permit-processes", response_model=list[ProcessOut],
            summary="Approval processes (BPMN) per permit type and grade: the shipped default or the enterprise's own")
def list_processes(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return [ProcessOut(**p).model_dump(mode="json") for p in processes.list_processes(session, actor)]


@router.get("/permit-processes/{process_id}", summary="The BPMN 2.0 XML of a process (?default=true: the shipped one)",
            response_class=Response, responses={200: {"content": {"application/xml": {}}}})
def read_process(process_id: ProcessId, default: bool = False, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    xml = processes.get_xml(session, actor, process_id, default=default)
    return Response(xml, media_type="application/xml",
                    headers={"Content-Disposition": f'inline; filename="{process_id}.bpmn"'})


async def _read_body(request: Request) -> bytes:
    limit = workflow.MAX_BPMN_BYTES + 64 * 1024  # JSON escaping adds a little
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise ValidationFailed([FieldError(workflow.FIELD, N_("The file is too large (at most %(kb)s KB)"),
                                               {"kb": workflow.MAX_BPMN_BYTES // 1024})])
    return bytes(data)


def _process_body(content_type: str, body: bytes) -> tuple[bytes, str]:
    if "xml" in content_type:
        return body, ""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed([FieldError(workflow.FIELD, NOT_A_PROCESS)]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("bpmn_xml"), str) \
            or not isinstance(doc.get("name", ""), str) or set(doc) - {"bpmn_xml", "name"}:
        raise ValidationFailed([FieldError(workflow.FIELD, NOT_A_PROCESS)])
    return doc["bpmn_xml"].encode("utf-8"), doc.get("name", "")


@router.put("/permit-processes/{process_id}", response_model=ProcessOut,
            summary="Replace a default approval process with the enterprise's own BPMN (new permits only)",
            openapi_extra={"requestBody": {"content": {
                "application/xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object", "properties": {
                    "bpmn_xml": {"type": "string"}, "name": {"type": "string"}}, "required": ["bpmn_xml"]}}}}})
@requires(Perm.MANAGE_PERMITS)
async def put_process(request: Request, process_id: ProcessId, actor: Actor = Depends(current_actor)) -> Any:
    rt = runtime(request)
    actor.require(Perm.MANAGE_PERMITS)
    processes.known(process_id)  # 404 before the body is read
    body = await _read_body(request)
    xml, name = _process_body(request.headers.get("content-type", ""), body)

    def work() -> dict[str, Any]:
        with rt.factory() as session:
            processes.put(acting(session, actor), actor, process_id, xml, name=name)
            session.commit()
            found = next(p for p in processes.list_processes(session, actor) if p["process_id"] == process_id)
            return ProcessOut(**found).model_dump(mode="json")

    return JSONResponse(await run_in_threadpool(work))


@router.delete("/permit-processes/{process_id}", status_code=204, response_class=Response,
               summary="Back to the shipped default process (permits in approval keep theirs)")
@requires(Perm.MANAGE_PERMITS)
def reset_process(process_id: ProcessId, actor: Actor = Depends(current_actor),
                  session: Session = Depends(db_session)) -> Response:
    processes.reset(acting(session, actor), actor, process_id)
    session.commit()
    return Response(status_code=204)


# -- approvers --------------------------------------------------------------------------------


def _approver_out(row: Any) -> dict[str, Any]:
    spec = types.approver_roles().get(row.role, {})
    return ApproverOut(id=row.id, role=row.role, user_id=row.user_id, area_id=row.area_id,
                       role_name=spec.get("name", row.role), role_name_en=spec.get("name_en", row.role)
                       ).model_dump(mode="json")


@router.get("/permit-approvers", response_model=list[ApproverOut],
            summary="Who signs for each approver role (optionally per area)")
def list_approvers(role: Annotated[Text | None, Query(max_length=30)] = None, area_id: RefId = None,
                   actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return [_approver_out(r) for r in approvals.list_approvers(session, actor, role=role, area_id=area_id)]


@router.post("/permit-approvers", response_model=ApproverOut, status_code=201,
             summary="Let a user sign for an approver role (in one area, or everywhere)")
@requires(Perm.MANAGE_PERMITS)
def add_approver(body: ApproverIn, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    row = approvals.assign(acting(session, actor), actor, role=body.role, user_id=body.user_id, area_id=body.area_id)
    session.commit()
    return JSONResponse(_approver_out(row), status_code=201)


@router.delete("/permit-approvers/{item_id}", status_code=204, response_class=Response,
               summary="Remove an approver assignment")
@requires(Perm.MANAGE_PERMITS)
def remove_approver(item_id: ItemId, actor: Actor = Depends(current_actor),
                    session: Session = Depends(db_session)) -> Response:
    approvals.unassign(acting(session, actor), actor, item_id)
    session.commit()
    return Response(status_code=204)


# -- config -----------------------------------------------------------------------------------


def _config_out(row: Any) -> dict[str, Any]:
    return ConfigIO(night_start=row.night_start, night_end=row.night_end, holidays=list(row.holidays or []),
                    workdays=list(row.workdays or []), overrides=dict(row.overrides or {})).model_dump(mode="json")


@router.get("/permit-config", response_model=ConfigIO,
            summary="Night window (plant time), extra holidays and working days, per-type overrides")
def read_config(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return _config_out(processes.get_config(session, actor))


@router.put("/permit-config", response_model=ConfigIO, summary="Replace the permit settings")
@requires(Perm.MANAGE_PERMITS)
def put_config(body: ConfigIO, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    row = processes.put_config(acting(session, actor), actor, body.model_dump())
    session.commit()
    return _config_out(row)


# -- a permit's approval ----------------------------------------------------------------------


def approval_of(session: Session, actor: Actor, permit: Permit) -> ApprovalOut:
    return ApprovalOut(
        permit_id=permit.id, number=permit.number, type_code=permit.type_code, grade=permit.grade,
        status=permit.status, process_id=permit.process_id, approved_at=permit.approved_at,
        content_sha256=permit.content_sha256,
        steps=[StepOut(**s) for s in approvals.pending(session, actor, permit)],
        signatures=[SignatureOut.model_validate(s) for s in approvals.signatures(session, actor, permit)])


@router.get("/permits/{item_id}/approval", response_model=ApprovalOut,
            summary="The permit's approval: steps waiting (role, who may sign) and the decisions so far")
def read_approval(item_id: ItemId, actor: Actor = Depends(current_actor),
                  session: Session = Depends(db_session)) -> Any:
    return model_response(approval_of(session, actor, approvals.get(session, actor, item_id)))


def _signature(value: str | None) -> bytes | None:
    if not value:
        return None
    raw = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed([FieldError("signature_png", N_("A drawn signature (PNG image) is required"))]) from None


@router.post("/permits/{item_id}/approval", response_model=ApprovalOut,
             summary="Sign the caller's waiting approval step: approve, or refuse with the reason (a repeated "
                     "Idempotency-Key returns the first answer)", openapi_extra=KEYED)
@requires(Perm.APPROVE_PERMITS)
def decide(request: Request, item_id: ItemId, body: ApprovalIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    key = idempotency.key_of(request)
    replayed = {idempotency.REPLAYED_HEADER: "true"}
    if key is not None and approvals.by_client_key(session, actor, item_id, key) is not None:
        permit = approvals.get(session, actor, item_id)
        return JSONResponse(approval_of(session, actor, permit).model_dump(mode="json"), headers=replayed)
    png = _signature(body.signature_png)
    try:
        permit = approvals.decide(acting(session, actor), actor, item_id, approve=body.approve, comment=body.comment,
                                  lat=body.lat, lon=body.lon, signature_png=png, role=body.role, client_key=key,
                                  var_dir=runtime(request).settings.var_dir)
        session.commit()
    except (PlantGuardError, IntegrityError):
        session.rollback()  # a concurrent send of the same key may have won meanwhile
        if key is None or approvals.by_client_key(session, actor, item_id, key) is None:
            raise
        permit = approvals.get(session, actor, item_id)
        return JSONResponse(approval_of(session, actor, permit).model_dump(mode="json"), headers=replayed)
    return model_response(approval_of(session, actor, permit))


@router.get("/permit-approvals/mine", response_model=list[InboxItem],
            summary="Permits waiting for the caller's signature (the phone's inbox)")
def my_approvals(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    out = []
    for p in approvals.my_pending(session, actor):
        out.append(InboxItem(id=p.id, number=p.number, type_code=p.type_code, grade=p.grade, status=p.status,
                             content=p.content, location=p.location, area_id=p.area_id,
                             planned_start=p.planned_start, planned_end=p.planned_end,
                             steps=[StepOut(**s) for s in approvals.pending(session, actor, p)]
                             ).model_dump(mode="json"))
    return out
