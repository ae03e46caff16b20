"""Pure fixtures for rule tests: an equipment with three points, plans built without a database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from plantguard.detection.base import Detector, DetectorParams
from plantguard.detection.rules.spec import PointRef, RuleDef, RulePlan, Scope, plan_rule
from plantguard.detection.signals import Severity

ENT = 7
EQ = 10
A = PointRef(1, "P-A", EQ, 0.0, 35.0, "MPa")
B = PointRef(2, "P-B", EQ, 0.0, 100.0, "°C")
C = PointRef(3, "P-C", EQ, None, None, "mm/s")
OTHER = PointRef(4, "X-OTHER", 11, 0.0, 10.0, "")
EQUIPMENT = Scope("equipment", "EQ-1", {p.code: p for p in (A, B, C)}, frozenset({"P-A", "P-B", "P-C", "X-OTHER"}))


def point_scope(p: PointRef = A) -> Scope:
    return Scope("point", p.code, {p.code: p}, EQUIPMENT.known_codes)


def rule(condition: Mapping[str, Any], *, scope: Scope = EQUIPMENT, overrides: Mapping[str, Any] | None = None,
         severity: Severity = Severity.MAJOR, rule_id: int = 5, name: str = "test rule") -> RulePlan:
    point_id = scope.points[scope.label].id if scope.kind == "point" else None
    rd = RuleDef(rule_id, ENT, name, severity, condition, overrides or {}, point_id=point_id,
                 equipment_id=EQ if scope.kind == "equipment" else None)
    return plan_rule(rd, scope)


def limit(code: str | None = None, value: float = 20.0, **leaf: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"detector": "threshold",
                           "params": {"conditions": [{"signal": "value", "limit": value, "scale": 1.0}]}, **leaf}
    if code is not None:
        out["points"] = [code]
    return out


class SumParams(DetectorParams):
    signals: list[str] = Field(min_length=1)
    limit: float = 10.0


class VectorSum(Detector[SumParams]):
    """A vector detector for tests: score 0.5 when the sum of its inputs reaches ``limit``; it
    explains itself with each input's share of the sum."""

    name = "test_vector_sum"
    params_model = SumParams
    multivariate: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"signals": ["a", "b"]}

    def inputs(self) -> tuple[str, ...]:
        return tuple(self.params.signals)

    def _reset_state(self) -> None:
        self.last: dict[str, float] = {}

    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        self.last = {k: float(x[k]) for k in self.params.signals if k in x}
        total = sum(self.last.values())
        return min(1.0, 0.5 * total / self.params.limit)

    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        pass

    def state_size(self) -> int:
        return len(self.last)

    def contributions(self) -> dict[str, float]:
        total = sum(self.last.values()) or 1.0
        return {k: v / total for k, v in self.last.items()}

