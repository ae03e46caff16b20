"""The shared check suite: every registered detector must pass these, built-in or plug-in.

Each detector class carries an ``example`` parameter set; the checks build it through the
registry's ``get`` so the configuration path is exercised too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from plantguard.detection import registry
from plantguard.detection.base import Detector

NAMES = sorted(registry.available())


def make(name: str) -> Detector[Any]:
    """The detector's example configuration, seeded when the detector has randomness."""
    cls = registry.available()[name]
    params = dict(cls.example)
    if "seed" in cls.params_model.model_fields:
        params["seed"] = 1234
    return registry.get(name, **params)


def signal(det: Detector[Any], n: int, seed: int = 0) -> np.ndarray:
    """A noisy random walk with spikes and a step, one column per input the detector reads."""
    rng = np.random.default_rng(seed)
    cols = []
    for _ in det.inputs():
        walk = np.cumsum(rng.normal(0, 0.05, n)) + rng.normal(0, 0.5, n)
        walk[n // 2 :] += 2.5  # a step
        spikes = rng.random(n) < 0.02
        walk[spikes] += rng.choice([-8.0, 8.0], spikes.sum())
        cols.append(walk)
    return np.column_stack(cols)


def test_builtins_are_registered() -> None:
    assert {"threshold", "rate", "robust_z", "ewma", "page_hinkley", "trend"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_in_unit_interval_and_react(name: str) -> None:
    det = make(name)
    X = signal(det, 2000)
    s = det.score_many(X, np.arange(len(X), dtype=float))
    assert s.shape == (len(X),)
    assert np.all(np.isfinite(s))
    assert s.min() >= 0.0 and s.max() <= 1.0
    assert s.max() >= 0.5, "the example configuration never reaches its own alarm level on spikes and a step"


@pytest.mark.parametrize("name", NAMES)
def test_score_many_equals_score_one_loop(name: str) -> None:
    X = signal(make(name), 600, seed=1)
    X[np.random.default_rng(11).random(X.shape) < 0.05] = np.nan
    t = np.arange(len(X), dtype=float)
    t[300:] += 1000.0
    det = make(name)
    batch = np.r_[det.score_many(X[:250], t[:250]), det.score_many(X[250:], t[250:])]  # state carries over
    det = make(name)
    cols = det.inputs()
    loop = []
    for i, row in enumerate(X):
        x = dict(zip(cols, map(float, row), strict=True))
        loop.append(det.score_one(x, float(t[i])))
        det.learn_one(x, float(t[i]))
    # Vectorised batch paths may differ from the loop in the last bits of a float, no more.
    np.testing.assert_allclose(batch, np.array(loop), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("max_gap_s", [None, 3.0])
@pytest.mark.parametrize("learn", [True, False])
def test_score_many_equals_loop_with_holes_and_gaps(name: str, max_gap_s: float | None, learn: bool) -> None:
    """The same with infinite values, a stretch with nothing usable, gaps past ``max_gap_s``, a
    clock that steps back, readings without a usable time, and without learning."""
    params = {**make(name).params.model_dump(), "max_gap_s": max_gap_s}
    X = signal(make(name), 700, seed=12)
    rng = np.random.default_rng(13)
    X[rng.random(X.shape) < 0.08] = np.nan
    X[rng.random(X.shape) < 0.01] = np.inf
    X[200:215] = np.nan
    t = np.cumsum(rng.exponential(1.0, len(X)))
    t[rng.random(len(X)) < 0.02] += 30.0
    t[450:] -= 25.0
    t[rng.random(len(X)) < 0.02] = np.nan
    det = registry.get(name, **params)
    det.learn_many(X[:100], t[:100])
    batch = np.r_[det.score_many(X[100:400], t[100:400], learn=learn), det.score_many(X[400:], t[400:], learn=learn)]
    det = registry.get(name, **params)
    cols = det.inputs()
    for i, row in enumerate(X[:100]):
        det.learn_one(dict(zip(cols, map(float, row), strict=True)), float(t[i]))
    loop = []
    for i in range(100, len(X)):
        x = dict(zip(cols, map(float, X[i]), strict=True))
        loop.append(det.score_one(x, float(t[i])))
        if learn:
            det.learn_one(x, float(t[i]))
    np.testing.assert_allclose(batch, np.array(loop), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_score_one_does_not_change_the_detector(name: str) -> None:
    det = make(name)
    X = signal(det, 300, seed=2)
    det.learn_many(X[:200])
    cols = det.inputs()
    probe = dict(zip(cols, map(float, X[200]), strict=True))
    first = det.score_one(probe, 200.0)
    for _ in range(5):
        assert det.score_one(probe, 200.0) == first


@pytest.mark.parametrize("name", NAMES)
def test_no_look_ahead(name: str) -> None:
    det = make(name)
    X = signal(det, 800, seed=3)
    t = np.arange(len(X), dtype=float)
    k = 500
    changed = X.copy()
    changed[k:] = np.random.default_rng(99).normal(50, 20, changed[k:].shape)
    a = make(name).score_many(X, t)
    b = make(name).score_many(changed, t)
    np.testing.assert_array_equal(a[:k], b[:k])
    assert not np.array_equal(a[k:], b[k:]), "changing later rows should change later scores"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_clone_and_reset(name: str) -> None:
    det = make(name)
    X = signal(det, 700, seed=4)
    first = det.score_many(X)
    assert det.state_size() > 0
    np.testing.assert_array_equal(make(name).score_many(X), first)
    np.testing.assert_array_equal(det.clone().score_many(X), first)
    det.reset()
    np.testing.assert_array_equal(det.score_many(X), first)


@pytest.mark.parametrize("name", NAMES)
def test_survives_nan_and_gaps(name: str) -> None:
    det = make(name)
    X = signal(det, 1500, seed=5)
    rng = np.random.default_rng(6)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[700:720] = np.nan  # a stretch with nothing usable
    X[800, 0] = np.inf
    t = np.arange(len(X), dtype=float)
    t[400:] += 10_000.0  # a long gap
    t[1000:] -= 20.0  # the clock steps back
    s = det.score_many(X, t)
    assert np.all(np.isfinite(s))
    assert s.min() >= 0.0 and s.max() <= 1.0
    if name == "threshold":  # with nothing to read, limits keep their state
        assert np.all(s[701:720] == s[700])
    else:  # with nothing to read, there is no evidence
        assert np.all(s[700:720] == 0.0)
    # The same detector with an explicit gap limit must also run through.
    gapped = registry.get(name, **{**type(det).example, "max_gap_s": 5.0})
    s2 = gapped.score_many(X, t)
    assert np.all(np.isfinite(s2)) and s2.min() >= 0.0 and s2.max() <= 1.0
    # Missing keys are the same as NaN: a row without the detector's inputs scores 0 and learns nothing.
    size = gapped.state_size()
    before = gapped.score_one({"unrelated": 1.0})
    if name != "threshold":
        assert before == 0.0
    gapped.learn_one({"unrelated": 1.0})
    assert gapped.state_size() == size
    assert gapped.score_one({"unrelated": 1.0}) == before


@pytest.mark.parametrize("name", NAMES)
def test_bounded_memory(name: str) -> None:
    det = make(name)
    X = signal(det, 100_000, seed=7)
    sizes = []
    for chunk in np.array_split(X, 10):
        det.learn_many(chunk)
        sizes.append(det.state_size())
    assert max(sizes) == sizes[0], f"state grew: {sizes}"
    assert sizes[-1] < 10_000
    s = det.score_many(X[:50])
    assert np.all((s >= 0.0) & (s <= 1.0))


@pytest.mark.parametrize("name", NAMES)
def test_params_are_validated_with_field_names(name: str) -> None:
    with pytest.raises(ValidationError) as err:
        registry.get(name, **{**registry.available()[name].example, "no_such_field": 1})
    assert "no_such_field" in str(err.value)
    with pytest.raises(ValidationError) as err:
        registry.get(name, **{**registry.available()[name].example, "max_gap_s": -1})
    assert "max_gap_s" in str(err.value)


def test_unknown_detector_is_a_clear_error() -> None:
    with pytest.raises(registry.UnknownDetector, match="nope"):
        registry.get("nope")
