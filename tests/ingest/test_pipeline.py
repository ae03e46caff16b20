"""Checks, quarantine, the durable buffer and forwarding to the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.connector import BoundPoint, DeviceSpec
from plantguard.ingest.models import QuarantinedInput
from plantguard.ingest.pipeline import Pipeline
from plantguard.ingest.reading import Quality, Reading, ReadingBatch
from plantguard.timeseries.models import ReadingRow
from tests.conftest import Db


def _spec(ent: int = 1) -> DeviceSpec[Any, Any]:
    known = {"P-1": (101, 0.0, 40.0), "P-2": (102, None, None)}
    return DeviceSpec(device_id=7, enterprise_id=ent, code="DEV", protocol="test", connection=None,
                      points=(BoundPoint(101, "P-1", None, 0.0, 40.0),), known_points=known, version="v1")


def test_buffer_is_durable_ordered_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    buf = DurableBuffer(path, max_readings=10)
    for i in range(3):
        b = ReadingBatch(1)
        for j in range(3):
            b.append(i, j, float(i), 0)
        buf.put(b)
    assert buf.pending == 9
    buf.put(ReadingBatch.of(1, [Reading(9, datetime(2026, 1, 1, tzinfo=UTC), 1.0)]))
    assert buf.pending == 10 and buf.dropped == 0
    dropped = buf.put(ReadingBatch.of(1, [Reading(9, datetime(2026, 1, 2, tzinfo=UTC), 2.0)]))
    assert dropped == 3 and buf.pending == 8  # the oldest batch made room
    buf.close()
    again = DurableBuffer(path, max_readings=10)  # a restart finds what was left
    items = again.peek(100)
    assert [b.point_id[0] for _, b in items] == [1, 2, 9, 9] and again.dropped == 3
    again.ack(items[1][0])
    assert [b.point_id[0] for _, b in again.peek(100)] == [9, 9]
    again.close()


def test_bad_readings_are_quarantined_with_a_reason(db: Db, tmp_path: Path) -> None:
    from tests.factories import make_tenant

    t = make_tenant(db.factory, "E1")
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "b.sqlite"))
    now = datetime.now(UTC)
    readings = [
        Reading(101, now, 25.0),  # good
        Reading(101, now, 55.0),  # beyond 40 + 5% of the span
        Reading(101, now + timedelta(hours=2), 20.0),  # from the future
        Reading(101, now - timedelta(days=30), 20.0),  # too old
        Reading(999, now, 1.0),  # not a point of this enterprise
        Reading(102, now, float("inf")),  # not a finite number
        Reading(102, now - timedelta(seconds=1), None, Quality.BAD),  # a bad-quality reading is kept
    ]
    assert pipe.submit(_spec(t.enterprise_id), readings) == 2
    asyncio.run(pipe._flush_side_tables())
    with db.factory() as s:
        reasons = sorted(s.scalars(select(QuarantinedInput.reason)))
    assert reasons == ["clock_skew", "clock_skew", "out_of_range", "unknown_point", "wrong_type"]
    assert asyncio.run(pipe.forward_once()) == 2
    with db.factory() as s:
        assert s.scalar(select(func.count()).select_from(ReadingRow)) == 2


def test_forwarding_survives_a_store_outage(db: Db, tmp_path: Path) -> None:
    """While the store refuses writes the buffer keeps everything; afterwards it is all stored, once."""

    class Flaky:
        def __init__(self) -> None:
            self.down = True
            self.calls = 0

        async def forward(self, batch: ReadingBatch) -> None:
            self.calls += 1
            if self.down:
                raise ConnectionError("store unavailable")
            from plantguard.timeseries.store import write_batch

            write_batch(db.engine, batch)

    flaky = Flaky()
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "b.sqlite"), flaky)
    base = datetime.now(UTC) - timedelta(minutes=5)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(pipe.run(stop))
        for i in range(50):
            pipe.submit(_spec(), [Reading(101, base + timedelta(seconds=i), float(i % 40))])
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        assert pipe.buffer.pending == 50 and not pipe.forward_ok
        flaky.down = False
        for _ in range(100):
            if pipe.buffer.pending == 0:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(scenario())
    with db.factory() as s:
        assert s.scalar(select(func.count()).select_from(ReadingRow)) == 50
    assert flaky.calls >= 2


def test_connectors_are_held_while_the_forwarder_is_behind(db: Db, tmp_path: Path) -> None:
    """Back-pressure: above the high-water mark a connector waits for the forwarder instead of
    letting the buffer drop its oldest readings; with the store away it never waits."""
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "b.sqlite", max_readings=20))
    assert pipe.high_water == 10
    base = datetime.now(UTC) - timedelta(minutes=1)
    pipe.submit(_spec(), [Reading(101, base + timedelta(seconds=i), 1.0) for i in range(15)])

    async def scenario() -> None:
        waiter = asyncio.create_task(pipe.wait_for_room())
        await asyncio.sleep(0.3)
        assert not waiter.done()  # 15 buffered > 10: held
        stop = asyncio.Event()
        runner = asyncio.create_task(pipe.run(stop))
        await asyncio.wait_for(waiter, timeout=5)  # released once the forwarder drained it
        stop.set()
        await runner
        pipe.forward_ok = False  # the store is away: buffering is the point, nobody waits
        pipe.submit(_spec(), [Reading(101, base + timedelta(seconds=100 + i), 1.0) for i in range(15)])
        await asyncio.wait_for(pipe.wait_for_room(), timeout=1)

    asyncio.run(scenario())
    assert pipe.buffer.dropped == 0
