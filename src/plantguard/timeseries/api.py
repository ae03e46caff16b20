"""Readings over HTTP: a point's series as JSON or CSV, and the live overview.

Nothing here goes through the read cache: readings are not audited, so the tenant's data
version (the audit head) does not move when they change, and a cached answer would be stale.

No ``from __future__ import annotations``: FastAPI reads the signatures at runtime.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from plantguard.api.deps import GuardedRoute, current_actor, db_session
from plantguard.core.permissions import Actor
from plantguard.core.schemas import ID_MAX
from plantguard.ingest.reading import Quality
from plantguard.timeseries.query import MAX_LIVE, LivePoint, Series, iso, last_values, series

router = APIRouter(tags=["timeseries"], route_class=GuardedRoute)

PointId = Annotated[int, Path(ge=1, le=ID_MAX, description="Measurement point id")]
# Times are validated by the service, which names the field in the caller's language.
From = Annotated[str | None, Query(alias="from", max_length=64, description=(
    "Start of the range, ISO-8601 (e.g. 2026-01-01T08:00:00+08:00); a time without a zone is UTC. "
    "Default: 24 hours before `to`."))]
To = Annotated[str | None, Query(max_length=64, description=(
    "End of the range (exclusive), ISO-8601; a time without a zone is UTC. Default: now, or 24 hours after `from`."))]
Agg = Annotated[Literal["raw", "1m", "1h", "auto"], Query(description=(
    "raw readings, 1-minute or 1-hour rollups, or auto: raw when the range holds at most ~5,000 readings, "
    "else 1-minute rollups for ranges up to ~3.5 days, else 1-hour"))]
RefId = Annotated[int | None, Query(ge=1, le=ID_MAX)]


class PointOut(BaseModel):
    id: int
    code: str
    name: str
    quantity: str
    unit: str
    range_low: float | None
    range_high: float | None
    low_alarm: float | None
    low_warning: float | None
    high_warning: float | None
    high_alarm: float | None


class SeriesOut(BaseModel):
    """Columns of equal length. Raw: ``t``, ``value``, ``quality`` (0 good, 1 uncertain, 2 bad;
    a bad reading may have no value). Rollups (good readings only): ``t`` (bucket start),
    ``min``, ``max``, ``avg``, ``count``. Times are ISO-8601 UTC."""

    point: PointOut
    from_: str = Field(serialization_alias="from")
    to: str
    agg: Literal["raw", "1m", "1h"]
    requested_agg: Literal["raw", "1m", "1h", "auto"]
    resolution_s: int | None
    size: int
    t: list[str]
    value: list[float | None] | None = None
    quality: list[int] | None = None
    min: list[float] | None = None
    max: list[float] | None = None
    avg: list[float] | None = None
    count: list[int] | None = None


class DeviceOut(BaseModel):
    id: int
    code: str
    name: str
    state: str
    available: bool


class LiveItemOut(BaseModel):
    point_id: int
    code: str
    name: str
    quantity: str
    unit: str
    equipment_id: int
    equipment_code: str
    equipment_name: str
    area_id: int
    area_code: str
    area_name: str
    low_alarm: float | None
    low_warning: float | None
    high_warning: float | None
    high_alarm: float | None
    t: str | None
    value: float | None
    quality: int | None
    quality_name: Literal["good", "uncertain", "bad", "none"]
    age_s: float | None
    stale: bool
    stale_after_s: float
    state: Literal["normal", "warning", "alarm", "none"]
    device: DeviceOut | None


class LiveOut(BaseModel):
    generated_at: str
    items: list[LiveItemOut]
    truncated: bool


def series_out(s: Series) -> SeriesOut:
    p = s.point
    body = SeriesOut(
        point=PointOut(**p.__dict__), from_=iso_dt(s.start), to=iso_dt(s.end), agg=s.agg,
        requested_agg=s.requested, resolution_s=s.resolution_s, size=len(s),
        t=[iso(t) for t in s.ts],
    )
    if s.agg == "raw":
        body.value, body.quality = s.value, s.quality
    else:
        body.min, body.max, body.avg, body.count = s.vmin, s.vmax, s.avg, s.count
    return body


def iso_dt(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def live_item(p: LivePoint) -> LiveItemOut:
    d = p.device
    return LiveItemOut(
        point_id=p.point_id, code=p.code, name=p.name, quantity=p.quantity, unit=p.unit,
        equipment_id=p.equipment_id, equipment_code=p.equipment_code, equipment_name=p.equipment_name,
        area_id=p.area_id, area_code=p.area_code, area_name=p.area_name, low_alarm=p.low_alarm,
        low_warning=p.low_warning, high_warning=p.high_warning, high_alarm=p.high_alarm,
        t=None if p.ts is None else iso(p.ts), value=p.value, quality=p.quality,
        quality_name=p.quality_name, age_s=p.age_s, stale=p.stale, stale_after_s=p.stale_after_s, state=p.state,
        device=None if d is None else DeviceOut(id=d.id, code=d.code, name=d.name, state=d.state,
                                                available=d.available),
    )


@router.get("/points/{point_id}/series", response_model=SeriesOut, summary="A point's readings or rollups")
def get_series(
    point_id: PointId, frm: From = None, to: To = None, agg: Agg = "auto",
    actor: Actor = Depends(current_actor), session: Session = Depends(db_session),
) -> Response:
    body = series_out(series(session, actor, point_id, frm, to, agg))
    return Response(body.model_dump_json(by_alias=True), media_type="application/json",
                    headers={"Cache-Control": "no-store"})


CSV_CHUNK = 2_000
QUALITY_NAMES = {int(q): q.name.lower() for q in Quality}


def _num(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def csv_lines(s: Series) -> Iterator[str]:
    """The series as CSV text in chunks of lines; timestamps ISO-8601 UTC, quality by name."""
    if s.agg == "raw":
        yield "timestamp,value,quality\r\n"
        rows: Iterator[str] = (f"{iso(t)},{_num(v)},{QUALITY_NAMES.get(q, str(q))}\r\n"
                               for t, v, q in zip(s.ts, s.value, s.quality, strict=True))
    else:
        yield "bucket,min,max,avg,count\r\n"
        rows = (f"{iso(t)},{_num(lo)},{_num(hi)},{_num(a)},{n}\r\n"
                for t, lo, hi, a, n in zip(s.ts, s.vmin, s.vmax, s.avg, s.count, strict=True))
    buf: list[str] = []
    for line in rows:
        buf.append(line)
        if len(buf) >= CSV_CHUNK:
            yield "".join(buf)
            buf.clear()
    if buf:
        yield "".join(buf)


@router.get("/points/{point_id}/series.csv", summary="A point's readings or rollups as CSV",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": (
                "Raw: `timestamp,value,quality`; rollups: `bucket,min,max,avg,count`; ISO-8601 UTC times")}})
def get_series_csv(
    point_id: PointId, frm: From = None, to: To = None, agg: Agg = "auto",
    actor: Actor = Depends(current_actor), session: Session = Depends(db_session),
) -> Response:
    # The rows are read (bounded) before the answer starts, so an error is still a clean 4xx
    # and the database session is not held while a slow client downloads.
    s = series(session, actor, point_id, frm, to, agg)
    stamp = s.start.strftime("%Y%m%dT%H%M%SZ")
    name = f"{s.point.code}_{stamp}_{s.agg}.csv"
    return StreamingResponse(
        (chunk.encode() for chunk in csv_lines(s)), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/live", response_model=LiveOut, summary="Every point's last value, quality and state")
def get_live(
    area_id: RefId = None, equipment_id: RefId = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIVE)] = MAX_LIVE,
    actor: Actor = Depends(current_actor), session: Session = Depends(db_session),
) -> Response:
    now = datetime.now(UTC)
    items = last_values(session, actor, area_id, equipment_id, now=now, limit=limit + 1)
    body = LiveOut(generated_at=iso_dt(now), items=[live_item(p) for p in items[:limit]],
                   truncated=len(items) > limit)
    return Response(body.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"})
