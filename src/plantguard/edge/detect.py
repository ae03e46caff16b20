"""Detection on the edge: each rule is a registered detector behind a ThresholdFilter, fed the
accepted readings of its points, and its alarm state changes become ConditionSignals.

Why the alarm decision is made here and not upstream: during an outage the edge still knows
when a press went over its limit, and the signal (with the time it happened) waits in the
buffer with the readings that caused it.

Feeding a rule: readings arrive in batches, usually one timestamp per poll. A rule keeps the
latest good value of each of its points (under the point's code, and the first point's also
under ``value``) and is evaluated once per distinct timestamp of its points. A BAD or missing
value removes that point from the row; detectors ignore absent features.

``duration_s`` is in seconds of reading time, not samples (the poll interval may change):
the filter's alarm must hold that long before the signal goes active. It clears, with an
inactive signal, as soon as the filter's hysteresis (``off_threshold``) lets go.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from plantguard.detection import registry
from plantguard.detection.filters import ThresholdFilter
from plantguard.detection.signals import ConditionSignal, Contribution
from plantguard.edge.config import pydantic_errors
from plantguard.ingest.reading import Quality, ReadingBatch, from_us

if TYPE_CHECKING:
    from plantguard.edge.config import EdgeConfig, EdgeRule

log = logging.getLogger("plantguard.edge")
_BAD = int(Quality.BAD)


def check_rules(cfg: EdgeConfig) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    known = cfg.point_codes()
    names: dict[str, int] = {}
    for i, rule in enumerate(cfg.rules):
        at = f"rules.{i}"
        if rule.name in names:
            errors.append((f"{at}.name", f"{rule.name} appears twice (also rules.{names[rule.name]})"))
        names.setdefault(rule.name, i)
        for k, code in enumerate(rule.points):
            if code not in known:
                errors.append((f"{at}.points.{k}", f"no point {code} on this edge (map it in a device, or "
                                                   "declare it under points)"))
        if rule.detector not in registry.available():
            errors.append((f"{at}.detector", f"unknown detector {rule.detector!r}; available: "
                                             f"{', '.join(sorted(registry.available()))}"))
            continue
        try:
            detector = registry.get(rule.detector, **rule.params)
        except ValidationError as exc:
            errors += pydantic_errors(exc, f"{at}.params")
            continue
        except TypeError as exc:
            errors.append((f"{at}.params", str(exc)))
            continue
        readable = {"value", *rule.points}
        for signal in detector.inputs():
            if signal not in readable:
                errors.append((f"{at}.params", f"the detector reads {signal!r}, which is neither 'value' nor one "
                                               f"of the rule's points ({', '.join(rule.points)})"))
    return errors


class RuleState:
    """One rule's detector, filter and alarm state."""

    def __init__(self, rule: EdgeRule, edge_id: str, enterprise_id: int) -> None:
        self.rule = rule
        self.source = f"edge:{edge_id}/{rule.name}"
        self.edge_id = edge_id
        self.enterprise_id = enterprise_id
        self.filter = ThresholdFilter(registry.get(rule.detector, **rule.params), rule.threshold,
                                      off_threshold=rule.off_threshold, duration=1)
        self.latest: dict[str, float] = {}
        self.pending_t: int | None = None  # µs of the row being filled
        self.on_since: int | None = None  # µs since the filter has been in alarm
        self.active = False

    def set(self, code: str, ts: int, value: float | None) -> ConditionSignal | None:
        """Take one reading; evaluates the previous row first when this one starts a new time."""
        out = self.flush() if self.pending_t is not None and ts != self.pending_t else None
        if value is None:
            self.latest.pop(code, None)
        else:
            self.latest[code] = value
        self.pending_t = ts if self.pending_t is None else max(self.pending_t, ts)
        return out

    def flush(self) -> ConditionSignal | None:
        t = self.pending_t
        self.pending_t = None
        if t is None:
            return None
        x: dict[str, float] = dict(self.latest)
        first = self.latest.get(self.rule.points[0])
        if first is not None:
            x["value"] = first
        d = self.filter.update(x, t / 1e6)
        if d.alarm:
            if self.on_since is None:
                self.on_since = t
            if not self.active and (t - self.on_since) >= self.rule.duration_s * 1e6:
                self.active = True
                return self._signal(True, t, d.score)
        else:
            self.on_since = None
            if self.active:
                self.active = False
                return self._signal(False, t, d.score)
        return None

    def _signal(self, active: bool, t: int, score: float) -> ConditionSignal:
        r = self.rule
        explanation: dict[str, Any] = {"detector": r.detector, "rule": r.name, "threshold": r.threshold,
                                       "edge": self.edge_id}
        if r.duration_s:
            explanation["duration_s"] = r.duration_s
        log.info("edge rule %s: alarm %s (score %.3f)", r.name, "raised" if active else "cleared", score)
        return ConditionSignal(
            enterprise_id=self.enterprise_id, source=self.source, kind=r.detector, active=active, ts=from_us(t),
            severity=r.severity, score=score, title=r.name, explanation=explanation,
            contributions=tuple(Contribution(None, code, self.latest.get(code)) for code in r.points),
        )


class Detection:
    """Every rule of the edge, indexed by the local ids of the points they read."""

    def __init__(self, cfg: EdgeConfig) -> None:
        from plantguard.edge.config import point_id

        self.rules = [RuleState(r, cfg.edge_id, cfg.enterprise_id) for r in cfg.rules]
        self.by_point: dict[int, list[tuple[str, RuleState]]] = {}
        for state in self.rules:
            for code in state.rule.points:
                self.by_point.setdefault(point_id(code), []).append((code, state))

    def observe(self, batch: ReadingBatch) -> list[ConditionSignal]:
        """The signals the accepted readings of ``batch`` cause, in time order per rule."""
        if not self.by_point:
            return []
        out: list[ConditionSignal] = []
        touched: dict[int, RuleState] = {}
        by_point = self.by_point
        for p, t, v, q in zip(batch.point_id, batch.ts, batch.value, batch.quality, strict=True):
            rules = by_point.get(p)
            if rules is None:
                continue
            value = None if (v != v or q == _BAD) else v
            for code, state in rules:
                sig = state.set(code, t, value)
                if sig is not None:
                    out.append(sig)
                touched[id(state)] = state
        for state in touched.values():
            sig = state.flush()
            if sig is not None:
                out.append(sig)
        return out
