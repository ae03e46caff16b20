"""Static analysis of a parsed rule set: rules and branches no input can reach.

Three findings, all sound (see ``domains.py`` for why the box over-approximation never
refuses a rule that can match):

- **contradiction**: a rule's whole condition is unsatisfiable (``severity = critical`` and
  ``severity = minor``; disjoint ranges on one number; ``all`` of time ranges that never meet);
- **dead branch**: one alternative of an ``any`` (or of a negated ``all``) cannot hold together
  with the conditions around it;
- **shadowed**: an earlier rule whose condition is a conjunction of predicates (the common
  case) is implied by this rule's condition, so the earlier rule always wins.
"""

from __future__ import annotations

from typing import Any

from plantguard.core.errors import FieldError
from plantguard.core.i18n import N_
from plantguard.workorders.routing.domains import (
    INF,
    TIME_FULL,
    Box,
    Dom,
    Values,
    box_and,
    box_or,
    iv_norm,
    iv_not,
)
from plantguard.workorders.routing.spec import Cond, Pred, Rule, RuleSet, kind_of


def _time_mask(lo: int, hi: int) -> int:
    """Minutes lo..hi inclusive; wraps midnight when lo > hi."""
    if lo <= hi:
        return ((1 << (hi - lo + 1)) - 1) << lo
    return _time_mask(lo, 1439) | _time_mask(0, hi)


def pred_values(p: Pred) -> Values:
    """The values of ``p.field`` for which ``p`` holds."""
    kind, allowed = kind_of(p.field)
    v = p.value
    if kind in ("str", "enum", "bool"):
        items = frozenset(v if p.op in ("in", "not_in") else (v,))
        co = p.op in ("ne", "not_in")
        if kind == "enum":
            universe = frozenset(allowed)
            return Values("set", universe - items if co else items & universe)
        if kind == "bool":
            both: frozenset[Any] = frozenset({True, False})
            return Values("set", both - items if co else items)
        return Values("set", items, co)
    if kind == "num":
        if p.op in ("eq", "ne", "in", "not_in"):
            points = v if p.op in ("in", "not_in") else (v,)
            ivs = iv_norm([(x, True, x, True) for x in points])
            return Values("num", ivs=iv_not(ivs) if p.op in ("ne", "not_in") else ivs)
        bounds = {"gt": (v, False, INF, False), "ge": (v, True, INF, False), "lt": (-INF, False, v, False),
                  "le": (-INF, False, v, True)}
        iv = bounds.get(p.op) or (v[0], True, v[1], True)
        return Values("num", ivs=iv_norm([iv]))
    if kind == "time":
        if p.op == "between":
            mask = _time_mask(v[0], v[1])
        elif p.op in ("eq", "ne"):
            mask = 1 << v
        else:
            lo, hi = {"gt": (v + 1, 1439), "ge": (v, 1439), "lt": (0, v - 1), "le": (0, v)}[p.op]
            mask = _time_mask(lo, hi) if lo <= hi else 0
        return Values("time", mask=TIME_FULL & ~mask if p.op == "ne" else mask)
    return Values("list", req=frozenset({v}))


def pred_dom(p: Pred, negated: bool = False) -> Dom:
    dom = Dom(pred_values(p), False)
    return dom.negate() if negated else dom


class Analyzer:
    """Boxes of every node (memoised), and the field that emptied a box, for messages."""

    def __init__(self) -> None:
        self.memo: dict[tuple[int, bool], Box] = {}
        self.culprit: dict[tuple[int, bool], str] = {}

    def box(self, c: Cond, neg: bool = False) -> Box:
        key = (id(c), neg)
        if key in self.memo:
            return self.memo[key]
        out: Box
        if isinstance(c, Pred):
            dom = pred_dom(c, neg)
            out = None if dom.empty() else {c.field: dom}
            if out is None:
                self.culprit[key] = c.field
        elif c.op == "not":
            out = self.box(c.children[0], not neg)
            if out is None:
                self.culprit[key] = self.culprit.get((id(c.children[0]), not neg), "")
        elif (c.op == "all") != neg:  # a conjunction
            out = {}
            for kid in c.children:
                kb = self.box(kid, neg)
                if kb is None:
                    self.culprit[key] = self.culprit.get((id(kid), neg), "")
                    out = None
                    break
                for f, d in kb.items():
                    if f in out and (out[f] & d).empty():
                        self.culprit[key] = f
                out = box_and(out, kb)
                if out is None:
                    break
        else:  # a disjunction
            out = None
            for kid in c.children:
                out = box_or(out, self.box(kid, neg))
            if out is None:
                self.culprit[key] = self.culprit.get((id(c.children[0]), neg), "")
        self.memo[key] = out
        return out

    def dead_branches(self, c: Cond, neg: bool, ctx: Box) -> list[tuple[str, str]]:
        """(path, field) of alternatives that cannot hold within their context ``ctx``."""
        if isinstance(c, Pred):
            return []
        if c.op == "not":
            return self.dead_branches(c.children[0], not neg, ctx)
        out: list[tuple[str, str]] = []
        conj = (c.op == "all") != neg
        for k, kid in enumerate(c.children):
            if conj:
                kctx = ctx
                for j, other in enumerate(c.children):
                    if j != k:
                        kctx = box_and(kctx, self.box(other, neg))
            else:
                kb = self.box(kid, neg)
                both = box_and(ctx, kb)
                if both is None:
                    field = self.culprit.get((id(kid), neg), "") if kb is None else next(
                        (f for f in kb if ctx is not None and f in ctx and (ctx[f] & kb[f]).empty()), "")
                    out.append((_path(kid), field))
                    continue
                kctx = ctx
            if kctx is not None:
                out += self.dead_branches(kid, neg, kctx)
        return out


def _path(c: Cond) -> str:
    return c.path


def conjunction(c: Cond | None, neg: bool = False) -> list[tuple[Pred, bool]] | None:
    """A condition that is a plain conjunction of (possibly negated) predicates, flattened."""
    if c is None:
        return []
    if isinstance(c, Pred):
        return [(c, neg)]
    if c.op == "not":
        return conjunction(c.children[0], not neg)
    if (c.op == "all") == neg and len(c.children) != 1:  # a real disjunction
        return None
    out: list[tuple[Pred, bool]] = []
    for kid in c.children:
        part = conjunction(kid, neg)
        if part is None:
            return None
        out += part
    return out


def implies(box: Box, conj: list[tuple[Pred, bool]]) -> bool:
    """Every input in ``box`` satisfies every predicate of ``conj`` (sound, not complete)."""
    if box is None:
        return True
    for p, neg in conj:
        have = box.get(p.field)
        if have is None or not have.within(pred_dom(p, neg)):
            return False
    return True


def analyse(rs: RuleSet) -> list[FieldError]:
    errors: list[FieldError] = []
    an = Analyzer()
    boxes: list[Box] = []
    conjs: list[list[tuple[Pred, bool]] | None] = []
    for rule in rs.rules:
        path = f"rules.{rule.index}.when"
        box: Box = {} if rule.when is None else an.box(rule.when)
        boxes.append(box)
        conjs.append(conjunction(rule.when))
        if box is None:
            assert rule.when is not None
            field = an.culprit.get((id(rule.when), False), "") or "?"
            errors.append(FieldError(path, N_("Rule “%(rule)s”: can never match: its conditions on “%(name)s” "
                                              "contradict each other"), {"rule": rule.name, "name": field}))
            continue
        if rule.when is not None:
            for bpath, field in an.dead_branches(rule.when, False, {}):
                errors.append(FieldError(bpath, N_("Rule “%(rule)s”: this branch can never be true (its "
                                                   "condition on “%(name)s” contradicts the conditions around "
                                                   "it)"), {"rule": rule.name, "name": field or "?"}))
        earlier = _shadowed_by(rs.rules, conjs, box, rule)
        if earlier is not None:
            errors.append(FieldError(path, N_("Rule “%(rule)s”: can never match: rule “%(earlier)s” above it "
                                              "matches everything it would"),
                                     {"rule": rule.name, "earlier": earlier}))
    return errors


def _shadowed_by(rules: tuple[Rule, ...], conjs: list[list[tuple[Pred, bool]] | None], box: Box,
                 rule: Rule) -> str | None:
    for prev, conj in zip(rules[:rule.index], conjs, strict=False):
        if conj is not None and implies(box, conj):
            return prev.name
    return None

