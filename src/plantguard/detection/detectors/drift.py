"""Slow drift: the Page–Hinkley test.

A fouling heat exchanger or a slowly leaking seal moves a signal a little every hour; each
sample looks normal and a fixed limit fires only at the end. Page–Hinkley accumulates the
deviations from the running mean (less a tolerance ``delta`` per sample) and reports how far the
cumulative sum has risen above its lowest point (or fallen below its highest, for a decrease).
Score: ``squash(PH, threshold)``, 0.5 at the classical detection threshold lambda.

When a filter protects the detector from anomalies (``update_model=False``) the running mean
stays put while the cumulative sums keep accumulating, so a drift keeps being reported instead
of being absorbed into the baseline. Gaps do not reset anything: a drift survives a pause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from plantguard.detection.base import Detector, FloatArray, SignalParams, feature, squash, squash_array

BLOCK = 4096  # rows per cumulative-sum block on the batch path (bounds the rounding, see there)


class PageHinkleyParams(SignalParams):
    delta: float = Field(default=0.005, ge=0, description="Tolerated deviation per sample (signal units).")
    threshold: float = Field(default=50.0, gt=0, description="Cumulative deviation (lambda) that scores 0.5.")
    direction: Literal["both", "up", "down"] = "both"
    min_samples: int = Field(default=30, ge=1, description="Samples before any score above 0.")


class PageHinkley(Detector[PageHinkleyParams]):
    name = "page_hinkley"
    params_model = PageHinkleyParams
    example: ClassVar[dict[str, Any]] = {"signal": "value", "delta": 0.05, "threshold": 20.0}

    def inputs(self) -> tuple[str, ...]:
        return (self.params.signal,)

    def _reset_state(self) -> None:
        self._n = 0  # samples in the running mean
        self._seen = 0  # samples seen (warm-up), capped
        self._mean = 0.0
        # The statistics themselves, kept in their recursive (CUSUM) form: "cumulative sum minus
        # its running minimum" equals max(0, previous + deviation), which stays bounded where the
        # raw cumulative sum would drift off by -delta every sample.
        self._ph_up = 0.0
        self._ph_down = 0.0

    def _step(self, v: float, update_model: bool) -> tuple[int, float, float, float]:
        n, mean = self._n, self._mean
        if update_model:
            n += 1
            mean += (v - mean) / n
        ph_up = max(0.0, self._ph_up + (v - mean - self.params.delta))
        ph_down = max(0.0, self._ph_down - (v - mean + self.params.delta))
        return n, mean, ph_up, ph_down

    def statistic(self, x: Mapping[str, float]) -> float:
        """The Page–Hinkley statistic after ``x`` (0 for a missing value)."""
        v = feature(x, self.params.signal)
        if v is None:
            return 0.0
        _, _, ph_up, ph_down = self._step(v, True)
        d = self.params.direction
        return max(ph_up if d in ("both", "up") else 0.0, ph_down if d in ("both", "down") else 0.0)

    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        if self._seen + 1 < self.params.min_samples:
            return 0.0
        return squash(self.statistic(x), self.params.threshold)

    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        v = feature(x, self.params.signal)
        if v is None:
            return
        self._n, self._mean, self._ph_up, self._ph_down = self._step(v, update_model)
        self._seen = min(self._seen + 1, self.params.min_samples)

    def state_size(self) -> int:
        return 5

    def _combine(self, up: FloatArray, down: FloatArray) -> FloatArray:
        d = self.params.direction
        if d == "up":
            return up
        return down if d == "down" else np.maximum(up, down)

    def _score_learn_columns(self, cols: FloatArray, t: FloatArray | None, learn: bool) -> FloatArray | None:
        """Vectorised with cumulative sums. The running mean after k more values is
        ``mean0 + cumsum(v - mean0) / (n0 + k)``; the recursion ``W = max(0, W + x)`` (Lindley's)
        is ``S_k - min(-W_0, min_{j<=k} S_j)`` with ``S = cumsum(x)``. Both reassociate sums, so
        they match the loop to rounding, not bit for bit: the sums restart every ``BLOCK`` rows
        from the exact state at the block's end, so the error stays near 1e-13 of the
        statistic's scale however long the batch (gaps reset nothing here)."""
        p = self.params
        v = cols[:, 0]
        ok = np.isfinite(v)
        vals = v[ok]
        out = np.zeros(len(v), dtype=np.float64)
        if not learn:
            if self._seen + 1 >= p.min_samples:
                n1 = self._n + 1
                mean = self._mean + (vals - self._mean) / n1
                up = np.maximum(0.0, self._ph_up + (vals - mean - p.delta))
                down = np.maximum(0.0, self._ph_down - (vals - mean + p.delta))
                out[ok] = squash_array(self._combine(up, down), p.threshold)
            return out
        stats = np.empty(len(vals), dtype=np.float64)
        for lo in range(0, len(vals), BLOCK):
            x = vals[lo : lo + BLOCK]
            k = np.arange(1, len(x) + 1, dtype=np.float64)
            mean = self._mean + np.cumsum(x - self._mean) / (self._n + k)
            s_up = np.cumsum(x - mean - p.delta)
            s_down = np.cumsum(-(x - mean + p.delta))
            up = s_up - np.minimum(np.minimum.accumulate(s_up), -self._ph_up)
            down = s_down - np.minimum(np.minimum.accumulate(s_down), -self._ph_down)
            stats[lo : lo + BLOCK] = self._combine(up, down)
            self._n += len(x)
            self._mean, self._ph_up, self._ph_down = float(mean[-1]), float(up[-1]), float(down[-1])
        warm = self._seen + np.arange(1, len(vals) + 1) >= p.min_samples
        out[ok] = np.where(warm, squash_array(stats, p.threshold), 0.0)
        self._seen = min(self._seen + len(vals), p.min_samples)
        return out
