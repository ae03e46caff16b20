"""Store-and-forward, end to end: N readings sent through MQTT while the database is unavailable
for part of the run and the broker restarts once; exactly N are stored.

Real parts throughout: a private Mosquitto (persistence on, so the QoS 1 messages queued for
the connector's persistent session survive its restart), the real MQTT connector run by the
real coordinator inside :class:`IngestService`, the durable buffer, and the store.

* PostgreSQL is reached through a :class:`~tests.faults.TcpProxy`; cutting it is the outage
  (every open connection dropped, new ones refused), as a network failure or a database
  restart would be.
* SQLite cannot be unreachable; its outage is another process holding the write lock (a
  long backup or a migration would), so the store stalls instead of failing. The buffer must
  absorb the readings either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from plantguard.assets.models import MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.permissions import Actor, Role
from plantguard.core.settings import Settings
from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.config import import_devices
from plantguard.ingest.connectors.mqtt.publisher import BatchPublisher
from plantguard.ingest.models import DeviceStatus
from plantguard.ingest.reading import now_us
from plantguard.ingest.service import IngestService, buffer_path
from plantguard.tenancy.models import User
from tests.conftest import Db
from tests.factories import make_tenant
from tests.faults import TcpProxy

MOSQUITTO = "/usr/sbin/mosquitto"
POINTS = 100  # readings per message, one per point
MESSAGES = 200
N = POINTS * MESSAGES
TOPIC = "sf/line-1/telemetry"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """A private broker on a free port whose state (sessions, queued messages) is saved to
    ``workdir`` when it stops and read back when it starts."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {self.dir}/", "autosave_interval 1", "max_queued_messages 100000",
                 f"log_dest file {self.dir}/mosquitto.log"]
        if os.geteuid() == 0:
            lines.append("user root")  # otherwise it drops to "mosquitto", who cannot write here
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its state on the way out, as on any orderly restart."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "mosquitto.log").read_text(errors="replace")
        return ""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if not os.path.exists(MOSQUITTO):
        pytest.skip(f"{MOSQUITTO} is not installed")
    m = Mosquitto(tmp_path / "mosquitto")
    m.start()
    try:
        yield m
    finally:
        m.stop()


def _plant(db: Db, broker_port: int) -> tuple[int, list[str]]:
    """An enterprise with POINTS measurement points and one MQTT device reading them all from
    batch messages (``{"ts": µs, "readings": {"<code>": value}}``); returns (device id, codes)."""
    t = make_tenant(db.factory, "SF")
    codes = [f"SF-{i:03d}" for i in range(POINTS)]
    with db.factory() as s:
        bind_actor(s, None)
        s.add_all(MeasurementPoint(enterprise_id=t.enterprise_id, equipment_id=t.equipment_id, code=c,
                                   name=f"测点 {c}", unit="MPa", range_low=0, range_high=100) for c in codes)
        s.commit()
    with db.factory() as s:
        admin = s.scalars(select(User).where(User.username == t.users["admin"])).one()
        actor = Actor(admin.id, t.enterprise_id, Role.ADMIN, admin.username)
        bind_actor(s, actor)
        import_devices(s, actor, [{
            "code": "SF-GW", "protocol": "mqtt", "name": "冲压线网关",
            "connection": {"host": "127.0.0.1", "port": broker_port, "client_id": f"sf-{uuid.uuid4().hex[:8]}",
                           "qos": 1, "clean_start": False},
            "points": [{"topic": "sf/+/telemetry", "format": "batch", "point": "{key}"}],
        }])
        s.commit()
        from plantguard.ingest.models import Device

        device_id = s.scalars(select(Device.id).where(Device.code == "SF-GW")).one()
    return device_id, codes


class Outage:
    """The store made unavailable for a while, by backend."""

    def __init__(self, begin: Callable[[], None], end: Callable[[], None], fails: bool) -> None:
        self.begin, self.end, self.fails = begin, end, fails


def _counts(engine: Engine) -> tuple[int, int, int, int]:
    """(rows, distinct (point, ts), distinct ts, min rows per point)."""
    with engine.execution_options(plantguard_read_only=True).connect() as conn:  # no SQLite write lock
        rows, stamps = conn.execute(text("SELECT count(*), count(DISTINCT ts) FROM reading")).one()
        distinct = conn.execute(text("SELECT count(*) FROM (SELECT DISTINCT point_id, ts FROM reading) x")).scalar()
        per_point = conn.execute(text("SELECT coalesce(min(c), 0) FROM (SELECT count(*) AS c FROM reading "
                                      "GROUP BY point_id) x")).scalar()
    return int(rows), int(distinct or 0), int(stamps), int(per_point or 0)


async def _until(cond: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(cond):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _run(db: Db, service_engine: Engine, broker: Mosquitto, outage: Outage, tmp_path: Path) -> None:
    device_id, codes = _plant(db, broker.port)
    settings = Settings(database_url=str(service_engine.url), bus_url="inprocess://", var_dir=tmp_path / "var",
                        ingest=True)
    service = IngestService(settings, service_engine, make_session_factory(service_engine), reload_s=1.0)
    base = now_us() - 600_000_000  # ten minutes ago, one millisecond apart per message
    seen: dict[str, Any] = {}

    def online() -> bool:
        c = service.pipeline.board.devices.get(device_id)
        return c is not None and c.state == "online"

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await _until(online, 20, "the MQTT device to come online")
            pub = BatchPublisher("127.0.0.1", broker.port, client_id=f"sf-pub-{uuid.uuid4().hex[:8]}", qos=1)
            await asyncio.to_thread(pub.connect)
            try:
                for i in range(MESSAGES):
                    pub.publish(TOPIC, {c: float((i + k) % 90) for k, c in enumerate(codes)}, ts_us=base + i * 1000)
                    if i == 40:
                        await asyncio.to_thread(outage.begin)
                    elif i == 130:
                        seen["pending"] = service.buffer.pending
                        seen["forward_ok"] = service.pipeline.forward_ok
                        seen["stored_during"] = (await asyncio.to_thread(_counts, db.engine))[0]
                        await asyncio.to_thread(outage.end)
                    elif i == 150:
                        await asyncio.to_thread(broker.restart)
                    await asyncio.sleep(0.03)
                await asyncio.to_thread(pub.flush, 30.0)  # the broker has every message
            finally:
                pub.close()
            await _until(lambda: _counts(db.engine)[0] >= N, 30, f"{N} readings stored")
            await _until(lambda: service.buffer.pending == 0, 10, "the buffer to drain")
            await asyncio.sleep(0.5)  # anything stored twice would show up now
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    asyncio.run(scenario())

    # The outage happened while readings kept coming: they waited in the durable buffer.
    assert seen["pending"] > 0, seen
    assert seen["stored_during"] < N
    if outage.fails:
        assert seen["forward_ok"] is False, seen
    # Exactly N, each (point, timestamp) once: 100 points × 200 message timestamps.
    assert _counts(db.engine) == (N, N, MESSAGES, MESSAGES)
    with db.engine.execution_options(plantguard_read_only=True).connect() as conn:
        lo, hi = conn.execute(text("SELECT min(ts), max(ts) FROM reading")).one()
        rolled = conn.execute(text("SELECT sum(n) FROM reading_rollup WHERE res = 60")).scalar()
    assert (lo, hi) == (base, base + (MESSAGES - 1) * 1000)
    assert rolled == N  # the rollups counted each reading once too
    # The connector lost the broker and came back (a reconnect, not a new session).
    with db.factory() as s:
        status = s.scalars(select(DeviceStatus).where(DeviceStatus.device_id == device_id)).one()
        assert status.reconnects >= 1, status.reconnects
        assert s.scalar(select(func.count()).select_from(DeviceStatus)) == 1
    assert broker.starts == 2
    again = DurableBuffer(buffer_path(settings))
    try:
        assert again.pending == 0 and again.dropped == 0
    finally:
        again.close()


@pytest.mark.postgres
def test_postgres_outage_and_broker_restart_lose_nothing_and_store_nothing_twice(
        pg_db: Db, broker: Mosquitto, tmp_path: Path) -> None:
    url = make_url(pg_db.url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    engine = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        _run(pg_db, engine, broker, Outage(proxy.cut, proxy.restore, fails=True), tmp_path)
    finally:
        engine.dispose()
        proxy.close()


def test_sqlite_stall_and_broker_restart_lose_nothing_and_store_nothing_twice(
        sqlite_db: Db, broker: Mosquitto, tmp_path: Path) -> None:
    path = make_url(sqlite_db.url).database
    assert path
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def lock() -> None:
        holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction

    def unlock() -> None:
        holder.execute("ROLLBACK")

    engine = make_engine(sqlite_db.url)
    try:
        _run(sqlite_db, engine, broker, Outage(lock, unlock, fails=False), tmp_path)
    finally:
        holder.close()
        engine.dispose()
