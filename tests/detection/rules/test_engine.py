"""The rule engine on synthetic readings: durations, hysteresis, AND/OR, overrides, refresh,
staleness, contributions, predicted minutes, vector leaves, and cost."""

from __future__ import annotations

import time
from array import array

import numpy as np
import pytest

from plantguard.detection.rules.engine import Engine
from plantguard.detection.signals import ConditionSignal, Severity
from plantguard.ingest.reading import ReadingBatch
from tests.detection.rules.helpers import ENT, EQ, A, B, C, limit, point_scope, rule


def run(engine: Engine, rows: list[tuple[int, float, float]]) -> list[ConditionSignal]:
    return engine.feed(ENT, rows)


def engine_for(*plans: object, refresh_s: float = 1e9) -> Engine:
    e = Engine(refresh_s=refresh_s)
    for p in plans:
        e.set_rule(p)  # type: ignore[arg-type]
    return e


def test_duration_in_seconds_and_the_signal() -> None:
    e = engine_for(rule(limit(duration_s=30.0), scope=point_scope(A)))
    rows = [(A.id, float(t), 25.0 if t >= 100 else 5.0) for t in range(0, 200, 10)]
    got = run(e, rows)
    assert [s.active for s in got] == [True]
    s = got[0]
    assert s.ts.timestamp() == 130.0  # over since 100 s, held 30 s
    assert (s.source, s.kind, s.rule_id, s.title, s.severity) == ("rule:5", "threshold", 5, "test rule", Severity.MAJOR)
    assert (s.enterprise_id, s.point_id, s.equipment_id) == (ENT, A.id, EQ)
    assert s.score >= 0.5
    assert s.explanation["detector"] == "threshold" and s.explanation["rule"] == "test rule"
    assert s.explanation["threshold"] == 0.5
    assert [(c.name, c.value, c.unit) for c in s.contributions] == [("P-A", 25.0, "MPa")]


def test_hysteresis_and_clear_duration() -> None:
    # limit 20 with scale 1: 19 scores 0.225 (held above 0.2), 15 scores ~0.014 (clears)
    e = engine_for(rule(limit(off_threshold=0.2, clear_duration_s=20.0), scope=point_scope(A)))
    seq = [25.0, 19.0, 21.0, 19.0, 15.0, 15.0, 15.0, 15.0]
    got = run(e, [(A.id, 10.0 * i, v) for i, v in enumerate(seq)])
    assert [(s.active, s.ts.timestamp()) for s in got] == [(True, 0.0), (False, 60.0)]


@pytest.mark.parametrize("op, expected", [("any", [(True, 10.0), (False, 40.0)]),
                                          ("all", [(True, 21.0), (False, 31.0)])])
def test_and_or(op: str, expected: list[tuple[bool, float]]) -> None:
    e = engine_for(rule({op: [limit("P-A"), limit("P-B")]}))
    rows = []
    a = [5, 25, 25, 25, 5, 5]
    b = [5, 5, 25, 5, 5, 5]
    for i in range(6):
        rows += [(A.id, 10.0 * i, float(a[i])), (B.id, 10.0 * i + 1, float(b[i]))]
    got = run(e, rows)
    assert [(s.active, s.ts.timestamp()) for s in got] == expected
    assert all(s.kind == "combination" for s in got)
    assert got[0].explanation["combine"] == op
    assert len(got[0].explanation["leaves"]) == 2


def test_nested_combination() -> None:
    e = engine_for(rule({"all": [limit("P-A"), {"any": [limit("P-B"), limit("P-C")]}]}))
    got = run(e, [(A.id, 0.0, 25.0), (B.id, 1.0, 5.0), (C.id, 2.0, 25.0), (C.id, 3.0, 5.0)])
    assert [(s.active, s.ts.timestamp()) for s in got] == [(True, 2.0), (False, 3.0)]


def test_equipment_leaf_watches_every_point_and_overrides_apply() -> None:
    plan = rule(limit(), overrides={"P-B": {"params": {"conditions": [{"signal": "value", "limit": 50.0}]}},
                                    "P-C": {"duration_s": 60.0}})
    e = engine_for(plan)
    assert {p.code for p in plan.leaves[0].points} == {"P-A", "P-B", "P-C"}
    assert run(e, [(B.id, 0.0, 30.0)]) == []  # B's own limit is 50
    assert run(e, [(C.id, 10.0, 30.0), (C.id, 40.0, 30.0)]) == []  # C must hold 60 s
    got = run(e, [(C.id, 70.0, 30.0)])
    assert [s.active for s in got] == [True]
    assert got[0].point_id == C.id and got[0].equipment_id == EQ


def test_override_threshold_on_one_point() -> None:
    plan = rule(limit(), overrides={"P-A": {"threshold": 0.9}})
    e = engine_for(plan)
    assert run(e, [(A.id, 0.0, 21.0)]) == []  # 1 scale unit past: 0.75 < 0.9
    assert [s.active for s in run(e, [(B.id, 1.0, 21.0)])] == [True]


def test_refresh_while_active_at_most_every_n_seconds() -> None:
    e = engine_for(rule(limit(), scope=point_scope(A)), refresh_s=60.0)
    got = run(e, [(A.id, float(t), 25.0) for t in range(0, 200, 5)])
    assert [s.ts.timestamp() for s in got] == [0.0, 60.0, 120.0, 180.0]
    assert all(s.active for s in got)
    assert run(e, [(A.id, 200.0, 5.0)])[0].active is False


def test_a_stale_leaf_is_not_active() -> None:
    e = engine_for(rule({"any": [limit("P-A", stale_s=60.0), limit("P-B")]}))
    assert [s.active for s in run(e, [(A.id, 0.0, 25.0)])] == [True]
    # A goes silent; B keeps reporting normal values, moving the data clock on
    got = run(e, [(B.id, float(t), 5.0) for t in range(10, 120, 10)])
    assert [(s.active, s.ts.timestamp()) for s in got] == [(False, 70.0)]


def test_stale_leaf_lapses_on_readings_of_unwatched_points_too() -> None:
    e = engine_for(rule(limit(stale_s=30.0), scope=point_scope(A)))
    b = ReadingBatch(ENT)
    b.append(A.id, 0, 25.0)
    assert [s.active for s in e.feed_batch(b)] == [True]
    other = ReadingBatch(ENT)
    other.append(999, 100 * 1_000_000, 1.0)
    assert [s.active for s in e.feed_batch(other)] == [False]


def test_replayed_readings_are_not_learned_twice() -> None:
    e = engine_for(rule(limit(duration_s=20.0), scope=point_scope(A)))
    assert run(e, [(A.id, 0.0, 25.0), (A.id, 10.0, 25.0)]) == []
    assert run(e, [(A.id, 0.0, 25.0), (A.id, 10.0, 25.0)]) == []  # a replay adds nothing
    assert [s.active for s in run(e, [(A.id, 20.0, 25.0)])] == [True]


def test_trend_predicts_minutes_to_threshold() -> None:
    leaf = {"detector": "trend", "params": {"limit": 18.0, "direction": "low", "window": 30, "horizon_s": 1800.0},
            "duration_s": 0}
    e = engine_for(rule(leaf, scope=point_scope(A)))
    # 25 MPa falling 0.1 MPa per minute: 70 minutes to 18 at the start
    rows = [(A.id, float(t), 25.0 - 0.1 * t / 60.0) for t in range(0, 3600, 10)]
    got = run(e, rows)
    assert got and got[0].active
    s = got[0]
    expected = (25.0 - 0.1 * s.ts.timestamp() / 60.0 - 18.0) / 0.1
    assert s.explanation["predicted_minutes"] == pytest.approx(expected, abs=1.0)
    assert s.explanation["predicted_minutes"] <= 30  # half score at the 30-minute horizon
    assert s.kind == "trend"


def test_vector_leaf_gets_all_points_and_explains_contributions() -> None:
    leaf = {"detector": "test_vector_sum", "params": {"limit": 30.0}, "points": ["P-A", "P-B"]}
    plan = rule(leaf)
    assert plan.leaves[0].vector and len(plan.leaves[0].channels) == 1
    e = engine_for(plan)
    # the same time stamp for both points: evaluated once, on the whole vector
    got = run(e, [(A.id, 0.0, 10.0), (B.id, 0.0, 5.0), (A.id, 10.0, 20.0), (B.id, 10.0, 10.0)])
    assert [s.active for s in got] == [True]
    s = got[0]
    assert s.ts.timestamp() == 10.0
    assert s.explanation["contributions"] == {"P-A": pytest.approx(2 / 3, abs=1e-3),
                                              "P-B": pytest.approx(1 / 3, abs=1e-3)}
    assert [(c.name, c.value) for c in s.contributions] == [("P-A", 20.0), ("P-B", 10.0)]


def test_feed_batch_skips_bad_and_missing_values_and_other_enterprises() -> None:
    e = engine_for(rule(limit(), scope=point_scope(A)))
    b = ReadingBatch(ENT)
    b.append(A.id, 0, None)
    b.append(A.id, 1_000_000, 25.0, 2)  # BAD quality
    assert e.feed_batch(b) == []
    other = ReadingBatch(ENT + 1)
    other.append(A.id, 2_000_000, 25.0)
    assert e.feed_batch(other) == []
    ok = ReadingBatch(ENT)
    ok.append(A.id, 3_000_000, 25.0)
    assert [s.active for s in e.feed_batch(ok)] == [True]


def big_batch(n: int, point_ids: np.ndarray, start_us: int = 0) -> ReadingBatch:
    b = ReadingBatch(ENT)
    b.point_id = array("q", point_ids.astype(np.int64).tolist())
    b.ts = array("q", (start_us + np.arange(n, dtype=np.int64) * 1000).tolist())
    b.value = array("d", np.full(n, 5.0).tolist())
    b.quality = array("b", bytes(n))
    return b


def test_cost_per_reading(capsys: pytest.CaptureFixture[str]) -> None:
    """Readings of unwatched points cost almost nothing; watched ones a few microseconds."""
    e = engine_for(rule(limit(), scope=point_scope(A)), rule(limit(duration_s=10.0), scope=point_scope(B), rule_id=6))
    n = 200_000
    unwatched = big_batch(n, np.arange(n) % 5000 + 1000)
    t0 = time.perf_counter()
    assert e.feed_batch(unwatched) == []
    per_unwatched = (time.perf_counter() - t0) / n
    watched = big_batch(n, np.where(np.arange(n) % 2 == 0, A.id, B.id), start_us=10**12)
    t0 = time.perf_counter()
    e.feed_batch(watched)
    per_watched = (time.perf_counter() - t0) / n
    with capsys.disabled():
        print(f"\n[detection cost] unwatched {per_unwatched * 1e9:.0f} ns/reading, "
              f"watched {per_watched * 1e6:.2f} µs/reading")
    assert per_unwatched < 2e-6
    assert per_watched < 200e-6


def test_the_real_multivariate_detector_as_a_vector_leaf() -> None:
    plan = rule({"detector": "multivariate", "params": {"warmup": 200}, "points": ["P-A", "P-B", "P-C"],
                 "duration_s": 0})
    assert plan.leaves[0].vector
    assert list(plan.leaves[0].channels[0].params.signals) == ["P-A", "P-B", "P-C"]  # type: ignore[attr-defined]
    e = engine_for(plan)
    rng = np.random.default_rng(1)
    rows: list[tuple[int, float, float]] = []
    for i in range(600):
        a = 10.0 + np.sin(i / 20.0) * 3.0 + rng.normal(0, 0.05)
        b = 2.0 * a + rng.normal(0, 0.05) if i < 500 else 40.0 - a  # B stops following A
        c = 5.0 + rng.normal(0, 0.05)
        rows += [(A.id, float(i), a), (B.id, float(i), b), (C.id, float(i), c)]
    got = run(e, rows)
    active = [s for s in got if s.active]
    assert active and active[0].ts.timestamp() >= 500
    s = active[0]
    assert s.kind == "multivariate"
    shares = s.explanation["contributions"]
    assert set(shares) <= {"P-A", "P-B", "P-C"} and max(shares, key=shares.get) in ("P-A", "P-B")
