"""The coordinator keeps a real Modbus device connected: it polls into the store, notices the
PLC going away (device offline, points marked bad), reconnects by itself when it returns,
and picks up configuration changes without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.core.permissions import Actor, Role
from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.config import DeviceCreate, DeviceUpdate, device_service
from plantguard.ingest.coordinator import Coordinator
from plantguard.ingest.models import DeviceStatus
from plantguard.ingest.pipeline import Pipeline
from plantguard.timeseries.models import PointLast, ReadingRow
from tests.conftest import Db
from tests.factories import make_tenant
from tests.ingest.test_modbus_connector import GAP_AT, LoopThread, Plc


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_poll_reconnect_and_reconfigure(db: Db, tmp_path: Path, loop_thread: LoopThread) -> None:
    t = make_tenant(db.factory, "E1")
    actor = Actor(user_id=0, enterprise_id=t.enterprise_id, role=Role.ADMIN, username="test")
    plc = Plc(loop_thread)
    plc.start()
    point = {"point": "EQ-1-HP", "table": "holding", "address": GAP_AT, "type": "float32", "scale": 0.2}
    with db.factory() as s:
        bind_actor(s, actor)
        dev = device_service.create(s, actor, DeviceCreate(
            code="PLC-1", protocol="modbus", poll_interval_s=0.1,
            connection={"host": "127.0.0.1", "port": plc.port, "timeout_s": 0.5}, points=[point]))
        s.commit()
        device_id = dev.id

    def last() -> PointLast | None:
        with db.factory() as s:
            return s.get(PointLast, t.point_id)

    def status() -> DeviceStatus | None:
        with db.factory() as s:
            return s.get(DeviceStatus, device_id)

    def update(**values: object) -> None:
        with db.factory() as s:
            bind_actor(s, actor)
            device_service.update(s, actor, device_id, DeviceUpdate(**values))  # type: ignore[arg-type]
            s.commit()

    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "buffer.sqlite"))
    coord = Coordinator(db.factory, pipe, reload_s=0.2, min_backoff_s=0.1)

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(pipe.run(stop)), asyncio.create_task(coord.run(stop))]
        try:
            await _until(lambda: (p := last()) is not None and p.value is not None and abs(p.value - 19.9) < 1e-6)
            await _until(lambda: (st := status()) is not None and st.state == "online" and st.readings > 0)
            # The PLC goes away: offline, and its point is marked bad rather than left frozen.
            plc.stop()
            await _until(lambda: (st := status()) is not None and st.state == "offline")
            await _until(lambda: (p := last()) is not None and p.quality == 2)
            # It comes back on the same address: readings resume with no restart.
            plc.start()
            await _until(lambda: (p := last()) is not None and p.quality == 0)
            await _until(lambda: (st := status()) is not None and st.state == "online" and st.reconnects >= 1)
            # A configuration change is picked up within the reload interval.
            update(points=[{**point, "scale": 0.1}])
            await _until(lambda: (p := last()) is not None and p.value is not None and abs(p.value - 9.95) < 1e-6)
            # Disabled: the runner stops and says so.
            update(enabled=False)
            await _until(lambda: (st := status()) is not None and st.state == "disabled")
            assert not coord.runners
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    try:
        asyncio.run(scenario())
    finally:
        plc.stop()
        pipe.buffer.close()
    with db.factory() as s:
        values = set(s.scalars(select(ReadingRow.value).where(ReadingRow.point_id == t.point_id)))
    assert {19.9, 9.95} <= {round(v, 6) for v in values if v is not None}
