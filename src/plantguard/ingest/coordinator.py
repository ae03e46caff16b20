"""Runs every enabled device's connector and keeps it running.

For each device: connect, then poll on its interval (polling connectors) or receive
(push connectors); on any :class:`ConnectorError` mark the device offline, mark its points
BAD once (so the live overview shows the loss instead of a frozen last value), close, wait
with exponential back-off and jitter, and reconnect. A fresh connector instance is built on
every reconnect, so nothing from a dead session (subscriptions, handles) survives into the
next one: the "no data until restart after a PLC reconnect" failure cannot happen here.

Every few seconds the coordinator re-reads the device table: a device whose configuration
changed is restarted with the new one, a disabled or deleted one is stopped, a new one is
started. Nobody has to restart PlantGuard after editing a device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from plantguard.ingest import manifest as manifests
from plantguard.ingest.connector import (
    Connector,
    ConnectorError,
    DeviceConfigError,
    DeviceSpec,
    PollingConnector,
    PushConnector,
    Rejects,
)
from plantguard.ingest.reading import Quality, Reading, ReadingBatch

if TYPE_CHECKING:
    # Only the Coordinator reads the device table; DeviceRunner runs without a database (the
    # edge runner, plantguard.edge, uses it with a static device list and no SQLAlchemy).
    from sqlalchemy.orm import Session, sessionmaker

    from plantguard.ingest.pipeline import Pipeline

log = logging.getLogger("plantguard.ingest")

MAX_BACKOFF_S = 60.0


class DeviceRunner:
    def __init__(self, spec: DeviceSpec[Any, Any], pipeline: Pipeline, min_backoff_s: float = 1.0) -> None:
        self.spec = spec
        self.pipeline = pipeline
        self.min_backoff_s = min_backoff_s
        self.task: asyncio.Task[None] | None = None
        self.stopping = False

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"device:{self.spec.code}")

    async def stop(self) -> None:
        """Cancel the runner and wait for it. A protocol library may swallow one cancellation
        (turning it into its own error); the flag and the repeated cancel make sure it ends."""
        self.stopping = True
        if self.task is None:
            return
        for _ in range(100):
            self.task.cancel()
            done, _pending = await asyncio.wait({self.task}, timeout=0.1)
            if done:
                break
        if self.task.done() and not self.task.cancelled():
            with contextlib.suppress(Exception):
                self.task.result()

    def _connector(self) -> Connector[Any, Any]:
        cls = manifests.get(self.spec.protocol).connector_class()
        spec = self.spec
        rejects = Rejects(lambda reason, detail, raw, code: self.pipeline.reject(spec, reason, detail, raw, code))
        connector: Connector[Any, Any] = cls(spec, rejects)
        return connector

    async def emit(self, readings: Sequence[Reading] | ReadingBatch) -> None:
        await self.pipeline.wait_for_room()
        if isinstance(readings, ReadingBatch):
            if len(readings):
                self.pipeline.submit_batch(self.spec, readings)
        elif readings:
            self.pipeline.submit(self.spec, readings)

    def _mark_bad(self) -> None:
        now = datetime.now(UTC)
        self.pipeline.submit(self.spec, [Reading(p.point_id, now, None, Quality.BAD, self.spec.source)
                                         for p in self.spec.points if p.point_id])

    async def run(self) -> None:
        board = self.pipeline.board
        spec = self.spec
        backoff = self.min_backoff_s
        first = True
        while not self.stopping:
            connector: Connector[Any, Any] | None = None
            try:
                connector = self._connector()
                await connector.connect()
                if not isinstance(connector, PollingConnector):
                    board.set_state(spec.device_id, spec.enterprise_id, "online")
                if not first:
                    log.info("device %s reconnected", spec.code)
                backoff = self.min_backoff_s
                if isinstance(connector, PollingConnector):
                    await self._poll(connector)
                elif isinstance(connector, PushConnector):
                    await connector.run(self.emit)
                    raise ConnectorError("the connection ended")
                else:
                    raise DeviceConfigError(f"{type(connector).__name__} is neither polling nor push")
            except asyncio.CancelledError:
                raise
            except DeviceConfigError as exc:
                board.set_state(spec.device_id, spec.enterprise_id, "error", str(exc))
                log.warning("device %s: configuration cannot work: %s", spec.code, exc)
                await asyncio.sleep(3600)  # until the configuration changes (the coordinator restarts us)
            except Exception as exc:  # ConnectorError or anything a library let escape
                c = board.get(spec.device_id, spec.enterprise_id)
                was_online = c.state == "online"
                board.set_state(spec.device_id, spec.enterprise_id, "offline", f"{type(exc).__name__}: {exc}")
                c.reconnects += 0 if first and not was_online else 1
                if was_online:
                    log.warning("device %s offline: %s", spec.code, exc)
                    with contextlib.suppress(Exception):
                        self._mark_bad()
            finally:
                if connector is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connector.close(), timeout=5)
            first = False
            if self.stopping:
                return
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _poll(self, connector: PollingConnector[Any, Any]) -> None:
        interval = max(0.05, self.spec.poll_interval_s)
        next_at = time.monotonic()
        board = self.pipeline.board
        spec = self.spec
        while not self.stopping:
            readings = await connector.read()
            if board.get(spec.device_id, spec.enterprise_id).state != "online":
                board.set_state(spec.device_id, spec.enterprise_id, "online")  # after a successful read
            await self.emit(readings)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind: skip missed ticks rather than bursting
                next_at = time.monotonic()
                delay = 0
            await asyncio.sleep(delay)


class Coordinator:
    """Starts, restarts and stops device runners to match the device table."""

    def __init__(self, factory: sessionmaker[Session], pipeline: Pipeline, *, reload_s: float = 5.0,
                 protocols: set[str] | None = None, min_backoff_s: float = 1.0) -> None:
        self.factory = factory
        self.pipeline = pipeline
        self.reload_s = reload_s
        self.protocols = protocols  # None: every protocol with a polling or push connector
        self.min_backoff_s = min_backoff_s
        self.runners: dict[int, DeviceRunner] = {}

    def _load(self) -> tuple[dict[int, DeviceSpec[Any, Any]], dict[int, str]]:
        from sqlalchemy import select

        from plantguard.core.errors import ValidationFailed
        from plantguard.ingest.config import build_spec
        from plantguard.ingest.models import Device

        specs: dict[int, DeviceSpec[Any, Any]] = {}
        errors: dict[int, str] = {}
        known = manifests.manifests()
        with self.factory() as session:
            for d in session.scalars(select(Device).where(Device.enabled.is_(True))):
                m = known.get(d.protocol)
                if m is None or m.mode == "api":
                    continue
                if self.protocols is not None and d.protocol not in self.protocols:
                    continue
                try:
                    specs[d.id] = build_spec(session, d)
                except ValidationFailed as exc:
                    errors[d.id] = "; ".join(f"{e.field}: {e.message % e.params if e.params else e.message}"
                                             for e in exc.errors)[:2000]
                    self.pipeline.board.set_state(d.id, d.enterprise_id, "error", errors[d.id])
        return specs, errors

    async def sync(self) -> None:
        specs, _ = await asyncio.to_thread(self._load)
        for device_id in list(self.runners):
            runner = self.runners[device_id]
            new = specs.get(device_id)
            if new is None or new.version != runner.spec.version:
                await runner.stop()
                del self.runners[device_id]
                if new is None:
                    self.pipeline.board.set_state(device_id, runner.spec.enterprise_id, "disabled")
        for device_id, spec in specs.items():
            if device_id not in self.runners:
                runner = DeviceRunner(spec, self.pipeline, self.min_backoff_s)
                runner.start()
                self.runners[device_id] = runner

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.sync()
                except Exception:  # the database may be away; the running devices go on
                    log.exception("ingest: could not re-read the device table")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.reload_s)
        finally:
            for runner in list(self.runners.values()):
                await runner.stop()
            self.runners.clear()
