"""The columnar checks give what Pipeline.check gives: the same readings pass, the same are
quarantined, for the same reasons, with the same details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.connector import BoundPoint, DeviceSpec
from plantguard.ingest.fastcheck import check_batch, submit_batch
from plantguard.ingest.pipeline import Pipeline
from plantguard.ingest.reading import Quality, Reading, ReadingBatch, to_us
from tests.conftest import Db


def _spec() -> DeviceSpec[Any, Any]:
    known = {"P-1": (101, 0.0, 40.0), "P-2": (102, None, None), "P-3": (103, -10.0, None)}
    return DeviceSpec(device_id=7, enterprise_id=1, code="DEV", protocol="test", connection=None,
                      points=(BoundPoint(101, "P-1", None, 0.0, 40.0), BoundPoint(0, "", None)),
                      known_points=known, version="v1")


def _readings() -> list[Reading]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        Reading(101, now, 25.0),  # good
        Reading(101, now - timedelta(seconds=1), 41.9),  # beyond 40, within the 5% margin: good
        Reading(101, now - timedelta(seconds=2), 55.0),  # out of range
        Reading(101, now - timedelta(seconds=3), 55.0, Quality.BAD),  # out of range but BAD: kept
        Reading(101, now + timedelta(hours=2), 20.0),  # from the future
        Reading(101, now - timedelta(days=30), 20.0),  # too old
        Reading(999, now, 1.0),  # not a point of this enterprise
        Reading(0, now, 1.0),  # the id of a run-time entry is no point either
        Reading(102, now, float("inf")),  # not finite
        Reading(102, now - timedelta(seconds=1), None, Quality.BAD),  # no value: kept
        Reading(102, now - timedelta(seconds=2), 1e9),  # no range: anything finite
        Reading(103, now, 1e9),  # half a range: no range check
        Reading(101, now - timedelta(seconds=4), -3.0, Quality.UNCERTAIN),  # out of range, not BAD
    ]


def test_columnar_checks_match_the_reading_checks(sqlite_db: Db, tmp_path: Path) -> None:
    spec = _spec()
    readings = _readings()
    by_objects = Pipeline(sqlite_db.engine, DurableBuffer(tmp_path / "a.sqlite"))
    by_columns = Pipeline(sqlite_db.engine, DurableBuffer(tmp_path / "b.sqlite"))
    expected = by_objects.check(spec, readings)
    batch = ReadingBatch(1)
    for r in readings:
        batch.append(r.point_id, to_us(r.ts), r.value, int(r.quality))
    got = check_batch(by_columns, spec, batch)

    assert list(got.rows()) == list(expected.rows())  # rows() gives None where a value is NaN
    assert len(got) == 6
    assert [(q.reason, q.detail, q.point_code) for q in by_columns.quarantine.pending] == \
           [(q.reason, q.detail, q.point_code) for q in by_objects.quarantine.pending]
    assert sorted(q.reason for q in by_columns.quarantine.pending) == [
        "clock_skew", "clock_skew", "out_of_range", "out_of_range", "unknown_point", "unknown_point", "wrong_type"]


def test_a_clean_batch_passes_without_a_copy_and_is_buffered(sqlite_db: Db, tmp_path: Path) -> None:
    spec = _spec()
    pipe = Pipeline(sqlite_db.engine, DurableBuffer(tmp_path / "b.sqlite"))
    now = to_us(datetime.now(UTC))
    batch = ReadingBatch(1)
    for i in range(1000):
        batch.append(101 + i % 3, now - i, float(i % 40), 0)
    assert check_batch(pipe, spec, batch) is batch
    assert submit_batch(pipe, spec, batch) == 1000
    assert pipe.buffer.pending == 1000 and not pipe.quarantine.pending
    counters = pipe.board.get(7, 1)
    assert counters.readings == 1000 and counters.dirty
    empty = ReadingBatch(1)
    assert submit_batch(pipe, spec, empty) == 0 and pipe.buffer.pending == 1000
    pipe.buffer.close()
