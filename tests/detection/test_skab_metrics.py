"""The SKAB metrics on small hand-made series whose answers are known by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from plantguard.detection.evaluation.skab import (
    PROFILES,
    Confusion,
    NabCounts,
    confusion,
    edges,
    nab_counts,
    scaled_sigmoid,
    windows,
)

STANDARD, LOW_FP, LOW_FN = PROFILES


def _b(*v: int) -> np.ndarray:
    return np.array(v, dtype=bool)


def test_pointwise_f1_far_mar() -> None:
    true = _b(1, 1, 1, 1, 0, 0, 0, 0, 0, 0)
    pred = _b(1, 1, 1, 0, 1, 1, 0, 0, 0, 0)
    c = confusion(true, pred)
    assert c == Confusion(tp=3, fp=2, fn=1, tn=4)
    assert c.f1 == pytest.approx(3 / (3 + 1.5))
    assert c.far == pytest.approx(100 * 2 / 6)
    assert c.mar == pytest.approx(100 * 1 / 4)


def test_pooling_adds_counts_not_rates() -> None:
    a = confusion(_b(1, 0), _b(1, 1))
    b = confusion(_b(1, 1, 1, 0), _b(0, 0, 0, 0))
    pooled = a + b
    assert pooled == Confusion(tp=1, fp=1, fn=3, tn=1)
    assert pooled.f1 == pytest.approx(1 / (1 + 2))


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        confusion(_b(1, 0), _b(1))


def test_edges_are_rising_and_falling() -> None:
    assert edges(_b(0, 0, 1, 1, 0, 1)).tolist() == [2, 4, 5]
    assert edges(_b(1, 1, 0)).tolist() == [2]  # the first row is never an edge
    assert edges(_b(0, 0, 0)).tolist() == []


def test_scaled_sigmoid_shape() -> None:
    p = STANDARD
    assert scaled_sigmoid(0.0, p.a_tp, p.a_fp) == pytest.approx(p.a_tp)
    assert scaled_sigmoid(1.0, p.a_tp, p.a_fp) == pytest.approx(p.a_fp)
    assert scaled_sigmoid(0.5, p.a_tp, p.a_fp) == pytest.approx((p.a_tp + p.a_fp) / 2, abs=2e-3)
    values = [scaled_sigmoid(r / 10, p.a_tp, p.a_fp) for r in range(11)]
    assert all(a >= b for a, b in itertools.pairwise(values))  # later never scores more


def test_overlapping_windows_are_cut() -> None:
    assert windows(np.array([0.0, 30.0, 200.0])) == [(0.0, 60.0), (60.0, 90.0), (200.0, 260.0)]


T = np.arange(0.0, 400.0)  # one row per second
CP = np.zeros(400, dtype=bool)
CP[[100, 300]] = True


def test_detection_at_window_start_scores_a_tp() -> None:
    n = nab_counts(T, CP, np.array([100, 300]))
    assert n == NabCounts(windows=2, tp_positions=(0.0, 0.0), fp=0, missed=0)
    assert n.raw(STANDARD) == pytest.approx(2 * STANDARD.a_tp)
    for p in PROFILES:
        assert n.score(p) == pytest.approx(100.0)  # perfect detector


def test_late_detection_scores_less() -> None:
    early = nab_counts(T, CP, np.array([110, 300]))
    late = nab_counts(T, CP, np.array([150, 300]))
    assert early.tp_positions[0] == pytest.approx(10 / 60)
    assert 1.0 > early.raw(STANDARD) - 1.0 > late.raw(STANDARD) - 1.0 > STANDARD.a_fp
    assert early.score(STANDARD) < 100.0


def test_only_the_first_detection_in_a_window_counts() -> None:
    once = nab_counts(T, CP, np.array([100, 300]))
    twice = nab_counts(T, CP, np.array([100, 120, 140, 300]))
    assert twice.fp == 0 and twice.raw(STANDARD) == pytest.approx(once.raw(STANDARD))


def test_false_positive_outside_windows_costs_a_fp() -> None:
    n = nab_counts(T, CP, np.array([100, 300, 20, 250]))
    assert n.fp == 2
    for p in PROFILES:
        assert n.raw(p) == pytest.approx(2 * p.a_tp + 2 * p.a_fp)
    assert n.score(LOW_FP) < n.score(STANDARD) < 100.0


def test_missed_window_costs_a_fn() -> None:
    n = nab_counts(T, CP, np.array([100]))
    assert n.missed == 1
    assert n.raw(STANDARD) == pytest.approx(STANDARD.a_tp + STANDARD.a_fn)
    assert n.raw(LOW_FN) == pytest.approx(LOW_FN.a_tp + LOW_FN.a_fn)
    assert n.score(STANDARD) == pytest.approx(50.0)  # (0 - (-2)) / (2 - (-2))
    assert n.score(LOW_FN) == pytest.approx(100 * (1 - 2 + 4) / (2 + 4))


def test_null_detector_scores_zero() -> None:
    n = nab_counts(T, CP, np.array([], dtype=np.int64))
    assert n.missed == 2 and n.fp == 0
    for p in PROFILES:
        assert n.score(p) == pytest.approx(0.0)


def test_detection_in_cut_window_belongs_to_the_later_window() -> None:
    cp = np.zeros(400, dtype=bool)
    cp[[100, 130]] = True  # windows [100, 160] and [160, 190]
    n = nab_counts(T, cp, np.array([170]))
    assert n.windows == 2 and n.missed == 1 and n.fp == 0
    assert n.tp_positions == pytest.approx((1 / 3,))


def test_no_windows_gives_nan_score() -> None:
    n = nab_counts(T, np.zeros(400, dtype=bool), np.array([5]))
    assert n.fp == 1 and math.isnan(n.score(STANDARD))
