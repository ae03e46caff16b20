"""The demo plant's rules: the micro-leak rule warns at least 10 simulated minutes before the
fixed low-pressure alarm (through the rule engine, at the simulator's 1 s polling), stays quiet
in normal running, and seeding is idempotent on the real demo database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plantguard.detection.rules.demo import demo_rules, seed_demo_rules
from plantguard.detection.rules.engine import Engine
from plantguard.detection.rules.models import DetectionRule
from plantguard.detection.rules.spec import PointRef, RuleDef, Scope, plan_rule
from plantguard.detection.signals import Severity
from plantguard.simulator.faults import FaultBook
from plantguard.simulator.model import PlantModel
from plantguard.simulator.plant import Plant, load_demo_plant
from tests.conftest import Db
from tests.detection.test_leak_scenario import local


@pytest.fixture(scope="module")
def plant() -> Plant:
    return load_demo_plant()


def leak_engine(plant: Plant) -> tuple[Engine, int]:
    spec = next(r for r in demo_rules(plant) if "point" in r and r["condition"]["detector"] == "trend")
    sp = plant.point(spec["point"])
    assert sp is not None
    ref = PointRef(1, sp.code, 1, sp.range_low, sp.range_high, sp.unit)
    plan = plan_rule(RuleDef(1, 1, spec["name"], Severity.MAJOR, spec["condition"], point_id=1),
                     Scope("point", sp.code, {sp.code: ref}, frozenset({sp.code})))
    e = Engine()
    e.set_rule(plan)
    return e, ref.id


def value(model: PlantModel, book: FaultBook | None, code: str, t: float) -> float:
    p = model.plant.point(code)
    assert p is not None
    healthy = model.value(p, t)
    return book.apply(model, p, t, healthy) if book is not None else healthy


@pytest.mark.parametrize("seed", [0, 2])
def test_demo_leak_rule_warns_ten_minutes_early(plant: Plant, seed: int) -> None:
    code = next(r for r in demo_rules(plant) if "point" in r and r["condition"]["detector"] == "trend")["point"]
    model, book = PlantModel(plant, seed), FaultBook(plant, seed)
    start = local(0, 8.5) + seed * 611.0
    book.trigger(model, "micro-leak", None, start)
    crossing = next(s for s in range(0, 40 * 60, 5) if value(model, book, code, start + s) < 18.0)
    e, pid = leak_engine(plant)
    first = None
    for s in range(-1800, 40 * 60):
        t = start + s
        got = e.feed(1, [(pid, t, value(model, book if s >= 0 else None, code, t))])
        if any(sig.active for sig in got):
            first = s
            break
    assert first is not None and first >= 0, first  # nothing before the leak began
    assert crossing - first >= 10 * 60, (crossing, first)
    sig = next(sig for sig in got if sig.active)
    assert sig.kind == "trend" and 0 <= sig.explanation["predicted_minutes"] <= 60


def test_demo_leak_rule_is_quiet_in_normal_running(plant: Plant) -> None:
    code = next(r for r in demo_rules(plant) if "point" in r and r["condition"]["detector"] == "trend")["point"]
    model = PlantModel(plant, 1)
    e, pid = leak_engine(plant)
    start = local(2, 6.0)
    for s in range(0, 4 * 3600, 2):
        t = start + s
        assert not e.feed(1, [(pid, t, value(model, None, code, t))]), s


def test_seeding_is_idempotent(db: Db, plant: Plant) -> None:
    from plantguard.demo.seed import seed_demo
    from plantguard.ingest.cli import _system_actor

    seed_demo(db.factory)
    with db.factory() as s:
        actor = _system_actor(s, "DEMO")
        first = seed_demo_rules(s, actor, plant)
        s.commit()
    assert len(first.created) >= 4 and not first.skipped, first
    with db.factory() as s:
        again = seed_demo_rules(s, actor, plant)
        s.commit()
        count = len(list(s.scalars(select(DetectionRule.id))))
    assert again.created == [] and sorted(again.existing) == sorted(first.created)
    assert count == len(first.created)
    kinds = {r["condition"].get("detector", "combination") for r in demo_rules(plant)}
    assert {"trend", "threshold", "robust_z", "combination"} <= kinds
