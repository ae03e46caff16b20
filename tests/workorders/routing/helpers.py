"""Rule sets for the routing tests, built as Python data (dumped to YAML where text is needed)."""

from __future__ import annotations

from typing import Any

import yaml

from plantguard.workorders.routing.engine import CompiledRuleSet
from plantguard.workorders.routing.spec import RuleSet, parse


def p(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def rule(name: str, when: Any, team: str = "T1", priority: str = "p2", **then: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "then": {"team": team, "priority": priority, **then}}
    if when is not None:
        out["when"] = when
    return out


def doc(*rules: dict[str, Any], default: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"rules": list(rules), "default": default or {"team": "T1", "priority": "p3"}}


def text(d: dict[str, Any]) -> str:
    return yaml.safe_dump(d, allow_unicode=True, sort_keys=False)


def ruleset(d: dict[str, Any]) -> RuleSet:
    rs, errors = parse(d)
    assert rs is not None, errors
    return rs


def compiled(d: dict[str, Any]) -> CompiledRuleSet:
    return CompiledRuleSet(ruleset(d), 1)


def nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    """``depth`` combinators (alternating all / any) above ``leaf``."""
    node = leaf
    for i in range(depth):
        node = {"all": [node]} if i % 2 else {"any": [node]}
    return node
