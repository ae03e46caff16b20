"""ThresholdFilter durations in seconds of sample time, beside the sample-count duration."""

from __future__ import annotations

import pytest

from plantguard.detection.detectors.threshold import Threshold
from plantguard.detection.filters import ThresholdFilter


def limit_filter(**kw: object) -> ThresholdFilter:
    return ThresholdFilter(Threshold(conditions=[{"signal": "value", "limit": 10.0, "scale": 1.0}]), **kw)  # type: ignore[arg-type]


def first_alarm(f: ThresholdFilter, step_s: float, over_from: float, until: float) -> float | None:
    t = 0.0
    while t <= until:
        if f.update({"value": 20.0 if t >= over_from else 0.0}, t).alarm:
            return t
        t += step_s
    return None


@pytest.mark.parametrize("step_s", [1.0, 10.0, 15.0])
def test_duration_in_seconds_whatever_the_sample_rate(step_s: float) -> None:
    got = first_alarm(limit_filter(duration_s=60.0), step_s, over_from=300.0, until=1000.0)
    assert got is not None and 360.0 <= got < 360.0 + step_s


def test_zero_seconds_alarms_on_the_first_anomalous_sample() -> None:
    assert first_alarm(limit_filter(duration_s=0.0), 10.0, 100.0, 500.0) == 100.0


def test_sample_count_still_works_and_both_must_hold() -> None:
    assert first_alarm(limit_filter(duration=3), 10.0, 100.0, 500.0) == 120.0
    # 3 samples would be 20 s, 60 s would be 7 samples at 10 s: the later one decides
    assert first_alarm(limit_filter(duration=3, duration_s=60.0), 10.0, 100.0, 500.0) == 160.0
    assert first_alarm(limit_filter(duration=10, duration_s=30.0), 10.0, 100.0, 500.0) == 190.0


def test_an_interrupted_run_restarts_the_clock() -> None:
    f = limit_filter(duration_s=30.0)
    values = [20, 20, 20, 0, 20, 20, 20, 20]  # t = 0..70 step 10; the dip at 30 restarts
    alarms = [f.update({"value": float(v)}, 10.0 * i).alarm for i, v in enumerate(values)]
    assert alarms == [False] * 7 + [True]


def test_clear_duration_in_seconds() -> None:
    f = limit_filter(clear_duration_s=25.0)
    assert f.update({"value": 20.0}, 0.0).alarm
    states = [f.update({"value": 0.0}, t).alarm for t in (10.0, 20.0, 30.0, 40.0)]
    assert states == [True, True, True, False]  # below since 10 s: cleared once 25 s have passed
    # a score back above off_threshold restarts the clear timer
    g = limit_filter(clear_duration_s=25.0)
    g.update({"value": 20.0}, 0.0)
    seq = [(10.0, 0.0), (20.0, 20.0), (30.0, 0.0), (50.0, 0.0), (60.0, 0.0)]
    assert [g.update({"value": v}, t).alarm for t, v in seq] == [True, True, True, True, False]


def test_a_gap_restarts_the_duration() -> None:
    f = limit_filter(duration_s=60.0, max_gap_s=30.0)
    assert not f.update({"value": 20.0}, 0.0).alarm
    assert not f.update({"value": 20.0}, 3600.0).alarm  # two samples an hour apart are not an hour
    assert not f.update({"value": 20.0}, 3620.0).alarm
    assert not f.update({"value": 20.0}, 3640.0).alarm
    assert f.update({"value": 20.0}, 3660.0).alarm  # 60 s of samples no more than 30 s apart


def test_seconds_need_times_and_sane_values() -> None:
    with pytest.raises(ValueError, match="sample time"):
        limit_filter(duration_s=10.0).update({"value": 1.0})
    with pytest.raises(ValueError, match="duration_s"):
        limit_filter(duration_s=-1.0)
    with pytest.raises(ValueError, match="clear_duration_s"):
        limit_filter(clear_duration_s=float("nan"))
    with pytest.raises(ValueError, match="max_gap_s"):
        limit_filter(max_gap_s=0.0)
