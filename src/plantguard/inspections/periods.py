"""Period windows of inspection plans, in plant time (``PLANTGUARD_PLANT_TZ``).

Why plant time: "daily" means the plant's calendar day, and shifts are the plant's clock, not
UTC. Windows are half-open ``[start, end)``, computed on the local wall clock and returned in
UTC, so a window across a DST change (where the zone has one) still starts at local midnight.

* ``shift``: the three-shift clock of the routing contract (docs/workorders.md): day 08–16,
  middle 16–24, night 00–08;
* ``day``: 00:00 to the next 00:00;
* ``week``: Monday 00:00 (ISO week);
* ``month``: the 1st 00:00;
* ``quarter``: 1 January, 1 April, 1 July, 1 October 00:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from plantguard.timeseries.alignment.times import plant_tz

SHIFTS: tuple[tuple[str, int, int], ...] = (("night", 0, 8), ("day", 8, 16), ("middle", 16, 24))


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    label: str  # stable name of the period, e.g. 2026-11-28/day, 2026-W48, 2026-11, 2026-Q4


def _at(day: date, hour: int, tz: tzinfo) -> datetime:
    if hour == 24:
        day, hour = day + timedelta(days=1), 0
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    m = day.month - 1 + months
    return date(day.year + m // 12, m % 12 + 1, 1)


def window(frequency: str, at: datetime, tz: tzinfo | None = None) -> Window:
    """The window of ``frequency`` containing the instant ``at``."""
    tz = tz or plant_tz()
    local = at.astimezone(tz)
    d = local.date()
    if frequency == "shift":
        for name, lo, hi in SHIFTS:
            if lo <= local.hour < hi:
                return Window(_at(d, lo, tz), _at(d, hi, tz), f"{d.isoformat()}/{name}")
    if frequency == "day":
        return Window(_at(d, 0, tz), _at(d + timedelta(days=1), 0, tz), d.isoformat())
    if frequency == "week":
        monday = d - timedelta(days=d.weekday())
        iso = monday.isocalendar()
        return Window(_at(monday, 0, tz), _at(monday + timedelta(days=7), 0, tz), f"{iso[0]}-W{iso[1]:02d}")
    if frequency == "month":
        first = d.replace(day=1)
        return Window(_at(first, 0, tz), _at(_add_months(first, 1), 0, tz), f"{first:%Y-%m}")
    if frequency == "quarter":
        q = (d.month - 1) // 3
        first = date(d.year, q * 3 + 1, 1)
        return Window(_at(first, 0, tz), _at(_add_months(first, 3), 0, tz), f"{d.year}-Q{q + 1}")
    raise ValueError(f"unknown frequency {frequency!r}")


def local_day(at: datetime, tz: tzinfo | None = None) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of the plant day containing ``at``, in UTC (the dashboard's "today")."""
    w = window("day", at, tz)
    return w.start, w.end
