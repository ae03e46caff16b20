"""The live sensor link (issue 7 point 4): readings of bound points checked against the permit's
limits while it is approved or active; a breach stops the work.

GB 30871-2022 6.5: during confined-space work combustible, toxic and oxygen levels are detected
continuously and an alarm stops the work, the people leave, and work resumes only after a new
analysis; 5.3.1 d asks for continuous monitoring of special-grade hot work for the whole job. So:

- **Active permit, reading over the limit** → a failed ``live`` gas analysis (point, value,
  limit) and the permit suspended with reason ``gas_alarm`` through ``lifecycle.move``; the
  ``permit.suspended`` event names the point, value and limit, and notifications bring it to the
  work leader's and guardian's phones. One suspension per breach: once suspended the permit is
  no longer watched, and resuming needs a new passed analysis (``readiness.resume_refusals``).
- **Approved permit, reading over the limit** → the failed live analysis and a history line,
  once per breach (until a reading within the limit), which blocks the start until a new
  passed analysis.

Placement and cost: the ingest pipeline hands every stored batch to :meth:`PermitMonitor.on_forwarded`
(beside the detection stage, in the ingest leader). The hook only looks each reading's point up in
an in-memory set of watched points and queues the few that match; a worker thread judges them. The
map point → watched permits is rebuilt from one query every ``refresh_s`` seconds (a permit
approved or started is watched within that time), so an unbound point never costs a query.

Readings timestamped before the permit's last status change are ignored (a buffer replayed after
an outage cannot suspend a permit for gas measured before it was resumed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from plantguard.assets.models import MeasurementPoint
from plantguard.core.db import utcnow
from plantguard.core.errors import ValidationFailed
from plantguard.ingest.reading import Quality, ReadingBatch, from_us, to_us
from plantguard.permits import gas, lifecycle
from plantguard.permits.contract import WATCHED_STATUSES, GasKind, SuspendReason
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import GasAnalysis, Permit, PermitEvent, PermitPoint
from plantguard.permits.points import Verdict, judge, norm_unit
from plantguard.permits.types import get_type
from plantguard.timeseries.models import PointLast

log = logging.getLogger("plantguard.permits")

DEFAULT_MAX_AGE_S = 60.0
DEFAULT_REFRESH_S = 3.0


def _env_float(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, "") or default))
    except ValueError:
        return default


def max_age_s() -> float:
    """How old the newest reading of a bound point may be for continuous monitoring to count
    (``PLANTGUARD_PERMIT_LIVE_MAX_AGE_S``, default 60 s)."""
    return _env_float("PLANTGUARD_PERMIT_LIVE_MAX_AGE_S", DEFAULT_MAX_AGE_S)


def refresh_interval() -> float:
    return _env_float("PLANTGUARD_PERMIT_MONITOR_REFRESH_S", DEFAULT_REFRESH_S)


# -- continuous monitoring as the analysis (5.3.1 d) ----------------------------------------------

def live_analysis_ok(session: Session, permit: Permit, now: datetime, *, max_age: float | None = None) -> bool:
    """True when the bound points stand for a gas analysis right now: at least one combustible
    point (and one oxygen point where the work has an oxygen limit, confined spaces 6.4 a), and
    every bound point has a good reading no older than ``max_age`` seconds that is within the
    permit's limits. Read from the store's last values, so it holds in any process."""
    ptype = get_type(permit.type_code)
    if ptype is None:
        return False
    rows = session.execute(select(PermitPoint, MeasurementPoint.unit)
                           .join(MeasurementPoint, MeasurementPoint.id == PermitPoint.point_id)
                           .where(PermitPoint.permit_id == permit.id,
                                  PermitPoint.enterprise_id == permit.enterprise_id)).all()
    needed = set(gas.required_kinds(ptype, permit.fields or {})) or {GasKind.COMBUSTIBLE}
    if not needed <= {pp.kind for pp, _ in rows}:
        return False
    last = {r.point_id: r for r in session.scalars(select(PointLast).where(
        PointLast.point_id.in_([pp.point_id for pp, _ in rows])))}
    age = max_age_s() if max_age is None else max_age
    now_us, oldest = to_us(now), to_us(now - timedelta(seconds=age))
    for pp, unit in rows:
        r = last.get(pp.point_id)
        if r is None or r.value is None or r.quality == Quality.BAD or not oldest <= r.ts <= now_us + 5_000_000:
            return False
        try:
            if not judge(ptype, permit, pp.kind, pp.gas_code, r.value, unit).passed:
                return False
        except ValidationFailed:  # the point's unit no longer fits its limit
            return False
    return True


# -- watching ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PermitFacts:
    """What judging a reading needs of a permit, loaded at refresh (no query per batch)."""

    type_code: str
    fields: dict[str, Any]
    gas_code: str | None


@dataclass
class Watch:
    """One bound point of one watched permit, as the monitor last loaded it."""

    permit: PermitFacts
    permit_id: int
    enterprise_id: int
    point_id: int
    kind: str
    gas_code: str
    unit: str
    code: str
    status: str
    since_us: int  # readings before the permit's last status change are ignored
    in_breach: bool = False


class PermitMonitor:
    def __init__(self, factory: sessionmaker[Session], *, refresh_s: float | None = None, queue_max: int = 10_000,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.factory = factory
        self.refresh_s = refresh_interval() if refresh_s is None else refresh_s
        self.clock = clock
        self._by_point: dict[int, list[Watch]] = {}
        self._by_permit: dict[int, list[Watch]] = {}
        self._points: frozenset[int] = frozenset()
        self._queue: deque[tuple[int, list[tuple[int, int, float]]]] = deque(maxlen=queue_max)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._last_refresh = -math.inf
        self.dropped = 0
        self.errors = 0
        self.suspended = 0
        self.breaches = 0
        self._unsent: deque[tuple[Watch, int, float]] = deque(maxlen=queue_max)

    # -- the hook (the pipeline's side: cheap, never raises) ------------------------------------

    def on_forwarded(self, batch: ReadingBatch) -> None:
        try:
            points = self._points
            if not points:
                return
            hits = [(p, t, v) for p, t, v, q in zip(batch.point_id, batch.ts, batch.value, batch.quality, strict=True)
                    if p in points and q != Quality.BAD and v == v]
            if not hits:
                return
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append((batch.enterprise_id, hits))
            if self._loop is not None and self._wake is not None:
                self._loop.call_soon_threadsafe(self._wake.set)
        except Exception:  # never the pipeline's problem
            log.exception("permits: could not queue readings for the live link")

    # -- the map point → watched permits --------------------------------------------------------

    def refresh(self) -> int:
        """Reload the watched bindings; returns how many there are. Breach state survives a
        refresh; a new binding starts in breach when the value it last saw was over the limit."""
        with self.factory() as s:
            rows = s.execute(select(PermitPoint, Permit.status, Permit.enterprise_id, MeasurementPoint.unit,
                                    MeasurementPoint.code)
                             .join(Permit, Permit.id == PermitPoint.permit_id)
                             .join(MeasurementPoint, MeasurementPoint.id == PermitPoint.point_id)
                             .where(Permit.status.in_(WATCHED_STATUSES),
                                    MeasurementPoint.enterprise_id == Permit.enterprise_id)).all()
            ids = list({pp.permit_id for pp, *_ in rows})
            since = dict(s.execute(select(PermitEvent.permit_id, func.max(PermitEvent.at)).where(
                PermitEvent.permit_id.in_(ids), PermitEvent.status_to.is_not(None))
                .group_by(PermitEvent.permit_id)).all()) if ids else {}
            facts = {i: PermitFacts(t, dict(f or {}), g) for i, t, f, g in s.execute(select(
                Permit.id, Permit.type_code, Permit.fields, Permit.gas_code).where(Permit.id.in_(ids)))} if ids else {}
            old = {(w.permit_id, w.point_id): w for ws in self._by_point.values() for w in ws}
            by_point: dict[int, list[Watch]] = {}
            for pp, status, ent, unit, code in rows:
                prev = old.get((pp.permit_id, pp.point_id))
                at = since.get(pp.permit_id)
                w = Watch(facts[pp.permit_id], pp.permit_id, ent, pp.point_id, pp.kind, pp.gas_code, unit, code, status,
                          to_us(at) if at is not None else 0)
                if prev is not None and prev.status == status:
                    w.in_breach = prev.in_breach
                elif pp.last_value is not None and status == S.APPROVED:
                    with contextlib.suppress(ValidationFailed):
                        w.in_breach = not self._verdict(w, pp.last_value).passed
                by_point.setdefault(pp.point_id, []).append(w)
        by_permit: dict[int, list[Watch]] = {}
        for ws in by_point.values():
            for w in ws:
                by_permit.setdefault(w.permit_id, []).append(w)
        with self._lock:
            self._by_point, self._by_permit = by_point, by_permit
            self._points = frozenset(by_point)
        self._last_refresh = time.monotonic()
        return len(rows)

    @staticmethod
    def _verdict(w: Watch, value: float) -> Verdict:
        ptype = get_type(w.permit.type_code)
        assert ptype is not None
        return judge(ptype, w.permit, w.kind, w.gas_code, value, w.unit)

    # -- judging ----------------------------------------------------------------------------------

    def drain(self) -> int:
        """Judge everything queued (in the caller's thread); returns readings judged."""
        n = 0
        while True:
            try:
                ent, hits = self._queue.popleft()
            except IndexError:
                return n
            try:
                self._judge(ent, hits)
            except Exception:  # the database away: the readings are stored, this check is lost
                self.errors += 1
                log.exception("permits: live check of %d readings failed", len(hits))
            n += len(hits)

    def _judge(self, ent: int, hits: list[tuple[int, int, float]]) -> None:
        with self._lock:
            by_point = self._by_point
        latest: dict[tuple[int, int], tuple[int, float]] = {}
        breaches: list[tuple[Watch, int, float]] = []
        for pid, ts, value in hits:
            for w in by_point.get(pid, ()):
                if w.enterprise_id != ent or ts < w.since_us or w.status not in WATCHED_STATUSES:
                    continue
                key = (w.permit_id, pid)
                if key not in latest or latest[key][0] <= ts:
                    latest[key] = (ts, value)
                try:
                    verdict = self._verdict(w, value)
                except ValidationFailed:  # the point's unit was changed since binding: cannot judge
                    self.errors += 1
                    continue
                if verdict.passed:
                    w.in_breach = False
                elif w.status == S.ACTIVE or not w.in_breach:
                    w.in_breach = True
                    breaches.append((w, ts, value))
                    if w.status == S.ACTIVE:  # one suspension: later readings see it suspended
                        for o in self._by_permit.get(w.permit_id, ()):
                            o.status = S.SUSPENDED
        self._unsent.extend(breaches)  # first: a database away must not lose them
        if latest:
            with self.factory() as s:
                for (permit_id, point_id), (ts, value) in latest.items():
                    s.execute(update(PermitPoint).where(PermitPoint.permit_id == permit_id,
                                                        PermitPoint.point_id == point_id)
                              .values(last_value=value, last_ts=from_us(ts)))
                s.commit()
        self.send_unsent()

    def send_unsent(self) -> bool:
        """Act on every breach not yet written, in order; one the database refused (away for a
        moment) is kept and tried again with the next readings, so a suspension is never lost.
        A retry is harmless: the permit is re-read and a suspended one is left alone."""
        while self._unsent:
            w, ts, value = self._unsent[0]
            try:
                self._breach(w, ts, value)
            except Exception:
                self.errors += 1
                log.exception("permits: could not act on a breach of permit %s; kept for the next try", w.permit_id)
                return False
            self._unsent.popleft()
        return True

    def _breach(self, w: Watch, ts: int, value: float) -> None:
        """One breach in its own transaction: the permit re-read under lock decides what it is."""
        with self.factory() as s:
            q = select(Permit).where(Permit.id == w.permit_id, Permit.enterprise_id == w.enterprise_id)
            permit = s.scalars(q.with_for_update()).first()
            if permit is None or permit.status not in WATCHED_STATUSES:
                return
            changed = s.scalar(select(func.max(PermitEvent.at)).where(PermitEvent.permit_id == permit.id,
                                                                      PermitEvent.status_to.is_not(None)))
            if changed is not None and ts < to_us(changed):
                return  # a late retry: the permit has moved on (resumed, started) since this reading
            ptype = get_type(permit.type_code)
            assert ptype is not None
            verdict = judge(ptype, permit, w.kind, w.gas_code, value, w.unit)
            sampled, at = from_us(ts), self.clock()
            analysis = GasAnalysis(
                enterprise_id=permit.enterprise_id, permit_id=permit.id, sampled_at=sampled, sample_point=w.code,
                kind=w.kind, gas_code=w.gas_code, value=round(value, 4), unit=norm_unit(w.unit),
                vol_pct=verdict.vol_pct, limit_text=verdict.limit, passed=False, analyst_name="",
                source="live", point_id=w.point_id, recorded_at=at)
            s.add(analysis)
            s.flush()
            shown = f"{value:g} {norm_unit(w.unit)}"
            detail = {"point_id": w.point_id, "code": w.code, "value": value, "unit": norm_unit(w.unit),
                      "limit": verdict.limit, "analysis_id": analysis.id, "sampled_at": sampled.isoformat()}
            if permit.status == S.ACTIVE:
                note = f"{w.code}: {shown} — {verdict.limit} (GB 30871-2022 6.5)"
                permit.suspended_at, permit.suspend_reason, permit.suspend_note = at, SuspendReason.GAS_ALARM, note
                lifecycle.move(s, permit, "suspend", at, lifecycle.SYSTEM, note, detail=detail,
                               reason=SuspendReason.GAS_ALARM.value, point_id=w.point_id, value=value,
                               limit=verdict.limit)
                self.suspended += 1
            else:
                note = f"{w.code}: {shown} — {verdict.limit}"
                lifecycle.move(s, permit, "gas", at, lifecycle.SYSTEM, note, detail=detail,
                               analysis_id=analysis.id, passed=False)
            self.breaches += 1
            s.commit()
        log.warning("permits: live reading over the limit on permit %s (%s %s)", w.permit_id, w.code, shown)

    # -- running ----------------------------------------------------------------------------------

    def cycle(self) -> None:
        """One round by hand (tests, tools): refresh when due, then judge what is queued."""
        if time.monotonic() - self._last_refresh >= self.refresh_s:
            self._safe_refresh()
        self.drain()
        self.send_unsent()

    def _safe_refresh(self) -> None:
        try:
            self.refresh()
        except Exception:  # keep the map we have
            self.errors += 1
            self._last_refresh = time.monotonic()
            log.exception("permits: live-link refresh failed")

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while not stop.is_set():
                self._wake.clear()
                await asyncio.to_thread(self.cycle)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(1.0, self.refresh_s or 1.0))
            await asyncio.to_thread(self.drain)
        finally:
            self._loop = None
