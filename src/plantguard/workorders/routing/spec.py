"""The routing rule-set format and its parsing (pure: no database).

A rule set is YAML (or JSON)::

    rules:                                   # tried in order, the first match wins
      - name: painting-gas
        when:                                # all / any / not, nested up to 12 levels
          all:
            - {field: area_code, op: in, value: [PT, PM]}
            - {field: quantity, op: eq, value: gas_lel}
        then: {team: PT1, priority: p1, skills: [气体检测]}
    default: {team: EHS, priority: p3}      # required: what happens when no rule matches

Parsing turns the document into :class:`RuleSet` (conditions as a small tree), collecting a
:class:`~plantguard.core.errors.FieldError` per problem; each message names the rule, each
field is the path (``rules.2.when.all.0.op``). Checks that need the database (team codes,
accounts) and the static analysis live in ``validate.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from plantguard.core.errors import FieldError
from plantguard.core.i18n import N_
from plantguard.workorders.contract import FACT_FIELDS, Priority

MAX_DEPTH = 12  # all/any/not levels on the way from a rule's ``when`` down to a predicate
MAX_RULES = 500
MAX_CHILDREN = 200
MAX_SOURCE_CHARS = 200_000
MAX_NODES = 10_000  # conditions in a whole rule set (YAML aliases could otherwise multiply them)

OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "str": ("eq", "ne", "in", "not_in"),
    "enum": ("eq", "ne", "in", "not_in"),
    "bool": ("eq", "ne"),
    "num": ("eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "between"),
    "time": ("eq", "ne", "gt", "ge", "lt", "le", "between"),
    "list": ("contains",),
}
OP_SYMBOLS = {"eq": "=", "ne": "≠", "in": "in", "not_in": "not in", "gt": ">", "ge": "≥", "lt": "<", "le": "≤",
              "between": "between", "contains": "contains"}
EXPECTED = {"str": N_("text"), "enum": N_("text"), "bool": N_("true or false"), "num": N_("a number"),
            "time": N_("a time of day (HH:MM)"), "list": N_("text")}


def kind_of(name: str) -> tuple[str, tuple[str, ...]]:
    """The kind of a fact field and, for an enum, its allowed values."""
    raw = FACT_FIELDS[name]
    if raw.startswith("enum:"):
        return "enum", tuple(raw[5:].split("|"))
    return raw, ()


def parse_time(value: Any) -> int | None:
    """``"22:30"`` or minutes after midnight → minutes (0..1439); None when not a time."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 1440 else None
    if isinstance(value, str):
        hh, sep, mm = value.strip().partition(":")
        if sep and hh.isdigit() and mm.isdigit() and len(mm) == 2:
            h, m = int(hh), int(mm)
            if 0 <= h < 24 and 0 <= m < 60:
                return h * 60 + m
    return None


def fmt_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Pred:
    path: str
    field: str
    op: str
    value: Any  # normalised: float for num, minutes for time, tuple for in/not_in/between

    def describe(self) -> str:
        v = self.value
        kind = FACT_FIELDS[self.field]

        def show(x: Any) -> Any:
            if kind == "time":
                return fmt_time(x)
            return int(x) if isinstance(x, float) and x.is_integer() else x

        if self.op == "between":
            return f"{self.field} between {show(v[0])} and {show(v[1])}"
        if self.op in ("in", "not_in"):
            return f"{self.field} {OP_SYMBOLS[self.op]} [{', '.join(str(show(x)) for x in v)}]"
        return f"{self.field} {OP_SYMBOLS[self.op]} {show(v)}"


@dataclass(frozen=True)
class Node:
    """A combination: ``op`` is "all", "any" or "not" (one child)."""

    path: str
    op: str
    children: tuple[Cond, ...]


Cond = Pred | Node


@dataclass(frozen=True)
class Outcome:
    team: str | None
    priority: Priority
    skills: tuple[str, ...] = ()
    assignee: str | None = None


@dataclass(frozen=True)
class Rule:
    index: int
    name: str
    when: Cond | None  # None: always
    then: Outcome
    description: str = ""


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    default: Outcome
    doc: Mapping[str, Any] = field(default_factory=dict)


class Parser:
    """Collects every problem rather than stopping at the first, so the editor can list them."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.nodes = 0

    def err(self, path: str, message: str, **params: Any) -> None:
        self.errors.append(FieldError(path, message, params))

    # -- document ---------------------------------------------------------------------------

    def document(self, doc: Any) -> RuleSet | None:
        if not isinstance(doc, Mapping):
            self.err("source", N_("The rule set must be an object with “rules” and “default”"))
            return None
        for key in doc:
            if key not in ("rules", "default", "description"):
                self.err(str(key), N_("Unknown key “%(key)s” in the rule set"), key=str(key))
        raw_rules = doc.get("rules") or []
        if not isinstance(raw_rules, list):
            self.err("rules", N_("“rules” must be a list"))
            raw_rules = []
        if len(raw_rules) > MAX_RULES:
            self.err("rules", N_("A rule set has at most %(max)s rules"), max=MAX_RULES)
            raw_rules = raw_rules[:MAX_RULES]
        rules: list[Rule] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_rules):
            rule = self.rule(i, raw)
            if rule is None:
                continue
            if rule.name in seen:
                self.err(f"rules.{i}.name", N_("Two rules are named “%(rule)s”"), rule=rule.name)
            seen.add(rule.name)
            rules.append(rule)
        default = None
        if doc.get("default") is None:
            self.err("default", N_("The rule set has no default: add “default” with a team and a priority"))
        else:
            default = self.outcome("default", "default", doc["default"])
        if default is None or self.errors:
            return None
        return RuleSet(tuple(rules), default, doc)

    def rule(self, i: int, raw: Any) -> Rule | None:
        path = f"rules.{i}"
        name = f"#{i + 1}"
        if not isinstance(raw, Mapping):
            self.err(path, N_("Rule “%(rule)s”: must be an object with name, when and then"), rule=name)
            return None
        if isinstance(raw.get("name"), str) and raw["name"].strip():
            name = raw["name"].strip()[:100]
        else:
            self.err(f"{path}.name", N_("Rule “%(rule)s”: missing “%(key)s”"), rule=name, key="name")
        for key in raw:
            if key not in ("name", "when", "then", "description"):
                self.err(f"{path}.{key}", N_("Rule “%(rule)s”: unknown key “%(key)s”"), rule=name, key=str(key))
        when = None
        if "when" in raw and raw["when"] is not None:
            when = self.cond(name, f"{path}.when", raw["when"], 0)
        if "then" not in raw:
            self.err(f"{path}.then", N_("Rule “%(rule)s”: missing “%(key)s”"), rule=name, key="then")
            return None
        then = self.outcome(name, f"{path}.then", raw["then"])
        if then is None:
            return None
        return Rule(i, name, when, then, str(raw.get("description") or ""))

    def outcome(self, rule: str, path: str, raw: Any) -> Outcome | None:
        if not isinstance(raw, Mapping):
            self.err(path, N_("Rule “%(rule)s”: “then” must be an object with team and priority"), rule=rule)
            return None
        ok = True
        for key in raw:
            if key not in ("team", "priority", "skills", "assignee"):
                self.err(f"{path}.{key}", N_("Rule “%(rule)s”: unknown key “%(key)s”"), rule=rule, key=str(key))
                ok = False
        team = raw.get("team")
        if not isinstance(team, str) or not team.strip():
            self.err(f"{path}.team", N_("Rule “%(rule)s”: missing “%(key)s”"), rule=rule, key="team")
            ok = False
        prio = raw.get("priority")
        allowed = ", ".join(p.value for p in Priority)
        if prio not in {p.value for p in Priority}:
            self.err(f"{path}.priority", N_("Rule “%(rule)s”: priority “%(value)s” is not one of %(allowed)s"),
                     rule=rule, value=str(prio), allowed=allowed)
            ok = False
        skills = raw.get("skills") or []
        if not isinstance(skills, list) or not all(isinstance(s, str) and s for s in skills):
            self.err(f"{path}.skills", N_("Rule “%(rule)s”: “%(key)s” must be a list of text"), rule=rule,
                     key="skills")
            ok = False
        assignee = raw.get("assignee")
        if assignee is not None and (not isinstance(assignee, str) or not assignee.strip()):
            self.err(f"{path}.assignee", N_("Rule “%(rule)s”: “%(key)s” must be an account name"), rule=rule,
                     key="assignee")
            ok = False
        if not ok:
            return None
        return Outcome(str(team).strip(), Priority(str(prio)), tuple(skills), assignee.strip() if assignee else None)

    # -- conditions -------------------------------------------------------------------------

    def cond(self, rule: str, path: str, raw: Any, depth: int) -> Cond | None:
        self.nodes += 1
        if self.nodes == MAX_NODES + 1:
            self.err(path, N_("The rule set has more than %(max)s conditions"), max=MAX_NODES)
        if self.nodes > MAX_NODES:
            return None
        if not isinstance(raw, Mapping):
            self.err(path, N_("Rule “%(rule)s”: a condition must be an object"), rule=rule)
            return None
        combos = [k for k in ("all", "any", "not") if k in raw]
        if combos:
            op = combos[0]
            if len(raw) != 1:
                self.err(path, N_("Rule “%(rule)s”: a combination has exactly one key: all, any or not"),
                         rule=rule)
                return None
            if depth + 1 > MAX_DEPTH:
                self.err(f"{path}.{op}", N_("Rule “%(rule)s”: conditions are nested deeper than %(max)s levels"),
                         rule=rule, max=MAX_DEPTH)
                return None
            if op == "not":
                child = self.cond(rule, f"{path}.not", raw["not"], depth + 1)
                return Node(path, "not", (child,)) if child is not None else None
            items = raw[op]
            if not isinstance(items, list) or not items:
                self.err(f"{path}.{op}", N_("Rule “%(rule)s”: “%(key)s” needs a list of at least one condition"),
                         rule=rule, key=op)
                return None
            if len(items) > MAX_CHILDREN:
                self.err(f"{path}.{op}", N_("Rule “%(rule)s”: at most %(max)s conditions in one list"),
                         rule=rule, max=MAX_CHILDREN)
                return None
            kids = [self.cond(rule, f"{path}.{op}.{k}", c, depth + 1) for k, c in enumerate(items)]
            if any(k is None for k in kids):
                return None
            return Node(path, op, tuple(k for k in kids if k is not None))
        return self.pred(rule, path, raw)

    def pred(self, rule: str, path: str, raw: Mapping[str, Any]) -> Pred | None:
        if set(raw) != {"field", "op", "value"}:
            self.err(path, N_("Rule “%(rule)s”: a condition needs “field”, “op” and “value”, or one of all, "
                              "any, not"), rule=rule)
            return None
        name, op, value = raw["field"], raw["op"], raw["value"]
        if not isinstance(name, str) or name not in FACT_FIELDS:
            self.err(f"{path}.field", N_("Rule “%(rule)s”: unknown fact field “%(name)s”"), rule=rule,
                     name=str(name))
            return None
        kind, allowed = kind_of(name)
        if op not in OPS_BY_KIND[kind]:
            self.err(f"{path}.op", N_("Rule “%(rule)s”: operator “%(op)s” does not fit the field “%(name)s” "
                                      "(use %(ops)s)"), rule=rule, op=str(op), name=name,
                     ops=", ".join(OPS_BY_KIND[kind]))
            return None
        vpath = f"{path}.value"
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                self.err(vpath, N_("Rule “%(rule)s”: “%(op)s” needs a list of at least one value"), rule=rule,
                         op=op)
                return None
            items = [self.scalar(rule, vpath, name, kind, allowed, v) for v in value]
            if any(v is None for v in items):
                return None
            return Pred(path, name, op, tuple(items))
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.err(vpath, N_("Rule “%(rule)s”: “between” needs two values [low, high]"), rule=rule)
                return None
            lo, hi = (self.scalar(rule, vpath, name, kind, allowed, v) for v in value)
            if lo is None or hi is None:
                return None
            if kind == "num" and lo > hi:
                self.err(vpath, N_("Rule “%(rule)s”: can never match: lower bound %(low)s is above upper bound "
                                   "%(high)s on “%(name)s”"), rule=rule, low=value[0], high=value[1], name=name)
                return None
            return Pred(path, name, op, (lo, hi))
        v = self.scalar(rule, vpath, name, kind, allowed, value)
        return None if v is None else Pred(path, name, op, v)

    def scalar(self, rule: str, path: str, name: str, kind: str, allowed: tuple[str, ...], value: Any) -> Any:
        ok: Any = None
        if kind in ("str", "enum", "list"):
            ok = value if isinstance(value, str) and value else None
        elif kind == "bool":
            ok = value if isinstance(value, bool) else None
        elif kind == "num":
            ok = float(value) if isinstance(value, int | float) and not isinstance(value, bool) and \
                abs(value) <= 1e15 else None
        elif kind == "time":
            ok = parse_time(value)
        if ok is None:
            self.err(path, N_("Rule “%(rule)s”: the value for “%(name)s” must be %(expected)s"), rule=rule,
                     name=name, expected=EXPECTED[kind])
            return None
        if kind == "enum" and ok not in allowed:
            self.err(path, N_("Rule “%(rule)s”: “%(value)s” is not one of %(allowed)s for “%(name)s”"),
                     rule=rule, value=str(value), allowed=", ".join(allowed), name=name)
            return None
        return ok


def load_text(text: str) -> tuple[Any, list[FieldError]]:
    """YAML (JSON is YAML too) into a document, or a field error on ``source`` naming the line."""
    if len(text) > MAX_SOURCE_CHARS:
        return None, [FieldError("source", N_("The rule set is longer than %(max)s characters"),
                                 {"max": MAX_SOURCE_CHARS})]
    try:
        return yaml.safe_load(text), []
    except RecursionError:
        return None, [FieldError("source", N_("The rule set is not valid YAML or JSON (line %(line)s)"),
                                 {"line": 0})]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        return None, [FieldError("source", N_("The rule set is not valid YAML or JSON (line %(line)s)"),
                                 {"line": line})]


def parse(doc: Any) -> tuple[RuleSet | None, list[FieldError]]:
    p = Parser()
    rs = p.document(doc)
    return rs, p.errors
