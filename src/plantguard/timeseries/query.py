"""Reading a point's history (raw readings or rollups) and every point's last value.

Times come in as ISO-8601 text. A time with a zone (``Z``, ``+08:00``) is that instant; a
time *without* one is taken as UTC, the same rule as :func:`plantguard.ingest.reading.to_us`,
so that a script and the store never disagree about a naive timestamp. Plant-local times
should therefore always carry their offset. A range is half-open: ``from <= t < to``.

Every answer is bounded. ``agg=raw`` refuses a range holding more than :data:`MAX_POINTS`
readings (naming the ``agg`` field and the coarser choices) rather than streaming millions
of rows; ``auto`` picks the finest resolution that stays near :data:`AUTO_TARGET` rows, which
is what a chart a few thousand pixels wide can show anyway.

Readings are not audited, so nothing here may go through the read cache
(``core/readcache.py`` is exact only for audited data): every call reads the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.assets.service import point_service
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.models import Device, DeviceStatus
from plantguard.ingest.reading import EPOCH, Quality, to_us
from plantguard.tenancy.models import Area
from plantguard.timeseries.models import HOUR, MINUTE, PointLast, ReadingRow, Rollup

AGG_RAW, AGG_MINUTE, AGG_HOUR, AGG_AUTO = "raw", "1m", "1h", "auto"
AGGS = (AGG_RAW, AGG_MINUTE, AGG_HOUR, AGG_AUTO)
RESOLUTION_S = {AGG_MINUTE: MINUTE, AGG_HOUR: HOUR}

MAX_POINTS = 20_000  # rows in any one answer, raw or rolled up
AUTO_TARGET = 5_000  # ``auto``: the finest resolution with at most about this many rows
MAX_RANGE = timedelta(days=400)
DEFAULT_RANGE = timedelta(hours=24)
MAX_TIME_TEXT = 64
# Accepted times: the epoch onwards (the store's time is µs since 1970), and far enough from
# year 9999 that a default range can be added without leaving the calendar.
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 1, 1, tzinfo=UTC)

US = 1_000_000


# -- times -------------------------------------------------------------------------------------


def parse_time(text: str, name: str) -> datetime:
    """An ISO-8601 date-time (naive = UTC) as an aware UTC datetime; a FieldError names ``name``."""
    bad = ValidationFailed([FieldError(
        name, N_("Must be an ISO-8601 date and time, e.g. %(example)s"), {"example": "2026-01-01T08:00:00+08:00"})])
    value = text.strip()
    if not value or len(value) > MAX_TIME_TEXT:
        raise bad
    try:
        dt = datetime.fromisoformat(value)
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad from None
    return dt


def _in_bounds(dt: datetime, name: str) -> FieldError | None:
    if MIN_TIME <= dt < MAX_TIME:
        return None
    return FieldError(name, N_("Must be between %(min)s and %(max)s"),
                      {"min": MIN_TIME.date().isoformat(), "max": MAX_TIME.date().isoformat()})


def resolve_range(frm: str | datetime | None, to: str | datetime | None,
                  now: datetime | None = None) -> tuple[datetime, datetime]:
    """``[from, to)`` with defaults (the last 24 hours, or 24 hours either side of the one
    given) and its rules: ``to`` after ``from``, at most :data:`MAX_RANGE` apart."""
    errors: list[FieldError] = []
    start: datetime | None = None
    end: datetime | None = None
    for name, raw in (("from", frm), ("to", to)):
        parsed: datetime | None
        if raw is None or isinstance(raw, datetime):
            parsed = raw
            if parsed is not None and parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
        else:
            try:
                parsed = parse_time(raw, name)
            except ValidationFailed as exc:
                errors.extend(exc.errors)
                continue
        if parsed is not None and (problem := _in_bounds(parsed, name)) is not None:
            errors.append(problem)
            continue
        if name == "from":
            start = parsed
        else:
            end = parsed
    if errors:
        raise ValidationFailed(errors)
    if end is None:
        end = (start + DEFAULT_RANGE) if start is not None else (now or datetime.now(UTC))
    if start is None:
        start = end - DEFAULT_RANGE
    if end <= start:
        raise ValidationFailed([FieldError("to", N_("Must be after the start of the range (%(start)s)"),
                                           {"start": iso(to_us(start))})])
    if end - start > MAX_RANGE:
        raise ValidationFailed([FieldError("from", N_("The range may span at most %(days)s days"),
                                           {"days": MAX_RANGE.days})])
    return start, end


def iso(us: int) -> str:
    """Microseconds since the epoch as ISO-8601 UTC with a ``Z``."""
    return (EPOCH + timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")


# -- series ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointInfo:
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

    @classmethod
    def of(cls, p: MeasurementPoint) -> PointInfo:
        return cls(p.id, p.code, p.name, p.quantity, p.unit, p.range_low, p.range_high, p.low_alarm,
                   p.low_warning, p.high_warning, p.high_alarm)


@dataclass(frozen=True)
class Series:
    """One point's history over ``[start, end)``: raw readings (``ts``, ``value``, ``quality``)
    or rollup buckets (``ts`` = bucket start, ``vmin``, ``vmax``, ``avg``, ``count``)."""

    point: PointInfo
    start: datetime
    end: datetime
    agg: str  # what was used: raw | 1m | 1h
    requested: str  # what was asked for (auto, or the same as agg)
    ts: list[int] = field(default_factory=list)  # µs since the epoch, UTC
    value: list[float | None] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    vmin: list[float] = field(default_factory=list)
    vmax: list[float] = field(default_factory=list)
    avg: list[float] = field(default_factory=list)
    count: list[int] = field(default_factory=list)

    @property
    def resolution_s(self) -> int | None:
        return RESOLUTION_S.get(self.agg)

    def __len__(self) -> int:
        return len(self.ts)


def _raw(session: Session, point_id: int, start: int, end: int, limit: int) -> list[Any]:
    return list(session.execute(
        select(ReadingRow.ts, ReadingRow.value, ReadingRow.quality)
        .where(ReadingRow.point_id == point_id, ReadingRow.ts >= start, ReadingRow.ts < end)
        .order_by(ReadingRow.ts).limit(limit)
    ).all())


def _rollups(session: Session, point_id: int, res: int, start: int, end: int, limit: int) -> list[Any]:
    # Every bucket that overlaps the range, the partial ones at either end included.
    return list(session.execute(
        select(Rollup.bucket, Rollup.vmin, Rollup.vmax, Rollup.vsum, Rollup.n)
        .where(Rollup.point_id == point_id, Rollup.res == res, Rollup.bucket > start - res * US,
               Rollup.bucket < end)
        .order_by(Rollup.bucket).limit(limit)
    ).all())


def good_readings_at_least(session: Session, point_id: int, start: int, end: int) -> int:
    """A cheap lower bound of the readings in ``[start, end)``: the good readings counted by
    the hourly rollups that lie wholly inside it (at most ~9,600 rows for 400 days)."""
    first = -(-start // (HOUR * US)) * HOUR * US  # first whole hour at or after start
    n = session.scalar(
        select(func.sum(Rollup.n)).where(Rollup.point_id == point_id, Rollup.res == HOUR, Rollup.bucket >= first,
                                         Rollup.bucket <= end - HOUR * US))
    return int(n or 0)


def _too_many(agg: str, limit: int) -> ValidationFailed:
    if agg == AGG_RAW:
        msg = N_("The range holds more than %(max)s readings: choose agg=1m or agg=1h, or a shorter range")
    else:
        msg = N_("The range holds more than %(max)s one-minute buckets: choose agg=1h or a shorter range")
    return ValidationFailed([FieldError("agg", msg, {"max": limit})])


def series(session: Session, actor: Actor, point_id: int, frm: str | datetime | None = None,
           to: str | datetime | None = None, agg: str = AGG_AUTO, *, now: datetime | None = None,
           max_points: int = MAX_POINTS) -> Series:
    """The history of one point of the caller's enterprise (``NotFound`` for any other)."""
    errors: list[FieldError] = []
    if agg not in AGGS:
        errors.append(FieldError("agg", N_("Must be one of: %(expected)s"), {"expected": ", ".join(AGGS)}))
    try:
        start_dt, end_dt = resolve_range(frm, to, now)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    point = PointInfo.of(point_service.get(session, actor, point_id))
    start, end = to_us(start_dt), to_us(end_dt)

    used = agg
    raw_rows: list[Any] | None = None
    if agg == AGG_AUTO:
        target = min(AUTO_TARGET, max_points)
        used = AGG_HOUR
        if good_readings_at_least(session, point.id, start, end) <= target:
            raw_rows = _raw(session, point.id, start, end, target + 1)
            if len(raw_rows) <= target:
                used = AGG_RAW
        if used != AGG_RAW and (end - start) // (MINUTE * US) <= target:
            used = AGG_MINUTE
    out = Series(point, start_dt, end_dt, used, agg)
    if used == AGG_RAW:
        if raw_rows is None:
            raw_rows = _raw(session, point.id, start, end, max_points + 1)
            if len(raw_rows) > max_points:
                raise _too_many(AGG_RAW, max_points)
        for t, v, q in raw_rows:
            out.ts.append(t)
            out.value.append(v)
            out.quality.append(q)
        return out
    res = RESOLUTION_S[used]
    rows = _rollups(session, point.id, res, start, end, max_points + 1)
    if len(rows) > max_points:
        raise _too_many(used, max_points)
    for b, lo, hi, total, n in rows:
        out.ts.append(b)
        out.vmin.append(lo)
        out.vmax.append(hi)
        out.avg.append(total / n if n else lo)
        out.count.append(n)
    return out


# -- the live overview -------------------------------------------------------------------------

# A point read by a polled device is stale after this many poll intervals (never sooner than
# STALE_FLOOR_S, so a 1 s poll does not flicker). Pushed values (MQTT, OPC UA subscriptions,
# HTTP) arrive when they change or when the device chooses, so any other point is stale after
# the configured PLANTGUARD_LIVE_STALE_SECONDS (5 minutes by default).
STALE_FACTOR = 5
STALE_FLOOR_S = 10.0
DEFAULT_STALE_S = 300.0
MAX_LIVE = 5_000

STATES = ("normal", "warning", "alarm", "none")


def default_stale_s() -> float:
    raw = os.environ.get("PLANTGUARD_LIVE_STALE_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_STALE_S
    except ValueError:
        return DEFAULT_STALE_S
    return value if value > 0 else DEFAULT_STALE_S


def threshold_state(value: float | None, low_alarm: float | None, low_warning: float | None,
                    high_warning: float | None, high_alarm: float | None) -> str:
    """normal / warning / alarm by the point's thresholds (limits count as crossed); ``none``
    without a value."""
    if value is None:
        return "none"
    if (high_alarm is not None and value >= high_alarm) or (low_alarm is not None and value <= low_alarm):
        return "alarm"
    if (high_warning is not None and value >= high_warning) or (low_warning is not None and value <= low_warning):
        return "warning"
    return "normal"


@dataclass(frozen=True)
class DeviceInfo:
    id: int
    code: str
    name: str
    state: str  # starting | online | offline | error | disabled, or "unknown" before the first status
    available: bool
    interval_s: float  # the poll interval; 0 for devices that push (no expected interval)


@dataclass(frozen=True)
class LivePoint:
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
    ts: int | None  # µs of the last reading, None before the first
    value: float | None
    quality: int | None
    age_s: float | None
    stale_after_s: float
    stale: bool
    state: str  # normal | warning | alarm | none
    device: DeviceInfo | None

    @property
    def quality_name(self) -> str:
        return "none" if self.quality is None else Quality(self.quality).name.lower()


def _polled(protocol: str) -> bool:
    from plantguard.ingest.manifest import UnknownProtocol, get

    try:
        return get(protocol).mode == "poll"
    except UnknownProtocol:
        return False


def _devices_by_point(session: Session, enterprise_id: int) -> dict[str, DeviceInfo]:
    """Point code → the device that reads it (an enabled one first, then the lowest id)."""
    rows = session.execute(
        select(Device.id, Device.code, Device.name, Device.protocol, Device.enabled, Device.poll_interval_s,
               Device.points, DeviceStatus.state, DeviceStatus.available)
        .outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
        .where(Device.enterprise_id == enterprise_id)
        .order_by(Device.enabled.desc(), Device.id)
    ).all()
    out: dict[str, DeviceInfo] = {}
    for dev_id, code, name, protocol, enabled, interval, points, state, available in rows:
        info = DeviceInfo(dev_id, code, name, state or ("disabled" if not enabled else "unknown"),
                          bool(available) and bool(enabled), float(interval or 0) if _polled(protocol) else 0.0)
        for entry in points if isinstance(points, list) else ():
            pcode = entry.get("point") if isinstance(entry, dict) else None
            if isinstance(pcode, str):
                out.setdefault(pcode, info)
    return out


def last_values(session: Session, actor: Actor, area_id: int | None = None, equipment_id: int | None = None, *,
                now: datetime | None = None, limit: int = MAX_LIVE) -> list[LivePoint]:
    """Every enabled point of the caller's enterprise with its last value, quality, staleness,
    threshold state and device, ordered by area, equipment and point code."""
    actor.require(Perm.READ)
    ent = actor.enterprise_id
    q = (
        select(MeasurementPoint.id, MeasurementPoint.code, MeasurementPoint.name, MeasurementPoint.quantity,
               MeasurementPoint.unit, MeasurementPoint.low_alarm, MeasurementPoint.low_warning,
               MeasurementPoint.high_warning, MeasurementPoint.high_alarm,
               Equipment.id, Equipment.code, Equipment.name, Area.id, Area.code, Area.name,
               PointLast.ts, PointLast.value, PointLast.quality)
        .join(Equipment, Equipment.id == MeasurementPoint.equipment_id)
        .join(Area, Area.id == Equipment.area_id)
        .outerjoin(PointLast, and_(PointLast.point_id == MeasurementPoint.id, PointLast.enterprise_id == ent))
        .where(MeasurementPoint.enterprise_id == ent, MeasurementPoint.enabled.is_(True))
    )
    if area_id is not None:
        q = q.where(Equipment.area_id == area_id)
    if equipment_id is not None:
        q = q.where(MeasurementPoint.equipment_id == equipment_id)
    rows = session.execute(
        q.order_by(Area.code, Equipment.code, MeasurementPoint.code).limit(max(1, min(limit, MAX_LIVE + 1)))
    ).all()
    devices = _devices_by_point(session, ent)
    now_us = to_us(now or datetime.now(UTC))
    fallback = default_stale_s()
    out: list[LivePoint] = []
    for (pid, code, name, quantity, unit, la, lw, hw, ha, eq_id, eq_code, eq_name, a_id, a_code, a_name,
         ts, value, quality) in rows:
        device = devices.get(code)
        stale_after = (max(STALE_FACTOR * device.interval_s, STALE_FLOOR_S)
                       if device is not None and device.interval_s > 0 else fallback)
        age = None if ts is None else max(0.0, (now_us - ts) / US)
        usable = value if quality is not None and quality != Quality.BAD else None
        out.append(LivePoint(
            pid, code, name, quantity, unit, eq_id, eq_code, eq_name, a_id, a_code, a_name, la, lw, hw, ha,
            ts, value, quality, age, stale_after, age is not None and age > stale_after,
            threshold_state(usable, la, lw, hw, ha), device,
        ))
    return out
