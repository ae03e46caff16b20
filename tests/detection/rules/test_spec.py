"""Rule validation without a database: every refusal names its field."""

from __future__ import annotations

from typing import Any

import pytest

from plantguard.detection.rules.spec import MAX_DEPTH, RuleInvalid
from tests.detection.rules.helpers import EQUIPMENT, limit, point_scope, rule


def refusals(condition: Any, **kw: Any) -> dict[str, str]:
    with pytest.raises(RuleInvalid) as info:
        rule(condition, **kw)
    return {e.field: (e.message % e.params if e.params else e.message) for e in info.value.errors}


def test_unknown_detector_lists_the_known_ones() -> None:
    got = refusals({"any": [limit("P-A"), {"detector": "nope"}]})
    assert list(got) == ["condition.any.1.detector"]
    assert "nope" in got["condition.any.1.detector"]
    for name in ("threshold", "trend", "robust_z", "ewma", "rate", "page_hinkley"):
        assert name in got["condition.any.1.detector"]


def test_detector_params_refused_by_its_own_model_name_the_path() -> None:
    got = refusals({"all": [limit("P-A"), {"detector": "robust_z", "params": {"window": 1, "bogus": 3}}]})
    assert set(got) == {"condition.all.1.params.window", "condition.all.1.params.bogus"}
    got = refusals({"detector": "robust_z", "params": {"window": 10, "min_samples": 20}})
    assert list(got) == ["condition.params"]  # a model-level rule of the detector
    assert "min_samples" in got["condition.params"]


def test_limits_outside_the_points_range() -> None:
    got = refusals(limit("P-A", value=40.0))  # P-A measures 0..35
    assert list(got) == ["condition.params.conditions.0.limit"]
    assert "P-A" in got["condition.params.conditions.0.limit"] and "35" in got["condition.params.conditions.0.limit"]
    got = refusals({"detector": "trend", "params": {"limit": -3, "direction": "low"}}, scope=point_scope())
    assert list(got) == ["condition.params.limit"]
    rule({"detector": "trend", "params": {"limit": 500.0}, "points": ["P-C"]})  # P-C has no range: accepted


def test_points_unknown_or_out_of_scope_or_twice() -> None:
    got = refusals({"detector": "threshold", "params": limit()["params"], "points": ["P-A", "NOPE", "X-OTHER", "P-A"]})
    assert set(got) == {"condition.points.1", "condition.points.2", "condition.points.3"}
    assert "NOPE" in got["condition.points.1"]
    assert "scope" in got["condition.points.2"]
    got = refusals(limit("P-B"), scope=point_scope())  # a point rule may use only its point
    assert list(got) == ["condition.points.0"]


@pytest.mark.parametrize("field, value", [("duration_s", -1), ("duration_s", 10**9), ("clear_duration_s", -5),
                                          ("threshold", 0), ("threshold", 1.5), ("stale_s", 0)])
def test_durations_and_thresholds_out_of_bounds(field: str, value: float) -> None:
    assert list(refusals(limit("P-A", **{field: value}))) == [f"condition.{field}"]


def test_off_threshold_above_threshold() -> None:
    assert list(refusals(limit("P-A", threshold=0.5, off_threshold=0.7))) == ["condition.off_threshold"]


def test_structure() -> None:
    assert list(refusals({"any": []})) == ["condition.any"]
    assert list(refusals({"any": [limit("P-A")], "all": [limit("P-B")]})) == ["condition"]
    assert list(refusals({"any": [limit("P-A"), 3]})) == ["condition.any.1"]
    deep: Any = limit("P-A")
    for _ in range(MAX_DEPTH + 1):
        deep = {"all": [deep]}
    got = refusals(deep)
    assert len(got) == 1 and "nested" in next(iter(got.values()))
    assert refusals({"detector": "threshold", "treshold": 0.5}) == {"condition.treshold": "Unknown field"}
    nan = {"detector": "threshold", "params": {"conditions": [{"limit": float("nan")}]}}
    assert list(refusals(nan)) == ["condition"]
    nul = {"detector": "threshold", "params": {"x\x00": 1}}
    assert refusals(nul) == {"condition": "Must not contain NUL characters"}


def test_detector_must_read_its_points() -> None:
    bad = {"detector": "threshold", "params": {"conditions": [{"signal": "P-B", "limit": 5}]}, "points": ["P-A"]}
    got = refusals(bad)
    assert list(got) == ["condition.params"] and "P-B" in got["condition.params"]
    rule({"detector": "threshold", "params": {"conditions": [{"signal": "P-A", "limit": 5}]}, "points": ["P-A"]})


def test_overrides() -> None:
    assert list(refusals(limit(), overrides={"NOPE": {"threshold": 0.6}})) == ["overrides.NOPE"]
    assert list(refusals(limit(), overrides={"X-OTHER": {"threshold": 0.6}})) == ["overrides.X-OTHER"]
    got = refusals(limit(), overrides={"P-A": {"params": {"conditions": [{"signal": "value", "limit": 99}]}}})
    assert list(got) == ["overrides.P-A.params.conditions.0.limit"]
    got = refusals(limit(), overrides={"P-A": {"duration_s": -1, "colour": "red"}})
    assert set(got) == {"overrides.P-A.duration_s", "overrides.P-A.colour"}
    assert list(refusals(limit("P-A"), overrides={"P-B": {"threshold": 0.6}})) == ["overrides.P-B"]
    assert list(refusals(limit("P-A"), scope=point_scope(), overrides={"P-A": {"threshold": 0.6}})) == ["overrides"]


def test_an_equipment_without_enabled_points() -> None:
    from dataclasses import replace

    from plantguard.detection.rules.spec import Scope

    dead = Scope("equipment", "EQ-1", {c: replace(p, enabled=False) for c, p in EQUIPMENT.points.items()},
                 EQUIPMENT.known_codes)
    assert list(refusals(limit(), scope=dead)) == ["condition.points"]


def test_accepted_rules_plan_as_expected() -> None:
    plan = rule({"any": [limit("P-A", duration_s=60), {"all": [limit("P-B"), limit("P-C")]}]})
    assert [leaf.path for leaf in plan.leaves] == ["condition.any.0", "condition.any.1.all.0", "condition.any.1.all.1"]
    assert plan.leaves[0].channels[0].duration_s == 60
    assert set(plan.points) == {1, 2, 3}
