"""The vectorised batch path (``Detector._score_learn_columns``) against the streaming loop.

For every registered detector that has a batch path: on random data with NaN and infinite
values, stretches with nothing usable, gaps, a clock that steps back, NaN times and spikes, the
batch scores equal ``score_one``/``learn_one`` per row, and the detector's state after a batch
equals its state after the same rows one by one, so streaming can carry on where a batch ended.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from plantguard.detection import registry
from plantguard.detection.base import Detector
from plantguard.detection.detectors.drift import PageHinkley

BUILTINS = {"threshold", "rate", "robust_z", "ewma", "page_hinkley", "trend"}
# Scores may differ from the loop in the last bits of a float where a batch path reassociates a
# sum (Page–Hinkley's cumulative sums, the trend's fits), no more.
TOL = {"rtol": 1e-12, "atol": 1e-12}


def has_batch_path(cls: type[Detector[Any]]) -> bool:
    return cls._score_learn_columns is not Detector._score_learn_columns


BATCH = sorted(name for name, cls in registry.available().items() if has_batch_path(cls))


def variants(name: str) -> list[dict[str, Any]]:
    """The example configuration, and the same with a short gap limit so gaps reset state."""
    example = dict(registry.available()[name].example)
    return [example, {**example, "max_gap_s": 3.0}]


CASES = [(name, i) for name in BATCH for i in range(2)]


def make(name: str, variant: int) -> Detector[Any]:
    params = variants(name)[variant]
    if "seed" in registry.available()[name].params_model.model_fields:
        params["seed"] = 1234
    return registry.get(name, **params)


def hostile(det: Detector[Any], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random walk with a step and spikes, holes of every kind, and an unruly clock."""
    rng = np.random.default_rng(seed)
    cols = []
    for _ in det.inputs():
        x = np.cumsum(rng.normal(0, 0.05, n)) + rng.normal(0, 0.5, n)
        x[n // 2 :] += 2.5
        spikes = rng.random(n) < 0.03
        x[spikes] += rng.choice([-8.0, 8.0], spikes.sum())
        cols.append(x)
    X = np.column_stack(cols)
    X[rng.random(X.shape) < 0.08] = np.nan
    X[rng.random(X.shape) < 0.01] = np.inf
    X[rng.random(X.shape) < 0.01] = -np.inf
    X[n // 3 : n // 3 + 15] = np.nan  # nothing usable for a while
    t = np.cumsum(rng.exponential(1.0, n))
    t[rng.random(n) < 0.01] += 50.0  # gaps (longer than max_gap_s = 3 of the gapped variant)
    t[2 * n // 3 :] -= 40.0  # the clock steps back
    t[rng.random(n) < 0.02] = np.nan  # readings without a usable time
    return X, t


def stream(det: Detector[Any], X: np.ndarray, t: np.ndarray | None, learn: bool = True) -> np.ndarray:
    cols = det.inputs()
    out = []
    for i, row in enumerate(X):
        x = dict(zip(cols, map(float, row), strict=True))
        ti = float(t[i]) if t is not None else None
        out.append(det.score_one(x, ti))
        if learn:
            det.learn_one(x, ti)
    return np.array(out)


def state(det: Detector[Any]) -> dict[str, Any]:
    """The detector's attributes; arrays cut to the ``_n`` values in use (ring buffers)."""
    n = getattr(det, "_n", None)
    out = {}
    for key, value in vars(det).items():
        if key == "params":
            continue
        if isinstance(value, np.ndarray) and isinstance(n, int) and value.ndim == 1:
            value = value[:n]
        out[key] = value
    return out


def assert_same_state(a: Detector[Any], b: Detector[Any]) -> None:
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        x, y = sa[key], sb[key]
        if isinstance(x, (np.ndarray, float)) or isinstance(y, float):
            if x is None or y is None:
                assert x is y, key
                continue
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=key)
        else:
            assert x == y, f"{key}: {x!r} != {y!r}"


def test_builtins_have_a_batch_path() -> None:
    assert set(BATCH) >= BUILTINS


@pytest.mark.parametrize(("name", "variant"), CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_scores_and_state_equal_streaming(name: str, variant: int, seed: int) -> None:
    probe = make(name, variant)
    X, t = hostile(probe, 2400, seed)
    batch, loop = make(name, variant), make(name, variant)
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(X)), 6, replace=False))
    parts = [batch.score_many(a, b) for a, b in zip(np.split(X, cuts), np.split(t, cuts), strict=True)]
    expected = stream(loop, X, t)
    np.testing.assert_allclose(np.concatenate(parts), expected, **TOL)
    assert_same_state(batch, loop)
    # Streaming carries on from a batch as if there had been no batch.
    X2, t2 = hostile(probe, 600, seed + 100)
    t2 = t2 + np.nanmax(t)
    np.testing.assert_allclose(stream(batch, X2, t2), stream(loop, X2, t2), **TOL)
    assert_same_state(batch, loop)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_without_times(name: str, variant: int) -> None:
    """No ``t``: the clock is the sample index (rate, trend) and there are no gaps."""
    probe = make(name, variant)
    X, _ = hostile(probe, 1500, 3)
    batch, loop = make(name, variant), make(name, variant)
    got = np.r_[batch.score_many(X[:700]), batch.score_many(X[700:])]
    np.testing.assert_allclose(got, stream(loop, X, None), **TOL)
    assert_same_state(batch, loop)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_learn_many_then_streaming(name: str, variant: int) -> None:
    probe = make(name, variant)
    X, t = hostile(probe, 2000, 4)
    batch, loop = make(name, variant), make(name, variant)
    batch.learn_many(X[:1500], t[:1500])
    stream(loop, X[:1500], t[:1500])
    assert_same_state(batch, loop)
    np.testing.assert_allclose(stream(batch, X[1500:], t[1500:]), stream(loop, X[1500:], t[1500:]), **TOL)


@pytest.mark.parametrize(("name", "variant"), CASES)
@pytest.mark.parametrize("timed", [True, False])
def test_scoring_without_learning(name: str, variant: int, timed: bool) -> None:
    """``learn=False``: every row is scored against the same state, which does not change."""
    probe = make(name, variant)
    X, t_all = hostile(probe, 1200, 5)
    t = t_all if timed else None
    det = make(name, variant)
    det.learn_many(X[:400], t[:400] if t is not None else None)
    before = copy.deepcopy(det)
    rest = t[400:] if t is not None else None
    got = det.score_many(X[400:], rest, learn=False)
    np.testing.assert_allclose(got, stream(before, X[400:], rest, learn=False), **TOL)
    assert_same_state(det, before)  # including what score_one reports (the trend's last prediction)


@pytest.mark.parametrize("name", BATCH)
def test_columns_are_matched_by_name(name: str) -> None:
    """Extra columns are ignored, order does not matter, a missing input is missing data."""
    probe = make(name, 1)
    X, t = hostile(probe, 800, 6)
    inputs = list(probe.inputs())
    names = ["noise", *reversed(inputs)]
    wide = np.column_stack([np.random.default_rng(7).normal(size=len(X)), X[:, ::-1]])
    np.testing.assert_allclose(make(name, 1).score_many(wide, t, names), make(name, 1).score_many(X, t), **TOL)
    partial = make(name, 1)
    got = partial.score_many(X[:, :1], t, inputs[:1])
    loop = make(name, 1)
    expected = []
    for i, row in enumerate(X):
        x = {inputs[0]: float(row[0])}
        expected.append(loop.score_one(x, float(t[i])))
        loop.learn_one(x, float(t[i]))
    np.testing.assert_allclose(got, expected, **TOL)
    assert_same_state(partial, loop)


@pytest.mark.parametrize("name", BATCH)
def test_empty_and_all_missing_batches(name: str) -> None:
    det = make(name, 0)
    X, t = hostile(det, 300, 8)
    det.learn_many(X, t)
    before = copy.deepcopy(det)
    assert det.score_many(np.empty((0, len(det.inputs()))), np.empty(0)).shape == (0,)
    assert_same_state(det, before)
    holes = np.full((50, len(det.inputs())), np.nan)
    times = np.nanmax(t) + 1.0 + np.arange(50.0)
    got = det.score_many(holes, times)
    np.testing.assert_array_equal(got, stream(before, holes, times))
    assert_same_state(det, before)
    if name != "threshold":  # limits keep their state; everything else has no evidence
        assert not got.any()


def test_bad_shapes_are_still_clear_errors() -> None:
    det = registry.get("robust_z")
    with pytest.raises(ValueError, match="columns"):
        det.score_many(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="t has 3 values"):
        det.score_many(np.zeros(5), np.arange(3.0))
    with pytest.raises(ValueError, match="dimensional"):
        det.learn_many(np.zeros((2, 2, 2)))


def test_page_hinkley_rounding_stays_bounded_over_a_long_batch() -> None:
    """Cumulative sums restart every block, so a long drift does not pile up rounding error.

    What is left is the running mean: the loop's ``mean += (v - mean) / n`` and the batch's
    cumulative sum round differently (both about 1e-13 off the true mean after many thousand
    samples), and the statistic sums its deviations, so long runs agree to about 1e-11, not 1e-12.
    """
    rng = np.random.default_rng(9)
    n = 60_000
    x = 20.0 + np.cumsum(rng.normal(0.0, 0.01, n)) + rng.normal(0.0, 0.3, n)
    batch, loop = PageHinkley(delta=0.05, threshold=20.0), PageHinkley(delta=0.05, threshold=20.0)
    got = batch.score_many(x)
    expected = stream(loop, x.reshape(-1, 1), None)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    for key in ("_mean", "_ph_up", "_ph_down"):
        a, b = getattr(batch, key), getattr(loop, key)
        assert math.isclose(a, b, rel_tol=1e-10, abs_tol=1e-9), (key, a, b)
    assert (batch._n, batch._seen) == (loop._n, loop._seen)
