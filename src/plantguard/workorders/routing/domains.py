"""Per-field value domains: the static analysis behind "a branch no input can reach".

Why an abstract domain rather than a SAT solver: the questions asked at save time are narrow
(can this rule match at all? does an earlier rule already catch everything this one would?)
and must never refuse a rule that can work. Each condition is over-approximated by a *box*:
for every fact field it constrains, the set of values (and whether "fact absent" is allowed)
that some input satisfying the condition may have. ``all`` intersects boxes, ``any`` takes
the field-wise union (hull), ``not`` is pushed down to the predicates (De Morgan).

Because the box always *contains* every satisfying input:

- an empty box proves the condition unsatisfiable (contradiction), and
- a box inside a predicate's set proves the condition implies that predicate (shadowing),

so both checks are sound (no false refusals) though not complete (some dead rules are not
found, e.g. contradictions that only show across fields inside an ``any``).

Absent facts: a predicate on a missing fact is false, so its negation is true; domains carry
``missing`` for that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

INF = math.inf
TIME_FULL = (1 << 1440) - 1

Interval = tuple[float, bool, float, bool]  # lo, lo closed, hi, hi closed


def _iv_empty(iv: Interval) -> bool:
    lo, lc, hi, hc = iv
    return lo > hi or (lo == hi and not (lc and hc))


def iv_norm(ivs: list[Interval]) -> tuple[Interval, ...]:
    """Sorted, merged, non-empty intervals."""
    items = sorted((iv for iv in ivs if not _iv_empty(iv)), key=lambda iv: (iv[0], not iv[1]))
    out: list[Interval] = []
    for lo, lc, hi, hc in items:
        if out:
            plo, plc, phi, phc = out[-1]
            if lo < phi or (lo == phi and (lc or phc)):
                if hi > phi or (hi == phi and hc):
                    out[-1] = (plo, plc, hi, hc)
                continue
        out.append((lo, lc, hi, hc))
    return tuple(out)


def iv_and(a: tuple[Interval, ...], b: tuple[Interval, ...]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for alo, alc, ahi, ahc in a:
        for blo, blc, bhi, bhc in b:
            lo, lc = (alo, alc) if alo > blo else (blo, blc) if blo > alo else (alo, alc and blc)
            hi, hc = (ahi, ahc) if ahi < bhi else (bhi, bhc) if bhi < ahi else (ahi, ahc and bhc)
            out.append((lo, lc, hi, hc))
    return iv_norm(out)


def iv_not(a: tuple[Interval, ...]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    lo, lc = -INF, False
    for ilo, ilc, ihi, ihc in a:
        out.append((lo, lc, ilo, not ilc))
        lo, lc = ihi, not ihc
    out.append((lo, lc, INF, False))
    return iv_norm(out)


@dataclass(frozen=True)
class Values:
    """A set of values of one kind.

    ``kind`` "set": ``items`` (or all but ``items`` when ``co``); "num": ``ivs``; "time": a
    1440-bit ``mask`` (minute of the day); "list": tags ``req`` required and ``forb`` forbidden.
    """

    kind: str
    items: frozenset[Any] = frozenset()
    co: bool = False
    ivs: tuple[Interval, ...] = ()
    mask: int = 0
    req: frozenset[str] = frozenset()
    forb: frozenset[str] = frozenset()

    def empty(self) -> bool:
        if self.kind == "set":
            return not self.co and not self.items
        if self.kind == "num":
            return not self.ivs
        if self.kind == "time":
            return self.mask == 0
        return bool(self.req & self.forb)

    def __and__(self, o: Values) -> Values:
        if self.kind == "set":
            if self.co and o.co:
                return Values("set", self.items | o.items, True)
            if self.co:
                return Values("set", o.items - self.items)
            if o.co:
                return Values("set", self.items - o.items)
            return Values("set", self.items & o.items)
        if self.kind == "num":
            return Values("num", ivs=iv_and(self.ivs, o.ivs))
        if self.kind == "time":
            return Values("time", mask=self.mask & o.mask)
        return Values("list", req=self.req | o.req, forb=self.forb | o.forb)

    def __or__(self, o: Values) -> Values:
        if self.kind == "set":
            if self.co and o.co:
                return Values("set", self.items & o.items, True)
            if self.co:
                return Values("set", self.items - o.items, True)
            if o.co:
                return Values("set", o.items - self.items, True)
            return Values("set", self.items | o.items)
        if self.kind == "num":
            return Values("num", ivs=iv_norm([*self.ivs, *o.ivs]))
        if self.kind == "time":
            return Values("time", mask=self.mask | o.mask)
        if self.empty():
            return o
        if o.empty():
            return self
        return Values("list", req=self.req & o.req, forb=self.forb & o.forb)  # hull: weaker constraints

    def __invert__(self) -> Values:
        if self.kind == "set":
            return Values("set", self.items, not self.co)
        if self.kind == "num":
            return Values("num", ivs=iv_not(self.ivs))
        if self.kind == "time":
            return Values("time", mask=TIME_FULL & ~self.mask)
        if len(self.req) + len(self.forb) == 1:  # the only list sets predicates produce
            return Values("list", req=self.forb, forb=self.req)
        return Values("list")  # not expressible: over-approximate by everything

    def within(self, o: Values) -> bool:
        """Sound subset test (may answer False for a true subset of list constraints)."""
        if self.empty():
            return True
        if self.kind == "list":
            return o.req <= self.req and o.forb <= self.forb
        return (self & ~o).empty()


@dataclass(frozen=True)
class Dom:
    """The values one field may take, and whether it may be absent."""

    values: Values
    missing: bool

    def empty(self) -> bool:
        return self.values.empty() and not self.missing

    def __and__(self, o: Dom) -> Dom:
        return Dom(self.values & o.values, self.missing and o.missing)

    def __or__(self, o: Dom) -> Dom:
        return Dom(self.values | o.values, self.missing or o.missing)

    def negate(self) -> Dom:
        return Dom(~self.values, not self.missing)

    def within(self, o: Dom) -> bool:
        return self.empty() or (self.values.within(o.values) and (o.missing or not self.missing))


# A box: field → Dom for the fields a condition constrains; ``None`` is the empty box.
Box = dict[str, Dom] | None


def box_and(a: Box, b: Box) -> Box:
    if a is None or b is None:
        return None
    out = dict(a)
    for f, d in b.items():
        out[f] = out[f] & d if f in out else d
        if out[f].empty():
            return None
    return out


def box_or(a: Box, b: Box) -> Box:
    if a is None:
        return b
    if b is None:
        return a
    return {f: a[f] | b[f] for f in a.keys() & b.keys()}
