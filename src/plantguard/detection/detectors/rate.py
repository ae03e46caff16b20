"""Rate of change: how fast a signal moves between consecutive samples.

A pressure that climbs faster than the process can explain is often the first sign of trouble,
well before it crosses a limit. Score: ``squash(rate, max_rate)``, so 0.5 at ``max_rate``.
Rates are per unit of ``t`` (seconds), or per sample when no time is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from plantguard.detection.base import Detector, FloatArray, SignalParams, feature, last_index, squash, squash_array


class RateParams(SignalParams):
    max_rate: float = Field(gt=0, description="Rate (units per second, or per sample) that scores 0.5.")
    direction: Literal["both", "up", "down"] = "both"


class RateOfChange(Detector[RateParams]):
    name = "rate"
    params_model = RateParams
    example: ClassVar[dict[str, Any]] = {"signal": "value", "max_rate": 1.5, "max_gap_s": 50.0}

    def inputs(self) -> tuple[str, ...]:
        return (self.params.signal,)

    def _reset_state(self) -> None:
        self._prev_v: float | None = None
        self._prev_t: float | None = None
        self._step = 0  # sample index, the clock when no t is given

    def _on_gap(self) -> None:
        self._prev_v = None
        self._prev_t = None

    def _clock(self, t: float | None) -> float:
        return t if t is not None else float(self._step)

    def rate(self, x: Mapping[str, float], t: float | None = None) -> float | None:
        """The signed rate from the previous usable sample to ``x``; None when there is none."""
        v = feature(x, self.params.signal)
        if v is None or self._prev_v is None or self._prev_t is None:
            return None
        dt = self._clock(t) - self._prev_t
        if dt <= 0:
            return None
        return (v - self._prev_v) / dt

    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        r = self.rate(x, t)
        if r is None:
            return 0.0
        d = self.params.direction
        s = abs(r) if d == "both" else (r if d == "up" else -r)
        return squash(s, self.params.max_rate)

    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        # No baseline to protect: the previous value is where the next rate starts from.
        v = feature(x, self.params.signal)
        if v is not None:
            self._prev_v = v
            self._prev_t = self._clock(t)
        self._step += 1

    def state_size(self) -> int:
        return 3

    def _score_learn_columns(self, cols: FloatArray, t: FloatArray | None, learn: bool) -> FloatArray | None:
        """Vectorised: each row's previous sample is the last usable row before it, unless a gap
        came in between (a forward fill of indices), so every rate is one array expression."""
        n = len(cols)
        v = cols[:, 0]
        gap = self._gap_rows(n, t, learn)
        steps = np.arange(n, dtype=np.float64) if learn else np.zeros(n)  # the index moves only when learning
        clock = t if t is not None else self._step + steps
        good = np.isfinite(v)
        has0 = self._prev_v is not None and self._prev_t is not None
        v0 = self._prev_v if self._prev_v is not None else np.nan
        t0 = self._prev_t if self._prev_t is not None else np.nan
        if learn:
            prev = np.empty(n, dtype=np.intp)  # last usable row before this one
            prev[0] = -1
            prev[1:] = last_index(good)[:-1]
            last_gap = last_index(gap)
            from_batch = (prev >= 0) & (prev >= last_gap)
            usable = from_batch | ((last_gap < 0) & has0)
            j = np.maximum(prev, 0)
            pv = np.where(from_batch, v[j], v0)
            pt = np.where(from_batch, clock[j], t0)
        else:
            usable = ~gap & has0
            pv = np.full(n, v0)
            pt = np.full(n, t0)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            dt = clock - pt
            ok = good & usable & ~(dt <= 0)  # a NaN dt is not "<= 0": its rate is NaN and scores 0
            r = np.where(ok, (v - pv) / np.where(ok, dt, 1.0), 0.0)
        d = self.params.direction
        stat = np.abs(r) if d == "both" else (r if d == "up" else -r)
        scores = squash_array(stat, self.params.max_rate)
        if learn:
            last_good = int(last_index(good)[-1])
            if last_good >= 0 and last_good >= int(last_index(gap)[-1]):
                self._prev_v, self._prev_t = float(v[last_good]), float(clock[last_good])
            elif gap.any():
                self._prev_v = self._prev_t = None
            self._step += n
        return scores
