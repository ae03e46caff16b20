"""When hot work is managed one grade higher: at night, on rest days and on holidays (GB 30871-2022 §5).

Why configuration: the standard says "节假日、公休日、夜间" without defining the night or the
calendar. The night window, extra days off and extra working days (调休: a Saturday worked to
bridge a holiday, which the ``holidays`` package does not know) are per enterprise in
:class:`~plantguard.permits.models.PermitConfig` (⚠ regulations.md); an enterprise without a row
gets the defaults (night 20:00–06:00, Saturday/Sunday off, China's statutory holidays).

All judgements are made on the plant's wall clock (``PLANTGUARD_PLANT_TZ``), because that is
the clock the night window and the calendar are written in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache

import holidays as holiday_data
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.permits.models import PermitConfig
from plantguard.timeseries.alignment.times import plant_tz

NIGHT = "night"
REST_DAY = "rest_day"
HOLIDAY = "holiday"
DEFAULT_NIGHT = ("20:00", "06:00")


@dataclass(frozen=True)
class CalendarConfig:
    night_start: time = time(20, 0)
    night_end: time = time(6, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    overrides: dict[str, object] = field(default_factory=dict, compare=False)


def _hhmm(value: str, default: str) -> time:
    try:
        h, m = (value or default).split(":")
        return time(int(h), int(m))
    except (TypeError, ValueError):
        h, m = default.split(":")
        return time(int(h), int(m))


def _dates(values: Iterable[str]) -> frozenset[date]:
    out: set[date] = set()
    for v in values or ():
        try:
            out.add(date.fromisoformat(str(v)))
        except ValueError:
            continue
    return frozenset(out)


def from_row(row: PermitConfig | None) -> CalendarConfig:
    if row is None:
        return CalendarConfig()
    return CalendarConfig(night_start=_hhmm(row.night_start, DEFAULT_NIGHT[0]),
                          night_end=_hhmm(row.night_end, DEFAULT_NIGHT[1]),
                          holidays=_dates(row.holidays or []), workdays=_dates(row.workdays or []),
                          overrides=dict(row.overrides or {}))


def load(session: Session, enterprise_id: int) -> CalendarConfig:
    """The enterprise's configuration; defaults when it has no row."""
    row = session.scalars(select(PermitConfig).where(PermitConfig.enterprise_id == enterprise_id)).first()
    return from_row(row)


@cache
def _statutory(year: int) -> frozenset[date]:
    return frozenset(holiday_data.country_holidays("CN", years=year).keys())


def is_holiday(d: date, cfg: CalendarConfig) -> bool:
    """A statutory holiday (法定节假日, with its substituted days off) or one the plant added."""
    if d in cfg.workdays:
        return False
    return d in cfg.holidays or d in _statutory(d.year)


def is_rest_day(d: date, cfg: CalendarConfig) -> bool:
    """公休日: Saturday or Sunday, unless the plant declared it a working day (调休)."""
    if d in cfg.workdays:
        return False
    return d.weekday() >= 5


def _local(dt: datetime) -> datetime:
    return dt.astimezone(plant_tz())


def _night_spans(d: date, cfg: CalendarConfig) -> list[tuple[time, time | None]]:
    """The night parts of one local day, as [from, to) with None meaning midnight at its end."""
    if cfg.night_start > cfg.night_end:  # wraps midnight: the default 20:00–06:00
        return [(time(0, 0), cfg.night_end), (cfg.night_start, None)]
    if cfg.night_start == cfg.night_end:
        return []
    return [(cfg.night_start, cfg.night_end)]


def is_night(dt: datetime, cfg: CalendarConfig) -> bool:
    t = _local(dt).time()
    return any(lo <= t and (hi is None or t < hi) for lo, hi in _night_spans(_local(dt).date(), cfg))


def raise_reasons(start: datetime, end: datetime, cfg: CalendarConfig) -> list[str]:
    """Which of night / rest day / holiday any part of [start, end) touches (plant time)."""
    if end <= start:
        return []
    tz = plant_tz()
    lo, hi = _local(start), _local(end)
    found: set[str] = set()
    d = lo.date()
    while True:
        day_start = datetime.combine(d, time(0, 0), tzinfo=tz)
        day_end = datetime.combine(d + timedelta(days=1), time(0, 0), tzinfo=tz)
        part_lo, part_hi = max(lo, day_start), min(hi, day_end)
        if part_lo >= hi:
            break
        if part_hi > part_lo:
            if is_holiday(d, cfg):
                found.add(HOLIDAY)
            elif is_rest_day(d, cfg):
                found.add(REST_DAY)
            for n_lo, n_hi in _night_spans(d, cfg):
                n_from = datetime.combine(d, n_lo, tzinfo=tz)
                n_to = day_end if n_hi is None else datetime.combine(d, n_hi, tzinfo=tz)
                if max(part_lo, n_from) < min(part_hi, n_to):
                    found.add(NIGHT)
        d += timedelta(days=1)
    return [r for r in (NIGHT, REST_DAY, HOLIDAY) if r in found]


def aware(dt: datetime) -> datetime:
    """A time without a zone is the plant's wall clock."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=plant_tz())


def plant_date(dt: datetime) -> date:
    """The plant's calendar day of an instant (what "every day" in 5.3.1 d counts by)."""
    return _local(dt).date()
