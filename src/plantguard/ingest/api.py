"""/api/v1/devices (configuration, status, tokens, YAML import/export) and /api/v1/quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId, Limit, Offset, RefId, crud_router, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text
from plantguard.ingest.config import (
    DeviceCreate,
    DevicePublic,
    DeviceUpdate,
    device_service,
    export_yaml,
    import_devices,
    parse_yaml,
)
from plantguard.ingest.models import DeviceStatus, QuarantinedInput

Search = Annotated[Text | None, Query(max_length=100)]
MAX_IMPORT_BYTES = 5 * 1024 * 1024


async def device_filters(protocol: Annotated[Text | None, Query(max_length=40)] = None,
                         q: Search = None) -> dict[str, Any]:
    return {"protocol": protocol, "q": q}


def present_devices(session: Session, actor: Actor, items: Sequence[Any]) -> list[Any]:
    return [DevicePublic.model_validate(d).model_copy(update={"has_token": bool(d.token_hash)}) for d in items]


class DeviceStatusPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: int
    available: bool
    state: str
    last_seen: datetime | None
    last_error: str
    readings: int
    rejected: int
    reconnects: int
    updated_at: datetime


class QuarantinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: int | None
    source: str
    reason: str
    detail: str
    point_code: str
    raw: str
    received_at: datetime


class TokenOut(BaseModel):
    device_id: int
    token: str


class ImportOut(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]


router = APIRouter()
router.include_router(crud_router(
    path="/devices", tag="devices", service=device_service, create_schema=DeviceCreate,
    update_schema=DeviceUpdate, public_schema=DevicePublic, filters=device_filters, present=present_devices,
))

extra = APIRouter(tags=["devices"], route_class=GuardedRoute)


@extra.get("/devices-status", response_model=list[DeviceStatusPublic], summary="Live status of every device")
def devices_status(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    actor.require(Perm.READ)
    rows = session.scalars(select(DeviceStatus).where(DeviceStatus.enterprise_id == actor.enterprise_id)
                           .order_by(DeviceStatus.device_id)).all()
    return [DeviceStatusPublic.model_validate(r) for r in rows]


@requires(Perm.WRITE_DEVICES)
def issue_token(item_id: ItemId, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    token = device_service.issue_token(acting(session, actor), actor, item_id)
    session.commit()
    return TokenOut(device_id=item_id, token=token)


extra.add_api_route("/devices/{item_id}/token", issue_token, methods=["POST"], response_model=TokenOut,
                    summary="Issue a new HTTP-ingest token (shown once; the previous one stops working)")


@requires(Perm.WRITE_DEVICES)
async def import_yaml(request: Request, actor: Actor = Depends(current_actor),
                      session: Session = Depends(db_session)) -> Any:
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise ValidationFailed([FieldError("file", N_("The file is larger than %(limit)s MB"), {"limit": 5})])
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed([FieldError("file", N_("The file must be UTF-8 text"))]) from None
    entries = parse_yaml(text)
    from starlette.concurrency import run_in_threadpool

    def run() -> ImportOut:
        summary = import_devices(acting(session, actor), actor, entries)
        session.commit()
        return ImportOut(created=summary.created, updated=summary.updated, unchanged=summary.unchanged)

    return await run_in_threadpool(run)


extra.add_api_route("/devices-import", import_yaml, methods=["POST"], response_model=ImportOut,
                    summary="Create or update devices from a YAML document (all or nothing)",
                    openapi_extra={"requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}}})


@extra.get("/devices-export", summary="Every device as a YAML document", response_class=Response)
def export(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Response:
    return Response(export_yaml(session, actor), media_type="application/yaml")


@extra.get("/quarantine", response_model=PageOut[QuarantinePublic], summary="Rejected input, newest first")
def quarantine(limit: Limit = 50, offset: Offset = 0, device_id: RefId = None,
               reason: Annotated[Text | None, Query(max_length=40)] = None,
               actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    actor.require(Perm.READ)
    conds = [QuarantinedInput.enterprise_id == actor.enterprise_id]
    if device_id is not None:
        conds.append(QuarantinedInput.device_id == device_id)
    if reason:
        conds.append(QuarantinedInput.reason == reason)
    total = session.scalar(select(func.count()).select_from(QuarantinedInput).where(*conds)) or 0
    rows = session.scalars(select(QuarantinedInput).where(*conds).order_by(QuarantinedInput.id.desc())
                           .limit(limit).offset(offset)).all()
    return model_response(PageOut[QuarantinePublic](items=[QuarantinePublic.model_validate(r) for r in rows],
                                                    total=int(total)))


router.include_router(extra)

