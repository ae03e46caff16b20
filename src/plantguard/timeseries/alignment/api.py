"""/api/v1/alignment: imports, the aligned context of a machine, the phase-risk report.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.

Uploads are read from the request stream with a byte limit (the multipart parser would
otherwise spool any size to disk first), then parsed and imported off the event loop. An
import answers 200 with a report of what was written and every rejected row; a file that
cannot be imported at all answers 422 naming the reason.
"""

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.core.errors import FieldError, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor
from plantguard.core.schemas import ID_MAX, Input, Text
from plantguard.ingest.reading import now_us
from plantguard.timeseries.alignment.asof import STALENESS_S, AlignedContext, context_at
from plantguard.timeseries.alignment.csvfile import MAX_FILE_BYTES
from plantguard.timeseries.alignment.importers import (
    IMPORT_PERM,
    ImportResult,
    Kind,
    import_csv,
    import_records,
)
from plantguard.timeseries.alignment.models import EVENT_KINDS, ZONE_SOURCES
from plantguard.timeseries.alignment.phase_risk import HOUR_US, PhaseRiskReport, phase_risk
from plantguard.timeseries.alignment.times import TimeError, parse_time, plant_tz, to_datetime

MAX_JSON_ROWS = 50_000
MAX_ERRORS_SHOWN = 1000
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and part headers around the file
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel",
                       "text/comma-separated-values", "application/octet-stream", ""})
CSV_SUFFIXES = (".csv", ".txt", ".tsv")

UPLOAD_TOO_BIG = N_("The file is larger than %(limit)s MB")
UPLOAD_NOT_FORM = N_("Send the file as multipart/form-data in a field named 'file'")
UPLOAD_NOT_CSV = N_("Only CSV files (.csv, .txt) can be imported")
DEFAULT_PERIOD_DAYS = 30


class UploadTooLarge(PlantGuardError):
    status_code = 413
    code = "too_large"

    def __init__(self) -> None:
        super().__init__(UPLOAD_TOO_BIG, limit=MAX_FILE_BYTES // (1024 * 1024))


# -- schemas ---------------------------------------------------------------------------------------------


class RowErrorOut(BaseModel):
    line: int = Field(description="Line in the file (position in the list for JSON rows)")
    row: bool = Field(description="False for an error of a column, which rejects no row")
    field: str
    column: str = Field(description="The column as the file names it")
    label: str
    message: str


class ImportOut(BaseModel):
    kind: str
    rows: int
    imported: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors_total: int
    errors: list[RowErrorOut] = Field(description=f"The first {MAX_ERRORS_SHOWN} errors, by line")


class RowsIn(Input):
    rows: list[dict[str, str | int | float | bool | None]] = Field(max_length=MAX_JSON_ROWS)


class WorkOrderOut(BaseModel):
    id: int
    order_no: str
    product: str


class PhaseOut(BaseModel):
    phase: str
    label: str
    start: datetime
    end: datetime | None
    work_order: WorkOrderOut | None


class PersonOut(BaseModel):
    badge: str
    person_id: int | None
    employee_no: str
    name: str
    entered_at: datetime
    left_at: datetime | None
    source: str
    source_label: str


class AmbientOut(BaseModel):
    point_id: int
    code: str
    name: str
    quantity: str
    unit: str
    ts: datetime | None
    value: float | None
    quality: int | None
    age_s: float | None


class EventOut(BaseModel):
    ts: datetime
    code: str
    kind: str
    kind_label: str
    severity: int
    message: str


class ContextOut(BaseModel):
    at: datetime
    equipment_id: int
    equipment_code: str
    equipment_name: str
    area_id: int
    area_code: str
    area_name: str
    phase: PhaseOut | None
    people: list[PersonOut]
    ambient: list[AmbientOut]
    ambient_staleness_s: int
    events: list[EventOut]


class PhaseRiskOut(BaseModel):
    phase: str
    label: str
    exposure_h: float
    events: int
    rate_per_h: float | None
    rate_low: float | None
    rate_high: float | None
    ratio: float | None = Field(description="Rate relative to the plant's mean rate")
    ratio_low: float | None
    ratio_high: float | None
    p_value: float | None
    elevated: bool = Field(description="The ratio's lower confidence bound is above 1")


class PhaseRiskReportOut(BaseModel):
    start: datetime
    end: datetime
    confidence: float
    sources: list[str]
    equipment: int
    exposure_h: float
    events: int
    unassigned: int
    mean_rate_per_h: float | None
    mean_rate_low: float | None
    mean_rate_high: float | None
    phases: list[PhaseRiskOut]


# -- presenting ---------------------------------------------------------------------------------------


def _dt(us: int) -> datetime:
    return to_datetime(us, plant_tz())


def import_out(result: ImportResult) -> ImportOut:
    return ImportOut(
        kind=result.kind, rows=result.rows, imported=result.imported, created=result.created,
        updated=result.updated, unchanged=result.unchanged, rejected=result.rejected,
        errors_total=len(result.errors),
        errors=[RowErrorOut(**e.rendered()) for e in result.errors[:MAX_ERRORS_SHOWN]],
    )


def context_out(ctx: AlignedContext) -> ContextOut:
    phase = None
    if ctx.phase is not None:
        wo = ctx.phase.work_order
        phase = PhaseOut(phase=ctx.phase.phase, label=_(ctx.phase.label), start=_dt(ctx.phase.start),
                         end=_dt(ctx.phase.end) if ctx.phase.end is not None else None,
                         work_order=WorkOrderOut(id=wo.id, order_no=wo.order_no, product=wo.product) if wo else None)
    return ContextOut(
        at=_dt(ctx.at), equipment_id=ctx.equipment_id, equipment_code=ctx.equipment_code,
        equipment_name=ctx.equipment_name, area_id=ctx.area_id, area_code=ctx.area_code, area_name=ctx.area_name,
        phase=phase,
        people=[PersonOut(badge=p.badge, person_id=p.person_id, employee_no=p.employee_no, name=p.name,
                          entered_at=_dt(p.entered), left_at=_dt(p.left) if p.left is not None else None,
                          source=p.source, source_label=_(ZONE_SOURCES.get(p.source, p.source)))
                for p in ctx.people],
        ambient=[AmbientOut(point_id=a.point_id, code=a.code, name=a.name, quantity=a.quantity, unit=a.unit,
                            ts=_dt(a.ts) if a.ts is not None else None, value=a.value, quality=a.quality,
                            age_s=(ctx.at - a.ts) / 1e6 if a.ts is not None else None)
                 for a in ctx.ambient],
        ambient_staleness_s=ctx.staleness_s,
        events=[EventOut(ts=_dt(e.ts), code=e.code, kind=e.kind, kind_label=_(EVENT_KINDS.get(e.kind, e.kind)),
                         severity=e.severity, message=e.message) for e in ctx.events],
    )


def report_out(r: PhaseRiskReport) -> PhaseRiskReportOut:
    return PhaseRiskReportOut(
        start=_dt(r.start), end=_dt(r.end), confidence=r.confidence, sources=r.sources, equipment=r.equipment,
        exposure_h=r.exposure_h, events=r.events, unassigned=r.unassigned, mean_rate_per_h=r.mean_rate,
        mean_rate_low=r.mean_rate_low, mean_rate_high=r.mean_rate_high,
        phases=[PhaseRiskOut(phase=p.phase, label=_(p.label), exposure_h=p.exposure_h, events=p.events,
                             rate_per_h=p.rate, rate_low=p.rate_low, rate_high=p.rate_high, ratio=p.ratio,
                             ratio_low=p.ratio_low, ratio_high=p.ratio_high, p_value=p.p_value, elevated=p.elevated)
                for p in r.phases],
    )


def parse_param(name: str, value: str | None, default: int) -> int:
    """A time query parameter (ISO 8601 or epoch; naive = plant time) as µs, or the default."""
    if value is None or not value.strip():
        return default
    try:
        return parse_time(value, plant_tz())
    except TimeError as exc:
        raise ValidationFailed([FieldError(name, exc.message)]) from None


# -- upload reading -------------------------------------------------------------------------------------


async def read_upload(request: Request) -> bytes:
    """The ``file`` part of a multipart body, read with a byte limit."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValidationFailed([FieldError("file", UPLOAD_NOT_FORM)])
    limit = MAX_FILE_BYTES + FORM_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge()

    async def capped() -> AsyncGenerator[bytes, None]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise UploadTooLarge()
            yield chunk

    try:
        form = await MultiPartParser(request.headers, capped(), max_files=1, max_fields=10).parse()
    except MultiPartException:
        raise ValidationFailed([FieldError("file", UPLOAD_NOT_FORM)]) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed([FieldError("file", UPLOAD_NOT_FORM)])
        name = (upload.filename or "").lower()
        media = (upload.content_type or "").split(";")[0].strip().lower()
        if media not in CSV_TYPES or (name and not name.endswith(CSV_SUFFIXES)):
            raise ValidationFailed([FieldError("file", UPLOAD_NOT_CSV)])
        data = await upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise UploadTooLarge()
        return data
    finally:
        await form.close()


# -- routes ---------------------------------------------------------------------------------------------

router = APIRouter(prefix="/alignment", tags=["alignment"], route_class=GuardedRoute)

KindPath = Annotated[Kind, Path(description="What the rows are: plc_events, mes_phases, zone_entries, environment")]
TimeQuery = Annotated[Text | None, Query(max_length=64, description="ISO 8601 (naive = plant time) or epoch")]

UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": f"CSV, at most {MAX_FILE_BYTES // (1024 * 1024)} MB"}},
        }}},
    },
}


@requires(IMPORT_PERM)
async def import_upload(request: Request, kind: KindPath, actor: Actor = Depends(current_actor),
                        session: Session = Depends(db_session)) -> Any:
    data = await read_upload(request)

    def run() -> ImportOut:
        result = import_csv(acting(session, actor), actor, kind, data)
        session.commit()
        return import_out(result)

    out = await run_in_threadpool(run)
    return Response(out.model_dump_json(), media_type="application/json")


router.add_api_route("/import/{kind}", import_upload, methods=["POST"], response_model=ImportOut,
                     summary="Import a CSV file (multipart upload)", openapi_extra=UPLOAD_DOC)


@requires(IMPORT_PERM)
def import_rows(kind: KindPath, body: RowsIn, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    result = import_records(acting(session, actor), actor, kind, body.rows)
    session.commit()
    return Response(import_out(result).model_dump_json(), media_type="application/json")


router.add_api_route("/import/{kind}/rows", import_rows, methods=["POST"], response_model=ImportOut,
                     summary="Import rows given as JSON (field names as the CSV header)")


def read_context(
    equipment_id: Annotated[int, Query(ge=1, le=ID_MAX, description="Equipment id")],
    at: TimeQuery = None,
    staleness_s: Annotated[int, Query(ge=1, le=7 * 86400, description="Oldest ambient reading used")] = STALENESS_S,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session),
) -> Any:
    moment = parse_param("at", at, now_us())
    ctx = context_at(session, actor, equipment_id, moment, staleness_s=staleness_s)
    return Response(context_out(ctx).model_dump_json(), media_type="application/json")


router.add_api_route("/context", read_context, methods=["GET"], response_model=ContextOut,
                     summary="A machine's aligned context at a moment")


def read_phase_risk(
    from_: Annotated[Text | None, Query(alias="from", max_length=64, description="Start (default: 30 days ago)")]
    = None,
    to: TimeQuery = None,
    confidence: Annotated[float, Query(ge=0.5, lt=1.0)] = 0.95,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session),
) -> Any:
    end = parse_param("to", to, now_us())
    start = parse_param("from", from_, end - DEFAULT_PERIOD_DAYS * 24 * HOUR_US)
    report = phase_risk(session, actor, start, end, confidence=confidence)
    return Response(report_out(report).model_dump_json(), media_type="application/json")


router.add_api_route("/phase-risk", read_phase_risk, methods=["GET"], response_model=PhaseRiskReportOut,
                     summary="Alarm and incident rates per work phase against the plant mean")
