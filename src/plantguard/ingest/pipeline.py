"""From a connector's readings to the store: validate, quarantine, buffer durably, forward.

::

    connector ──► Pipeline.submit ──► checks ──► DurableBuffer ──► forwarder ──► store (write_batch)
                                        │                                   └─► or JetStream (scale-out)
                                        └─► quarantine (with a reason)

``submit`` returns once the accepted readings are in the durable buffer, so a connector
that acknowledges its peer after ``submit`` (MQTT QoS 1) never acknowledges a reading that
a crash could lose. The forwarder drains the buffer in order and deletes a batch only after
the store (or the bus) has taken it; while either is down the buffer grows and the
forwarder retries with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.connector import DeviceSpec
from plantguard.ingest.reading import Reading, ReadingBatch, to_us

if TYPE_CHECKING:
    # The database parts are imported where they are used, so that the checks and the buffer
    # run without SQLAlchemy on an edge box (plantguard.edge).
    from sqlalchemy import Engine

log = logging.getLogger("plantguard.ingest")

# Reasons, stored as codes and shown translated in the console (see ingest/labels.py).
MALFORMED = "malformed"
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_POINT = "unknown_point"
CLOCK_SKEW = "clock_skew"


@dataclass(frozen=True)
class Limits:
    """How far a reading may fall outside its point's range, and its timestamp from now."""

    range_margin: float = 0.05  # fraction of the span beyond range_low/high still accepted
    max_future_s: float = 300.0
    max_past_s: float = 7 * 86_400.0


@dataclass
class DeviceCounters:
    """Per device: state as this process last saw it, and counts since the last flush (so that
    several processes, e.g. web workers taking HTTP ingest, can add to the same row)."""

    enterprise_id: int
    available: bool = False
    state: str = "starting"
    last_seen: datetime | None = None
    last_error: str = ""
    readings: int = 0
    rejected: int = 0
    reconnects: int = 0
    state_dirty: bool = False
    dirty: bool = True


class StatusBoard:
    """What is known of every device right now; flushed to ``device_status`` periodically."""

    def __init__(self) -> None:
        self.devices: dict[int, DeviceCounters] = {}
        self.totals: dict[int, tuple[int, int]] = {}  # device -> (readings, rejected) flushed by this process

    def get(self, device_id: int, enterprise_id: int) -> DeviceCounters:
        c = self.devices.get(device_id)
        if c is None:
            c = self.devices[device_id] = DeviceCounters(enterprise_id)
        return c

    def set_state(self, device_id: int, enterprise_id: int, state: str, error: str = "") -> None:
        c = self.get(device_id, enterprise_id)
        c.state = state
        c.available = state == "online"
        if error or state == "online":
            c.last_error = error[:2000]
        c.state_dirty = c.dirty = True

    def flush(self, engine: Engine) -> None:
        from sqlalchemy import insert, select, update
        from sqlalchemy.orm import Session

        from plantguard.ingest.models import Device, DeviceStatus

        dirty = [(k, v) for k, v in self.devices.items() if v.dirty]
        if not dirty:
            return
        # This runs in a thread while the event loop goes on counting: write a snapshot, then
        # subtract it (zeroing the counters afterwards lost whatever arrived in between).
        taken = {k: (v.readings, v.rejected, v.reconnects, v.state_dirty) for k, v in dirty}
        for _, v in dirty:
            v.state_dirty = False
        ids = [k for k, _ in dirty]
        try:
            with Session(engine) as s, s.begin():
                known = set(s.scalars(select(DeviceStatus.device_id).where(DeviceStatus.device_id.in_(ids))))
                alive = set(s.scalars(select(Device.id).where(Device.id.in_(ids))))
                for device_id, c in dirty:
                    if device_id not in alive:
                        continue  # deleted meanwhile
                    if device_id not in known:
                        s.execute(insert(DeviceStatus).values(
                            device_id=device_id, enterprise_id=c.enterprise_id, available=False, state="starting",
                            last_error="", readings=0, rejected=0, reconnects=0, updated_at=datetime.now(UTC)))
                    readings, rejected, reconnects, state_dirty = taken[device_id]
                    values: dict[str, Any] = {
                        "readings": DeviceStatus.readings + readings,
                        "rejected": DeviceStatus.rejected + rejected,
                        "reconnects": DeviceStatus.reconnects + reconnects,
                        "updated_at": datetime.now(UTC),
                    }
                    if c.last_seen is not None:
                        values["last_seen"] = c.last_seen
                    if state_dirty:
                        values.update(available=c.available, state=c.state, last_error=c.last_error)
                    s.execute(update(DeviceStatus).where(DeviceStatus.device_id == device_id).values(**values))
        except BaseException:
            for device_id, c in dirty:  # nothing was written: the state goes next time
                c.state_dirty = c.state_dirty or taken[device_id][3]
            raise
        for device_id, c in dirty:
            readings, rejected, reconnects, _ = taken[device_id]
            r, j = self.totals.get(device_id, (0, 0))
            self.totals[device_id] = (r + readings, j + rejected)
            c.readings -= readings
            c.rejected -= rejected
            c.reconnects -= reconnects
            c.dirty = bool(c.readings or c.rejected or c.reconnects or c.state_dirty)


@dataclass
class Rejected:
    enterprise_id: int
    device_id: int | None
    source: str
    reason: str
    detail: str
    point_code: str
    raw: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class QuarantineLog:
    """Rejected input waiting to be written; bounded so that a flood of garbage cannot exhaust
    memory while the database is away (the per-device counters still count every rejection)."""

    def __init__(self, max_pending: int = 10_000) -> None:
        self.pending: deque[Rejected] = deque(maxlen=max_pending)

    def add(self, item: Rejected) -> None:
        self.pending.append(item)

    def flush(self, engine: Engine) -> int:
        from sqlalchemy import insert

        from plantguard.ingest.models import QuarantinedInput

        items = list(self.pending)
        if not items:
            return 0
        rows = [{"enterprise_id": r.enterprise_id, "device_id": r.device_id, "source": r.source[:100],
                 "reason": r.reason[:40], "detail": r.detail[:2000], "point_code": r.point_code[:60],
                 "raw": r.raw[:2000], "received_at": r.received_at} for r in items]
        with engine.begin() as conn:
            conn.execute(insert(QuarantinedInput), rows)
        for _ in items:
            self.pending.popleft()
        return len(items)


class Forwarder(Protocol):
    async def forward(self, batch: ReadingBatch) -> None: ...


class StoreForwarder:
    """Writes batches straight into the store (the default, single-process set-up)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def forward(self, batch: ReadingBatch) -> None:
        from plantguard.timeseries.store import write_batch

        await asyncio.to_thread(write_batch, self.engine, batch)


class Pipeline:
    def __init__(self, engine: Engine, buffer: DurableBuffer, forwarder: Forwarder | None = None,
                 limits: Limits | None = None, board: StatusBoard | None = None,
                 max_forward_readings: int = 50_000, linger_s: float = 0.1,
                 on_forwarded: Callable[[ReadingBatch], None] | None = None) -> None:
        self.engine = engine
        # Told of every batch after the store (or the bus) took it: the detection stage. It must
        # be cheap (it queues); an error in it is logged and never costs a reading.
        self.on_forwarded = on_forwarded
        self.buffer = buffer
        self.forwarder = forwarder or StoreForwarder(engine)
        self.limits = limits or Limits()
        self.board = board or StatusBoard()
        self.quarantine = QuarantineLog()
        self.max_forward_readings = max_forward_readings
        # After a forward smaller than max_forward_readings, wait this long before the next: one
        # larger write costs the store far less than several small ones (each also upserts the
        # rollups and last value of every point it touches). 0.1 s cut PostgreSQL's CPU at
        # 50,000 readings/s from ~70% to ~20% of a core (docs/benchmarks.md, Ingest).
        self.linger_s = linger_s
        # Above this backlog connectors are held (see wait_for_room).
        self.high_water = min(500_000, max(1, buffer.max_readings // 2))
        self._backlog = 0
        self._backlog_at = 0.0
        self.forward_ok = True
        self.forward_error = ""
        self.forwarded = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # the forwarder's, once it runs
        self._ranges: dict[tuple[int, str], dict[int, tuple[float | None, float | None]]] = {}
        # Accepted bounds per device configuration (ingest/fastcheck.py).
        self.bounds_cache: dict[tuple[int, str, float], dict[int, tuple[float, float]]] = {}

    # -- in --------------------------------------------------------------------------------

    def reject(self, spec: DeviceSpec[Any, Any] | None, reason: str, detail: str, raw: str = "",
               point_code: str = "", enterprise_id: int | None = None) -> None:
        ent = spec.enterprise_id if spec is not None else enterprise_id
        if ent is None:
            return
        self.quarantine.add(Rejected(ent, spec.device_id if spec else None, spec.source if spec else "",
                                     reason, detail, point_code, raw))
        if spec is not None:
            c = self.board.get(spec.device_id, spec.enterprise_id)
            c.rejected += 1
            c.dirty = True

    def _ranges_for(self, spec: DeviceSpec[Any, Any]) -> dict[int, tuple[float | None, float | None]]:
        key = (spec.device_id, spec.version)
        got = self._ranges.get(key)
        if got is None:
            got = {pid: (lo, hi) for pid, lo, hi in spec.known_points.values()}
            for bp in spec.points:
                if bp.point_id:  # 0: an entry that names its points at run time
                    got[bp.point_id] = (bp.range_low, bp.range_high)
            if len(self._ranges) > 10_000:
                self._ranges.clear()
            self._ranges[key] = got
        return got

    def check(self, spec: DeviceSpec[Any, Any], readings: Sequence[Reading]) -> ReadingBatch:
        """The readings that pass, as a batch; the others are quarantined with a reason.

        The readings become columns first and go through the one set of checks
        (``ingest/fastcheck.py``) that columnar connectors use too; only a value that is not a
        number at all is caught here, since a column can only hold numbers."""
        from plantguard.ingest.fastcheck import check_batch

        return check_batch(self, spec, self._columns(spec, readings))

    def _columns(self, spec: DeviceSpec[Any, Any], readings: Sequence[Reading]) -> ReadingBatch:
        batch = ReadingBatch(spec.enterprise_id)
        for r in readings:
            v = r.value
            if v is not None and not isinstance(v, (int, float)):
                self.reject(spec, WRONG_TYPE, f"value {v!r} is not a number")
                continue
            batch.append(r.point_id, to_us(r.ts), v, int(r.quality))
        return batch

    def submit(self, spec: DeviceSpec[Any, Any], readings: Sequence[Reading]) -> int:
        """Check and durably buffer; returns how many readings were accepted."""
        return self.submit_batch(spec, self._columns(spec, readings))

    def backlog(self) -> int:
        """Readings waiting in the buffer (re-read at most every 0.2 s)."""
        now = time.monotonic()
        if now - self._backlog_at > 0.2:
            self._backlog = self.buffer.pending
            self._backlog_at = now
        return self._backlog

    async def wait_for_room(self) -> None:
        """Back-pressure for connectors: while the store is reachable but the forwarder is
        behind, hold the connector, so that the device or the broker keeps the surplus (an MQTT
        message stays unacknowledged) instead of the buffer dropping its oldest readings. While
        the store is away nothing waits: that is what the buffer is for."""
        while self.forward_ok and self.backlog() > self.high_water:
            await asyncio.sleep(0.05)
            self._backlog_at = 0.0

    def submit_batch(self, spec: DeviceSpec[Any, Any], batch: ReadingBatch) -> int:
        """``submit`` for readings that arrive as columns (see ingest/fastcheck.py)."""
        from plantguard.ingest.fastcheck import submit_batch

        return submit_batch(self, spec, batch)

    # -- out -------------------------------------------------------------------------------

    async def forward_once(self) -> int:
        """Forward what is buffered (merged into large batches per enterprise); returns readings
        forwarded. Raises whatever the store or bus raised; the buffer keeps the data."""
        items = self.buffer.peek(self.max_forward_readings)
        if not items:
            return 0
        done = 0
        merged: ReadingBatch | None = None
        last_seq = 0
        for seq, b in items:
            if merged is not None and merged.enterprise_id != b.enterprise_id:
                await self.forwarder.forward(merged)
                self.buffer.ack(last_seq)
                done += len(merged)
                self._forwarded(merged)
                merged = None
            if merged is None:
                merged = b
            else:
                merged.extend(b)
            last_seq = seq
        if merged is not None:
            await self.forwarder.forward(merged)
            self.buffer.ack(last_seq)
            done += len(merged)
            self._forwarded(merged)
        self.forwarded += done
        return done

    def _forwarded(self, batch: ReadingBatch) -> None:
        if self.on_forwarded is None:
            return
        try:
            self.on_forwarded(batch)
        except Exception:  # detection must never lose or hold up readings
            log.exception("ingest: the on_forwarded hook failed; readings are stored regardless")

    def wake(self) -> None:
        """Tell the forwarder readings are waiting. Safe from any thread: HTTP ingest submits
        from the server's worker threads, where setting the asyncio event directly would not
        wake the loop (the forwarder would notice only at its next timeout)."""
        loop = self._loop
        if loop is None:
            self._wake.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Forward until ``stop``; then one last attempt to drain. Also flushes the quarantine
        and the device status board about once a second."""
        self._loop = asyncio.get_running_loop()
        backoff = 0.25
        last_flush = 0.0
        while True:
            # Cleared before looking, so that readings submitted while a forward runs wake the
            # wait below at once instead of being noticed at its timeout.
            self._wake.clear()
            try:
                n = await self.forward_once()
                if not self.forward_ok:
                    log.info("ingest: store reachable again; replaying %d buffered readings", self.buffer.pending)
                self.forward_ok, self.forward_error = True, ""
                backoff = 0.25
            except Exception as exc:  # the store or bus is down: keep the data, retry later
                if self.forward_ok:
                    log.warning("ingest: cannot forward readings (%s); buffering", exc)
                self.forward_ok, self.forward_error = False, str(exc)[:500]
                n = 0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 5.0)
            if time.monotonic() - last_flush > 1.0:
                last_flush = time.monotonic()
                await self._flush_side_tables()
            if stop.is_set():
                if self.forward_ok and self.buffer.pending and n:
                    continue  # drain what we can before stopping
                break
            if n and self.linger_s and n < self.max_forward_readings and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.linger_s)
            if n == 0 and self.forward_ok:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=0.5)
        await self._flush_side_tables()

    async def _flush_side_tables(self) -> None:
        try:
            await asyncio.to_thread(self.quarantine.flush, self.engine)
            await asyncio.to_thread(self.board.flush, self.engine)
        except Exception as exc:  # the database is away; these are retried next round
            log.debug("ingest: status/quarantine flush deferred: %s", exc)
