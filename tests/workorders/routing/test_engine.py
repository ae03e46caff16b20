"""Engine semantics: every operator, nesting, time ranges across midnight, order, default."""

from __future__ import annotations

import time

import pytest

from plantguard.workorders.contract import Priority
from plantguard.workorders.routing.spec import MAX_DEPTH, parse
from tests.workorders.routing.helpers import compiled, doc, nested, p, rule


def matches(cond: dict, facts: dict) -> bool:
    crs = compiled(doc(rule("r", cond, team="HIT")))
    d = crs.route(facts)
    # the fast path and the explaining path agree
    assert crs.trace(facts)[0].rule == d.rule
    return d.team_code == "HIT"


@pytest.mark.parametrize(("cond", "facts", "expected"), [
    (p("severity", "eq", "critical"), {"severity": "critical"}, True),
    (p("severity", "eq", "critical"), {"severity": "minor"}, False),
    (p("severity", "ne", "critical"), {"severity": "minor"}, True),
    (p("severity", "ne", "critical"), {"severity": "critical"}, False),
    (p("area_code", "in", ["PT", "PM"]), {"area_code": "PM"}, True),
    (p("area_code", "in", ["PT", "PM"]), {"area_code": "ST"}, False),
    (p("area_code", "not_in", ["PT", "PM"]), {"area_code": "ST"}, True),
    (p("area_code", "not_in", ["PT", "PM"]), {"area_code": "PT"}, False),
    (p("score", "gt", 0.5), {"score": 0.51}, True),
    (p("score", "gt", 0.5), {"score": 0.5}, False),
    (p("score", "ge", 0.5), {"score": 0.5}, True),
    (p("score", "ge", 0.5), {"score": 0.49}, False),
    (p("score", "lt", 0.5), {"score": 0.49}, True),
    (p("score", "lt", 0.5), {"score": 0.5}, False),
    (p("score", "le", 0.5), {"score": 0.5}, True),
    (p("score", "le", 0.5), {"score": 0.51}, False),
    (p("weekday", "between", [1, 5]), {"weekday": 5}, True),
    (p("weekday", "between", [1, 5]), {"weekday": 6}, False),
    (p("weekday", "in", [6, 7]), {"weekday": 7}, True),
    (p("weekday", "eq", 3), {"weekday": 3}, True),
    (p("skills", "contains", "气体检测"), {"skills": ["急救", "气体检测"]}, True),
    (p("skills", "contains", "气体检测"), {"skills": ["急救"]}, False),
    (p("time_of_day", "ge", "08:00"), {"time_of_day": "08:00"}, True),
    (p("time_of_day", "lt", "08:00"), {"time_of_day": 479}, True),
    (p("time_of_day", "gt", "08:00"), {"time_of_day": 480}, False),
    (p("time_of_day", "le", 480), {"time_of_day": "08:00"}, True),
    (p("time_of_day", "eq", "12:30"), {"time_of_day": 750}, True),
    (p("time_of_day", "ne", "12:30"), {"time_of_day": 751}, True),
    (p("shift", "eq", "night"), {"shift": "night"}, True),
    (p("equipment_criticality", "in", ["A", "B"]), {"equipment_criticality": "C"}, False),
    (p("source", "eq", "alarm"), {"source": "alarm"}, True),
    (p("equipment_type", "eq", "stamping_press"), {"equipment_type": "stamping_press"}, True),
])
def test_every_operator(cond: dict, facts: dict, expected: bool) -> None:
    assert matches(cond, facts) is expected


@pytest.mark.parametrize(("now", "expected"), [
    ("22:00", True), ("23:59", True), ("00:00", True), ("03:15", True), ("06:00", True),
    ("06:01", False), ("12:00", False), ("21:59", False),
])
def test_time_range_across_midnight(now: str, expected: bool) -> None:
    assert matches(p("time_of_day", "between", ["22:00", "06:00"]), {"time_of_day": now}) is expected


def test_time_range_within_a_day() -> None:
    assert matches(p("time_of_day", "between", ["08:00", "17:30"]), {"time_of_day": "17:30"})
    assert not matches(p("time_of_day", "between", ["08:00", "17:30"]), {"time_of_day": "17:31"})


def test_absent_or_unfit_fact_is_false_and_not_of_it_true() -> None:
    assert not matches(p("severity", "ne", "critical"), {})
    assert not matches(p("score", "gt", 0.5), {"score": "high"})
    assert matches({"not": p("severity", "eq", "critical")}, {})


def test_combinations() -> None:
    cond = {"all": [p("area_code", "eq", "PT"),
                    {"any": [p("quantity", "eq", "gas_lel"), p("detector", "eq", "gas")]},
                    {"not": p("severity", "eq", "warning")}]}
    assert matches(cond, {"area_code": "PT", "detector": "gas", "severity": "major"})
    assert not matches(cond, {"area_code": "PT", "detector": "gas", "severity": "warning"})
    assert not matches(cond, {"area_code": "PT", "quantity": "pressure", "severity": "major"})
    assert not matches(cond, {"area_code": "ST", "quantity": "gas_lel", "severity": "major"})


def test_twelve_levels_accepted_thirteen_refused() -> None:
    leaf = p("severity", "eq", "critical")
    ok = doc(rule("deep", nested(MAX_DEPTH, leaf), team="HIT"))
    crs = compiled(ok)
    assert crs.route({"severity": "critical"}).team_code == "HIT"
    assert crs.route({"severity": "minor"}).team_code == "T1"
    rs, errors = parse(doc(rule("too-deep", nested(MAX_DEPTH + 1, leaf))))
    assert rs is None
    assert [e.message for e in errors] == ["Rule “%(rule)s”: conditions are nested deeper than %(max)s levels"]
    assert errors[0].params == {"rule": "too-deep", "max": 12}
    assert errors[0].field.startswith("rules.0.when.") and errors[0].field.count(".all") + \
        errors[0].field.count(".any") == MAX_DEPTH + 1


def test_first_match_wins_and_default() -> None:
    crs = compiled(doc(
        rule("gas", p("quantity", "eq", "gas_lel"), team="PT1", priority="p1", skills=["气体检测"]),
        rule("painting", p("area_code", "eq", "PT"), team="PT2", assignee="someone"),
        default={"team": "EHS", "priority": "p4"}))
    d = crs.route({"quantity": "gas_lel", "area_code": "PT"})
    assert (d.team_code, d.priority, tuple(d.skills), d.rule, d.rule_set_version) == \
        ("PT1", Priority.P1, ("气体检测",), "gas", 1)
    d = crs.route({"quantity": "pressure", "area_code": "PT"})
    assert (d.team_code, d.rule, d.assignee_username) == ("PT2", "painting", "someone")
    d = crs.route({"quantity": "pressure", "area_code": "ST"})
    assert (d.team_code, d.priority, d.rule) == ("EHS", Priority.P4, "default")


def test_trace_names_the_failed_predicate_and_why_it_matched() -> None:
    crs = compiled(doc(
        rule("gas", {"all": [p("area_code", "in", ["PT", "PM"]), p("quantity", "eq", "gas_lel")]}, team="PT1"),
        rule("night", p("time_of_day", "between", ["22:00", "06:00"]), team="UTL")))
    d, steps = crs.trace({"area_code": "PT", "quantity": "pressure", "time_of_day": "23:00"})
    assert d.rule == "night"
    assert [(s.rule, s.matched) for s in steps] == [("gas", False), ("night", True)]
    failed = steps[0].why
    assert failed is not None and not failed.ok
    assert (failed.path, failed.text, failed.actual) == ("rules.0.when.all.1", "quantity = gas_lel", "pressure")
    held = steps[1].why
    assert held is not None and held.text == "time_of_day between 22:00 and 06:00" and held.actual == "23:00"
    assert d.trace[0].startswith("rule gas: no: quantity = gas_lel (was pressure)")


def test_throughput_50_rules() -> None:
    late = {"any": [p("score", "gt", 0.5), p("time_of_day", "between", ["22:00", "06:00"])]}
    rules = [rule(f"r{i}", {"all": [p("area_code", "eq", f"A{i}"), p("severity", "in", ["critical", "major"]), late]})
             for i in range(50)]
    crs = compiled(doc(*rules))
    facts = {"area_code": "A49", "severity": "major", "score": 0.7, "time_of_day": "12:00", "skills": []}
    assert crs.route(facts).rule == "r49"
    n = 20_000
    t0 = time.perf_counter()
    for _ in range(n):
        crs.route_fast(facts)  # the worst case: every rule tried, the last one matches
    rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(2_000):
        crs.route(facts)  # with normalisation and the trace of the matched rule
    full = 2_000 / (time.perf_counter() - t0)
    print(f"\nrouting throughput, 50 rules, last matches: {rate:,.0f}/s fast path, {full:,.0f}/s with trace")
    assert rate > 5_000 and full > 1_000
