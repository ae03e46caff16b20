"""Times at the edges of alignment: text in files and URLs ↔ integer microseconds (UTC).

Plant systems write local wall-clock time more often than not (a PLC's clock, an MES export
from a Chinese plant). A time without a zone is therefore read as the plant's local time,
``Asia/Shanghai`` unless ``PLANTGUARD_PLANT_TZ`` names another IANA zone. Epoch numbers are
read by magnitude: seconds, milliseconds, microseconds or nanoseconds (all of them are
unambiguous for dates between 2000 and 2100, the range accepted).
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plantguard.core.i18n import N_
from plantguard.ingest.reading import from_us, to_us

PLANT_TZ_ENV = "PLANTGUARD_PLANT_TZ"
DEFAULT_PLANT_TZ = "Asia/Shanghai"

# Accepted instants: a PLC whose clock was never set writes 1970 (or 2000-01-01 on some
# models); such rows are data errors, not history.
MIN_US = to_us(datetime(2000, 1, 1, tzinfo=UTC))
MAX_US = to_us(datetime(2100, 1, 1, tzinfo=UTC))

BAD_TIME = N_("Must be a date and time (ISO 8601, e.g. 2026-03-01T08:00:00+08:00) or an epoch number")
TIME_OUT_OF_RANGE = N_("Must be between the years 2000 and 2100")

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# A spreadsheet's date and time: 2026/3/2 8:05, 2026-3-2T8:05 (padded before ISO parsing).
_LOOSE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:([ T])(\d{1,2}):(\d{2}))?(?=$|[ T:.,+Z-])")


def _pad(m: re.Match[str]) -> str:
    out = f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
    if m[4]:
        out += f"{m[4]}{int(m[5]):02d}:{m[6]}"
    return out



class TimeError(ValueError):
    """A time that cannot be read; ``message`` is a catalogue id."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def plant_tz() -> tzinfo:
    """The plant's zone for naive times (``PLANTGUARD_PLANT_TZ``, default Asia/Shanghai)."""
    name = os.environ.get(PLANT_TZ_ENV, "").strip() or DEFAULT_PLANT_TZ
    try:
        return zone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuntimeError(f"{PLANT_TZ_ENV}={name!r} is not an IANA time zone") from exc


def _epoch_us(number: float) -> int:
    magnitude = abs(number)
    if magnitude < 1e11:  # seconds (until the year 5138)
        return round(number * 1_000_000)
    if magnitude < 1e14:  # milliseconds
        return round(number * 1_000)
    if magnitude < 1e17:  # microseconds
        return round(number)
    return round(number / 1_000)  # nanoseconds


def parse_time(text: str, tz: tzinfo | None = None) -> int:
    """Microseconds since the epoch (UTC) from ISO 8601 text or an epoch number.

    Also accepted, because spreadsheets write them: a space instead of ``T``, ``/`` between
    date parts, single-digit months and days. Naive times are in ``tz`` (the plant's zone)."""
    value = text.strip()
    if not value:
        raise TimeError(BAD_TIME)
    if _NUMBER.match(value):
        number = float(value)
        if not math.isfinite(number):
            raise TimeError(BAD_TIME)
        us = _epoch_us(number)
    else:
        value = _LOOSE.sub(_pad, value, count=1)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise TimeError(BAD_TIME) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz or plant_tz())
        try:
            us = to_us(parsed.astimezone(UTC))
        except (OverflowError, ValueError):
            raise TimeError(TIME_OUT_OF_RANGE) from None
    if not MIN_US <= us < MAX_US:
        raise TimeError(TIME_OUT_OF_RANGE)
    return us


def as_us(value: datetime, tz: tzinfo | None = None) -> int:
    """A datetime (naive = plant time) as microseconds since the epoch."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz or plant_tz())
    return to_us(value.astimezone(UTC))


def to_datetime(us: int, tz: tzinfo | None = None) -> datetime:
    """Microseconds → an aware datetime in ``tz`` (the plant's zone by default)."""
    return from_us(us).astimezone(tz or plant_tz())


def iso(us: int | None, tz: tzinfo | None = None) -> str | None:
    return None if us is None else to_datetime(us, tz).isoformat()
