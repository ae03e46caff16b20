"""Scale-out: batches published to NATS JetStream by the forwarder, stored by two real worker
processes sharing one durable consumer; each reading is stored exactly once, and killing a
worker mid-run loses nothing.

Real parts only: the JetStream server on 127.0.0.1:4222, PostgreSQL, and two
``plantguard ingest worker`` processes. Every test gets its own stream, subject and consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import nats
import pytest
from sqlalchemy import text

from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.jetstream import JetStreamForwarder, ReadingStreamConfig
from plantguard.ingest.pipeline import Pipeline
from plantguard.ingest.reading import ReadingBatch, now_us
from tests.conftest import Db
from tests.faults import TcpProxy
from tests.services import NATS_URL, require_nats

pytestmark = [pytest.mark.postgres, pytest.mark.nats]

BATCH = 2_000  # readings per published batch
ENTERPRISE = 7
TOTALS = re.compile(r"store worker ([^\s:]+)(?: totals)?: messages=(\d+) readings=(\d+) new=(\d+) redelivered=(\d+)")


@dataclass
class Worker:
    name: str
    log: Path
    proc: subprocess.Popen[bytes]

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def last_counts(self) -> tuple[int, int, int, int]:
        """(messages, readings, new, redelivered) from its last status or totals line."""
        found = [m for m in TOTALS.finditer(self.text()) if m.group(1) == self.name]
        if not found:
            return (0, 0, 0, 0)
        m = found[-1]
        return int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))

    def stop(self) -> None:
        """SIGTERM and wait: the worker finishes its round, says its totals and exits."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _worker_command() -> list[str]:
    """``plantguard ingest worker`` once the CLI has it; the same function run directly until then."""
    from plantguard.ingest.cli import ingest_app

    if any(c.name == "worker" for c in ingest_app.registered_commands):
        return [sys.executable, "-m", "plantguard.cli.main", "ingest", "worker"]
    return [sys.executable, "-m", "plantguard.ingest.worker_cli"]


def stop_all(*workers: Worker) -> None:
    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in workers:
        w.stop()


@dataclass
class Group:
    config: ReadingStreamConfig
    env: dict[str, str]
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    def redeliver_after(self, seconds: float) -> None:
        """A shorter ack_wait for the workers started from now on."""
        self.config = replace(self.config, ack_wait_s=seconds)
        self.env["PLANTGUARD_INGEST_ACK_WAIT_S"] = str(seconds)

    def start(self, name: str) -> Worker:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([*_worker_command(), "--name", name],
                                    env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        w = Worker(name, log, proc)
        self.workers.append(w)
        return w

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for w in self.workers:
            while f"store worker {w.name} ready" not in w.text():
                assert w.proc.poll() is None, f"worker {w.name} exited:\n{w.text()[-3000:]}"
                assert time.monotonic() < deadline, f"worker {w.name} not ready:\n{w.text()[-3000:]}"
                time.sleep(0.05)


@pytest.fixture
def group(pg_db: Db, tmp_path: Path) -> Iterator[Group]:
    require_nats()
    tag = uuid.uuid4().hex[:10]
    config = ReadingStreamConfig(servers=(NATS_URL,), stream=f"PGT_READINGS_{tag}", subject=f"pgtest-{tag}",
                                 consumer=f"store-{tag}", ack_wait_s=30.0)
    env = dict(os.environ)
    env.update(PLANTGUARD_DATABASE_URL=pg_db.url, PLANTGUARD_BUS_URL=NATS_URL, PLANTGUARD_VAR_DIR=str(tmp_path),
               PLANTGUARD_INGEST_STREAM=config.stream, PLANTGUARD_INGEST_SUBJECT=config.subject,
               PLANTGUARD_INGEST_CONSUMER=config.consumer, PLANTGUARD_INGEST_ACK_WAIT_S=str(config.ack_wait_s),
               PYTHONUNBUFFERED="1")
    g = Group(config, env, tmp_path)
    try:
        yield g
    finally:
        stop_all(*g.workers)
        asyncio.run(_delete_stream(config.stream))


async def _delete_stream(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def _batch(i: int) -> ReadingBatch:
    """Batch ``i``: distinct (point, timestamp) pairs across all batches, an hour ago."""
    b = ReadingBatch(ENTERPRISE)
    base = now_us() - 3_600_000_000 + i * BATCH
    for j in range(BATCH):
        b.append(5000 + j % 50, base + j, float(j % 100), 0)
    return b


async def _publish(config: ReadingStreamConfig, batches: range, pause_s: float = 0.0) -> JetStreamForwarder:
    fwd = JetStreamForwarder(config)
    try:
        for i in batches:
            await fwd.forward(_batch(i))
            if pause_s:
                await asyncio.sleep(pause_s)
    finally:
        await fwd.close()
    return fwd


def _stored(db: Db) -> tuple[int, int]:
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT count(*), count(DISTINCT (point_id, ts)) FROM reading")).one()
    return int(row[0]), int(row[1])


def _wait_stored(db: Db, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _stored(db)[0] < n and time.monotonic() < deadline:
        time.sleep(0.1)


def test_two_workers_share_the_stream_and_store_each_reading_once(group: Group, pg_db: Db, tmp_path: Path) -> None:
    a, b = group.start("wa"), group.start("wb")
    group.wait_ready()
    m = 60
    # The leader's path: batches in the durable buffer, drained by the pipeline through the
    # forwarder (merged up to 50,000 readings, published in pieces of at most 20,000).
    buffer = DurableBuffer(tmp_path / "buffer.sqlite")
    for i in range(m):
        buffer.put(_batch(i))
    fwd = JetStreamForwarder(group.config)
    pipe = Pipeline(pg_db.engine, buffer, fwd)

    async def drain() -> None:
        try:
            while buffer.pending:
                await pipe.forward_once()
        finally:
            await fwd.close()

    asyncio.run(drain())
    assert buffer.pending == 0 and fwd.duplicates == 0
    buffer.close()
    _wait_stored(pg_db, m * BATCH)
    stop_all(a, b)
    assert _stored(pg_db) == (m * BATCH, m * BATCH)
    counts = {w.name: w.last_counts() for w in (a, b)}
    # Both did work, and between them each message and each reading was handled exactly once.
    assert all(c[0] > 0 for c in counts.values()), counts
    assert sum(c[0] for c in counts.values()) == fwd.published, counts
    assert sum(c[1] for c in counts.values()) == m * BATCH, counts
    assert sum(c[2] for c in counts.values()) == m * BATCH, counts  # every reading new exactly once
    with pg_db.engine.connect() as conn:
        per_point = conn.execute(text("SELECT min(c), max(c) FROM (SELECT count(*) AS c FROM reading "
                                      "GROUP BY point_id) x")).one()
        rolled = conn.execute(text("SELECT sum(n) FROM reading_rollup WHERE res = 60")).scalar()
    assert tuple(per_point) == (m * BATCH // 50, m * BATCH // 50)
    assert rolled == m * BATCH  # rollups counted each reading once too


def test_a_republished_batch_is_dropped_by_jetstream(group: Group, pg_db: Db) -> None:
    """The leader crashed after JetStream took a batch but before its buffer forgot it: the
    same bytes published again are recognised (Nats-Msg-Id) and not delivered twice."""
    w = group.start("wa")
    group.wait_ready()

    async def twice() -> JetStreamForwarder:
        fwd = JetStreamForwarder(group.config)
        batch = _batch(0)
        try:
            await fwd.forward(batch)
            await fwd.forward(batch)
        finally:
            await fwd.close()
        return fwd

    fwd = asyncio.run(twice())
    assert fwd.published == 2 and fwd.duplicates == 1
    _wait_stored(pg_db, BATCH)
    time.sleep(0.5)
    w.stop()
    assert _stored(pg_db) == (BATCH, BATCH)
    assert w.last_counts()[:3] == (1, BATCH, BATCH)


def test_killing_a_worker_mid_run_loses_nothing(group: Group, pg_db: Db) -> None:
    group.redeliver_after(2.0)  # what the dead worker had fetched comes back to the other one soon
    a, b = group.start("wa"), group.start("wb")
    group.wait_ready()
    m = 80

    async def scenario() -> int:
        publishing = asyncio.create_task(_publish(group.config, range(m), pause_s=0.03))
        # Kill worker A (no goodbye, no acks) once it has stored something, mid-run.
        deadline = time.monotonic() + 20
        while a.last_counts()[0] == 0 and _stored(pg_db)[0] < BATCH * 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        a.proc.send_signal(signal.SIGKILL)
        at_kill = _stored(pg_db)[0]
        await publishing
        return at_kill

    at_kill = asyncio.run(scenario())
    assert a.proc.wait(timeout=5) == -signal.SIGKILL
    assert at_kill < m * BATCH  # the kill happened before the run was over
    _wait_stored(pg_db, m * BATCH, timeout=40)
    b.stop()
    assert _stored(pg_db) == (m * BATCH, m * BATCH)
    messages, readings, _, _ = b.last_counts()
    assert messages > 0 and readings >= m * BATCH - at_kill - BATCH * 4  # B took over the rest


def test_the_buffer_keeps_batches_while_jetstream_is_unreachable(group: Group, pg_db: Db, tmp_path: Path) -> None:
    """The leader reaches NATS through a proxy that is cut for a while: batches wait in the
    durable buffer (nothing is forgotten that JetStream has not acknowledged) and go out,
    once each, when NATS is back."""
    w = group.start("wa")
    group.wait_ready()
    target = urlsplit(NATS_URL)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 4222)
    config = replace(group.config, servers=(f"nats://127.0.0.1:{proxy.port}",), timeout_s=2.0)
    buffer = DurableBuffer(tmp_path / "buffer.sqlite")
    fwd = JetStreamForwarder(config)
    pipe = Pipeline(pg_db.engine, buffer, fwd)
    m = 30
    seen: dict[str, object] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(pipe.run(stop))
        try:
            for i in range(m):
                buffer.put(_batch(i))
                pipe._wake.set()
                if i == 5:
                    await asyncio.sleep(0.5)
                    proxy.cut()
                if i == 25:
                    seen["pending"], seen["ok"] = buffer.pending, pipe.forward_ok
                    seen["stored"] = _stored(pg_db)[0]
                    proxy.restore()
                await asyncio.sleep(0.1)
            deadline = time.monotonic() + 20
            while buffer.pending and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
            await fwd.close()

    try:
        asyncio.run(scenario())
    finally:
        proxy.close()
    assert seen["ok"] is False and isinstance(seen["pending"], int) and seen["pending"] > 0, seen
    assert buffer.pending == 0
    buffer.close()
    _wait_stored(pg_db, m * BATCH)
    time.sleep(0.5)
    w.stop()
    assert _stored(pg_db) == (m * BATCH, m * BATCH)
    assert w.last_counts()[1] == m * BATCH  # no message reached the worker twice


def test_an_unreachable_nats_is_an_error_soon_not_a_hang() -> None:
    """nats-py would retry a first connection forever; the forwarder says NATS is away, and the
    pipeline keeps the batch and tries again later."""
    port = _closed_port()
    fwd = JetStreamForwarder(ReadingStreamConfig(servers=(f"nats://127.0.0.1:{port}",), timeout_s=1.0))

    async def attempt() -> float:
        t0 = time.monotonic()
        try:
            with pytest.raises(ConnectionError, match="did not answer"):
                await fwd.forward(_batch(0))
        finally:
            await fwd.close()
        return time.monotonic() - t0

    assert asyncio.run(asyncio.wait_for(attempt(), 20)) < 5


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


def test_stream_configuration_from_the_environment() -> None:
    cfg = ReadingStreamConfig.from_env("nats://a:4222,b:4223?stream=EVENTS", {
        "PLANTGUARD_INGEST_STREAM": "R1", "PLANTGUARD_INGEST_SUBJECT": "site-1.readings",
        "PLANTGUARD_INGEST_CONSUMER": "store", "PLANTGUARD_INGEST_ACK_WAIT_S": "5"})
    assert cfg.servers == ("nats://a:4222", "nats://b:4223")  # the query is the event bus's
    assert (cfg.stream, cfg.subject_for(3), cfg.filter, cfg.consumer, cfg.ack_wait_s) == (
        "R1", "site-1.readings.3", "site-1.readings.>", "store", 5.0)
    assert ReadingStreamConfig.from_env("nats://h:4222", {}).subject == "plantguard-readings"
    for bad in ({"PLANTGUARD_INGEST_STREAM": "a.b"}, {"PLANTGUARD_INGEST_SUBJECT": "x.>"},
                {"PLANTGUARD_INGEST_CONSUMER": "c d"}):
        with pytest.raises(ValueError, match="invalid JetStream"):
            ReadingStreamConfig.from_env("nats://h:4222", bad)
    with pytest.raises(ValueError, match="not a NATS URL"):
        ReadingStreamConfig.from_env("inprocess://", {})


def test_a_single_server_on_nats_stores_without_a_separate_worker(group: Group, pg_db: Db, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``plantguard run`` with a nats:// bus: the ingest leader runs a store worker itself."""
    from plantguard.core.settings import Settings
    from plantguard.ingest.service import IngestService

    for key, value in group.env.items():
        if key.startswith("PLANTGUARD_INGEST_"):
            monkeypatch.setenv(key, value)
    settings = Settings(database_url=pg_db.url, bus_url=NATS_URL, var_dir=tmp_path / "leader")
    service = IngestService(settings, pg_db.engine, pg_db.factory)
    for i in range(5):
        service.buffer.put(_batch(i))

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        deadline = time.monotonic() + 30
        while _stored(pg_db)[0] < 5 * BATCH and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await task

    asyncio.run(scenario())
    assert _stored(pg_db) == (5 * BATCH, 5 * BATCH)
