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
from pydantic import Field, model_validator

from plantguard.detection.base import Detector, SignalParams, feature


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
