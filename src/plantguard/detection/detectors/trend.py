"""Trend extrapolation: fit a line to the recent trajectory and predict when it crosses a limit.

This is what lets the console say "predicted to exceed in N minutes" (预计 N 分钟后超限): a
least-squares line through the last ``window`` samples (and the one being scored), extrapolated
to ``limit``. The score is ``2 ** (-time_to_threshold / horizon_s)``: 1 when the limit is already
crossed, 0.5 when it will be in ``horizon_s``, 0 when the trend points away from it.

Time is in the units of ``t`` (seconds), or samples when no ``t`` is given. The trajectory is the
input, not a baseline, so it is learned even from protected anomalies; a gap clears it, because
a line across a gap says nothing about the present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from plantguard.detection.base import Detector, FloatArray, SignalParams, feature, last_index

CHUNK_CELLS = 1 << 18  # rows x window cells per chunk on the batch path (bounds scratch memory)


class TrendParams(SignalParams):
    limit: float
    direction: Literal["high", "low"] = "high"
    window: int = Field(default=30, ge=2, le=100_000, description="Past samples the line is fitted to.")
    min_samples: int = Field(default=5, ge=2, description="Points (past ones plus the scored one) before predicting.")
    horizon_s: float = Field(default=600.0, gt=0, description="Time to threshold that scores 0.5 (units of t).")

    @model_validator(mode="after")
    def _warmup_fits(self) -> TrendParams:
        if self.min_samples > self.window + 1:
            raise ValueError("min_samples must not exceed window + 1")
        return self


class Trend(Detector[TrendParams]):
    name = "trend"
    params_model = TrendParams
    example: ClassVar[dict[str, Any]] = {"signal": "value", "limit": 3.0, "window": 20, "horizon_s": 30.0}

    def inputs(self) -> tuple[str, ...]:
        return (self.params.signal,)

    def _reset_state(self) -> None:
        w = self.params.window
        self._ts = np.empty(w, dtype=np.float64)  # ring buffers, fixed size
        self._vs = np.empty(w, dtype=np.float64)
        self._n = 0
        self._pos = 0
        self._step = 0
        self.last_time_to_threshold: float | None = None  # report of the latest score_one, not state

    def _on_gap(self) -> None:
        self._n = 0
        self._pos = 0

    def _adopt_report(self, other: Detector[TrendParams]) -> None:
        if isinstance(other, Trend):
            self.last_time_to_threshold = other.last_time_to_threshold

    def _clock(self, t: float | None) -> float:
        return t if t is not None else float(self._step)

    def time_to_threshold(self, x: Mapping[str, float], t: float | None = None) -> float | None:
        """Predicted time from ``t`` until the limit is crossed: 0 if already crossed, ``inf`` if
        the trend points away, None without enough data. Does not change the detector."""
        v = feature(x, self.params.signal)
        if v is None or self._n + 1 < self.params.min_samples:
            return None
        now = self._clock(t)
        ts = np.append(self._ts[: self._n], now)
        vs = np.append(self._vs[: self._n], v)
        tc = ts - ts.mean()
        denom = float(np.dot(tc, tc))
        if denom <= 0.0:
            return None
        slope = float(np.dot(tc, vs - vs.mean())) / denom
        fitted = float(vs.mean()) + slope * (now - float(ts.mean()))
        sign = 1.0 if self.params.direction == "high" else -1.0
        gap = sign * (self.params.limit - fitted)  # distance still to go, positive while inside
        if sign * (self.params.limit - v) <= 0.0 or gap <= 0.0:
            return 0.0
        toward = sign * slope
        if toward <= 0.0:
            return math.inf
        return gap / toward

    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        ttt = self.time_to_threshold(x, t)
        self.last_time_to_threshold = ttt
        if ttt is None:
            return 0.0
        return math.pow(2.0, -ttt / self.params.horizon_s)

    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        v = feature(x, self.params.signal)
        if v is not None:
            self._ts[self._pos] = self._clock(t)
            self._vs[self._pos] = v
            self._pos = (self._pos + 1) % self.params.window
            self._n = min(self._n + 1, self.params.window)
        self._step += 1

    def state_size(self) -> int:
        return 2 * self._n + 3

    # -- batch path ---------------------------------------------------------------------------

    def _history(self) -> tuple[FloatArray, FloatArray]:
        """The learned points, oldest first."""
        if self._n < self.params.window:
            return self._ts[: self._n], self._vs[: self._n]
        return np.roll(self._ts, -self._pos), np.roll(self._vs, -self._pos)

    def _fit(
        self, ct: FloatArray, cv: FloatArray, end: npt.NDArray[np.intp], h: npt.NDArray[np.intp],
        now: FloatArray, v: FloatArray,
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """``time_to_threshold`` for many rows at once: row r's past points are
        ``c[end[r] - h[r] : end[r]]``; returns the times (NaN where unknown) and "known"."""
        w, p = self.params.window, self.params
        pt = np.concatenate([np.zeros(w), ct])  # w leading pads so every window is a full slice
        pv = np.concatenate([np.zeros(w), cv])
        ttt = np.full(len(end), np.nan)
        known = np.zeros(len(end), dtype=np.bool_)
        step = max(1, CHUNK_CELLS // (w + 1))
        sign = 1.0 if p.direction == "high" else -1.0
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for lo in range(0, len(end), step):
                e, hh = end[lo : lo + step], h[lo : lo + step]
                rows = e[:, None] + np.arange(w)  # into the padded arrays: c[e - w + q]
                mask = np.concatenate([np.arange(w)[None, :] >= (w - hh)[:, None], np.ones((len(e), 1), bool)], axis=1)
                ts = np.where(mask, np.concatenate([pt[rows], now[lo : lo + step, None]], axis=1), 0.0)
                vs = np.where(mask, np.concatenate([pv[rows], v[lo : lo + step, None]], axis=1), 0.0)
                k = hh + 1.0
                t_mean = ts.sum(axis=1) / k
                v_mean = vs.sum(axis=1) / k
                tc = np.where(mask, ts - t_mean[:, None], 0.0)
                denom = (tc * tc).sum(axis=1)
                slope = (tc * np.where(mask, vs - v_mean[:, None], 0.0)).sum(axis=1) / denom
                cur = v[lo : lo + step]
                fitted = v_mean + slope * (now[lo : lo + step] - t_mean)
                gap = sign * (p.limit - fitted)
                toward = sign * slope
                ok = (hh + 1 >= p.min_samples) & ~(denom <= 0.0)
                ttt[lo : lo + step] = np.select(
                    [~ok, (sign * (p.limit - cur) <= 0.0) | (gap <= 0.0), toward <= 0.0],
                    [np.nan, 0.0, np.inf],
                    gap / toward,
                )
                known[lo : lo + step] = ok
        return ttt, known

    def _score_learn_columns(self, cols: FloatArray, t: FloatArray | None, learn: bool) -> FloatArray | None:
        """Vectorised: the points every row's line is fitted to are a slice of one array of the
        learned points (the history, then the batch's usable rows), cut at the last gap, and the
        fits of many rows are computed at once over a rows x window array, centred as in
        ``time_to_threshold``. Sums are reassociated, so the scores match the loop to rounding."""
        n, w, p = len(cols), self.params.window, self.params
        v = cols[:, 0]
        good = np.isfinite(v)
        gap = self._gap_rows(n, t, learn)
        if t is not None:
            clock = t
        elif learn:
            clock = self._step + np.arange(n, dtype=np.float64)
        else:
            clock = np.full(n, float(self._step))
        old_t, old_v = self._history()
        n0 = len(old_t)
        rank = np.cumsum(good) - good  # usable rows before each row
        rows = np.flatnonzero(good)
        if learn:
            ct, cv = np.concatenate([old_t, clock[good]]), np.concatenate([old_v, v[good]])
            end = n0 + rank[rows]
            last_gap = last_index(gap)[rows]
            start = np.where(last_gap >= 0, n0 + rank[np.maximum(last_gap, 0)], 0)
        else:
            ct, cv = old_t, old_v
            end = np.full(len(rows), n0, dtype=np.intp)
            start = np.where(gap[rows], n0, 0)
        h = np.minimum(end - start, w)
        ttt_good, known_good = self._fit(ct, cv, end, h, clock[rows], v[rows])
        ttt = np.full(n, np.nan)
        known = np.zeros(n, dtype=np.bool_)
        ttt[rows], known[rows] = ttt_good, known_good
        with np.errstate(invalid="ignore", over="ignore"):
            scores = np.where(known, np.power(2.0, -ttt / p.horizon_s), 0.0)
        self.last_time_to_threshold = float(ttt[-1]) if known[-1] else None
        if learn:
            after = np.flatnonzero(good & (np.arange(n) >= int(last_index(gap)[-1])))
            if gap.any():
                self._n = self._pos = 0
            m, keep = len(after), min(len(after), w)
            where = (self._pos + np.arange(m - keep, m)) % w
            self._ts[where], self._vs[where] = clock[after[m - keep :]], v[after[m - keep :]]
            self._pos = (self._pos + m) % w
            self._n = min(self._n + m, w)
            self._step += n
        return scores
