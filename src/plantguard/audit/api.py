"""/api/v1/audit: the change ledger, newest first."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from plantguard.api.crud import Limit, Offset, RefId
from plantguard.api.deps import GuardedRoute, current_actor, db_session, runtime
from plantguard.audit.service import list_entries
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    ts: datetime
    actor_id: int | None
    actor_name: str
    request_id: str | None
    context_id: str | None
    entity_type: str
    entity_id: int
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str


router = APIRouter(prefix="/audit", tags=["audit"], route_class=GuardedRoute)


@router.get("", response_model=PageOut[AuditEntryPublic], summary="Change ledger entries, newest first")
def list_audit(
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
    entity_type: Annotated[Text | None, Query(max_length=60)] = None,
    entity_id: RefId = None,
    actor_id: RefId = None,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session),
) -> Any:
    actor.require(Perm.READ_AUDIT)

    def compute() -> bytes:
        page = list_entries(session, actor, entity_type=entity_type, entity_id=entity_id, actor_id=actor_id,
                            limit=limit, offset=offset)
        items = [AuditEntryPublic.model_validate(e) for e in page.items]
        return PageOut[AuditEntryPublic](items=items, total=page.total).model_dump_json().encode()

    # The ledger's own head is the version: a new entry is a new version.
    key = ("audit", limit, offset, entity_type, entity_id, actor_id, actor.role)
    body = runtime(request).read_cache.through(session, actor.enterprise_id, key, compute)
    return Response(body, media_type="application/json")
