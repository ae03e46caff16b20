"""/api/v1/alarms, /alarm-silences, /alarm-policies and the edge uplink /alarm-signals.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Routes are thin: the service checks the role again and scopes every query to the tenant.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId, Limit, Offset, RefId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text
from plantguard.detection.alarms import policy, service, silences
from plantguard.detection.alarms.analytics import analytics as compute_analytics
from plantguard.detection.alarms.edge import receive_signals
from plantguard.detection.alarms.schemas import (
    AlarmDetail,
    AlarmEventPublic,
    AlarmPublic,
    AnalyticsOut,
    CommentIn,
    NoteIn,
    PoliciesIn,
    PoliciesOut,
    SilenceCreate,
    SilencePublic,
)

router = APIRouter(tags=["alarms"], route_class=GuardedRoute)

When = Annotated[datetime | None, Query()]
Word = Annotated[Text | None, Query(max_length=40)]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def detail_of(session: Session, actor: Actor, alarm_id: int) -> AlarmDetail:
    alarm = service.get_alarm(session, actor, alarm_id)
    events = service.history(session, actor, alarm)
    names = service.user_names(session, actor, [alarm.acked_by, alarm.cleared_by])
    base = AlarmPublic.model_validate(alarm).model_dump()
    return AlarmDetail(**base, explanation=alarm.explanation or {},
                       history=[AlarmEventPublic.model_validate(e) for e in events],
                       acked_by_name=names.get(alarm.acked_by or 0, ""),
                       cleared_by_name=names.get(alarm.cleared_by or 0, ""))


@router.get("/alarms", response_model=PageOut[AlarmPublic], summary="Alarms, newest first (or by severity)")
def list_alarms(limit: Limit = 50, offset: Offset = 0, status: Word = None, severity: Word = None, kind: Word = None,
                equipment_id: RefId = None, from_: Annotated[datetime | None, Query(alias="from")] = None,
                to: When = None, order: Annotated[Text, Query(max_length=20)] = "time",
                actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    page = service.list_alarms(session, actor, status=status, severity=severity, kind=kind,
                               equipment_id=equipment_id, since=_utc(from_), until=_utc(to), order=order,
                               limit=limit, offset=offset)
    return model_response(PageOut[AlarmPublic](items=[AlarmPublic.model_validate(a) for a in page.items],
                                               total=page.total))


@router.get("/alarms/analytics", response_model=AnalyticsOut,
            summary="Count, duration and time to acknowledge, per kind, equipment and severity")
def alarm_analytics(from_: Annotated[datetime | None, Query(alias="from")] = None, to: When = None,
                    actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return model_response(compute_analytics(session, actor, _utc(from_), _utc(to)))


@router.get("/alarms/{item_id}", response_model=AlarmDetail, summary="One alarm with its explanation and history")
def read_alarm(item_id: ItemId, actor: Actor = Depends(current_actor),
               session: Session = Depends(db_session)) -> Any:
    return model_response(detail_of(session, actor, item_id))


@router.post("/alarms/{item_id}/ack", response_model=AlarmDetail, summary="Acknowledge (who and when are recorded)")
@requires(Perm.HANDLE_ALARMS)
def ack(item_id: ItemId, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
        session: Session = Depends(db_session)) -> Any:
    service.acknowledge(acting(session, actor), actor, item_id, body.note if body else "")
    session.commit()
    return model_response(detail_of(session, actor, item_id))


@router.post("/alarms/{item_id}/clear", response_model=AlarmDetail, summary="Clear by hand")
@requires(Perm.HANDLE_ALARMS)
def clear(item_id: ItemId, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
          session: Session = Depends(db_session)) -> Any:
    service.clear(acting(session, actor), actor, item_id, body.note if body else "")
    session.commit()
    return model_response(detail_of(session, actor, item_id))


@router.post("/alarms/{item_id}/comment", response_model=AlarmDetail, status_code=201, summary="Add a comment")
@requires(Perm.HANDLE_ALARMS)
def comment(item_id: ItemId, body: CommentIn, actor: Actor = Depends(current_actor),
            session: Session = Depends(db_session)) -> Any:
    service.comment(acting(session, actor), actor, item_id, body.note)
    session.commit()
    return model_response(detail_of(session, actor, item_id), 201)


def _silence_out(s: Any) -> SilencePublic:
    return SilencePublic.model_validate(s).model_copy(update={"in_force": silences.in_force(s)})


@router.get("/alarm-silences", response_model=list[SilencePublic], summary="Silences in force or planned")
def list_silences(include_past: bool = False, actor: Actor = Depends(current_actor),
                  session: Session = Depends(db_session)) -> Any:
    return [_silence_out(s) for s in silences.list_silences(session, actor, include_past=include_past)]


@router.post("/alarm-silences", response_model=SilencePublic, status_code=201, summary="Create a silence")
@requires(Perm.HANDLE_ALARMS)
def create_silence(body: SilenceCreate, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    s = silences.create_silence(acting(session, actor), actor, body)
    out = _silence_out(s)
    session.commit()
    return out


@router.delete("/alarm-silences/{item_id}", response_model=SilencePublic, summary="Cancel a silence (kept on record)")
@requires(Perm.HANDLE_ALARMS)
def cancel_silence(item_id: ItemId, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    s = silences.cancel_silence(acting(session, actor), actor, item_id)
    out = _silence_out(s)
    session.commit()
    return out


@router.get("/alarm-policies", response_model=PoliciesOut, summary="The enterprise's alarm policies")
def get_policies(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return policy.policies_out(session, actor)


@router.put("/alarm-policies", response_model=PoliciesOut, summary="Replace the enterprise's alarm policies")
@requires(Perm.MANAGE_ALARM_POLICY)
def put_policies(body: PoliciesIn, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    out = policy.replace_policies(acting(session, actor), actor, body)
    session.commit()
    return out


@router.post("/alarm-signals", summary="Condition signals from an edge box (device token)", response_model=None,
             openapi_extra={"security": [{"DeviceToken": []}]})
async def alarm_signals(request: Request) -> Response:
    result = await receive_signals(request)
    return Response(result.model_dump_json(), media_type="application/json")

