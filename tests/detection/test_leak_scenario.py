"""The issue's leak scenario: on the simulator's hydraulic micro-leak the early warning fires at
least 10 simulated minutes before the fixed low-pressure alarm would trip, and the same
configuration raises nothing in 24 simulated hours of normal operation.

The configuration is generic, not fitted to this press: a trend detector on the protection
pressure towards its own ``low_alarm`` (warning when the extrapolated crossing is about half an
hour away), behind a filter that wants a minute of agreement. Readings every 10 s, as a
1-second PLC polled at 0.1 Hz would give.
"""

from __future__ import annotations

import pytest

from plantguard.detection import registry
from plantguard.detection.filters import ThresholdFilter
from plantguard.simulator.faults import FaultBook
from plantguard.simulator.model import PlantModel
from plantguard.simulator.plant import Plant, load_demo_plant
from plantguard.simulator.signals import DEFAULT_START, LOCAL_OFFSET_S

STEP_S = 10
POINT = "ST-P01-HP"


@pytest.fixture(scope="module")
def plant() -> Plant:
    return load_demo_plant()


def local(day: int, hour: float) -> float:
    t0 = DEFAULT_START.timestamp()
    midnight = t0 + LOCAL_OFFSET_S - (t0 + LOCAL_OFFSET_S) % 86_400 - LOCAL_OFFSET_S
    return float(midnight + day * 86_400 + hour * 3600)


def early_warning(plant: Plant) -> ThresholdFilter:
    hp = plant.point(POINT)
    assert hp is not None and hp.low_alarm is not None
    det = registry.get("trend", signal=POINT, limit=hp.low_alarm, direction="low", window=60, horizon_s=1800.0)
    return ThresholdFilter(det, 0.5, duration=6)


def value(model: PlantModel, book: FaultBook | None, t: float) -> float:
    p = model.plant.point(POINT)
    assert p is not None
    healthy = model.value(p, t)
    return book.apply(model, p, t, healthy) if book is not None else healthy


def first_alarm(plant: Plant, model: PlantModel, book: FaultBook | None, start: float, seconds: int) -> float | None:
    f = early_warning(plant)
    for s in range(0, seconds, STEP_S):
        if f.update({POINT: value(model, book, start + s)}, start + s).alarm:
            return float(s)
    return None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_warning_comes_ten_minutes_before_the_fixed_threshold(plant: Plant, seed: int) -> None:
    model, book = PlantModel(plant, seed), FaultBook(plant, seed)
    start = local(0, 8.5) + seed * 611.0
    book.trigger(model, "micro-leak", None, start)
    crossing = next(s for s in range(0, 40 * 60, 5) if value(model, book, start + s) < 18.0)
    lead_in = 3600  # an hour of normal running first, so the detector knows the press
    alarm = first_alarm(plant, model, book, start - lead_in, lead_in + 40 * 60)
    assert alarm is not None and alarm >= lead_in, alarm  # nothing before the leak began
    assert crossing - (alarm - lead_in) >= 10 * 60, (crossing, alarm - lead_in)


@pytest.mark.parametrize("seed, day", [(0, 1), (1, 3)])
def test_no_false_alarm_in_24_hours_of_normal_operation(plant: Plant, seed: int, day: int) -> None:
    assert first_alarm(plant, PlantModel(plant, seed), None, local(day, 0), 86_400) is None
