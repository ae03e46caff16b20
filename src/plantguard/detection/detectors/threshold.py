"""Fixed limits: per-signal high/low limits with hysteresis, combined with AND/OR, held for a duration.

This is the detector operators already know from the DCS; it runs alongside the statistical
ones so a limit breach is reported the same way as any other anomaly.

Score: 0.5 and above means "in alarm" (the combination is active and has been for ``duration``
consecutive samples, or is held by hysteresis). Above 0.5 the score grows with how far past the
limit the signal is, in units of ``scale`` (``0.5 + 0.5 * squash(excess, 1)``); below, it decays
with the distance to the limit (``0.45 * 2 ** -distance``), so nearer the limit ranks higher.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from plantguard.detection.base import (
    BoolArray,
    Detector,
    DetectorParams,
    FloatArray,
    feature,
    last_index,
    squash,
    squash_array,
)


class Condition(BaseModel):
    """One limit on one signal: active above (``high``) or below (``low``) ``limit``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signal: str = Field(min_length=1)
    direction: Literal["high", "low"] = "high"
    limit: float
    deadband: float = Field(default=0.0, ge=0, description="Hysteresis: clears only this far back inside the limit.")
    scale: float | None = Field(default=None, gt=0, description="Excess per score step; default 5% of |limit|.")

    def unit(self) -> float:
        if self.scale is not None:
            return self.scale
        return max(abs(self.limit) * 0.05, self.deadband, 1e-9)

    def excess(self, v: float) -> float:
        """Signed distance past the limit, in units of ``scale`` (negative: inside)."""
        d = v - self.limit if self.direction == "high" else self.limit - v
        return d / self.unit()

    def active(self, v: float, was_active: bool) -> bool:
        off = self.deadband if was_active else 0.0
        return v > self.limit - off if self.direction == "high" else v < self.limit + off


class ThresholdParams(DetectorParams):
    conditions: list[Condition] = Field(min_length=1)
    combine: Literal["and", "or"] = "or"
    duration: int = Field(default=1, ge=1, le=1_000_000, description="Consecutive active samples before alarm.")


class Threshold(Detector[ThresholdParams]):
    name = "threshold"
    params_model = ThresholdParams
    example: ClassVar[dict[str, Any]] = {
        "conditions": [
            {"signal": "value", "direction": "high", "limit": 2.0, "deadband": 0.5},
            {"signal": "aux", "direction": "low", "limit": -2.0},
        ],
        "combine": "or",
        "duration": 3,
    }

    def inputs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.signal for c in self.params.conditions))

    def _reset_state(self) -> None:
        self._active = [False] * len(self.params.conditions)
        self._count = 0  # consecutive samples with the combination active

    def _on_gap(self) -> None:
        self._reset_state()

    def _evaluate(self, x: Mapping[str, float]) -> tuple[list[bool], bool | None, float]:
        """New per-condition states, the combined state (None: no usable input) and combined excess."""
        new = list(self._active)
        states: list[bool] = []
        excesses: list[float] = []
        for i, c in enumerate(self.params.conditions):
            v = feature(x, c.signal)
            if v is None:  # missing: this condition keeps its state and takes no part
                continue
            new[i] = c.active(v, self._active[i])
            states.append(new[i])
            excesses.append(c.excess(v))
        if not states:
            return new, None, 0.0
        if self.params.combine == "and":
            return new, all(states), min(excesses)
        return new, any(states), max(excesses)

    def _next_count(self, combined: bool | None) -> int:
        if combined is None:
            return self._count
        return self._count + 1 if combined else 0

    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        _, combined, e = self._evaluate(x)
        if self._next_count(combined) >= self.params.duration:
            return 0.5 + 0.5 * squash(e, 1.0)
        return 0.45 * math.pow(2.0, min(e, 0.0))

    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        # Nothing here is a baseline: the counts must advance even on protected anomalies,
        # or a duration could never be reached.
        self._active, combined, _ = self._evaluate(x)
        self._count = min(self._next_count(combined), self.params.duration)

    def state_size(self) -> int:
        return len(self._active) + 1

    # -- batch path ---------------------------------------------------------------------------

    def _condition_states(
        self, cols: FloatArray, gap: BoolArray, learn: bool
    ) -> tuple[BoolArray, BoolArray, FloatArray]:
        """Per condition (columns): state after each row, whether it took part, and its excess.

        Hysteresis is a relay: past the limit it is on and back past ``limit -+ deadband`` off,
        whatever it was; in between (or without a value) it keeps its previous state. So the state
        is the last decisive row's verdict, forward-filled, with a gap resetting it to off.
        """
        n, conds, inputs = len(cols), self.params.conditions, self.inputs()
        states = np.empty((n, len(conds)), dtype=np.bool_)
        ok = np.empty((n, len(conds)), dtype=np.bool_)
        excess = np.zeros((n, len(conds)), dtype=np.float64)
        last_gap = last_index(gap)
        for k, c in enumerate(conds):
            v = cols[:, inputs.index(c.signal)]
            ok[:, k] = good = np.isfinite(v)
            with np.errstate(invalid="ignore", over="ignore"):  # the same comparisons as Condition.active
                if c.direction == "high":
                    if_on, if_off = v > c.limit - c.deadband, v > c.limit - 0.0
                    excess[good, k] = (v[good] - c.limit) / c.unit()
                else:
                    if_on, if_off = v < c.limit + c.deadband, v < c.limit + 0.0
                    excess[good, k] = (c.limit - v[good]) / c.unit()
            decisive = good & (if_on == if_off)
            start = self._active[k]
            if learn:
                last_dec = np.empty(n, dtype=np.intp)  # last decisive row before this one
                last_dec[0] = -1
                last_dec[1:] = last_index(decisive)[:-1]
                prev = np.where(
                    (last_dec >= 0) & (last_dec >= last_gap),
                    if_on[np.maximum(last_dec, 0)],
                    np.where(last_gap >= 0, False, start),
                )
            else:
                prev = np.where(gap, False, start)
            states[:, k] = np.where(decisive, if_on, prev)
        return states, ok, excess

    def _score_learn_columns(self, cols: FloatArray, t: FloatArray | None, learn: bool) -> FloatArray | None:
        """Vectorised, and exact: the relay states are forward fills and the consecutive count is
        a cumulative sum of "on" rows less its value at the last reset (an "off" row or a gap)."""
        n, p = len(cols), self.params
        gap = self._gap_rows(n, t, learn)
        states, ok, excess = self._condition_states(cols, gap, learn)
        any_ok = ok.any(axis=1)
        if p.combine == "and":
            on = (states | ~ok).all(axis=1) & any_ok
            e = np.where(ok, excess, np.inf).min(axis=1)
        else:
            on = (states & ok).any(axis=1)
            e = np.where(ok, excess, -np.inf).max(axis=1)
        e = np.where(any_ok, e, 0.0)
        off = any_ok & ~on
        start = np.where(gap, 0, self._count)
        if learn:  # consecutive "on" rows since the last "off" row or gap; rows without input are transparent
            ones = np.cumsum(on, dtype=np.int64)
            reset = off | gap
            last = last_index(reset)
            base = np.where(last >= 0, (ones - on)[np.maximum(last, 0)], -self._count)
            count = ones - base
        else:
            count = np.where(on, start + 1, np.where(off, 0, start))
        with np.errstate(over="ignore"):
            below = 0.45 * np.power(2.0, np.minimum(e, 0.0))
        scores = np.where(count >= p.duration, 0.5 + 0.5 * squash_array(e, 1.0), below)
        if learn:
            self._active = [bool(b) for b in states[-1]]
            self._count = int(min(count[-1], p.duration))
        return scores
