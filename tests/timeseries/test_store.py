"""Bulk writes are atomic and idempotent, and keep rollups and last values exact."""

from __future__ import annotations

import math

from sqlalchemy import select

from plantguard.ingest.reading import ReadingBatch
from plantguard.timeseries.models import HOUR, MINUTE, PointLast, ReadingRow, Rollup
from plantguard.timeseries.store import write_batch
from tests.conftest import Db

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in µs


def _batch(points: list[int], n: int, start: int = T0, step_s: float = 10.0) -> ReadingBatch:
    b = ReadingBatch(1)
    for p in points:
        for i in range(n):
            b.append(p, start + int(i * step_s * 1_000_000), float(p * 100 + i), 0)
    return b


def test_write_is_idempotent_and_rolls_up(db: Db) -> None:
    b = _batch([11, 12], 18)  # 3 minutes of 10 s readings per point
    assert write_batch(db.engine, b) == 36
    assert write_batch(db.engine, b) == 0  # replayed: nothing new, rollups unchanged
    with db.factory() as s:
        assert len(s.scalars(select(ReadingRow)).all()) == 36
        minutes = s.scalars(select(Rollup).where(Rollup.point_id == 11, Rollup.res == MINUTE)
                            .order_by(Rollup.bucket)).all()
        assert [(r.n, r.vmin, r.vmax) for r in minutes] == [(6, 1100, 1105), (6, 1106, 1111), (6, 1112, 1117)]
        hour = s.scalars(select(Rollup).where(Rollup.point_id == 12, Rollup.res == HOUR)).one()
        assert hour.n == 18 and math.isclose(hour.vsum / hour.n, sum(1200 + i for i in range(18)) / 18)
        last = s.get(PointLast, 11)
        assert last is not None and last.ts == T0 + 17 * 10_000_000 and last.value == 1117


def test_overlapping_batch_adds_only_the_new_readings(db: Db) -> None:
    write_batch(db.engine, _batch([5], 6))
    overlap = _batch([5], 12)  # the first 6 again, then 6 new
    assert write_batch(db.engine, overlap) == 6
    with db.factory() as s:
        hour = s.scalars(select(Rollup).where(Rollup.point_id == 5, Rollup.res == HOUR)).one()
        assert hour.n == 12


def test_bad_quality_and_missing_values_are_stored_but_not_rolled_up(db: Db) -> None:
    b = ReadingBatch(1)
    b.append(7, T0, None, 2)
    b.append(7, T0 + 1_000_000, 3.5, 1)
    b.append(7, T0 + 2_000_000, 4.0, 0)
    b.append(7, T0 + 2_000_000, 9.9, 0)  # the same (point, ts) twice in one batch: stored once
    assert write_batch(db.engine, b) == 3
    with db.factory() as s:
        rows = s.scalars(select(ReadingRow).where(ReadingRow.point_id == 7).order_by(ReadingRow.ts)).all()
        assert rows[0].value is None and [r.quality for r in rows] == [2, 1, 0]
        minute = s.scalars(select(Rollup).where(Rollup.point_id == 7, Rollup.res == MINUTE)).one()
        assert minute.n == 1


def test_last_value_never_goes_back_in_time(db: Db) -> None:
    write_batch(db.engine, _batch([9], 1, start=T0 + 60_000_000))
    write_batch(db.engine, _batch([9], 1, start=T0))  # a late, older reading
    with db.factory() as s:
        last = s.get(PointLast, 9)
        assert last is not None and last.ts == T0 + 60_000_000


def test_batch_bytes_round_trip() -> None:
    b = _batch([1, 2], 3)
    b.append(3, T0, None, 2)
    c = ReadingBatch.from_bytes(b.to_bytes())
    assert list(c.rows()) == list(b.rows()) and c.enterprise_id == 1
