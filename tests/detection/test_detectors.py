"""Each detector on synthetic signals whose right answer is known."""

from __future__ import annotations

import importlib
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from plantguard.detection import registry
from plantguard.detection.base import squash
from plantguard.detection.detectors.drift import PageHinkley
from plantguard.detection.detectors.rate import RateOfChange
from plantguard.detection.detectors.robust import Ewma, RobustZ
from plantguard.detection.detectors.threshold import Threshold
from plantguard.detection.detectors.trend import Trend
from plantguard.detection.filters import ThresholdFilter

ROOT = Path(__file__).resolve().parents[2]


def transitions(flags: np.ndarray) -> int:
    return int(np.count_nonzero(np.diff(flags.astype(int))))


def test_squash_maps_level_to_half() -> None:
    assert squash(0.0, 3.0) == 0.0
    assert squash(-1.0, 3.0) == 0.0
    assert squash(3.0, 3.0) == pytest.approx(0.5)
    assert squash(6.0, 3.0) == pytest.approx(0.75)
    assert squash(math.inf, 3.0) == 1.0


def test_entry_points_in_pyproject_match_the_builtins() -> None:
    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["plantguard.detectors"]
    for name, target in eps.items():
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        assert cls.name == name
        assert registry.available()[name] is cls
    assert set(eps) == {cls.name for cls in registry.BUILTINS}


# -- fixed thresholds ---------------------------------------------------------------------------


def test_threshold_step_alarms_after_duration() -> None:
    det = Threshold(conditions=[{"signal": "p", "limit": 2.0}], duration=3)
    x = np.r_[np.zeros(100), np.full(20, 5.0)]
    s = det.score_many(x)
    alarm = s >= 0.5
    assert not alarm[:102].any()
    assert alarm[102:].all()
    assert s[100] == pytest.approx(0.45)  # over the limit but not for long enough yet
    assert s[0] < s[99] or s[0] == s[99]  # the same distance, the same score
    assert s[110] > 0.9  # 3 units past a limit of 2 is 30 scale units past it


def test_threshold_low_direction() -> None:
    det = Threshold(conditions=[{"signal": "t", "direction": "low", "limit": 10.0}])
    s = det.score_many(np.array([15.0, 11.0, 9.0, 12.0]))
    assert list(s >= 0.5) == [False, False, True, False]
    assert s[0] < s[1]  # nearer the limit ranks higher


def test_threshold_hysteresis_does_not_chatter() -> None:
    rng = np.random.default_rng(0)
    x = np.r_[np.full(50, 5.0), 10.0 + rng.normal(0, 0.3, 400), np.full(50, 5.0)]
    plain = Threshold(conditions=[{"signal": "v", "limit": 10.0}]).score_many(x) >= 0.5
    held = Threshold(conditions=[{"signal": "v", "limit": 10.0, "deadband": 1.5}]).score_many(x) >= 0.5
    assert transitions(plain) > 50  # noise around the limit flips a bare limit on and off
    assert transitions(held) == 2  # on once, off once when the signal really comes back
    assert held[60:450].all() and not held[450:].any()


@pytest.mark.parametrize("combine", ["and", "or"])
@pytest.mark.parametrize("a_over", [True, False])
@pytest.mark.parametrize("b_under", [True, False])
def test_threshold_and_or(combine: str, a_over: bool, b_under: bool) -> None:
    det = Threshold(
        conditions=[{"signal": "a", "limit": 1.0}, {"signal": "b", "direction": "low", "limit": 1.0}], combine=combine
    )
    x = {"a": 5.0 if a_over else 0.0, "b": 0.0 if b_under else 5.0}
    expected = (a_over and b_under) if combine == "and" else (a_over or b_under)
    assert (det.score_one(x) >= 0.5) == expected


def test_threshold_ignores_a_missing_signal_in_a_combination() -> None:
    det = Threshold(conditions=[{"signal": "a", "limit": 1.0}, {"signal": "b", "limit": 1.0}], combine="and")
    assert det.score_one({"a": 5.0, "b": math.nan}) >= 0.5  # judged on what is there
    assert det.score_one({"a": 0.0}) < 0.5


def test_threshold_gap_resets_duration() -> None:
    det = Threshold(conditions=[{"signal": "v", "limit": 1.0}], duration=3, max_gap_s=10.0)
    for t in (0.0, 1.0):
        det.learn_one({"v": 5.0}, t)
    assert det.score_one({"v": 5.0}, 2.0) >= 0.5  # third consecutive sample
    assert det.score_one({"v": 5.0}, 100.0) < 0.5  # after a gap the count starts again


# -- rate of change -------------------------------------------------------------------------------


def test_rate_scores_half_at_max_rate_per_second() -> None:
    t = np.arange(0.0, 100.0, 2.0)  # a sample every 2 s
    ramp = 3.0 * t  # 3 units/s
    s = RateOfChange(signal="v", max_rate=3.0).score_many(ramp, t)
    assert s[0] == 0.0  # no previous sample
    assert s[1:] == pytest.approx(np.full(len(t) - 1, 0.5))
    flat = RateOfChange(signal="v", max_rate=3.0).score_many(np.full(10, 7.0))
    assert not flat.any()


def test_rate_direction_and_gap() -> None:
    down = np.array([10.0, 5.0, 0.0])
    assert not RateOfChange(max_rate=1.0, direction="up").score_many(down).any()
    assert (RateOfChange(max_rate=1.0, direction="down").score_many(down)[1:] > 0.9).all()
    det = RateOfChange(max_rate=1.0, max_gap_s=5.0)
    det.learn_one({"value": 0.0}, 0.0)
    assert det.score_one({"value": 100.0}, 1.0) > 0.99
    assert det.score_one({"value": 100.0}, 60.0) == 0.0  # no rate across a gap


# -- robust z and EWMA ----------------------------------------------------------------------------


def spiky(n: int = 600, seed: int = 1) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    x = 20.0 + rng.normal(0, 1.0, n)
    spikes = [200, 350, 500]
    x[spikes] += 12.0
    return x, spikes


@pytest.mark.parametrize("det", [RobustZ(window=100), Ewma(alpha=0.05)], ids=["robust_z", "ewma"])
def test_spike_is_flagged(det: RobustZ | Ewma) -> None:
    x, spikes = spiky()
    s = det.score_many(x)
    assert (s[spikes] > 0.8).all()
    normal = np.delete(s, spikes)[50:]
    assert np.mean(normal >= 0.5) < 0.01


def test_robust_z_is_not_blinded_by_its_own_outliers() -> None:
    rng = np.random.default_rng(2)
    x = 5.0 + rng.normal(0, 0.5, 400)
    x[100:400:10] += 30.0  # frequent large outliers inflate a standard deviation, not a MAD
    s = RobustZ(window=100).score_many(x)
    assert (s[200:400:10] > 0.9).all()


def test_robust_z_vectorised_batch_matches_streaming() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, 5000)
    x[rng.random(5000) < 0.05] = np.nan
    batch = RobustZ(window=64, min_samples=10)
    stream = RobustZ(window=64, min_samples=10)
    batch.learn_many(x[:30])
    stream.learn_many(x[:30])
    got = np.r_[batch.score_many(x[30:3000]), batch.score_many(x[3000:])]
    want = []
    for v in x[30:]:
        want.append(stream.score_one({"value": float(v)}))
        stream.learn_one({"value": float(v)})
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # Afterwards both hold the same window, so they go on agreeing.
    assert batch.state_size() == stream.state_size()
    for v in (0.3, 5.0, -7.0):
        assert batch.score_one({"value": v}) == pytest.approx(stream.score_one({"value": v}), rel=1e-12)


def test_flat_baseline_does_not_divide_by_zero() -> None:
    det = RobustZ(window=20)
    det.learn_many(np.full(30, 3.0))
    assert det.score_one({"value": 3.0}) == 0.0
    assert det.score_one({"value": 3.1}) == 1.0


# -- slow drift -----------------------------------------------------------------------------------


def test_page_hinkley_catches_slow_drift_before_a_fixed_limit() -> None:
    rng = np.random.default_rng(3)
    n, start = 2000, 500
    x = 50.0 + rng.normal(0, 0.5, n)
    x[start:] += 0.01 * np.arange(n - start)  # +0.01 per sample: 60 is reached around sample 1500
    limit = ThresholdFilter(Threshold(conditions=[{"signal": "value", "limit": 60.0}]))
    drift = ThresholdFilter(PageHinkley(delta=0.1, threshold=10.0))
    _, limit_alarm = limit.update_many(x)
    _, drift_alarm = drift.update_many(x)
    first_limit = int(np.argmax(limit_alarm))
    first_drift = int(np.argmax(drift_alarm))
    assert limit_alarm.any() and drift_alarm.any()
    assert not drift_alarm[:start].any()  # no false alarm on the stable baseline
    assert first_drift < first_limit - 500  # hundreds of samples of warning
    assert drift_alarm[first_drift:].all()  # protected: the drift is not absorbed into "normal"


def test_page_hinkley_direction() -> None:
    x = np.r_[np.zeros(100), -np.arange(1.0, 101.0)]
    assert PageHinkley(direction="up", threshold=5.0).score_many(x).max() == 0.0
    assert PageHinkley(direction="down", threshold=5.0).score_many(x)[-1] > 0.99


# -- trend extrapolation --------------------------------------------------------------------------


def test_trend_predicts_time_to_threshold_on_a_ramp() -> None:
    t = np.arange(0.0, 600.0, 10.0)  # a sample every 10 s
    v = 20.0 + 0.05 * t  # reaches 50 at t = 600 s
    det = Trend(signal="v", limit=50.0, window=20, horizon_s=300.0)
    det.learn_many(v[:30], t[:30])
    now = float(t[30])  # 300 s
    ttt = det.time_to_threshold({"v": float(v[30])}, now)
    assert ttt == pytest.approx(300.0)
    assert det.score_one({"v": float(v[30])}, now) == pytest.approx(0.5)  # 300 s away, horizon 300 s
    assert det.last_time_to_threshold == pytest.approx(300.0)


def test_trend_with_noise_and_without_t() -> None:
    rng = np.random.default_rng(4)
    v = 0.1 * np.arange(200) + rng.normal(0, 0.2, 200)  # 0.1 per sample, reaches 30 at sample 300
    det = Trend(limit=30.0, window=100, horizon_s=100.0)
    det.learn_many(v[:150])
    ttt = det.time_to_threshold({"value": float(v[150])})
    assert ttt is not None and abs(ttt - 150.0) < 15.0


def test_trend_away_crossed_and_gap() -> None:
    det = Trend(limit=10.0, window=10, max_gap_s=100.0)
    det.learn_many(np.arange(10.0, 0.0, -1.0), np.arange(10.0))  # falling, away from a high limit
    assert det.time_to_threshold({"value": 0.0}, 10.0) == math.inf
    assert det.score_one({"value": 0.0}, 10.0) == 0.0
    assert det.score_one({"value": 11.0}, 10.0) == 1.0  # already over the limit
    assert det.last_time_to_threshold == 0.0
    assert det.score_one({"value": 5.0}, 1000.0) == 0.0  # after a gap there is no trajectory yet
    assert det.last_time_to_threshold is None
    low = Trend(limit=-1.0, direction="low", window=10)
    low.learn_many(np.arange(10.0, 0.5, -1.0))  # 10, 9, ..., 1 at samples 0..9, falling 1 per sample
    assert low.time_to_threshold({"value": 0.0}) == pytest.approx(1.0)  # 0 at sample 10, -1 one sample later
    assert low.time_to_threshold({"value": -2.0}) == 0.0


# -- the alarm filter -----------------------------------------------------------------------------


def test_filter_duration_hysteresis_and_events() -> None:
    det = Threshold(conditions=[{"signal": "v", "limit": 0.0, "scale": 1.0}])
    f = ThresholdFilter(det, threshold=0.8, off_threshold=0.55, duration=2)
    # scores: 0.5 + 0.5 * squash(v, 1): v=3 -> 0.9375, v=0.5 -> ~0.65, v=-1 -> < 0.5
    seq = [3.0, 3.0, 3.0, 0.5, 0.5, -1.0, 3.0]
    ds = [f.update({"v": v}) for v in seq]
    assert [d.alarm for d in ds] == [False, True, True, True, True, False, False]
    assert [d.raised for d in ds] == [False, True, False, False, False, False, False]
    assert [d.cleared for d in ds] == [False, False, False, False, False, True, False]


def test_filter_protects_the_baseline_from_anomalies() -> None:
    x = np.r_[np.random.default_rng(5).normal(0, 1, 200), np.full(200, 10.0)]  # a lasting level shift
    _, protected = ThresholdFilter(RobustZ(window=50), protect_anomalies=True).update_many(x)
    _, adapting = ThresholdFilter(RobustZ(window=50), protect_anomalies=False).update_many(x)
    assert protected[200:].all()  # the shift stays abnormal
    assert not adapting[-50:].any()  # learned into the window, it becomes the new normal


def test_filter_rejects_bad_settings() -> None:
    det = RobustZ()
    with pytest.raises(ValueError, match="threshold"):
        ThresholdFilter(det, threshold=1.5)
    with pytest.raises(ValueError, match="off_threshold"):
        ThresholdFilter(det, threshold=0.5, off_threshold=0.7)
    with pytest.raises(ValueError, match="duration"):
        ThresholdFilter(det, duration=0)
