"""The night window, rest days and holidays that raise hot work one grade (GB 30871-2022 §5):
plant time, the statutory calendar, and each enterprise's own night window, days off and
working days (调休)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from plantguard.permits import calendar
from plantguard.permits.calendar import HOLIDAY, NIGHT, REST_DAY, CalendarConfig
from plantguard.permits.models import PermitConfig
from plantguard.timeseries.alignment.times import plant_tz

CFG = CalendarConfig()


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=plant_tz())


def test_night_window_default_wraps_midnight_in_plant_time() -> None:
    assert calendar.is_night(local(2026, 11, 25, 21), CFG)
    assert calendar.is_night(local(2026, 11, 25, 20), CFG)  # from 20:00
    assert calendar.is_night(local(2026, 11, 25, 5, 59), CFG)
    assert not calendar.is_night(local(2026, 11, 25, 6), CFG)  # until 06:00
    assert not calendar.is_night(local(2026, 11, 25, 12), CFG)
    # 13:00 UTC is 21:00 in Shanghai: judged on the plant's clock, not UTC's
    assert calendar.is_night(datetime(2026, 11, 25, 13, 0, tzinfo=UTC), CFG)
    assert not calendar.is_night(datetime(2026, 11, 25, 2, 0, tzinfo=UTC), CFG)


def test_night_window_configured() -> None:
    cfg = calendar.from_row(PermitConfig(night_start="22:30", night_end="05:00", holidays=[], workdays=[]))
    assert cfg.night_start == time(22, 30)
    assert not calendar.is_night(local(2026, 11, 25, 21), cfg)
    assert calendar.is_night(local(2026, 11, 25, 23), cfg)
    assert not calendar.is_night(local(2026, 11, 26, 5, 30), cfg)
    # a window that does not wrap midnight
    day = calendar.from_row(PermitConfig(night_start="01:00", night_end="04:00", holidays=[], workdays=[]))
    assert calendar.is_night(local(2026, 11, 25, 2), day) and not calendar.is_night(local(2026, 11, 25, 23), day)
    assert calendar.from_row(None) == CalendarConfig()


def test_rest_days_and_holidays() -> None:
    assert calendar.is_rest_day(date(2026, 11, 28), CFG)  # Saturday
    assert calendar.is_rest_day(date(2026, 11, 29), CFG)  # Sunday
    assert not calendar.is_rest_day(date(2026, 11, 25), CFG)  # Wednesday
    assert calendar.is_holiday(date(2026, 10, 1), CFG)  # 国庆节
    assert calendar.is_holiday(date(2026, 2, 17), CFG)  # 春节
    assert not calendar.is_holiday(date(2026, 11, 25), CFG)
    # the plant's own: an extra day off, and a Saturday worked to bridge a holiday (调休)
    cfg = calendar.from_row(PermitConfig(night_start="20:00", night_end="06:00",
                                         holidays=["2026-11-25", "not a date"], workdays=["2026-11-28"]))
    assert calendar.is_holiday(date(2026, 11, 25), cfg)
    assert not calendar.is_rest_day(date(2026, 11, 28), cfg)
    assert not calendar.is_holiday(date(2026, 10, 1), CalendarConfig(workdays=frozenset({date(2026, 10, 1)})))


def test_raise_reasons_over_a_window() -> None:
    wed = local(2026, 11, 25, 9)
    assert calendar.raise_reasons(wed, wed + timedelta(hours=3), CFG) == []
    # ends exactly when the night starts: [start, end) does not touch it
    assert calendar.raise_reasons(local(2026, 11, 25, 17), local(2026, 11, 25, 20), CFG) == []
    assert calendar.raise_reasons(local(2026, 11, 25, 17), local(2026, 11, 25, 20, 1), CFG) == [NIGHT]
    assert calendar.raise_reasons(local(2026, 11, 25, 5), local(2026, 11, 25, 7), CFG) == [NIGHT]
    assert calendar.raise_reasons(local(2026, 11, 28, 9), local(2026, 11, 28, 12), CFG) == [REST_DAY]
    assert calendar.raise_reasons(local(2026, 10, 1, 9), local(2026, 10, 1, 12), CFG) == [HOLIDAY]
    # Friday day shift into Saturday night: all parts counted
    assert calendar.raise_reasons(local(2026, 11, 27, 9), local(2026, 11, 28, 9), CFG) == [NIGHT, REST_DAY]
    assert calendar.raise_reasons(wed, wed, CFG) == []


def test_plant_date_and_aware() -> None:
    assert calendar.plant_date(datetime(2026, 11, 25, 17, 0, tzinfo=UTC)) == date(2026, 11, 26)
    naive = datetime(2026, 11, 25, 9, 0)
    assert calendar.aware(naive) == local(2026, 11, 25, 9)
