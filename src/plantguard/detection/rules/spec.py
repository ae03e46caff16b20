"""A detection rule's condition: its format, its validation, and the plan the engine runs.

Pure (no database): the service hands in the points the rule may see (:class:`Scope`), the
engine and the backtest take the :class:`RulePlan`. Validating *is* planning, so a rule that
saves is exactly a rule that runs, and every refusal names the field it concerns
(``condition.any.1.detector``, ``overrides.ST-P01-HP.params.limit``) with a catalogue message.

A condition is a leaf (one detector) or a combination ``{"any": [...]}`` / ``{"all": [...]}``::

    {"detector": "trend", "params": {"limit": 18, "direction": "low"}, "points": ["ST-P01-HP"],
     "threshold": 0.5, "off_threshold": 0.4, "duration_s": 60, "clear_duration_s": 30}

A leaf on several points runs one detector per point (``channels``), except a vector
detector (``multivariate``), which takes all its points as one input. Per-point overrides
(equipment rules) change a channel's threshold, durations or parameters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plantguard.core.errors import FieldError
from plantguard.core.i18n import N_
from plantguard.detection import registry
from plantguard.detection.base import Detector, DetectorParams
from plantguard.detection.signals import Severity

MAX_DEPTH = 4  # combinations nested at most this deep below the root
MAX_LEAVES = 32
MAX_CHILDREN = 16
MAX_POINTS_PER_LEAF = 200
MAX_DURATION_S = 7 * 86_400.0  # a week: longer is a report, not an alarm
DEFAULT_STALE_S = 600.0  # a leaf whose newest sample is older than this counts as not active
MAX_CONDITION_CHARS = 20_000
VECTOR_DETECTORS = frozenset({"multivariate"})
LIST_INPUT_FIELDS = ("signals", "features", "inputs", "columns")  # where a vector detector takes its points


@dataclass(frozen=True)
class PointRef:
    """What a rule needs to know of a measurement point."""

    id: int
    code: str
    equipment_id: int
    range_low: float | None = None
    range_high: float | None = None
    unit: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Scope:
    """The points a rule may use: its one point, or its equipment's points (``points``, by
    code), and the codes the enterprise has at all (to tell "unknown" from "out of scope")."""

    kind: str  # "point" | "equipment"
    label: str  # the point's or equipment's code, for messages
    points: Mapping[str, PointRef]
    known_codes: frozenset[str] = frozenset()

    def default_codes(self) -> list[str]:
        return [c for c, p in self.points.items() if p.enabled]


@dataclass(frozen=True)
class RuleDef:
    """A rule as stored, detached from the database session."""

    id: int
    enterprise_id: int
    name: str
    severity: Severity
    condition: Mapping[str, Any]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    point_id: int | None = None
    equipment_id: int | None = None
    enabled: bool = True


class LeafSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detector: str = Field(min_length=1, max_length=60)
    params: dict[str, Any] = Field(default_factory=dict)
    points: list[str] | None = Field(default=None, min_length=1, max_length=MAX_POINTS_PER_LEAF)
    threshold: float = Field(default=0.5, gt=0, le=1)
    off_threshold: float | None = Field(default=None, ge=0, le=1)
    duration_s: float = Field(default=0.0, ge=0, le=MAX_DURATION_S)
    clear_duration_s: float = Field(default=0.0, ge=0, le=MAX_DURATION_S)
    stale_s: float | None = Field(default=None, gt=0, le=MAX_DURATION_S)


class OverrideSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(default=None, gt=0, le=1)
    off_threshold: float | None = Field(default=None, ge=0, le=1)
    duration_s: float | None = Field(default=None, ge=0, le=MAX_DURATION_S)
    clear_duration_s: float | None = Field(default=None, ge=0, le=MAX_DURATION_S)
    params: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class ChannelPlan:
    """One detector and filter on one point (or, for a vector leaf, on all of them)."""

    points: tuple[PointRef, ...]
    params: DetectorParams
    threshold: float
    off_threshold: float
    duration_s: float
    clear_duration_s: float


@dataclass(frozen=True)
class LeafPlan:
    path: str
    detector: str
    cls: type[Detector[Any]]
    vector: bool
    channels: tuple[ChannelPlan, ...]
    stale_s: float

    @property
    def points(self) -> tuple[PointRef, ...]:
        return tuple(p for c in self.channels for p in c.points)

    @property
    def threshold(self) -> float:
        return self.channels[0].threshold


@dataclass(frozen=True)
class ComboPlan:
    path: str
    op: str  # "any" | "all"
    children: tuple[LeafPlan | ComboPlan, ...]


Node = LeafPlan | ComboPlan


@dataclass(frozen=True)
class RulePlan:
    rule: RuleDef
    root: Node
    leaves: tuple[LeafPlan, ...]

    @property
    def points(self) -> dict[int, PointRef]:
        return {p.id: p for leaf in self.leaves for p in leaf.points}


class RuleInvalid(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message % e.params if e.params else e.message}" for e in errors))
        self.errors = errors


def pydantic_errors(exc: ValidationError, prefix: str) -> list[FieldError]:
    from plantguard.ingest.config import pydantic_errors as translate

    return translate(exc, prefix)


def is_vector(name: str, cls: type[Detector[Any]]) -> bool:
    return name in VECTOR_DETECTORS or bool(getattr(cls, "multivariate", False))


# -- building the plan ----------------------------------------------------------------------------


class _Planner:
    def __init__(self, rule: RuleDef, scope: Scope) -> None:
        self.rule = rule
        self.scope = scope
        self.errors: list[FieldError] = []
        self.leaves: list[LeafPlan] = []
        self.overrides: dict[str, OverrideSpec] = {}
        self.covered: set[str] = set()  # point codes some per-point leaf watches

    def err(self, path: str, message: str, **params: Any) -> None:
        fe = FieldError(path, message, params)
        if all((e.field, e.message, e.params) != (fe.field, fe.message, fe.params) for e in self.errors):
            self.errors.append(fe)

    def node(self, raw: Any, path: str, depth: int) -> Node | None:
        if not isinstance(raw, Mapping):
            self.err(path, N_("Must be an object"))
            return None
        if "any" in raw or "all" in raw:
            return self.combo(raw, path, depth)
        return self.leaf(raw, path)

    def combo(self, raw: Mapping[str, Any], path: str, depth: int) -> ComboPlan | None:
        if len(raw) != 1:
            self.err(path, N_("A combination has exactly one key, any or all, holding a list of conditions"))
            return None
        op = "any" if "any" in raw else "all"
        items = raw[op]
        if depth >= MAX_DEPTH:
            self.err(path, N_("Combinations may be nested at most %(max)s levels deep"), max=MAX_DEPTH)
            return None
        if not isinstance(items, list) or not items:
            self.err(f"{path}.{op}", N_("Must be a list of at least one condition"))
            return None
        if len(items) > MAX_CHILDREN:
            self.err(f"{path}.{op}", N_("At most %(max_length)s items"), max_length=MAX_CHILDREN)
            return None
        children = [self.node(item, f"{path}.{op}.{i}", depth + 1) for i, item in enumerate(items)]
        if any(c is None for c in children):
            return None
        return ComboPlan(path, op, tuple(c for c in children if c is not None))

    def leaf(self, raw: Mapping[str, Any], path: str) -> LeafPlan | None:
        try:
            spec = LeafSpec.model_validate(raw)
        except ValidationError as exc:
            for e in pydantic_errors(exc, path):
                self.err(e.field, e.message, **e.params)
            return None
        if len(self.leaves) >= MAX_LEAVES:
            self.err(path, N_("A rule may hold at most %(max)s detectors"), max=MAX_LEAVES)
            return None
        known = registry.available()
        cls = known.get(spec.detector)
        if cls is None:
            self.err(f"{path}.detector", N_("Unknown detector %(name)s; known: %(known)s"),
                     name=spec.detector, known=", ".join(sorted(known)))
            return None
        off = spec.threshold if spec.off_threshold is None else spec.off_threshold
        if off > spec.threshold:
            self.err(f"{path}.off_threshold", N_("Must not be above the threshold (%(threshold)s)"),
                     threshold=spec.threshold)
            return None
        points = self.leaf_points(spec, path)
        if points is None:
            return None
        vector = is_vector(spec.detector, cls)
        stale = spec.stale_s or float(spec.params.get("max_gap_s") or 0.0) or DEFAULT_STALE_S
        base = ChannelPlan((), DetectorParams(), spec.threshold, off, spec.duration_s, spec.clear_duration_s)
        channels: list[ChannelPlan] = []
        if vector:
            params = self.params(cls, self.vector_params(cls, spec.params, points), points, True, f"{path}.params")
            if params is None:
                return None
            channels.append(ChannelPlan(tuple(points), params, base.threshold, base.off_threshold,
                                        base.duration_s, base.clear_duration_s))
        else:
            for p in points:
                ch = self.channel(cls, spec, base, p, path)
                if ch is None:
                    return None
                channels.append(ch)
                self.covered.add(p.code)
        plan = LeafPlan(path, spec.detector, cls, vector, tuple(channels), stale)
        self.leaves.append(plan)
        return plan

    def leaf_points(self, spec: LeafSpec, path: str) -> list[PointRef] | None:
        if spec.points is None:
            codes = self.scope.default_codes()
            if not codes:
                self.err(f"{path}.points", N_("The rule's scope %(scope)s has no enabled measurement points"),
                         scope=self.scope.label)
                return None
        else:
            codes = spec.points
        out: list[PointRef] = []
        ok = True
        for i, code in enumerate(codes):
            p = self.scope.points.get(code)
            if p is None:
                ok = False
                if code in self.scope.known_codes:
                    self.err(f"{path}.points.{i}", N_("Point %(code)s is not in the rule's scope (%(scope)s)"),
                             code=code, scope=self.scope.label)
                else:
                    self.err(f"{path}.points.{i}", N_("No measurement point with code %(code)s"), code=code)
            elif p in out:
                ok = False
                self.err(f"{path}.points.{i}", N_("Point %(code)s is listed twice"), code=code)
            else:
                out.append(p)
        return out if ok else None

    def vector_params(self, cls: type[Detector[Any]], params: dict[str, Any],
                      points: Sequence[PointRef]) -> dict[str, Any]:
        """A vector detector reads its points by code: fill its list-of-inputs field if unset."""
        fields = cls.params_model.model_fields
        for name in LIST_INPUT_FIELDS:
            if name in fields and name not in params:
                return {**params, name: [p.code for p in points]}
        return params

    def channel(self, cls: type[Detector[Any]], spec: LeafSpec, base: ChannelPlan, p: PointRef,
                path: str) -> ChannelPlan | None:
        ov = self.overrides.get(p.code)
        raw_params, where = spec.params, f"{path}.params"
        threshold, off, dur, clear = base.threshold, base.off_threshold, base.duration_s, base.clear_duration_s
        if ov is not None:
            raw_params, where = {**spec.params, **ov.params}, f"overrides.{p.code}.params"
            threshold = ov.threshold if ov.threshold is not None else threshold
            if ov.off_threshold is not None:
                off = ov.off_threshold
            elif ov.threshold is not None and spec.off_threshold is None:
                off = threshold
            dur = ov.duration_s if ov.duration_s is not None else dur
            clear = ov.clear_duration_s if ov.clear_duration_s is not None else clear
            if off > threshold:
                self.err(f"overrides.{p.code}.off_threshold", N_("Must not be above the threshold (%(threshold)s)"),
                         threshold=threshold)
                return None
        params = self.params(cls, raw_params, [p], False, where)
        if params is None:
            return None
        return ChannelPlan((p,), params, threshold, off, dur, clear)

    def params(self, cls: type[Detector[Any]], raw: dict[str, Any], points: Sequence[PointRef], vector: bool,
               where: str) -> DetectorParams | None:
        try:
            params = cls.params_model.model_validate(raw)
        except ValidationError as exc:
            for e in pydantic_errors(exc, where):
                self.err(e.field, e.message, **e.params)
            return None
        try:
            inputs = cls(params).inputs()
        except Exception as exc:  # a detector refusing a combination its model let through
            self.err(where, N_("Invalid value: %(detail)s"), detail=str(exc)[:200])
            return None
        codes = {p.code for p in points}
        allowed = codes if vector else {"value"} | (codes if len(points) == 1 else set())
        for name in inputs:
            if name not in allowed:
                self.err(where, N_("The detector reads %(signal)s; it may read: %(allowed)s"),
                         signal=name, allowed=", ".join(sorted(allowed)))
                return None
        return params if self.ranges(params, points, vector, where) else None

    def ranges(self, params: DetectorParams, points: Sequence[PointRef], vector: bool, where: str) -> bool:
        """A limit outside a point's measuring range can never be crossed (or always is)."""
        limits: list[tuple[str, float, str]] = []  # (path, limit, signal)
        dumped = params.model_dump()
        if isinstance(dumped.get("limit"), int | float):
            limits.append((f"{where}.limit", float(dumped["limit"]), str(dumped.get("signal", "value"))))
        for i, c in enumerate(dumped.get("conditions") or ()):
            if isinstance(c, Mapping) and isinstance(c.get("limit"), int | float):
                limits.append((f"{where}.conditions.{i}.limit", float(c["limit"]), str(c.get("signal", "value"))))
        ok = True
        for path, limit, signal in limits:
            targets = [p for p in points if p.code == signal] if vector else list(points)
            for p in targets:
                if not math.isfinite(limit):
                    continue
                if (p.range_low is not None and limit < p.range_low) or (
                        p.range_high is not None and limit > p.range_high):
                    ok = False
                    self.err(path, N_("%(value)s is outside the range of point %(code)s (%(low)s to %(high)s)"),
                             value=limit, code=p.code, low=_fmt(p.range_low), high=_fmt(p.range_high))
        return ok

    def parse_overrides(self, raw: Any) -> None:
        if not raw:
            return
        if not isinstance(raw, Mapping):
            self.err("overrides", N_("Must be an object"))
            return
        if self.scope.kind != "equipment":
            self.err("overrides", N_("Per-point overrides apply to equipment rules only"))
            return
        for code, value in raw.items():
            if code not in self.scope.points:
                if code in self.scope.known_codes:
                    self.err(f"overrides.{code}", N_("Point %(code)s is not in the rule's scope (%(scope)s)"),
                             code=code, scope=self.scope.label)
                else:
                    self.err(f"overrides.{code}", N_("No measurement point with code %(code)s"), code=code)
                continue
            try:
                self.overrides[code] = OverrideSpec.model_validate(value)
            except ValidationError as exc:
                for e in pydantic_errors(exc, f"overrides.{code}"):
                    self.err(e.field, e.message, **e.params)


def _fmt(v: float | None) -> str:
    return "…" if v is None else f"{v:g}"


def check_size(condition: Any, overrides: Any) -> list[FieldError]:
    """Plain JSON, finite numbers, bounded size: before anything looks inside."""
    errors: list[FieldError] = []
    for name, value in (("condition", condition), ("overrides", overrides)):
        try:
            text = json.dumps(value, allow_nan=False)
        except (ValueError, TypeError):
            errors.append(FieldError(name, N_("Must hold only text, finite numbers, true/false, lists and maps")))
            continue
        except RecursionError:
            errors.append(FieldError(name, N_("Nested more than %(max)s levels deep"), {"max": 40}))
            continue
        if "\\u0000" in text:  # PostgreSQL refuses NUL in JSON text
            errors.append(FieldError(name, N_("Must not contain NUL characters")))
        elif len(text) > MAX_CONDITION_CHARS:
            errors.append(FieldError(name, N_("At most %(max)s characters of JSON"), {"max": MAX_CONDITION_CHARS}))
    return errors


def plan_rule(rule: RuleDef, scope: Scope) -> RulePlan:
    """The runnable plan of ``rule``, or :class:`RuleInvalid` listing every refusal."""
    errors = check_size(rule.condition, rule.overrides)
    if errors:
        raise RuleInvalid(errors)
    planner = _Planner(rule, scope)
    planner.parse_overrides(rule.overrides)
    root = planner.node(rule.condition, "condition", 0) if not planner.errors else None
    if root is not None and not planner.errors:
        for code in planner.overrides:
            if code not in planner.covered:
                planner.err(f"overrides.{code}", N_("No per-point condition of this rule watches point %(code)s"),
                            code=code)
    if planner.errors or root is None:
        raise RuleInvalid(planner.errors or [FieldError("condition", N_("Invalid value"))])
    return RulePlan(rule, root, tuple(planner.leaves))
