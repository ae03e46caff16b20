"""Running rule plans on readings: detectors, filters, combination, signals. Pure: no database.

Readings come as ``(point_id, t_us, value)`` in time order. Each leaf keeps one detector and
one :class:`~plantguard.detection.filters.ThresholdFilter` per point (a vector leaf one for all
its points, fed the latest value of each); the rule's state is its combination evaluated on
each leaf's latest state, where a leaf whose newest sample is older than its ``stale_s`` (on the
data clock, the newest reading seen) counts as not active. A change of the rule's state emits a
:class:`ConditionSignal`; while active, it is re-emitted at most every ``refresh_s`` seconds so
the alarm side sees it recur.

Cost: a batch is narrowed to the watched points with one vectorised ``isin`` before any Python
loop, so readings of unwatched points cost a few nanoseconds each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from plantguard.detection.filters import ThresholdFilter
from plantguard.detection.rules.spec import ChannelPlan, ComboPlan, LeafPlan, Node, PointRef, RulePlan
from plantguard.detection.signals import ConditionSignal, Contribution
from plantguard.ingest.reading import ReadingBatch

US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_REFRESH_S = 60.0


def ts_of(t_s: float) -> datetime:
    return EPOCH + timedelta(microseconds=round(t_s * US))


class Channel:
    """One detector + filter; for a vector leaf, the latest value of each of its points."""

    def __init__(self, plan: ChannelPlan, leaf: LeafPlan) -> None:
        self.plan = plan
        self.detector = leaf.cls(plan.params)
        self.filter = ThresholdFilter(self.detector, plan.threshold, off_threshold=plan.off_threshold,
                                      duration_s=plan.duration_s, clear_duration_s=plan.clear_duration_s,
                                      max_gap_s=leaf.stale_s)
        self.vector = leaf.vector
        self.codes = {p.id: p.code for p in plan.points}
        self.values: dict[str, float] = {}  # latest value per code (vector) or {"value", code}
        self.last_t: float | None = None  # time of the newest sample fed
        self.pending_t: float | None = None  # vector: a time whose values are not yet evaluated
        self.score = 0.0
        self.alarm = False

    def feed(self, point_id: int, t: float, v: float) -> bool:
        """Take one reading; True when the channel decided (its state may have changed)."""
        if self.vector:
            decided = False
            if self.pending_t is not None and t > self.pending_t:
                decided = self.flush()
            if self.last_t is not None and t <= self.last_t:
                return decided  # replayed or out of order: already learned
            self.values[self.codes[point_id]] = v
            self.pending_t = t
            return decided
        if self.last_t is not None and t <= self.last_t:
            return False
        code = self.codes[point_id]
        self._decide({"value": v, code: v}, t)
        self.values = {code: v}
        return True

    def flush(self) -> bool:
        """Vector: evaluate the values gathered for ``pending_t``."""
        if self.pending_t is None:
            return False
        t, self.pending_t = self.pending_t, None
        self._decide(dict(self.values), t)
        return True

    def _decide(self, x: Mapping[str, float], t: float) -> None:
        d = self.filter.update(x, t)
        self.last_t = t
        self.score = d.score
        self.alarm = d.alarm

    def fresh(self, now: float, stale_s: float) -> bool:
        return self.last_t is not None and now - self.last_t <= stale_s


class RuleRuntime:
    """A rule's detectors, its state and what it last told the alarm side."""

    def __init__(self, plan: RulePlan, refresh_s: float = DEFAULT_REFRESH_S) -> None:
        self.plan = plan
        self.rule = plan.rule
        self.refresh_s = refresh_s
        self.leaves: dict[str, tuple[LeafPlan, list[Channel]]] = {
            leaf.path: (leaf, [Channel(c, leaf) for c in leaf.channels]) for leaf in plan.leaves}
        self.by_point: dict[int, list[Channel]] = {}
        for _, channels in self.leaves.values():
            for ch in channels:
                for pid in ch.codes:
                    self.by_point.setdefault(pid, []).append(ch)
        self.points: dict[int, PointRef] = plan.points
        self.now: float = -math.inf  # the data clock: newest reading seen
        self.active = False
        self.score = 0.0
        self.last_emit: float = -math.inf
        self.silent = False  # warm-up: learn, decide, but emit nothing

    # -- state -----------------------------------------------------------------------------

    def _leaf_state(self, leaf: LeafPlan, channels: Sequence[Channel]) -> tuple[bool, float]:
        live = [c for c in channels if c.fresh(self.now, leaf.stale_s)]
        return any(c.alarm for c in live), max((c.score for c in live), default=0.0)

    def _eval(self, node: Node) -> tuple[bool, float]:
        if isinstance(node, LeafPlan):
            return self._leaf_state(node, self.leaves[node.path][1])
        states = [self._eval(c) for c in node.children]
        if node.op == "any":
            return any(a for a, _ in states), max(s for _, s in states)
        return all(a for a, _ in states), min(s for _, s in states)

    # -- input -----------------------------------------------------------------------------

    def feed(self, point_id: int, t: float, v: float, out: list[ConditionSignal]) -> None:
        if t > self.now:
            self.now = t
        decided = False
        for ch in self.by_point.get(point_id, ()):
            decided = ch.feed(point_id, t, v) or decided
        if decided:
            self.evaluate(out)

    def flush(self, out: list[ConditionSignal]) -> None:
        """End of a batch: evaluate vector leaves' gathered values."""
        decided = False
        for _, channels in self.leaves.values():
            for ch in channels:
                if ch.vector:
                    decided = ch.flush() or decided
        if decided:
            self.evaluate(out)

    def tick(self, now: float, out: list[ConditionSignal]) -> None:
        """Time passed (the data clock of the enterprise): stale leaves lapse, refreshes fall due."""
        if now > self.now:
            self.now = now
        self.evaluate(out)

    def evaluate(self, out: list[ConditionSignal]) -> None:
        active, score = self._eval(self.plan.root)
        self.score = score
        changed = active != self.active
        self.active = active
        if self.silent:
            if changed:
                self.last_emit = -math.inf  # an active state found in history is told on the next refresh
            return
        if changed or (active and self.now - self.last_emit >= self.refresh_s):
            self.last_emit = self.now
            out.append(self.signal())

    # -- output ----------------------------------------------------------------------------

    def signal(self) -> ConditionSignal:
        rule, plan = self.rule, self.plan
        contributions: dict[int, Contribution] = {}
        leaves: list[dict[str, Any]] = []
        predicted: float | None = None
        detail: dict[str, Any] = {}
        for leaf, channels in self.leaves.values():
            active, score = self._leaf_state(leaf, channels)
            leaves.append({"path": leaf.path, "detector": leaf.detector, "active": active,
                           "score": round(score, 4), "threshold": leaf.threshold})
            for ch in channels:
                shares = _shares(ch.detector) if ch.vector else {}
                for pid, code in ch.codes.items():
                    p = self.points[pid]
                    share = shares.get(code)
                    score_of = share if share is not None else ch.score
                    old = contributions.get(pid)
                    if old is None or (old.score or 0.0) < score_of:
                        contributions[pid] = Contribution(pid, code, ch.values.get(code), round(score_of, 4), p.unit)
                if shares:
                    detail["contributions"] = {k: round(v, 4) for k, v in shares.items()}
                ttt = getattr(ch.detector, "last_time_to_threshold", None)
                if leaf.detector == "trend" and ttt is not None and math.isfinite(ttt):
                    minutes = ttt / 60.0
                    predicted = minutes if predicted is None else min(predicted, minutes)
        single = plan.leaves[0] if isinstance(plan.root, LeafPlan) else None
        explanation: dict[str, Any] = {"detector": single.detector if single else "combination", "rule": rule.name,
                                       "threshold": single.threshold if single else None, **detail}
        if isinstance(plan.root, ComboPlan):
            explanation["combine"] = plan.root.op
            explanation["leaves"] = leaves
        if predicted is not None:
            explanation["predicted_minutes"] = max(0, round(predicted))
        ranked = sorted(contributions.values(), key=lambda c: -(c.score or 0.0))
        point_id = rule.point_id or (ranked[0].point_id if ranked else None)
        equipment_id = rule.equipment_id
        if equipment_id is None and point_id is not None and point_id in self.points:
            equipment_id = self.points[point_id].equipment_id
        return ConditionSignal(
            enterprise_id=rule.enterprise_id, source=f"rule:{rule.id}", kind=explanation["detector"],
            active=self.active, ts=ts_of(self.now), severity=rule.severity, score=round(self.score, 4),
            equipment_id=equipment_id, point_id=point_id, rule_id=rule.id, title=rule.name,
            contributions=tuple(ranked), explanation=explanation)


def _shares(detector: Any) -> dict[str, float]:
    """A vector detector's per-signal contributions, when it offers ``contributions()``."""
    fn = getattr(detector, "contributions", None)
    if not callable(fn):
        return {}
    try:
        got = fn()
    except Exception:  # an explanation must never break detection
        return {}
    items: Iterable[Any] = got.items() if isinstance(got, Mapping) else (got or ())
    out: dict[str, float] = {}
    for item in items:
        try:
            name, value = item
            f = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[str(name)] = f
    return out


class Engine:
    """Every compiled rule, indexed by the points they watch."""

    def __init__(self, refresh_s: float = DEFAULT_REFRESH_S) -> None:
        self.refresh_s = refresh_s
        self.rules: dict[int, RuleRuntime] = {}
        self._index: dict[int, list[RuleRuntime]] = {}
        self._watched = np.empty(0, dtype=np.int64)
        self.clock: dict[int, float] = {}  # per enterprise: the newest reading time seen

    def set_rule(self, plan: RulePlan) -> RuleRuntime:
        rt = RuleRuntime(plan, self.refresh_s)
        self.rules[plan.rule.id] = rt
        self._reindex()
        return rt

    def remove_rule(self, rule_id: int) -> None:
        if self.rules.pop(rule_id, None) is not None:
            self._reindex()

    def _reindex(self) -> None:
        index: dict[int, list[RuleRuntime]] = {}
        for rt in self.rules.values():
            for pid in rt.by_point:
                index.setdefault(pid, []).append(rt)
        self._index = index
        self._watched = np.fromiter(sorted(index), dtype=np.int64, count=len(index))

    @property
    def watched(self) -> frozenset[int]:
        return frozenset(self._index)

    def feed(self, enterprise_id: int, readings: Iterable[tuple[int, float, float]]) -> list[ConditionSignal]:
        """Readings ``(point_id, t_s, value)`` in time order; the signals they cause."""
        out: list[ConditionSignal] = []
        touched: dict[int, RuleRuntime] = {}
        now = self.clock.get(enterprise_id, -math.inf)
        for pid, t, v in readings:
            if t > now:
                now = t
            for rt in self._index.get(pid, ()):
                if rt.rule.enterprise_id == enterprise_id:
                    rt.feed(pid, t, v, out)
                    touched[rt.rule.id] = rt
        for rt in touched.values():
            rt.flush(out)
        if now > -math.inf:
            self.clock[enterprise_id] = now
            for rt in self.rules.values():  # active rules: stale leaves lapse, refreshes fall due
                if rt.active and rt.rule.enterprise_id == enterprise_id:
                    rt.tick(now, out)
        return out

    def feed_batch(self, batch: ReadingBatch) -> list[ConditionSignal]:
        """A stored batch: only the watched points' usable readings, sorted by time."""
        n = len(batch)
        if n == 0 or not self._index:
            return self._advance(batch)
        pids = np.frombuffer(batch.point_id, dtype=np.int64, count=n)
        mask = np.isin(pids, self._watched, assume_unique=False)
        if not mask.any():
            return self._advance(batch)
        idx = np.flatnonzero(mask)
        vals = np.frombuffer(batch.value, dtype=np.float64, count=n)[idx]
        qual = np.frombuffer(batch.quality, dtype=np.int8, count=n)[idx]
        ok = np.isfinite(vals) & (qual < 2)  # BAD readings carry no usable value
        idx, vals = idx[ok], vals[ok]
        ts = np.frombuffer(batch.ts, dtype=np.int64, count=n)[idx]
        order = np.argsort(ts, kind="stable")
        rows = zip(pids[idx][order].tolist(), (ts[order] / US).tolist(), vals[order].tolist(), strict=True)
        out = self.feed(batch.enterprise_id, rows)
        return out + self._advance(batch)

    def _advance(self, batch: ReadingBatch) -> list[ConditionSignal]:
        """Unwatched readings still move the data clock (cheaply: one max over the column), so
        an active rule whose points went silent lapses, and refreshes fall due."""
        out: list[ConditionSignal] = []
        if not len(batch):
            return out
        ent = batch.enterprise_id
        newest = int(np.frombuffer(batch.ts, dtype=np.int64, count=len(batch)).max()) / US
        if newest > self.clock.get(ent, -math.inf):
            self.clock[ent] = newest
            for rt in self.rules.values():
                if rt.active and rt.rule.enterprise_id == ent:
                    rt.tick(newest, out)
        return out
