"""/api/v1/ingest/opcua/browse and /accept: propose points from an OPC UA server, then
create the accepted ones and the device that reads them, in one transaction.

Browsing makes the server open a connection to an address the caller names, so it takes the
same permission as configuring devices. Nothing is written by a browse; ``accept`` goes
through the point and device services, so tenancy, validation and the change ledger apply
as for any other write.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.crud import model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.assets.models import MeasurementPoint
from plantguard.assets.schemas import PointCreate
from plantguard.assets.service import point_service
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import Code60, Id, Input, Name, Number, ShortText, ShortText20, Storable
from plantguard.ingest.config import DeviceCreate, DeviceUpdate, device_service
from plantguard.ingest.connectors.opcua.discovery import (
    Discovery,
    DiscoveryError,
    ProposedPoint,
    browse_report,
    proposals_to_points,
)
from plantguard.ingest.connectors.opcua.manifest import check_endpoint
from plantguard.ingest.models import Device

PROTOCOL = "opcua"
MAX_ACCEPT = 5000
Endpoint = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable]
NodeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable]

ENDPOINT_FORMAT = N_("Must be an opc.tcp:// address with a host name, e.g. opc.tcp://192.168.1.10:4840")
UNREACHABLE = N_("Cannot browse the OPC UA server: %(reason)s")


class BrowseIn(Input):
    endpoint: Endpoint
    max_nodes: int = Field(5000, ge=1, le=50_000, description="Nodes to look at, at most")
    root: NodeText | None = Field(None, description="Start node (default: the Objects folder)")
    timeout_s: float = Field(20.0, ge=1, le=120, description="Give up (and answer what was found) after this")


class ProposalOut(BaseModel):
    node: str
    browse_path: str
    name: str
    code: str
    data_type: str
    unit: str
    range_low: float | None
    range_high: float | None
    description: str
    exists: bool = Field(description="A measurement point with this code exists already")


class BrowseOut(BaseModel):
    endpoint: str
    truncated: bool
    visited: int
    proposals: list[ProposalOut]


class AcceptPoint(Input):
    node: NodeText
    code: Code60
    name: Name
    unit: ShortText20 = ""
    range_low: Number | None = None
    range_high: Number | None = None
    existing: bool = Field(False, description="Map the node to the existing point with this code instead of "
                                              "creating one")


class AcceptIn(Input):
    device_code: Code60
    device_name: ShortText = ""
    endpoint: Endpoint
    mode: Literal["subscribe", "poll"] = "subscribe"
    equipment_id: Id | None = Field(None, description="Equipment of the points to create")
    points: list[AcceptPoint] = Field(min_length=1, max_length=MAX_ACCEPT)


class PointRef(BaseModel):
    id: int
    code: str


class AcceptOut(BaseModel):
    device_id: int
    device_code: str
    device_created: bool
    created: list[PointRef]
    linked: list[PointRef]
    mapped: int = Field(description="Entries in the device's point map")


def _endpoint(endpoint: str) -> str:
    try:
        return check_endpoint(endpoint)
    except ValueError:
        raise ValidationFailed([FieldError("endpoint", ENDPOINT_FORMAT)]) from None


async def browse_points(session: Session, actor: Actor, body: BrowseIn) -> BrowseOut:
    """Browse and mark which proposed codes are taken. Unreachable servers and bad start
    nodes are field errors (``endpoint``, ``root``): the caller's input cannot work."""
    actor.require(Perm.WRITE_DEVICES)
    endpoint = _endpoint(body.endpoint)
    try:
        found: Discovery = await browse_report(endpoint, body.root, body.max_nodes, body.timeout_s)
    except DiscoveryError as exc:
        raise ValidationFailed([FieldError(exc.field, UNREACHABLE, {"reason": str(exc)[:300]})]) from None
    codes = [p.code for p in found.points]

    def taken() -> set[str]:
        out: set[str] = set()
        for i in range(0, len(codes), 500):
            out.update(session.scalars(select(MeasurementPoint.code).where(
                MeasurementPoint.enterprise_id == actor.enterprise_id, MeasurementPoint.code.in_(codes[i: i + 500]))))
        return out

    existing = await run_in_threadpool(taken) if codes else set()
    return BrowseOut(endpoint=endpoint, truncated=found.truncated, visited=found.visited,
                     proposals=[ProposalOut(**p.as_dict(), exists=p.code in existing) for p in found.points])


def point_field(index: int, name: str) -> str:
    """``points.<index>.<name>``: the path of a field of one accepted point."""
    return ".".join(("points", str(index), name))


def _prefixed(errors: list[FieldError], index: int) -> list[FieldError]:
    """A point's field errors as ``points.<index>.<field>`` (its equipment stays top-level)."""
    return [e if e.field == "equipment_id" else FieldError(point_field(index, e.field), e.message, e.params)
            for e in errors]


def _device_errors(errors: list[FieldError]) -> list[FieldError]:
    names = {"connection.endpoint": "endpoint", "connection.mode": "mode"}
    return [FieldError(names.get(e.field, e.field if e.field.startswith("connection") else "device_code"),
                       e.message, e.params) for e in errors]


def accept_points(session: Session, actor: Actor, body: AcceptIn) -> AcceptOut:
    """Create the accepted points (or link existing ones) and create or update the device,
    all in the caller's session; the caller commits. Every problem found is reported at once."""
    actor.require(Perm.WRITE_DEVICES)
    actor.require(Perm.WRITE_POINTS)
    endpoint = _endpoint(body.endpoint)
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, p in enumerate(body.points):
        if p.code in seen:
            errors.append(FieldError(point_field(i, "code"), N_("%(value)s is already in use"), {"value": p.code}))
        seen.setdefault(p.code, i)
    codes = list(seen)
    points_by_code: dict[str, MeasurementPoint] = {}
    for i in range(0, len(codes), 500):
        for mp in session.scalars(point_service.scoped(actor).where(MeasurementPoint.code.in_(codes[i: i + 500]))):
            points_by_code[mp.code] = mp
    for i, p in enumerate(body.points):
        if p.existing and p.code not in points_by_code:
            errors.append(FieldError(point_field(i, "code"), N_("No measurement point with code %(code)s"),
                                     {"code": p.code}))
    new = [(i, p) for i, p in enumerate(body.points) if not p.existing]
    if new and body.equipment_id is None:
        errors.append(FieldError("equipment_id", N_("This field is required")))
    device = session.scalars(device_service.scoped(actor).where(Device.code == body.device_code)).first()
    if device is not None and device.protocol != PROTOCOL:
        errors.append(FieldError("device_code", N_("Device %(code)s uses another protocol (%(protocol)s)"),
                                 {"code": device.code, "protocol": device.protocol}))
    if errors:
        raise ValidationFailed(errors)

    created: list[PointRef] = []
    for i, p in new:
        try:
            obj = point_service.create(session, actor, PointCreate(
                equipment_id=body.equipment_id, code=p.code, name=p.name, unit=p.unit,
                range_low=p.range_low, range_high=p.range_high))
        except ValidationFailed as exc:
            errors += _prefixed(exc.errors, i)
            continue
        created.append(PointRef(id=obj.id, code=obj.code))
    if errors:
        raise ValidationFailed(list({(e.field, e.message): e for e in errors}.values()))
    linked = [PointRef(id=points_by_code[p.code].id, code=p.code) for p in body.points if p.existing]

    proposals = [ProposedPoint(node=p.node, browse_path="", name=p.name, code=p.code, data_type="", unit=p.unit,
                               range_low=p.range_low, range_high=p.range_high) for p in body.points]
    entries, _fields = proposals_to_points(proposals, codes)
    try:
        if device is None:
            device = device_service.create(session, actor, DeviceCreate(
                code=body.device_code, name=body.device_name or body.device_code, protocol=PROTOCOL,
                connection={"endpoint": endpoint, "mode": body.mode}, points=entries))
            device_created = True
        else:
            kept = [e for e in device.points if not (isinstance(e, dict) and e.get("point") in seen)]
            device = device_service.update(session, actor, device.id, DeviceUpdate(
                connection={**(device.connection or {}), "endpoint": endpoint, "mode": body.mode},
                points=[*kept, *entries]))
            device_created = False
    except ValidationFailed as exc:
        raise ValidationFailed(_device_errors(exc.errors)) from None
    return AcceptOut(device_id=device.id, device_code=device.code, device_created=device_created, created=created,
                     linked=linked, mapped=len(device.points))


router = APIRouter(prefix="/ingest/opcua", tags=["devices"], route_class=GuardedRoute)


@requires(Perm.WRITE_DEVICES)
async def browse(body: BrowseIn, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    return model_response(await browse_points(session, actor, body))


router.add_api_route("/browse", browse, methods=["POST"], response_model=BrowseOut,
                     summary="Browse an OPC UA server and propose measurement points (nothing is saved)")


@requires(Perm.WRITE_DEVICES)
def accept(body: AcceptIn, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    result = accept_points(acting(session, actor), actor, body)
    session.commit()
    return model_response(result, status_code=201)


router.add_api_route("/accept", accept, methods=["POST"], response_model=AcceptOut, status_code=201,
                     summary="Create the accepted points and the device that reads them (all or nothing)")
