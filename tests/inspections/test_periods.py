"""Period windows in plant time (Asia/Shanghai, UTC+8): shift, day, week, month, quarter."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from plantguard.inspections.periods import window

SH = ZoneInfo("Asia/Shanghai")


def local(*a: int) -> datetime:
    return datetime(*a, tzinfo=SH)


@pytest.mark.parametrize(("at", "start", "end", "label"), [
    (local(2026, 11, 25, 7, 59, 59), local(2026, 11, 25, 0), local(2026, 11, 25, 8), "2026-11-25/night"),
    (local(2026, 11, 25, 8, 0), local(2026, 11, 25, 8), local(2026, 11, 25, 16), "2026-11-25/day"),
    (local(2026, 11, 25, 15, 59), local(2026, 11, 25, 8), local(2026, 11, 25, 16), "2026-11-25/day"),
    (local(2026, 11, 25, 16, 0), local(2026, 11, 25, 16), local(2026, 11, 26, 0), "2026-11-25/middle"),
    (local(2026, 11, 25, 23, 59), local(2026, 11, 25, 16), local(2026, 11, 26, 0), "2026-11-25/middle"),
    (local(2026, 11, 26, 0, 0), local(2026, 11, 26, 0), local(2026, 11, 26, 8), "2026-11-26/night"),
])
def test_shift_boundaries(at: datetime, start: datetime, end: datetime, label: str) -> None:
    w = window("shift", at, SH)
    assert (w.start, w.end, w.label) == (start, end, label)
    assert w.start.tzinfo == UTC


def test_day_is_the_plant_day_not_utc() -> None:
    # 2026-11-25 17:00 UTC is already 26 November 01:00 in Shanghai
    w = window("day", datetime(2026, 11, 25, 17, 0, tzinfo=UTC), SH)
    assert (w.start, w.end, w.label) == (local(2026, 11, 26), local(2026, 11, 27), "2026-11-26")


def test_week_monday_to_monday_across_a_year() -> None:
    w = window("week", local(2027, 1, 1, 12), SH)  # a Friday in ISO week 2026-W53
    assert (w.start, w.end, w.label) == (local(2026, 12, 28), local(2027, 1, 4), "2026-W53")
    assert window("week", local(2027, 1, 4, 0), SH).label == "2027-W01"


def test_month_and_december() -> None:
    w = window("month", local(2026, 12, 31, 23, 59), SH)
    assert (w.start, w.end, w.label) == (local(2026, 12, 1), local(2027, 1, 1), "2026-12")


@pytest.mark.parametrize(("at", "start", "end", "label"), [
    (local(2026, 3, 31, 23, 59, 59), local(2026, 1, 1), local(2026, 4, 1), "2026-Q1"),
    (local(2026, 4, 1, 0, 0), local(2026, 4, 1), local(2026, 7, 1), "2026-Q2"),
    (local(2026, 9, 30, 12), local(2026, 7, 1), local(2026, 10, 1), "2026-Q3"),
    (local(2026, 12, 31, 23, 59), local(2026, 10, 1), local(2027, 1, 1), "2026-Q4"),
])
def test_quarter_boundaries(at: datetime, start: datetime, end: datetime, label: str) -> None:
    w = window("quarter", at, SH)
    assert (w.start, w.end, w.label) == (start, end, label)


def test_unknown_frequency_is_refused() -> None:
    with pytest.raises(ValueError):
        window("fortnight", local(2026, 1, 1), SH)
