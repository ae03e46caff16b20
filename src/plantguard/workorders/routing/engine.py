"""Running a rule set: a fast path for routing and an explaining path for the tester.

Why two paths: routing happens on every alarm and must cost microseconds, so conditions are
compiled once per rule-set version into closures; the "what would happen" tester wants to
know *why*, so it walks the same tree and records, per rule, the predicate that failed or
the predicates that held. Both share one predicate semantics (:func:`test`), so they cannot
disagree.

Semantics: a predicate on a fact that is absent (or of the wrong type) is false; ``not``
of it is therefore true. ``between`` is inclusive; on ``time_of_day`` a range whose start is
after its end wraps midnight (``22:00``–``06:00``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from plantguard.core.errors import FieldError
from plantguard.core.i18n import N_
from plantguard.workorders.contract import FACT_FIELDS, RoutingDecision
from plantguard.workorders.routing.spec import Cond, Outcome, Pred, RuleSet, fmt_time, kind_of, parse_time

Facts = Mapping[str, Any]
Check = Callable[[Facts], bool]


def coerce(name: str, value: Any) -> Any:
    """A fact value in its field's kind, or None when it does not fit (treated as absent)."""
    if value is None:
        return None
    kind, allowed = kind_of(name)
    if kind == "num":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        try:
            x = float(value)
        except OverflowError:
            return None
        return x if math.isfinite(x) else None
    if kind == "time":
        return parse_time(value)
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "list":
        if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
            return frozenset(value)
        return None
    if isinstance(value, str) and (kind != "enum" or value in allowed):
        return value
    return None


def normalise(facts: Facts) -> dict[str, Any]:
    """Known facts in their kinds; unknown names and unfit values dropped (the router's view)."""
    return {k: c for k, v in facts.items() if k in FACT_FIELDS and (c := coerce(k, v)) is not None}


def check_facts(facts: Facts) -> tuple[dict[str, Any], list[FieldError]]:
    """The tester's view: every unknown name or unfit value is an error naming the fact."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    for k, v in facts.items():
        if k not in FACT_FIELDS:
            errors.append(FieldError(f"facts.{k}", N_("Unknown fact field “%(name)s”"), {"name": k}))
            continue
        if v is None:
            continue
        c = coerce(k, v)
        if c is None:
            _kind, allowed = kind_of(k)
            expected = ", ".join(allowed) if allowed else FACT_FIELDS[k]
            errors.append(FieldError(f"facts.{k}", N_("Fact “%(name)s” must be %(expected)s"),
                                     {"name": k, "expected": expected}))
            continue
        out[k] = c
    return out, errors


def test(p: Pred, x: Any) -> bool:
    """One predicate on one (normalised, present) fact value."""
    op, v = p.op, p.value
    if op == "eq":
        return bool(x == v)
    if op == "ne":
        return bool(x != v)
    if op == "in":
        return x in v
    if op == "not_in":
        return x not in v
    if op == "gt":
        return bool(x > v)
    if op == "ge":
        return bool(x >= v)
    if op == "lt":
        return bool(x < v)
    if op == "le":
        return bool(x <= v)
    if op == "between":
        lo, hi = v
        if FACT_FIELDS[p.field] == "time" and lo > hi:
            return bool(x >= lo or x <= hi)
        return bool(lo <= x <= hi)
    return v in x  # contains


def compile_cond(c: Cond | None) -> Check:
    if c is None:
        return lambda f: True
    if isinstance(c, Pred):
        name, p = c.field, c
        if c.op in ("in", "not_in"):
            members = frozenset(c.value)
            if c.op == "in":
                return lambda f: (x := f.get(name)) is not None and x in members
            return lambda f: (x := f.get(name)) is not None and x not in members
        if c.op == "eq":
            val = c.value
            return lambda f: f.get(name) == val
        return lambda f: (x := f.get(name)) is not None and test(p, x)
    kids = [compile_cond(k) for k in c.children]
    if c.op == "not":
        inner = kids[0]
        return lambda f: not inner(f)
    if c.op == "all":
        return lambda f: all(k(f) for k in kids)
    return lambda f: any(k(f) for k in kids)


def show(name: str, x: Any) -> str:
    if x is None:
        return "(absent)"
    if FACT_FIELDS.get(name) == "time" and isinstance(x, int):
        return fmt_time(x)
    if isinstance(x, frozenset):
        return "[" + ", ".join(sorted(x)) + "]"
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


@dataclass
class Why:
    """Why a condition held or failed: the predicates that decided it, with the facts seen."""

    ok: bool
    path: str
    text: str
    actual: str | None = None
    because: list[Why] = field(default_factory=list)

    def lines(self, indent: str = "") -> list[str]:
        head = f"{indent}{self.text}" + (f" (was {self.actual})" if self.actual is not None else "")
        return [head] + [ln for b in self.because for ln in b.lines(indent + "  ")]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "path": self.path, "text": self.text, "actual": self.actual,
                "because": [b.as_dict() for b in self.because]}


def explain(c: Cond, facts: Facts) -> Why:
    if isinstance(c, Pred):
        x = facts.get(c.field)
        ok = x is not None and test(c, x)
        return Why(ok, c.path, c.describe(), show(c.field, x))
    if c.op == "not":
        inner = explain(c.children[0], facts)
        return Why(not inner.ok, c.path, "not", because=[inner])
    results = []
    for k in c.children:
        w = explain(k, facts)
        results.append(w)
        if (c.op == "all" and not w.ok) or (c.op == "any" and w.ok):
            return w if c.op == "all" else Why(True, c.path, "any", because=[w])
    if c.op == "all":
        return Why(True, c.path, "all", because=results)
    return Why(False, c.path, f"none of {len(results)} alternatives", because=results)


@dataclass(frozen=True)
class Step:
    rule: str
    index: int
    matched: bool
    why: Why | None


class CompiledRuleSet:
    """A rule set ready to route: compiled once per saved version."""

    def __init__(self, rs: RuleSet, version: int | None = None) -> None:
        self.rs = rs
        self.version = version
        self.checks = [(r, compile_cond(r.when)) for r in rs.rules]

    def decision(self, out: Outcome, rule: str, trace: list[str]) -> RoutingDecision:
        return RoutingDecision(team_code=out.team, priority=out.priority, skills=out.skills,
                               assignee_username=out.assignee, rule=rule, rule_set_version=self.version,
                               trace=tuple(trace))

    def route(self, facts: Facts) -> RoutingDecision:
        f = normalise(facts)
        for rule, check in self.checks:
            if check(f):
                why = explain(rule.when, f).lines() if rule.when is not None else ["always"]
                return self.decision(rule.then, rule.name, [f"rule {rule.name} matched: " + "; ".join(why)])
        return self.decision(self.rs.default, "default", ["no rule matched: default"])

    def route_fast(self, facts: Mapping[str, Any]) -> tuple[str, Outcome]:
        """(rule name, outcome) on already normalised facts: the hot path, no trace."""
        for rule, check in self.checks:
            if check(facts):
                return rule.name, rule.then
        return "default", self.rs.default

    def trace(self, facts: Facts) -> tuple[RoutingDecision, list[Step]]:
        """Every rule tried in order until the first match, with why it failed or matched."""
        facts = normalise(facts)
        steps: list[Step] = []
        lines: list[str] = []
        for rule in self.rs.rules:
            why = explain(rule.when, facts) if rule.when is not None else None
            ok = why is None or why.ok
            steps.append(Step(rule.name, rule.index, ok, why))
            lines.append(f"rule {rule.name}: {'matched' if ok else 'no'}"
                         + (": " + " / ".join(why.lines()) if why is not None else ""))
            if ok:
                return self.decision(rule.then, rule.name, lines), steps
        lines.append("default")
        return self.decision(self.rs.default, "default", lines), steps
