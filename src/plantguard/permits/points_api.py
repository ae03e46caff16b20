"""``/api/v1/permits/{id}/points`` (the live sensor link) and ``/api/v1/permits/{id}/conflicts``.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Binding and unbinding need ``permits.apply`` (the applicant and the people who set the job up);
reads need only a sign-in. Every lookup is tenant-scoped in the service: another enterprise's
permit or point is "not found". Binding is not a change of the permit's content (4.18), see
``permits/points.py``.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import ID_MAX, Id, Input, Storable
from plantguard.permits import conflicts, points
from plantguard.permits.query import get

router = APIRouter(tags=["permits"], route_class=GuardedRoute)
PointId = Annotated[int, Path(ge=1, le=ID_MAX, description="Measurement point id")]
GasCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                           pattern=r"^[a-z0-9_]+$"), Storable]


class BindIn(Input):
    point_id: Id
    kind: Literal["combustible", "oxygen", "toxic"]
    gas_code: GasCode | None = Field(None, description="gases.yaml code; default: the permit's gas (combustible) "
                                                       "or the point's quantity (toxic)")


class PointOut(BaseModel):
    point_id: int
    code: str
    name: str
    quantity: str
    unit: str
    equipment_code: str
    kind: str | None
    gas_code: str = ""
    current_value: float | None = None  # newest stored reading
    current_ts: datetime | None = None
    last_value: float | None = None  # the last reading the monitor judged while the permit was watched
    last_ts: datetime | None = None


class ConflictOut(BaseModel):
    permit_id: int
    number: str
    type_code: str
    status: str
    reason: str  # message id
    params: dict[str, Any]
    blocking: bool
    message: str  # in the caller's language


@router.get("/permits/{item_id}/points", response_model=list[PointOut],
            summary="Sensing points bound to the permit, with their newest readings")
def list_points(item_id: ItemId, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    return [PointOut(**p) for p in points.bound(session, actor, item_id)]


@router.get("/permits/{item_id}/points/suggest", response_model=list[PointOut],
            summary="Gas, oxygen and toxic points on the permit's equipment or in its area, not yet bound")
def suggest_points(item_id: ItemId, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    return [PointOut(**p) for p in points.suggest(session, actor, item_id)]


@router.post("/permits/{item_id}/points", response_model=PointOut, status_code=201,
             summary="Bind a gas, oxygen or toxic point: its readings are checked against the permit's limits "
                     "while the permit is approved or active (GB 30871-2022 6.5)")
@requires(Perm.APPLY_PERMITS)
def bind_point(item_id: ItemId, body: BindIn, actor: Actor = Depends(current_actor),
               session: Session = Depends(db_session)) -> Any:
    row = points.bind(acting(session, actor), actor, item_id, point_id=body.point_id, kind=body.kind,
                      gas_code=body.gas_code)
    session.commit()
    out = next(p for p in points.bound(session, actor, item_id) if p["point_id"] == row.point_id)
    return PointOut(**out)


@router.delete("/permits/{item_id}/points/{point_id}", status_code=204, response_class=Response,
               summary="Unbind a point (refused for the last required point of work under continuous monitoring)")
@requires(Perm.APPLY_PERMITS)
def unbind_point(item_id: ItemId, point_id: PointId, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Response:
    points.unbind(acting(session, actor), actor, item_id, point_id)
    session.commit()
    return Response(status_code=204)


@router.get("/permits/{item_id}/conflicts", response_model=list[ConflictOut],
            summary="Live permits overlapping this one in time at the same place (flags; §7 same-line "
                    "blind-plate work is blocking)")
def permit_conflicts(item_id: ItemId, actor: Actor = Depends(current_actor),
                     session: Session = Depends(db_session)) -> Any:
    permit = get(session, actor, item_id)
    return [ConflictOut(**c, message=gettext(c["reason"], **c["params"])) for c in conflicts.find(session, permit)]
