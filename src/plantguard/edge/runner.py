"""The edge process: connectors -> checks -> detection -> durable buffer -> uplink.

::

    DeviceRunner (ingest/coordinator.py, unchanged) ──► EdgePipeline.submit_batch
        ├─ the server's quality checks (ingest/fastcheck.py: unknown point, clock skew, ±inf, range)
        ├─ Detection.observe ──► ConditionSignals ──► EdgeBuffer (signals)
        └─ EdgeBuffer (readings, DurableBuffer) ──► Pipeline.run's forward loop ──► Uplink

The pipeline is the server's :class:`~plantguard.ingest.pipeline.Pipeline` with the database
parts replaced: no engine, quarantined input goes to the log, and ``forward_once`` sends through
the uplink. So the edge keeps the server's behaviour where it matters: readings are durable
before a connector moves on, the forwarder drains in order and deletes only what was confirmed,
retries with back-off (0.25 s doubling to 5 s), and holds connectors while it is merely behind.

Buffer full: the oldest readings (and, separately, the oldest signals) are dropped, with an
ERROR log line naming how many; after a long outage the newest data is the most useful.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any, cast

from plantguard.edge.buffer import EdgeBuffer
from plantguard.edge.config import EdgeConfig
from plantguard.edge.detect import Detection
from plantguard.edge.devices import build_specs
from plantguard.edge.uplink import Uplink, UplinkRefused, UplinkUnavailable, make_uplink
from plantguard.ingest.connector import DeviceSpec
from plantguard.ingest.coordinator import DeviceRunner
from plantguard.ingest.fastcheck import check_batch
from plantguard.ingest.pipeline import Limits, Pipeline
from plantguard.ingest.reading import ReadingBatch, from_us

log = logging.getLogger("plantguard.edge")
QUALITY = ("good", "uncertain", "bad")


def reading_rows(batch: ReadingBatch, codes: dict[int, str]) -> list[dict[str, Any]]:
    """The readings as the server's HTTP ingest JSON rows (point code, ISO ts, value, quality)."""
    out: list[dict[str, Any]] = []
    for p, t, v, q in batch.rows():
        code = codes.get(p)
        if code is None:  # pragma: no cover - every id the edge ever used is in the file's map
            log.error("edge: reading of unknown local point id %d dropped", p)
            continue
        out.append({"point": code, "ts": from_us(t).isoformat().replace("+00:00", "Z"), "value": v,
                    "quality": QUALITY[q] if 0 <= q < 3 else "bad"})
    return out


class EdgePipeline(Pipeline):
    def __init__(self, cfg: EdgeConfig, buffer: EdgeBuffer, uplink: Uplink, detection: Detection,
                 codes: dict[int, str]) -> None:
        lim = cfg.limits
        super().__init__(cast(Any, None), buffer.readings,
                         limits=Limits(lim.range_margin, lim.max_future_s, lim.max_past_s),
                         max_forward_readings=cfg.buffer.batch_max_readings, linger_s=0.05)
        self.edge = buffer
        self.uplink = uplink
        self.detection = detection
        self.codes = codes
        self.max_signals_per_message = 100
        self.signals_sent = 0
        self.refused = 0
        self.dropped = 0
        self.last_forward_us = 0  # newest reading timestamp confirmed upstream (latency)
        self._down_since: float | None = None
        self._signals_retry_at = 0.0
        self._signals_backoff = 0.25

    # -- in --------------------------------------------------------------------------------

    def submit_batch(self, spec: DeviceSpec[Any, Any], batch: ReadingBatch) -> int:
        good = check_batch(self, spec, batch)
        n = len(good)
        if not n:
            return 0
        try:
            signals = self.detection.observe(good)
        except Exception:  # a detector bug must not stop the readings
            log.exception("edge: detection failed on a batch; readings kept")
            signals = []
        dropped = self.edge.readings.put(good)
        if dropped:
            self.dropped += dropped
            log.error("edge buffer full: dropped the %d oldest readings (cap %d readings; %d dropped in total)",
                      dropped, self.edge.readings.max_readings, self.dropped)
        if signals:
            self.edge.put_signals(signals)
        self._wake.set()
        c = self.board.get(spec.device_id, spec.enterprise_id)
        c.readings += n
        return n

    # -- out -------------------------------------------------------------------------------

    async def forward_once(self) -> int:
        try:
            n = await self._signals_guarded() + await self._readings_once()
        except UplinkUnavailable as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("edge: upstream unavailable (%s); buffering (%d readings, %d signals pending)",
                            exc, self.buffer.pending, self.edge.pending_signals)
            raise
        if self._down_since is not None:
            log.info("edge: upstream back after %.0f s; forwarding %d buffered readings",
                     time.monotonic() - self._down_since, self.buffer.pending)
            self._down_since = None
        return n

    async def _signals_guarded(self) -> int:
        """Signals, with their own back-off (0.25 s doubling to 30 s), so that an upstream that
        takes readings but not signals (an older server without the alarm endpoint) does not hold
        up the readings; the signals stay buffered until it does."""
        if time.monotonic() < self._signals_retry_at:
            return 0
        try:
            n = await self._signals_once()
        except UplinkUnavailable as exc:
            if self._signals_backoff == 0.25:
                log.warning("edge: cannot deliver alarm signals (%s); keeping %d and retrying", exc,
                            self.edge.pending_signals)
            self._signals_retry_at = time.monotonic() + self._signals_backoff
            self._signals_backoff = min(self._signals_backoff * 2, 30.0)
            return 0
        self._signals_backoff = 0.25
        return n

    async def _signals_once(self) -> int:
        items = self.edge.peek_signals(self.max_signals_per_message)
        if not items:
            return 0
        seq = (items[0][0], items[-1][0])
        try:
            await self.uplink.send_signals([doc for _, doc in items], seq)
        except UplinkRefused as exc:
            self.refused += len(items)
            log.error("edge: upstream refused %d alarm signals for good, dropped: %s", len(items), exc)
        self.edge.ack_signals(seq[1])
        self.signals_sent += len(items)
        return len(items)

    async def _readings_once(self) -> int:
        items = self.buffer.peek(self.max_forward_readings)
        if not items:
            return 0
        merged = ReadingBatch(items[0][1].enterprise_id)
        for _, b in items:
            merged.point_id.extend(b.point_id)
            merged.ts.extend(b.ts)
            merged.value.extend(b.value)
            merged.quality.extend(b.quality)
        seq = (items[0][0], items[-1][0])
        try:
            await self.uplink.send_readings(reading_rows(merged, self.codes), seq)
        except UplinkRefused as exc:
            self.refused += len(merged)
            log.error("edge: upstream refused %d readings for good, dropped: %s", len(merged), exc)
        self.buffer.ack(seq[1])
        self.forwarded += len(merged)
        if len(merged):
            self.last_forward_us = max(self.last_forward_us, max(merged.ts))
        return len(merged)

    async def _flush_side_tables(self) -> None:
        """No database: quarantined input goes to the log, summarised by reason."""
        items = list(self.quarantine.pending)
        self.quarantine.pending.clear()
        if items:
            by_reason = Counter(i.reason for i in items)
            log.warning("edge: refused %d readings (%s); e.g. %s %s: %s", len(items),
                        ", ".join(f"{k} {v}" for k, v in by_reason.items()), items[0].source,
                        items[0].point_code, items[0].detail)


class EdgeRunner:
    """Builds everything from the configuration and runs it until ``stop`` is set."""

    def __init__(self, cfg: EdgeConfig, *, min_backoff_s: float = 1.0, status_every_s: float = 60.0,
                 drain_timeout_s: float = 10.0) -> None:
        self.cfg = cfg
        self.min_backoff_s = min_backoff_s
        self.status_every_s = status_every_s
        self.drain_timeout_s = drain_timeout_s
        self.pipeline: EdgePipeline | None = None
        self.runners: list[DeviceRunner] = []

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.cfg
        buffer = EdgeBuffer(cfg.buffer)
        known = cfg.point_codes()
        codes = buffer.remember_codes({c: pid for c, (pid, _, _) in known.items()})
        uplink = make_uplink(cfg)
        pipeline = self.pipeline = EdgePipeline(cfg, buffer, uplink, Detection(cfg), codes)
        if buffer.readings.pending or buffer.pending_signals:
            log.info("edge: %d readings and %d signals buffered from before; forwarding them first",
                     buffer.readings.pending, buffer.pending_signals)
        self.runners = [DeviceRunner(spec, pipeline, self.min_backoff_s) for spec in build_specs(cfg)]
        for r in self.runners:  # reading starts at once; the buffer holds it until the uplink is up
            r.start()
        log.info("edge %s: %d devices, %d points, %d rules, upstream %s", cfg.edge_id, len(self.runners),
                 len(known), len(cfg.rules), cfg.upstream.kind)
        forward_stop = asyncio.Event()
        forwarder: asyncio.Task[None] | None = None
        try:
            await uplink.start()
            forwarder = asyncio.create_task(pipeline.run(forward_stop), name="edge:forward")
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.status_every_s)
                if not stop.is_set():
                    self._status()
        finally:
            for r in self.runners:
                await r.stop()
            forward_stop.set()  # one last drain while the upstream answers
            if forwarder is not None:
                try:
                    await asyncio.wait_for(forwarder, timeout=self.drain_timeout_s)
                except (TimeoutError, asyncio.CancelledError):
                    forwarder.cancel()
                    with contextlib.suppress(BaseException):
                        await forwarder
            await uplink.close()
            left = buffer.readings.pending
            if left:
                log.info("edge: stopped with %d readings buffered; they are sent after the next start", left)
            buffer.close()

    def _status(self) -> None:
        p = self.pipeline
        if p is None:
            return
        online = sum(1 for c in p.board.devices.values() if c.state == "online")
        log.info("edge status: %d/%d devices online, %d readings and %d signals forwarded, %d pending, "
                 "%d dropped (buffer full), upstream %s", online, len(self.runners), p.forwarded, p.signals_sent,
                 p.backlog(), p.dropped, "ok" if p.forward_ok else f"down: {p.forward_error}")
