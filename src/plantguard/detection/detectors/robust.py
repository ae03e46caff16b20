"""Deviation from a recent baseline: a robust z-score (median/MAD) and an EWMA z-score.

Robust z uses the median and the median absolute deviation of the last ``window`` samples, so a
spike does not inflate its own yardstick the way a mean and standard deviation would. EWMA z
tracks an exponentially weighted mean and variance in constant memory, for slower signals.
Both score ``squash(|z|, threshold)``: 0.5 at ``|z| = threshold``. During warm-up (fewer than
``min_samples`` learned) they score 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from plantguard.detection.base import Detector, FloatArray, SignalParams, feature, squash

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

    def score_many(
        self,
        X: npt.ArrayLike,
        t: npt.ArrayLike | None = None,
        columns: Sequence[str] | None = None,
        *,
        learn: bool = True,
    ) -> FloatArray:
        """Vectorised: every row's window is a slice of one array of the usable values, and the
        medians of many windows are taken at once. Equal to the streaming loop (the window's
        contents are the same values; only the order in the ring buffer differs)."""
        if not learn:
            return super().score_many(X, t, columns, learn=learn)
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        names = list(columns) if columns is not None else list(self.inputs())
        if arr.ndim != 2 or len(names) != arr.shape[1]:
            return super().score_many(X, t, columns, learn=learn)  # let the generic path explain
        if self.params.signal not in names:
            return super().score_many(X, t, columns, learn=learn)
        v = arr[:, names.index(self.params.signal)]
        if t is not None:
            tarr = np.asarray(t, dtype=np.float64).reshape(-1)
            if len(tarr) != len(v):
                raise ValueError(f"t has {len(tarr)} values for {len(v)} rows")
            finite_t = tarr[np.isfinite(tarr)]
            if len(finite_t):
                self._last_t = float(finite_t[-1])  # robust z keeps nothing a gap would reset
        w, p = self.params.window, self.params
        old = self._buf[: self._n] if self._n < w else np.roll(self._buf, -self._pos)
        ok = np.isfinite(v)
        c = np.concatenate([old, v[ok]])  # every value learned, in order
        k = len(old)
        out = np.zeros(len(v), dtype=np.float64)
        idx = np.arange(k, len(c))  # position in c of each usable row; its window is c[j-w:j]
        zs = np.zeros(len(idx), dtype=np.float64)
        for lo in range(0, len(idx), 4096):  # chunks bound the (rows x window) scratch array
            j = idx[lo : lo + 4096]
            full = j >= w
            if full.any():
                wins = np.lib.stride_tricks.sliding_window_view(c, w)[j[full] - w]
                med = np.median(wins, axis=1)
                mad = np.median(np.abs(wins - med[:, None]), axis=1)
                zs[lo : lo + 4096][full] = (c[j[full]] - med) / np.maximum(MAD_TO_SIGMA * mad, p.floor)
            for m in np.flatnonzero(~full & (j >= p.min_samples)):  # windows still filling: few rows
                base = c[: j[m]]
                med1 = float(np.median(base))
                mad1 = float(np.median(np.abs(base - med1)))
                zs[lo + m] = (c[j[m]] - med1) / max(MAD_TO_SIGMA * mad1, p.floor)
        warm = idx >= p.min_samples
        scores = np.where(warm, 1.0 - np.power(2.0, -np.abs(zs) / p.threshold), 0.0)
        out[ok] = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1.0)
        tail = c[-w:]
        self._n = len(tail)
        self._buf[: self._n] = tail
        self._pos = self._n % w
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
