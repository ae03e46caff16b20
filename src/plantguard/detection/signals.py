"""What detection tells the alarm lifecycle: a condition at a source is present, or is not.

Why a separate, tiny contract: detection runs in the ingest leader, in detection workers or on
an edge box with no database, while the alarm lifecycle (ack, clear, escalation, throttling)
lives beside the database. A :class:`ConditionSignal` is all that crosses between them, as an
object in one process or as JSON (``to_dict``/``from_dict``) over MQTT, HTTP or the bus.

A signal is edge-triggered by the sender and idempotent at the receiver: the lifecycle keys open
alarms by ``(enterprise_id, source)``, so repeating an active signal only refreshes the open
alarm, and an inactive signal only records that the condition went away (the alarm itself
clears by acknowledgement rules or auto-clear, not by the signal).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol


class Severity(StrEnum):
    """Ordered from most to least severe (ThingsBoard's scale without INDETERMINATE)."""

    CRITICAL = "critical"  # 紧急
    MAJOR = "major"  # 重要
    MINOR = "minor"  # 次要
    WARNING = "warning"  # 预警

    @property
    def rank(self) -> int:
        """0 for the most severe; compare ranks, not strings."""
        return _RANK[self]

    def raised(self, steps: int = 1) -> Severity:
        """The severity ``steps`` levels more severe, capped at CRITICAL."""
        return _ORDER[max(0, self.rank - steps)]

    def lowered(self, steps: int = 1) -> Severity:
        """The severity ``steps`` levels less severe, capped at WARNING."""
        return _ORDER[min(len(_ORDER) - 1, self.rank + steps)]


_ORDER: tuple[Severity, ...] = (Severity.CRITICAL, Severity.MAJOR, Severity.MINOR, Severity.WARNING)
_RANK: dict[Severity, int] = {s: i for i, s in enumerate(_ORDER)}


class SignalKind(StrEnum):
    """Where a condition comes from; detector rules use the detector's registered name."""

    NO_DATA = "no_data"  # a point stopped reporting
    OFFLINE = "offline"  # a device stopped answering


@dataclass(frozen=True)
class Contribution:
    """One signal that took part in a decision, with what it showed at that moment."""

    point_id: int | None
    name: str  # point code, or the feature name when there is no point (edge, CSV)
    value: float | None
    score: float | None = None  # this signal's share or own score in [0, 1], when known
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"point_id": self.point_id, "name": self.name, "value": _num(self.value),
                "score": _num(self.score), "unit": self.unit}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Contribution:
        return cls(point_id=d.get("point_id"), name=str(d.get("name", "")), value=d.get("value"),
                   score=d.get("score"), unit=str(d.get("unit", "")))


@dataclass(frozen=True)
class ConditionSignal:
    """A condition observed at ``ts``: ``active`` true means "the alarm condition holds now".

    ``source`` is stable per condition and enterprise, e.g. ``"rule:12"`` (detection rule 12),
    ``"nodata:345"`` (point 345), ``"offline:7"`` (device 7), ``"edge:line-3/rule:leak"``.
    ``explanation`` carries what a person needs to judge the alarm without opening a chart:
    ``detector`` (name), ``rule`` (name), ``threshold``, ``predicted_minutes`` (trend detectors:
    预计 N 分钟后超限), and anything detector-specific; it must be JSON-serialisable.
    """

    enterprise_id: int
    source: str
    kind: str  # a detector name ("threshold", "trend", "pca", ...) or a SignalKind
    active: bool
    ts: datetime  # timezone-aware UTC
    severity: Severity = Severity.WARNING
    score: float = 0.0
    equipment_id: int | None = None
    point_id: int | None = None
    rule_id: int | None = None
    title: str = ""  # the rule's own name as the user wrote it (not translated)
    contributions: Sequence[Contribution] = field(default_factory=tuple)
    explanation: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError("ConditionSignal.ts must be timezone-aware")
        if not self.source:
            raise ValueError("ConditionSignal.source must not be empty")

    def to_dict(self) -> dict[str, Any]:
        return {
            "enterprise_id": self.enterprise_id, "source": self.source, "kind": self.kind,
            "active": self.active, "ts": self.ts.astimezone(UTC).isoformat(),
            "severity": self.severity.value, "score": _num(self.score), "equipment_id": self.equipment_id,
            "point_id": self.point_id, "rule_id": self.rule_id, "title": self.title,
            "contributions": [c.to_dict() for c in self.contributions], "explanation": dict(self.explanation),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConditionSignal:
        """Parse a signal received as JSON; raises ``ValueError``/``KeyError`` on a bad one."""
        ts = datetime.fromisoformat(str(d["ts"]))
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return cls(
            enterprise_id=int(d["enterprise_id"]), source=str(d["source"]), kind=str(d["kind"]),
            active=bool(d["active"]), ts=ts, severity=Severity(d.get("severity", Severity.WARNING)),
            score=float(d.get("score") or 0.0), equipment_id=d.get("equipment_id"), point_id=d.get("point_id"),
            rule_id=d.get("rule_id"), title=str(d.get("title", "")),
            contributions=tuple(Contribution.from_dict(c) for c in d.get("contributions", ())),
            explanation=dict(d.get("explanation") or {}),
        )


class AlarmSink(Protocol):
    """Where signals go: the alarm lifecycle service, an edge uplink, or a list in a test."""

    def apply(self, signals: Sequence[ConditionSignal]) -> None: ...


class ListSink:
    """Keeps every signal; for tests and for ``plantguard detect``-style offline runs."""

    def __init__(self) -> None:
        self.signals: list[ConditionSignal] = []

    def apply(self, signals: Sequence[ConditionSignal]) -> None:
        self.signals.extend(signals)


def _num(v: float | None) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None
