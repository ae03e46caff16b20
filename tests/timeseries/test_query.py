"""Range queries over readings written by the store, on SQLite and PostgreSQL: raw and rolled
up, the automatic resolution, the bounds, the time rules and the tenant scope; and the live
overview's last values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import NotFound, ValidationFailed
from plantguard.core.permissions import Actor, Role
from plantguard.ingest.models import Device, DeviceStatus
from plantguard.ingest.reading import ReadingBatch, from_us
from plantguard.timeseries.query import MAX_RANGE, last_values, series, threshold_state
from plantguard.timeseries.store import write_batch
from tests.conftest import Db
from tests.factories import Tenant, make_tenant

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in µs
S = 1_000_000
NOW = from_us(T0 + 30 * 86_400 * S)


def actor(t: Tenant, role: Role = Role.WORKER) -> Actor:
    return Actor(user_id=1, enterprise_id=t.enterprise_id, role=role, username="reader")


def write(db: Db, t: Tenant, n: int, step_s: float, start: int = T0, value: float = 0.0) -> None:
    """``n`` good readings of the tenant's point, ``step_s`` apart, valued value + i."""
    b = ReadingBatch(t.enterprise_id)
    for i in range(n):
        b.append(t.point_id, start + int(i * step_s * S), value + i, 0)
    assert write_batch(db.engine, b) == n


def iso(us: int) -> str:
    return from_us(us).isoformat()


@pytest.fixture
def t1(db: Db) -> Tenant:
    return make_tenant(db.factory, "E1")


def test_raw_is_the_half_open_range_with_quality(db: Db, t1: Tenant) -> None:
    b = ReadingBatch(t1.enterprise_id)
    b.append(t1.point_id, T0, 1.5, 0)
    b.append(t1.point_id, T0 + 10 * S, None, 2)  # bad, no value
    b.append(t1.point_id, T0 + 20 * S, 3.0, 1)  # uncertain
    b.append(t1.point_id, T0 + 30 * S, 4.0, 0)  # at `to`: excluded
    write_batch(db.engine, b)
    with db.read_factory() as s:
        out = series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 30 * S), "raw")
    assert out.agg == "raw" and out.requested == "raw" and out.resolution_s is None
    assert out.ts == [T0, T0 + 10 * S, T0 + 20 * S]
    assert out.value == [1.5, None, 3.0] and out.quality == [0, 2, 1]
    assert out.point.code == "EQ-1-HP" and out.point.high_alarm == 28


def test_rollups_hold_min_max_avg_count_of_good_readings(db: Db, t1: Tenant) -> None:
    write(db, t1, 180, 1.0)  # 3 minutes, values 0..179
    b = ReadingBatch(t1.enterprise_id)
    b.append(t1.point_id, T0 + 200 * S, 999.0, 2)  # bad quality: not in any rollup
    write_batch(db.engine, b)
    with db.read_factory() as s:
        # From the middle of the first minute: the partly covered bucket is included whole.
        m = series(s, actor(t1), t1.point_id, iso(T0 + 30 * S), iso(T0 + 240 * S), "1m")
        h = series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 3600 * S), "1h")
    assert m.agg == "1m" and m.resolution_s == 60
    assert m.ts == [T0, T0 + 60 * S, T0 + 120 * S]
    assert m.vmin == [0, 60, 120] and m.vmax == [59, 119, 179] and m.count == [60, 60, 60]
    assert m.avg == [29.5, 89.5, 149.5] and m.value == [] and m.quality == []
    assert h.ts == [T0] and h.count == [180] and h.avg == [89.5] and (h.vmin, h.vmax) == ([0], [179])


def test_auto_picks_raw_then_minutes_then_hours(db: Db, t1: Tenant) -> None:
    write(db, t1, 7200, 1.0)  # two hours of one-second readings
    with db.read_factory() as s:
        one_hour = series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 3600 * S))
        two_hours = series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 7200 * S))
        four_days = series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 4 * 86_400 * S), "auto")
    assert (one_hour.agg, len(one_hour), one_hour.requested) == ("raw", 3600, "auto")
    assert (two_hours.agg, len(two_hours)) == ("1m", 120)
    assert (four_days.agg, len(four_days)) == ("1h", 2)
    assert sum(four_days.count) == 7200


def test_auto_stays_raw_for_sparse_data_over_a_long_range(db: Db, t1: Tenant) -> None:
    write(db, t1, 240, 3600.0)  # hourly for ten days
    with db.read_factory() as s:
        out = series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 10 * 86_400 * S), "auto")
    assert out.agg == "raw" and len(out) == 240


def test_auto_goes_to_rollups_when_raw_would_exceed_the_target(db: Db, t1: Tenant) -> None:
    write(db, t1, 6000, 1.0)  # 100 minutes, more than the ~5,000 raw readings auto accepts
    with db.read_factory() as s:
        out = series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 6000 * S), "auto")
    assert out.agg == "1m" and len(out) == 100


def test_a_too_large_raw_request_is_refused_naming_agg(db: Db, t1: Tenant) -> None:
    write(db, t1, 300, 1.0)
    with db.read_factory() as s, pytest.raises(ValidationFailed) as exc:
        series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 3600 * S), "raw", max_points=200)
    (err,) = exc.value.errors
    assert err.field == "agg" and "agg=1m" in err.message and err.params == {"max": 200}
    with db.read_factory() as s:  # the same range rolled up is fine
        assert len(series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 3600 * S), "1m", max_points=200)) == 5


def test_minute_rollups_are_bounded_too(db: Db, t1: Tenant) -> None:
    write(db, t1, 30, 60.0)  # thirty minutes
    with db.read_factory() as s, pytest.raises(ValidationFailed) as exc:
        series(s, actor(t1), t1.point_id, iso(T0), iso(T0 + 3600 * S), "1m", max_points=20)
    assert exc.value.errors[0].field == "agg" and "agg=1h" in exc.value.errors[0].message


@pytest.mark.parametrize(("frm", "to", "fields"), [
    ("garbage", None, ["from"]),
    (None, "2026-13-01T00:00:00Z", ["to"]),
    ("yesterday", "tomorrow", ["from", "to"]),
    ("", "2026-01-01", ["from"]),
    ("x" * 200, None, ["from"]),
    ("0001-01-01T00:00:00+08:00", None, ["from"]),  # before year 1 once made UTC
    ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", ["to"]),  # to before from
    ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", ["to"]),  # empty range
    ("2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z", ["from"]),  # longer than 400 days
])
def test_time_rules_name_the_field(db: Db, t1: Tenant, frm: str | None, to: str | None, fields: list[str]) -> None:
    with db.read_factory() as s, pytest.raises(ValidationFailed) as exc:
        series(s, actor(t1), t1.point_id, frm, to, "raw", now=NOW)
    assert [e.field for e in exc.value.errors] == fields


def test_bad_agg_and_bad_time_are_reported_together(db: Db, t1: Tenant) -> None:
    with db.read_factory() as s, pytest.raises(ValidationFailed) as exc:
        series(s, actor(t1), t1.point_id, "nope", None, "5m")
    assert sorted(e.field for e in exc.value.errors) == ["agg", "from"]


def test_times_without_zone_are_utc_and_offsets_are_honoured(db: Db, t1: Tenant) -> None:
    write(db, t1, 10, 60.0)
    with db.read_factory() as s:
        naive = series(s, actor(t1), t1.point_id, "2026-01-01T00:00:00", "2026-01-01T00:05:00", "raw")
        zulu = series(s, actor(t1), t1.point_id, "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z", "raw")
        beijing = series(s, actor(t1), t1.point_id, "2026-01-01T08:00:00+08:00", "2026-01-01T08:05:00+08:00", "raw")
    assert naive.ts == zulu.ts == beijing.ts == [T0 + i * 60 * S for i in range(5)]
    assert naive.start == datetime(2026, 1, 1, tzinfo=UTC)


def test_defaults_are_the_last_24_hours(db: Db, t1: Tenant) -> None:
    now = from_us(T0 + 86_400 * S)
    write(db, t1, 3, 3600.0, start=T0 - 3600 * S)  # one before the window, two inside
    with db.read_factory() as s:
        out = series(s, actor(t1), t1.point_id, now=now)
        only_from = series(s, actor(t1), t1.point_id, iso(T0), None, now=now)
    assert out.start == now - timedelta(hours=24) and out.end == now
    assert out.ts == [T0, T0 + 3600 * S]
    assert only_from.end - only_from.start == timedelta(hours=24)
    assert timedelta(days=400) == MAX_RANGE


def test_another_tenants_point_is_not_found(db: Db, t1: Tenant) -> None:
    t2 = make_tenant(db.factory, "E2", roles=())
    write(db, t2, 5, 1.0)
    with db.read_factory() as s:
        with pytest.raises(NotFound):
            series(s, actor(t1), t2.point_id, iso(T0), iso(T0 + 60 * S), "raw")
        with pytest.raises(NotFound):
            series(s, actor(t1), 2**62, iso(T0), iso(T0 + 60 * S), "raw")
        assert len(series(s, actor(t2), t2.point_id, iso(T0), iso(T0 + 60 * S), "raw")) == 5


def test_threshold_state() -> None:
    limits = (10.0, 20.0, 80.0, 90.0)
    assert [threshold_state(v, *limits) for v in (5, 10, 15, 20.5, 50, 80, 89.9, 90, 120)] == [
        "alarm", "alarm", "warning", "normal", "normal", "warning", "warning", "alarm", "alarm"]
    assert threshold_state(None, *limits) == "none"
    assert threshold_state(1e9, None, None, None, None) == "normal"


def test_last_values_join_points_devices_and_staleness(db: Db, t1: Tenant) -> None:
    t2 = make_tenant(db.factory, "E2", roles=())
    now_us = T0 + 3600 * S
    with db.factory() as s:
        bind_actor(s, None)
        from plantguard.assets.models import MeasurementPoint

        # A second point on the same equipment, in warning; and a third that never reported.
        s.add(MeasurementPoint(enterprise_id=t1.enterprise_id, equipment_id=t1.equipment_id, code="EQ-1-TMP",
                               name="油温", unit="°C", quantity="temperature", high_warning=60, high_alarm=70))
        s.add(MeasurementPoint(enterprise_id=t1.enterprise_id, equipment_id=t1.equipment_id, code="EQ-1-VIB",
                               name="振动", unit="mm/s", quantity="vibration"))
        dev = Device(enterprise_id=t1.enterprise_id, code="PLC-1", name="一号 PLC", protocol="modbus",
                     poll_interval_s=2.0, points=[{"point": "EQ-1-HP", "address": 0}, "junk", {"point": 5}])
        s.add(dev)
        s.flush()
        s.add(DeviceStatus(device_id=dev.id, enterprise_id=t1.enterprise_id, available=True, state="online"))
        # A device that pushes (OPC UA subscription): no expected interval, so the default applies;
        # it has no status yet.
        s.add(Device(enterprise_id=t1.enterprise_id, code="OPC-1", name="OPC", protocol="opcua",
                     poll_interval_s=1.0, points=[{"point": "EQ-1-VIB", "node": "ns=2;s=VIB"}]))
        tmp_id = s.query(MeasurementPoint.id).filter_by(code="EQ-1-TMP").scalar()
        s.commit()
    b = ReadingBatch(t1.enterprise_id)
    b.append(t1.point_id, now_us - 5 * S, 29.0, 0)  # above high_alarm 28, fresh (5 s < 5 x 2 s floor 10 s)
    b.append(tmp_id, now_us - 600 * S, 65.0, 1)  # warning, uncertain, 10 min old: stale (no device, 5 min)
    write_batch(db.engine, b)
    other = ReadingBatch(t2.enterprise_id)
    other.append(t2.point_id, now_us, 1.0, 0)
    write_batch(db.engine, other)

    with db.read_factory() as s:
        items = last_values(s, actor(t1), now=from_us(now_us))
        by_code = {p.code: p for p in items}
        assert [p.code for p in items] == ["EQ-1-HP", "EQ-1-TMP", "EQ-1-VIB"]  # E2's point is not there
        hp, tmp, vib = by_code["EQ-1-HP"], by_code["EQ-1-TMP"], by_code["EQ-1-VIB"]
        assert (hp.value, hp.state, hp.stale, hp.quality_name) == (29.0, "alarm", False, "good")
        assert hp.device is not None and hp.device.code == "PLC-1" and hp.device.available
        assert hp.stale_after_s == 10.0 and hp.age_s == 5.0 and hp.area_code == "ST" and hp.unit == "MPa"
        assert (tmp.state, tmp.stale, tmp.quality_name, tmp.device) == ("warning", True, "uncertain", None)
        assert tmp.stale_after_s == 300.0
        assert (vib.value, vib.ts, vib.state, vib.stale, vib.quality_name) == (None, None, "none", False, "none")
        assert vib.device is not None and (vib.device.code, vib.device.state, vib.device.available) == (
            "OPC-1", "unknown", False)
        assert vib.stale_after_s == 300.0
        # Filters: the other area has nothing; the equipment has all three; limit bounds the list.
        assert last_values(s, actor(t1), area_id=t1.area2_id) == []
        assert len(last_values(s, actor(t1), area_id=t1.area_id, equipment_id=t1.equipment_id)) == 3
        assert len(last_values(s, actor(t1), limit=2)) == 2
        # Another tenant's area: nothing, not an error.
        assert last_values(s, actor(t1), area_id=t2.area_id) == []


def test_bad_quality_has_no_threshold_state(db: Db, t1: Tenant) -> None:
    b = ReadingBatch(t1.enterprise_id)
    b.append(t1.point_id, T0, 99.0, 2)  # a value flagged bad: not judged against the limits
    write_batch(db.engine, b)
    with db.read_factory() as s:
        (p,) = last_values(s, actor(t1), now=from_us(T0 + 3600 * S))
    assert (p.state, p.quality_name, p.stale) == ("none", "bad", True)
