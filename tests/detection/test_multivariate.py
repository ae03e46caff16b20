"""The ``multivariate`` detector: what it sees that per-sensor detectors cannot, and its contract
(streaming, deterministic, gaps and missing values, bounded memory, the CLI path)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from plantguard.cli.main import app
from plantguard.detection import registry
from plantguard.detection.detectors.multivariate import Multivariate

SIGNALS = ["flow", "pressure", "vibration"]
BREAK = 1000


def _ar1(rng: np.random.Generator, n: int, phi: float = 0.98) -> np.ndarray:
    """A slowly wandering process with unit variance."""
    e = rng.normal(0.0, np.sqrt(1 - phi * phi), n)
    out = np.empty(n)
    out[0] = rng.normal()
    for i in range(1, n):
        out[i] = phi * out[i - 1] + e[i]
    return out


def correlation_break(n: int = 1600, seed: int = 0) -> np.ndarray:
    """flow and pressure follow one driver; from BREAK on pressure follows another driver of
    the same distribution: each sensor alone looks the same before and after."""
    rng = np.random.default_rng(seed)
    driver, other = _ar1(rng, n), _ar1(rng, n)
    flow = driver + rng.normal(0, 0.1, n)
    pressure = np.where(np.arange(n) < BREAK, driver, other) + rng.normal(0, 0.1, n)
    vibration = rng.normal(0, 1.0, n)
    return np.column_stack([flow, pressure, vibration])


def test_correlation_break_that_univariate_detectors_miss() -> None:
    X = correlation_break()
    t = np.arange(len(X), dtype=float)
    det = Multivariate(signals=SIGNALS)
    det.learn_many(X[:400])
    _, alarms = det.alarm_filter().update_many(X[400:], t[400:])
    before, after = alarms[: BREAK - 400], alarms[BREAK - 400 :]
    assert before.mean() < 0.02, f"false alarms on normal rows: {before.mean():.1%}"
    assert after.mean() > 0.5, f"the break is mostly missed: {after.mean():.1%}"
    # Per-sensor robust z over the same rows sees the same marginal distribution: it alarms no
    # more after the break than before (the fault is in the relation, not in any one range).
    for j, name in enumerate(SIGNALS):
        uni = registry.get("robust_z", signal=name)
        uni.learn_many(X[:400, j : j + 1], None, [name])
        s = uni.score_many(X[400:, j : j + 1], t[400:], [name])
        assert (s[BREAK - 400 :] >= 0.5).mean() < 0.1


def test_contributions_name_the_broken_sensor() -> None:
    X = correlation_break(seed=3)
    det = Multivariate(signals=SIGNALS)
    det.learn_many(X[:400])
    assert det.contributions() == {}
    f = det.alarm_filter()
    tops = []
    for i in range(400, len(X)):
        row = dict(zip(SIGNALS, map(float, X[i]), strict=True))
        d = f.update(row, float(i))
        if d.alarm:
            c = det.contributions()
            assert set(c) == set(SIGNALS) and sum(c.values()) == pytest.approx(1.0)
            tops.append(max(c, key=lambda k: c[k]))
    assert tops, "no alarm raised"
    # flow and pressure disagree: the evidence sits on them, not on the independent vibration.
    assert tops.count("vibration") / len(tops) < 0.1
    assert tops.count("pressure") + tops.count("flow") > 0.9 * len(tops)


def test_warmup_scores_zero_then_fits_and_training_equals_streaming() -> None:
    X = correlation_break(seed=5)
    t = np.arange(len(X), dtype=float)
    streaming = Multivariate(signals=SIGNALS, warmup=400)
    s = streaming.score_many(X, t)
    assert np.all(s[:400] == 0.0) and streaming.fitted and s[400:].max() > 0.5
    # learn_many on the first 400 rows then scoring the rest gives the same numbers as the
    # detector that met those rows one by one during its warm-up.
    trained = Multivariate(signals=SIGNALS, warmup=400)
    trained.learn_many(X[:400], t[:400])
    np.testing.assert_allclose(trained.score_many(X[400:], t[400:]), s[400:], rtol=1e-12, atol=1e-12)
    # Fewer rows than the warm-up are enough when given as training.
    short = Multivariate(signals=SIGNALS)
    short.learn_many(X[:200])
    assert short.fitted


def test_no_look_ahead_and_deterministic() -> None:
    X = correlation_break(seed=7)
    Y = X.copy()
    Y[1200:] = 40.0
    runs = []
    for data in (X, X, Y):
        det = Multivariate(signals=SIGNALS)
        det.learn_many(data[:400])
        runs.append(det.alarm_filter().update_many(data[400:])[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0][:800], runs[2][:800])
    assert runs[2][800:].min() > 0.9


def test_missing_values_and_gaps() -> None:
    X = correlation_break(seed=9)
    X[np.random.default_rng(1).random(X.shape) < 0.05] = np.nan
    t = np.arange(len(X), dtype=float)
    t[700:] += 3600.0
    det = Multivariate(signals=SIGNALS, max_gap_s=10.0)
    det.learn_many(X[:400], t[:400])
    s = det.score_many(X[400:], t[400:])
    assert np.all(np.isfinite(s)) and s.min() >= 0.0 and s.max() <= 1.0
    # A row with only some signals is scored on what it has; contributions name only those.
    det.score_one({"flow": 0.1, "pressure": float("nan")}, float(t[-1] + 1))
    assert set(det.contributions()) == {"flow"}
    # A row with none scores 0 and is not learned; a gap drops the lag window, not the model.
    size = det.state_size()
    assert det.score_one({"other": 1.0}) == 0.0
    det.learn_one({"other": 1.0})
    assert det.state_size() == size
    assert det.fitted


def test_online_refit_keeps_memory_bounded() -> None:
    rng = np.random.default_rng(11)
    det = Multivariate(signals=[f"s{i}" for i in range(8)], warmup=200, buffer=500, refit_every=250)
    sizes = []
    for _ in range(6):
        det.learn_many(rng.normal(size=(1000, 8)))
        sizes.append(det.state_size())
    assert max(sizes) == sizes[0] and sizes[0] < 10_000


def test_params_name_the_field() -> None:
    with pytest.raises(ValueError, match="signals"):
        registry.get("multivariate")
    with pytest.raises(ValueError, match="signals"):
        registry.get("multivariate", signals=["a", "a"])
    with pytest.raises(ValueError, match="margin"):
        registry.get("multivariate", signals=["a"], margin=0)


def test_latency_per_reading_with_eight_signals() -> None:
    """score_one + learn_one well under the 5 ms p99 budget (loose bound for shared CI)."""
    rng = np.random.default_rng(0)
    names = [f"s{i}" for i in range(8)]
    det = Multivariate(signals=names)
    det.learn_many(rng.normal(size=(400, 8)))
    rows = [dict(zip(names, map(float, r), strict=True)) for r in rng.normal(size=(500, 8))]
    took = []
    for i, row in enumerate(rows):
        start = time.perf_counter()
        det.score_one(row, float(i))
        det.learn_one(row, float(i))
        took.append(time.perf_counter() - start)
    assert float(np.percentile(took, 99)) < 0.02


def test_detect_cli_scores_all_columns_jointly(tmp_path: Path) -> None:
    X = correlation_break(seed=13)
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", *SIGNALS, "anomaly"])
        for i, r in enumerate(X):
            w.writerow([f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}", *map(str, r), 0])
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["detect", str(src), "--output", str(out), "--detector", "multivariate",
                                   "--train-rows", "400"])
    assert res.exit_code == 0, res.output
    assert "over 3 columns" in res.output
    rows = list(csv.DictReader(out.open()))
    alarms = np.array([r["alarm"] == "1" for r in rows])
    assert len(rows) == len(X) and not alarms[:400].any()
    assert alarms[400:BREAK].mean() < 0.02 and alarms[BREAK:].mean() > 0.5


def _stream(det: Multivariate, X: np.ndarray, start: int = 0) -> tuple[list[bool], list[float]]:
    f = det.alarm_filter()
    alarms, evidence = [], []
    for i, r in enumerate(X):
        d = f.update(dict(zip(SIGNALS, map(float, r), strict=True)), float(start + i))
        alarms.append(d.alarm)
        evidence.append(det.evidence())
    return alarms, evidence


def test_a_strong_jump_raises_at_once_and_clears_soon_after_it_ends() -> None:
    """The evidence CUSUM: a row far above the alarm level raises on that row (a fixed
    confirmation count would wait), and once the rows are normal again the alarm clears within a
    few rows, however large the fault was (a smoothed score would first have to forget it)."""
    X = correlation_break(n=1000, seed=17)
    X[600:660, 1] += 60.0  # pressure off by 60 standard deviations for a minute
    det = Multivariate(signals=SIGNALS)
    det.learn_many(X[:400])
    alarms, evidence = _stream(det, X[400:], 400)
    a = np.array(alarms)
    assert not a[:200].any() and evidence[200] > 4.0
    assert a[200] and a[200:260].all()  # raised on the first faulty row, held through the fault
    cleared = 260 + int(np.argmin(a[260:]))
    assert not a[cleared] and cleared - 260 <= 10, cleared - 260  # within ten rows of the end
    assert a[cleared:].sum() == 0  # and it does not come back on normal rows


def test_min_off_delays_a_new_alarm_and_min_on_holds_one() -> None:
    """Chatter suppression in sample time: a burst 20 s after an alarm cleared is a new alarm
    without a re-raise delay and none with 30 s; a 3-row burst alarms for at least min_on_s."""
    X = correlation_break(n=800, seed=19)
    X[600:660, 1] += 60.0
    X[680:686, 1] += 60.0  # a short second burst 20 s after the first ended
    edges = {}
    for off in (0.0, 30.0):
        det = Multivariate(signals=SIGNALS, min_off_s=off, min_on_s=0.0)
        det.learn_many(X[:400])
        a = np.array(_stream(det, X[400:], 400)[0])
        edges[off] = int(np.sum(np.diff(a.astype(int)) != 0))
    assert edges == {0.0: 4, 30.0: 2}, edges
    Y = correlation_break(n=800, seed=19)
    Y[600:603, 1] += 60.0
    held = {}
    for on in (0.0, 30.0):
        det = Multivariate(signals=SIGNALS, min_on_s=on)
        det.learn_many(Y[:400])
        a = np.array(_stream(det, Y[400:], 400)[0])
        held[on] = int(a.sum())
        assert int(np.sum(np.diff(a.astype(int)) != 0)) == 2  # one alarm
    assert held[0.0] < 30 <= held[30.0], held


def test_evidence_filter_params_name_the_field() -> None:
    from plantguard.detection.decision import EvidenceFilter

    det = Multivariate(signals=SIGNALS)
    for name in ("onset_drift", "onset_evidence", "clear_level", "clear_evidence"):
        with pytest.raises(ValueError, match=name):
            EvidenceFilter(det, det.evidence, **{name: 0.0})
    with pytest.raises(ValueError, match="min_off_s"):
        EvidenceFilter(det, det.evidence, min_off_s=-1.0)
    with pytest.raises(ValueError, match="onset_evidence"):
        registry.get("multivariate", signals=["a"], onset_evidence=0)
