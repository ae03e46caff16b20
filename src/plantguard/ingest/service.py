"""Sensing in a running PlantGuard: the pipeline every process uses (HTTP ingest), and the
coordinator plus forwarder that one process, the ingest leader, runs.

Every process appends to the same durable buffer file; only the leader connects to devices
and drains the buffer into the store (or onto the bus). With several web workers, readings
posted to any of them are therefore forwarded by the leader, and a leader that dies leaves its
buffered readings for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from plantguard.core.settings import Settings
from plantguard.detection.rules.stage import DetectionStage
from plantguard.detection.signals import AlarmSink
from plantguard.events.leader import LeaderLock, lock_for
from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.coordinator import Coordinator
from plantguard.ingest.pipeline import Forwarder, Limits, Pipeline, StoreForwarder
from plantguard.ingest.reading import ReadingBatch
from plantguard.permits.monitor import PermitMonitor

log = logging.getLogger("plantguard.ingest")


def buffer_path(settings: Settings) -> Path:
    return settings.var_dir / "ingest" / "buffer.sqlite"


def default_forwarder(settings: Settings, engine: Engine) -> Forwarder:
    """Straight into the store; with ``PLANTGUARD_BUS_URL=nats://…`` onto JetStream, where
    ``plantguard ingest worker`` processes share the writing (see ingest/jetstream.py)."""
    from plantguard.ingest.jetstream import JetStreamForwarder, ReadingStreamConfig, is_nats_url

    if is_nats_url(settings.bus_url):
        return JetStreamForwarder(ReadingStreamConfig.from_env(settings.bus_url))
    return StoreForwarder(engine)


def fan_out(hooks: Sequence[Callable[[ReadingBatch], None]]) -> Callable[[ReadingBatch], None] | None:
    """One ``on_forwarded`` for several stages (each is cheap and never raises)."""
    if len(hooks) <= 1:
        return hooks[0] if hooks else None

    def each(batch: ReadingBatch) -> None:
        for hook in hooks:
            hook(batch)

    return each


class IngestService:
    def __init__(self, settings: Settings, engine: Engine, factory: sessionmaker[Session],
                 forwarder: Forwarder | None = None, lock: LeaderLock | None = None,
                 reload_s: float = 5.0, sink: AlarmSink | None = None, detection: bool = True,
                 permits: bool = True) -> None:
        self.settings = settings
        self.engine = engine
        self.buffer = DurableBuffer(buffer_path(settings), settings.ingest_buffer_max)
        limits = Limits(settings.ingest_range_margin, settings.ingest_max_future_s, settings.ingest_max_past_s)
        self.forwarder = forwarder or default_forwarder(settings, engine)
        # Detection runs where batches are forwarded: in the ingest leader, on what it stored (or
        # published to JetStream). Signals go to ``sink``, by default the alarm lifecycle.
        if sink is None and detection:
            from plantguard.detection.alarms.intake import AlarmIntake

            sink = AlarmIntake(factory)
        self.detection: DetectionStage | None = DetectionStage(engine, sink) if detection else None
        # The permits' live gas link watches the same stored batches (bound points only).
        self.permits: PermitMonitor | None = PermitMonitor(factory) if permits else None
        hooks = [h.on_forwarded for h in (self.detection, self.permits) if h is not None]
        self.pipeline = Pipeline(engine, self.buffer, self.forwarder, limits, on_forwarded=fan_out(hooks))
        self.coordinator = Coordinator(factory, self.pipeline, reload_s=reload_s)
        self.lock = lock or lock_for(engine, settings.var_dir, "ingest")
        self.leader = False

    def _store_workers(self, stop: asyncio.Event) -> list[Any]:
        """With JetStream, readings reach the store only through store workers: the leader runs
        ``PLANTGUARD_INGEST_STORE_WORKERS`` of them (default 1) so that a single-server set-up
        stores data without a separate ``plantguard ingest worker``; more can run elsewhere."""
        from plantguard.ingest.jetstream import JetStreamForwarder, StoreWorker

        if not isinstance(self.forwarder, JetStreamForwarder) or self.settings.ingest_store_workers <= 0:
            return []
        return [StoreWorker(self.engine, self.forwarder.config, name=f"leader-{os.getpid()}-{i}").run(stop)
                for i in range(self.settings.ingest_store_workers)]

    async def run(self, stop: asyncio.Event, retry_s: float = 5.0) -> None:
        """Lead when possible (connectors + forwarder); until then only flush side tables."""
        try:
            while not stop.is_set():
                try:
                    self.leader = await asyncio.to_thread(self.lock.try_acquire)
                except Exception:
                    log.exception("ingest leader lock")
                    self.leader = False
                if self.leader:
                    log.info("this process runs the connectors and forwards readings")
                    stages = [x.run(stop) for x in (self.detection, self.permits) if x is not None]
                    await asyncio.gather(self.pipeline.run(stop), self.coordinator.run(stop),
                                         *self._store_workers(stop), *stages)
                    return
                await self.pipeline._flush_side_tables()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=retry_s)
        finally:
            await asyncio.to_thread(self.lock.release)
            close = getattr(self.forwarder, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
            self.buffer.close()
