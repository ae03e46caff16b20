"""The detection stage: enabled rules run on every batch the ingest pipeline has stored.

Placement: the pipeline calls :meth:`DetectionStage.on_forwarded` after the store (or
JetStream) took a batch, so detection sees exactly the readings that were kept, once, in the
ingest leader. The hook only appends the batch to a bounded queue: detection can neither slow
nor lose readings. A separate task drains the queue in a worker thread, reloads the enabled rules
every ``reload_s`` seconds (a changed rule is recompiled and starts afresh), warms each newly
compiled rule up from the stored history of its points (so a restart does not leave it blind),
and hands the signals to the injected :class:`~plantguard.detection.signals.AlarmSink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine as DbEngine
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.detection.rules import history
from plantguard.detection.rules.engine import DEFAULT_REFRESH_S, Engine
from plantguard.detection.rules.models import DetectionRule
from plantguard.detection.rules.service import point_refs, rule_def, scope_of
from plantguard.detection.rules.spec import RuleInvalid, plan_rule
from plantguard.detection.signals import AlarmSink, ConditionSignal
from plantguard.ingest.reading import ReadingBatch

log = logging.getLogger("plantguard.detection")
US = 1_000_000


class LoggingSink:
    """The default sink until the alarm service is connected: it only logs."""

    def apply(self, signals: list[ConditionSignal] | Any) -> None:
        for s in signals:
            log.info("detection: %s %s %s score=%.3f %s", s.source, "ACTIVE" if s.active else "clear",
                     s.title, s.score, json.dumps(dict(s.explanation), ensure_ascii=False, default=str))


class DetectionStage:
    def __init__(self, db: DbEngine, sink: AlarmSink | None = None, *, reload_s: float = 5.0,
                 refresh_s: float = DEFAULT_REFRESH_S, warmup_s: float = 6 * 3600.0, warmup_samples: int = 2_000,
                 queue_max: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.sink: AlarmSink = sink or LoggingSink()
        self.reload_s = reload_s
        self.warmup_s = warmup_s
        self.warmup_samples = warmup_samples
        self.clock = clock
        self.engine = Engine(refresh_s)
        self._fingerprints: dict[int, str] = {}
        self._bad: dict[int, str] = {}  # rules that no longer plan (a point's range changed): logged once
        self._queue: deque[ReadingBatch] = deque(maxlen=queue_max)
        # Signals the sink refused (the database away for a moment) are offered again with the
        # next ones, in order; the alarm side ignores replays, so a retry cannot double-count.
        self._unsent: deque[ConditionSignal] = deque(maxlen=queue_max)
        self._lock = threading.Lock()  # one thread at a time inside the engine
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._last_reload = -float("inf")
        self.dropped = 0  # batches dropped because detection fell behind
        self.errors = 0
        self.processed = 0
        self.signals = 0

    # -- the hook (the pipeline's side: must be cheap and never raise) -----------------------

    def on_forwarded(self, batch: ReadingBatch) -> None:
        try:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(batch)
            if self._loop is not None and self._wake is not None:
                self._loop.call_soon_threadsafe(self._wake.set)
        except Exception:  # never the pipeline's problem
            log.exception("detection: could not queue a batch")

    # -- rules ---------------------------------------------------------------------------------

    def reload(self) -> int:
        """Bring the engine in line with the enabled rules; returns how many were (re)compiled.

        Reading the rules and comparing fingerprints happens outside the engine's lock, so a
        reload (tens of ms with hundreds of rules) holds up the batches being detected only
        for the rules that actually changed."""
        with Session(self.db) as s:
            rules = list(s.scalars(select(DetectionRule).where(DetectionRule.enabled.is_(True))))
            points = point_refs(s, {r.enterprise_id for r in rules})
            eq_ids = {r.equipment_id for r in rules if r.equipment_id is not None}
            eq_codes = dict(s.execute(select(Equipment.id, Equipment.code).where(Equipment.id.in_(eq_ids))).all()) \
                if eq_ids else {}
            changed: list[tuple[Any, Any, Any, str]] = []
            seen: set[int] = set()
            for r in rules:
                seen.add(r.id)
                rd = rule_def(r)
                scope = scope_of(points.get(r.enterprise_id, []), r.point_id, r.equipment_id,
                                 eq_codes.get(r.equipment_id or 0, ""))
                scope_key = sorted((asdict(p) for p in scope.points.values()), key=lambda d: d["id"]) if scope else None
                fp = json.dumps([asdict(rd), scope_key], sort_keys=True, default=str)
                if self._fingerprints.get(r.id) != fp:
                    changed.append((r, rd, scope, fp))
            gone_ids = set(self._fingerprints) - seen
            if changed or gone_ids:
                with self._lock:
                    compiled = self._apply_changes(s, changed, gone_ids)
            else:
                compiled = 0
        self._last_reload = time.monotonic()
        return compiled

    def _apply_changes(self, s: Session, changed: list[tuple[Any, Any, Any, str]], gone_ids: set[int]) -> int:
        """(Re)compile the changed rules and drop the gone ones; the caller holds the lock."""
        compiled = 0
        for r, rd, scope, fp in changed:
            self._fingerprints[r.id] = fp
            self.engine.remove_rule(r.id)
            if scope is None:
                continue
            try:
                plan = plan_rule(rd, scope)
            except RuleInvalid as exc:
                if self._bad.get(r.id) != fp:
                    log.warning("detection: rule %s (%s) does not run: %s", r.id, r.name, exc)
                self._bad[r.id] = fp
                continue
            self._bad.pop(r.id, None)
            rt = self.engine.set_rule(plan)
            self._warm_up(s, rt)
            compiled += 1
        for gone in gone_ids:
            self._fingerprints.pop(gone, None)
            self._bad.pop(gone, None)
            self.engine.remove_rule(gone)
        return compiled

    def _warm_up(self, session: Session, rt: Any) -> None:
        """Feed the newest stored readings of the rule's points, silently: detectors learn their
        baseline and trajectory, and a condition already holding is told on the next refresh."""
        end = int(self.clock() * US) + 1
        start = end - int(self.warmup_s * US)
        try:
            rows, _ = history.read(session, rt.points, start, end, per_point=self.warmup_samples, newest=True)
        except Exception:
            log.exception("detection: warm-up of rule %s failed; it starts blind", rt.rule.id)
            return
        rt.silent = True
        try:
            sink: list[ConditionSignal] = []
            for pid, t, v in rows:
                rt.feed(pid, t, v, sink)
            rt.flush(sink)
        finally:
            rt.silent = False

    # -- batches -------------------------------------------------------------------------------

    def process(self, batch: ReadingBatch) -> list[ConditionSignal]:
        """Run one batch; the signals go to the sink. Errors are logged and counted, never raised."""
        try:
            with self._lock:
                signals = self.engine.feed_batch(batch)
            self.processed += 1
        except Exception:
            self.errors += 1
            log.exception("detection: a batch of %d readings failed", len(batch))
            return []
        if signals:
            self.signals += len(signals)
            self._unsent.extend(signals)
        self.send_unsent()
        return signals

    def send_unsent(self) -> bool:
        """Hand the sink every signal not yet accepted; True when none is left."""
        if not self._unsent:
            return True
        pending = list(self._unsent)
        try:
            self.sink.apply(pending)
        except Exception:
            self.errors += 1
            log.exception("detection: the alarm sink refused %d signals; kept for the next try", len(pending))
            return False
        for _ in pending:
            self._unsent.popleft()
        return True

    def drain(self) -> int:
        """Process everything queued (in the caller's thread); returns batches processed."""
        n = 0
        while True:
            try:
                batch = self._queue.popleft()
            except IndexError:
                return n
            self.process(batch)
            n += 1

    def cycle(self) -> None:
        """One round by hand (tests, tools): reload when due, then drain."""
        if time.monotonic() - self._last_reload >= self.reload_s:
            self.cycle_reload()
        self._drain_cycle()

    def _drain_cycle(self) -> None:
        self.drain()
        self.send_unsent()

    async def _reload_loop(self, stop: asyncio.Event) -> None:
        """Rules are re-read beside detection, not before it: a batch never waits for a reload."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.reload_s)
            if stop.is_set():
                return
            await asyncio.to_thread(self.cycle_reload)

    def cycle_reload(self) -> None:
        try:
            self.reload()
        except Exception:  # the database is away: keep the rules we have
            self.errors += 1
            self._last_reload = time.monotonic()
            log.exception("detection: rule reload failed")

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await asyncio.to_thread(self.cycle_reload)  # the rules first, then the readings
        reloads = asyncio.create_task(self._reload_loop(stop))
        try:
            while not stop.is_set():
                self._wake.clear()
                await asyncio.to_thread(self._drain_cycle)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            await asyncio.to_thread(self.drain)
        finally:
            self._loop = None
            reloads.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reloads
