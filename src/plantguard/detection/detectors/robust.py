"""Deviation from a recent baseline: a robust z-score (median/MAD) and an EWMA z-score.

Robust z uses the median and the median absolute deviation of the last ``window`` samples, so a
spike does not inflate its own yardstick the way a mean and standard deviation would. EWMA z
tracks an exponentially weighted mean and variance in constant memory, for slower signals.
Both score ``squash(|z|, threshold)``: 0.5 at ``|z| = threshold``. During warm-up (fewer than
``min_samples`` learned) they score 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from plantguard.detection.base import Detector, FloatArray, SignalParams, feature, squash, squash_array

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


class RobustZParams(SignalParams):
    window: int = Field(default=100, ge=3, le=100_000, description="Samples in the baseline window.")
    min_samples: int = Field(default=10, ge=3)
    threshold: float = Field(default=3.5, gt=0, description="|z| that scores 0.5.")
    floor: float = Field(default=1e-6, gt=0, description="Smallest spread, so a flat baseline does not divide by 0.")

    @model_validator(mode="after")
    def _warmup_fits(self) -> RobustZParams:
        if self.min_samples > self.window:
            raise ValueError("min_samples must not exceed window")
        return self


class RobustZ(Detector[RobustZParams]):
    name = "robust_z"
    params_model = RobustZParams
    example: ClassVar[dict[str, Any]] = {"signal": "value", "window": 50, "min_samples": 10, "threshold": 3.5}

    def inputs(self) -> tuple[str, ...]:
        return (self.params.signal,)

    def _reset_state(self) -> None:
        self._buf = np.empty(self.params.window, dtype=np.float64)  # ring buffer, fixed size
        self._n = 0
        self._pos = 0

    def z(self, x: Mapping[str, float]) -> float | None:
        """The robust z of ``x`` against the window; None without a value or during warm-up."""
        v = feature(x, self.params.signal)
        if v is None or self._n < self.params.min_samples:
            return None
        base = self._buf[: self._n]
        med = float(np.median(base))
        mad = float(np.median(np.abs(base - med)))
        return (v - med) / max(MAD_TO_SIGMA * mad, self.params.floor)

    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        z = self.z(x)
        return 0.0 if z is None else squash(abs(z), self.params.threshold)

    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        v = feature(x, self.params.signal)
        if v is None or not update_model:
            return
        self._buf[self._pos] = v
        self._pos = (self._pos + 1) % self.params.window
        self._n = min(self._n + 1, self.params.window)

    def state_size(self) -> int:
        return self._n + 2

    # -- batch path ---------------------------------------------------------------------------

    def _window(self) -> FloatArray:
        """The learned values, oldest first."""
        if self._n < self.params.window:
            return self._buf[: self._n]
        return np.roll(self._buf, -self._pos)

    def _store(self, new: FloatArray) -> None:
        """Write newly learned values where ``learn_one`` one by one would have put them."""
        w, m = self.params.window, len(new)
        keep = min(m, w)
        self._buf[(self._pos + np.arange(m - keep, m)) % w] = new[m - keep :]
        self._pos = (self._pos + m) % w
        self._n = min(self._n + m, w)

    def _learn_columns(self, cols: FloatArray, t: FloatArray | None) -> bool:
        v = cols[:, 0]
        self._store(v[np.isfinite(v)])  # no scoring: the medians are the expensive part
        return True

    def _score_learn_columns(self, cols: FloatArray, t: FloatArray | None, learn: bool) -> FloatArray | None:
        """Vectorised: every row's window is a slice of one array of the usable values, and the
        medians of many windows are taken at once (chunks bound the rows x window scratch array).
        The medians of the same values are the same numbers whatever their order, so the scores
        equal the streaming loop's exactly. Robust z keeps nothing a gap would reset."""
        p, w = self.params, self.params.window
        v = cols[:, 0]
        ok = np.isfinite(v)
        old = self._window()
        out = np.zeros(len(v), dtype=np.float64)
        if not learn:
            if len(old) >= p.min_samples:
                med = float(np.median(old))
                mad = float(np.median(np.abs(old - med)))
                z = (v[ok] - med) / max(MAD_TO_SIGMA * mad, p.floor)
                out[ok] = squash_array(np.abs(z), p.threshold)
            return out
        c = np.concatenate([old, v[ok]])  # every value learned, in order
        idx = np.arange(len(old), len(c))  # position in c of each usable row; its window is c[j-w:j]
        zs = np.zeros(len(idx), dtype=np.float64)
        step = max(1, (1 << 18) // w)
        for lo in range(0, len(idx), step):
            j = idx[lo : lo + step]
            full = j >= w
            if full.any():
                wins = np.lib.stride_tricks.sliding_window_view(c, w)[j[full] - w]
                med = np.median(wins, axis=1)
                mad = np.median(np.abs(wins - med[:, None]), axis=1)
                zs[lo : lo + step][full] = (c[j[full]] - med) / np.maximum(MAD_TO_SIGMA * mad, p.floor)
            for m in np.flatnonzero(~full & (j >= p.min_samples)):  # windows still filling: few rows
                base = c[: j[m]]
                med1 = float(np.median(base))
                mad1 = float(np.median(np.abs(base - med1)))
                zs[lo + m] = (c[j[m]] - med1) / max(MAD_TO_SIGMA * mad1, p.floor)
        out[ok] = np.where(idx >= p.min_samples, squash_array(np.abs(zs), p.threshold), 0.0)
        self._store(v[ok])
        return out


class EwmaParams(SignalParams):
    alpha: float = Field(default=0.05, gt=0, le=1, description="Weight of the newest sample.")
    min_samples: int = Field(default=10, ge=2)
    threshold: float = Field(default=3.0, gt=0, description="|z| that scores 0.5.")
    floor: float = Field(default=1e-6, gt=0, description="Smallest standard deviation.")


class Ewma(Detector[EwmaParams]):
    name = "ewma"
    params_model = EwmaParams
    example: ClassVar[dict[str, Any]] = {"signal": "value", "alpha": 0.1, "threshold": 3.0}

    def inputs(self) -> tuple[str, ...]:
        return (self.params.signal,)

    def _reset_state(self) -> None:
        self._n = 0
        self._mean = 0.0
        self._var = 0.0

    def z(self, x: Mapping[str, float]) -> float | None:
        v = feature(x, self.params.signal)
        if v is None or self._n < self.params.min_samples:
            return None
        return (v - self._mean) / max(math.sqrt(self._var), self.params.floor)

    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        z = self.z(x)
        return 0.0 if z is None else squash(abs(z), self.params.threshold)

    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        v = feature(x, self.params.signal)
        if v is None or not update_model:
            return
        if self._n == 0:
            self._mean = v
        else:
            a = self.params.alpha
            d = v - self._mean
            self._mean += a * d
            self._var = (1 - a) * (self._var + a * d * d)
        self._n = min(self._n + 1, self.params.min_samples)  # only warm-up needs the count

    def state_size(self) -> int:
        return 3

    def _score_learn_columns(self, cols: FloatArray, t: FloatArray | None, learn: bool) -> FloatArray | None:
        """The mean and variance recursion cannot be vectorised without changing the numbers
        (a closed form reassociates the sums), so it runs as a tight loop over plain floats of the
        usable values only; the z-scores and their squashing are then one array expression."""
        p = self.params
        v = cols[:, 0]
        ok = np.isfinite(v)
        vals = v[ok]
        if not learn:
            z = (vals - self._mean) / max(math.sqrt(self._var), p.floor)
            out = np.zeros(len(v), dtype=np.float64)
            if self._n >= p.min_samples:
                out[ok] = squash_array(np.abs(z), p.threshold)
            return out
        m = len(vals)
        means: list[float] = []  # the state each usable row is scored against
        variances: list[float] = []
        put_mean, put_var = means.append, variances.append
        a, b = p.alpha, 1.0 - p.alpha
        mean, var = self._mean, self._var
        xs = vals.tolist()
        if self._n == 0 and xs:
            put_mean(mean)
            put_var(var)
            mean = xs[0]
            xs = xs[1:]
        for x in xs:
            put_mean(mean)
            put_var(var)
            d = x - mean
            mean += a * d
            var = b * (var + a * d * d)
        warm = np.arange(self._n, self._n + m) >= p.min_samples  # before the cap, for the mask
        z = (vals - np.array(means)) / np.maximum(np.sqrt(np.array(variances)), p.floor)
        out = np.zeros(len(v), dtype=np.float64)
        out[ok] = np.where(warm, squash_array(np.abs(z), p.threshold), 0.0)
        self._mean, self._var = mean, var
        self._n = min(self._n + m, p.min_samples)
        return out
