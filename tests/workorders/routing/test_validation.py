"""Refusals at save time (pure part): every one names the rule and the path in the document,
in both languages; contradictions, dead branches and shadowing, and what must not be flagged."""

from __future__ import annotations

from typing import Any

import pytest

from plantguard.core.errors import FieldError
from plantguard.core.i18n import gettext
from plantguard.workorders.routing.analysis import analyse
from plantguard.workorders.routing.spec import load_text, parse
from tests.workorders.routing.helpers import doc, nested, p, rule, ruleset


def refusals(d: Any) -> list[FieldError]:
    rs, errors = parse(d)
    if rs is not None:
        errors = analyse(rs)
    return errors


def rendered(e: FieldError, locale: str) -> str:
    params = {k: gettext(v, locale) if isinstance(v, str) else v for k, v in e.params.items()}
    return gettext(e.message, locale) % params


def only(d: Any) -> FieldError:
    errors = refusals(d)
    assert len(errors) == 1, errors
    return errors[0]


def names(e: FieldError, rule_name: str) -> None:
    for locale in ("en", "zh_CN"):
        text = rendered(e, locale)
        assert rule_name in text, (locale, text)
    assert rendered(e, "zh_CN") == gettext(e.message, "zh_CN") % {
        k: gettext(v, "zh_CN") if isinstance(v, str) else v for k, v in e.params.items()}


GOOD = p("severity", "eq", "critical")


@pytest.mark.parametrize(("bad_rule", "field", "fragment"), [
    (rule("r-field", p("colour", "eq", "red")), "rules.0.when.field", "unknown fact field “colour”"),
    (rule("r-op", p("severity", "gt", "critical")), "rules.0.when.op", "operator “gt” does not fit"),
    (rule("r-op-list", p("skills", "eq", "急救")), "rules.0.when.op", "operator “eq” does not fit"),
    (rule("r-op-str", p("area_code", "contains", "P")), "rules.0.when.op", "operator “contains”"),
    (rule("r-enum", p("severity", "eq", "catastrophic")), "rules.0.when.value", "“catastrophic” is not one of"),
    (rule("r-enum-in", {"all": [p("shift", "in", ["day", "evening"])]}), "rules.0.when.all.0.value",
     "“evening” is not one of"),
    (rule("r-type", p("score", "gt", "high")), "rules.0.when.value", "must be a number"),
    (rule("r-time", p("time_of_day", "between", ["25:00", "06:00"])), "rules.0.when.value",
     "must be a time of day"),
    (rule("r-between", p("score", "between", [5, 3])), "rules.0.when.value", "lower bound 5 is above upper bound 3"),
    (rule("r-between-shape", p("score", "between", [5])), "rules.0.when.value", "needs two values"),
    (rule("r-in-empty", p("area_code", "in", [])), "rules.0.when.value", "at least one value"),
    (rule("r-shape", {"field": "severity", "op": "eq"}), "rules.0.when", "needs “field”, “op” and “value”"),
    (rule("r-any-empty", {"any": []}), "rules.0.when.any", "needs a list of at least one condition"),
    (rule("r-prio", GOOD, priority="urgent"), "rules.0.then.priority", "priority “urgent” is not one of"),
    (rule("r-key", GOOD) | {"whenn": GOOD}, "rules.0.whenn", "unknown key “whenn”"),
    (rule("r-deep", nested(13, GOOD)), None, "nested deeper than 12 levels"),
    (rule("r-contra", {"all": [GOOD, p("severity", "eq", "minor")]}), "rules.0.when",
     "conditions on “severity” contradict"),
    (rule("r-ranges", {"all": [p("score", "gt", 5), {"all": [p("score", "lt", 3)]}]}), "rules.0.when",
     "conditions on “score” contradict"),
    (rule("r-times", {"all": [p("time_of_day", "between", ["22:00", "02:00"]),
                              p("time_of_day", "between", ["08:00", "17:00"])]}), "rules.0.when",
     "conditions on “time_of_day” contradict"),
    (rule("r-not", {"all": [GOOD, {"not": p("severity", "in", ["critical", "major"])}]}), "rules.0.when",
     "contradict"),
    (rule("r-branch", {"all": [GOOD, {"any": [p("severity", "eq", "minor"), p("area_code", "eq", "ST")]}]}),
     "rules.0.when.all.1.any.0", "this branch can never be true"),
])
def test_refusal_names_rule_and_path(bad_rule: dict, field: str | None, fragment: str) -> None:
    e = only(doc(bad_rule))
    if field is not None:
        assert e.field == field
    assert fragment in rendered(e, "en")
    names(e, bad_rule["name"])


def test_no_default_refused() -> None:
    d = doc(rule("a", GOOD))
    del d["default"]
    e = only(d)
    assert e.field == "default" and "no default" in rendered(e, "en")
    assert rendered(e, "zh_CN") == gettext(e.message, "zh_CN")


def test_unparseable_names_the_line() -> None:
    value, errors = load_text("rules:\n  - name: a\n    when: {field: severity, op: eq\n")
    assert value is None and errors[0].field == "source"
    assert "line" in rendered(errors[0], "en")
    assert rendered(errors[0], "zh_CN") == gettext(errors[0].message, "zh_CN") % {"line": errors[0].params["line"]}
    assert only([1, 2]).field == "source"


def test_duplicate_names_and_missing_name() -> None:
    errors = refusals(doc(rule("a", GOOD), rule("a", p("severity", "eq", "minor")), {"then": {"team": "T1",
                                                                                            "priority": "p1"}}))
    assert [e.field for e in errors] == ["rules.1.name", "rules.2.name"]
    assert "#3" in rendered(errors[1], "en")


def test_shadowed_rule_names_both_rules() -> None:
    e = only(doc(rule("painting", p("area_code", "eq", "PT")),
                 rule("painting-gas", {"all": [p("area_code", "eq", "PT"), p("quantity", "eq", "gas_lel")]})))
    assert e.field == "rules.1.when"
    text = rendered(e, "en")
    assert "painting-gas" in text and "“painting”" in text
    names(e, "painting-gas")


@pytest.mark.parametrize(("earlier", "later"), [
    (p("score", "ge", 0.5), p("score", "between", [0.6, 0.9])),  # range inside a range
    (p("area_code", "in", ["PT", "PM"]), {"any": [p("area_code", "eq", "PT"), p("area_code", "eq", "PM")]}),
    (p("time_of_day", "between", ["20:00", "07:00"]), p("time_of_day", "between", ["22:00", "06:00"])),
    ({"not": p("severity", "eq", "warning")}, p("severity", "in", ["critical", "major"])),
    (p("skills", "contains", "焊接"), {"all": [p("skills", "contains", "焊接"), p("area_code", "eq", "WD")]}),
    ({"not": p("severity", "eq", "warning")}, p("severity", "ne", "warning")),
    (None, p("area_code", "eq", "WD")),  # an unconditional rule catches everything after it
])
def test_shadowing_detected(earlier: Any, later: Any) -> None:
    e = only(doc(rule("first", earlier), rule("second", later)))
    assert e.field == "rules.1.when" and e.params["earlier"] == "first"


@pytest.mark.parametrize(("earlier", "later"), [
    # narrower first, broader later: the order people should write
    ({"all": [p("area_code", "eq", "PT"), p("quantity", "eq", "gas_lel")]}, p("area_code", "eq", "PT")),
    # overlapping, not implied
    (p("score", "ge", 0.5), p("score", "between", [0.4, 0.9])),
    # a missing fact satisfies "not" but not "ne": the later rule still catches alarms without severity
    (p("severity", "ne", "warning"), {"not": p("severity", "eq", "warning")}),
    # the earlier is a disjunction: not analysed for shadowing (sound but incomplete)
    ({"any": [p("area_code", "eq", "PT"), p("shift", "eq", "night")]}, p("area_code", "eq", "PT")),
    (p("time_of_day", "between", ["22:00", "06:00"]), p("time_of_day", "between", ["21:00", "23:00"])),
])
def test_not_flagged(earlier: Any, later: Any) -> None:
    assert refusals(doc(rule("first", earlier), rule("second", later))) == []


def test_satisfiable_conditions_are_not_contradictions() -> None:
    ok = [
        {"all": [p("score", "ge", 3), p("score", "le", 3)]},  # exactly 3
        {"all": [p("time_of_day", "between", ["22:00", "06:00"]), p("time_of_day", "lt", "01:00")]},
        {"all": [p("severity", "ne", "critical"), p("severity", "ne", "major"), p("severity", "ne", "minor")]},
        {"any": [GOOD, p("area_code", "eq", "ST")]},
        {"not": {"all": [GOOD, p("severity", "eq", "minor")]}},  # not of a contradiction: always true
        {"all": [p("skills", "contains", "a"), {"not": p("skills", "contains", "b")}]},
        {"all": [{"not": GOOD}, {"not": p("severity", "in", ["major", "minor", "warning"])}]},  # absent severity
    ]
    for i, cond in enumerate(ok):
        assert refusals(doc(rule(f"ok{i}", cond))) == [], cond
    ruleset(doc(*(rule(f"ok{i}", c, team=f"T{i}") for i, c in enumerate(ok[:1]))))


def test_contradiction_inside_an_any_alternative_is_a_dead_branch() -> None:
    e = only(doc(rule("r", {"any": [{"all": [GOOD, p("severity", "eq", "minor")]}, p("area_code", "eq", "ST")]})))
    assert e.field == "rules.0.when.any.0" and e.params["name"] == "severity"


def test_hostile_documents_are_refused_not_crashed() -> None:
    bomb = "a: &a [{field: severity, op: eq, value: critical}]\n" + "".join(
        f"l{i}: &l{i} {{any: [*{'a' if i == 0 else f'l{i - 1}'}" + f", *{'a' if i == 0 else f'l{i - 1}'}" * 30
        + "]}\n" for i in range(6)) + "rules: [{name: x, when: *l5, then: {team: T1, priority: p1}}]\n"
    value, errors = load_text(bomb)
    assert errors == []
    refused = refusals(value)
    assert any("more than" in rendered(e, "en") for e in refused)
    value, errors = load_text("[" * 5000 + "]" * 5000)
    assert value is None or refusals(value)
