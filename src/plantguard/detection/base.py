"""The detector contract: streaming estimators that score how anomalous the newest sample is.

Detectors follow river's estimator habit. ``score_one(x, t)`` says how anomalous ``x`` is given
what was learned so far and does not change the detector; ``learn_one(x, t)`` folds ``x`` in.
Scoring comes first, then learning, so a score never depends on the sample it judges having
been learned, nor on anything later (no look-ahead). ``score_many`` runs that same loop over the
rows of an array, so the batch path and the streaming path give the same numbers.

Deciding "alarm or not" is not the detector's job: :mod:`plantguard.detection.filters` turns
scores into alarms and can keep a detector from learning anomalies into its baseline.

Scores are in [0, 1]. Each detector has a natural statistic (a robust z, a Page–Hinkley sum, a
time to threshold, ...) and a parameter that says where that statistic means "alarm". Scores map
the statistic ``s`` through ``1 - 2 ** (-s / level)`` (:func:`squash`): 0 when there is no
evidence, exactly 0.5 at the detector's own alarm level, 0.75 at twice it, tending to 1. A filter
threshold of 0.5 therefore means "the detector's nominal alarm level" for every detector.

Missing data: a feature that is absent, NaN or infinite is ignored, never propagated; a detector
with no usable input scores 0.0 and learns nothing. Gaps: when ``max_gap_s`` is set and the time
between two learned samples exceeds it (or time goes backwards), the detector drops the sequence
state a gap makes meaningless (last value, consecutive counts, recent trajectory) and keeps its
baseline.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

FloatArray = npt.NDArray[np.float64]


class DetectorParams(BaseModel):
    """Parameters every detector takes; subclasses add their own fields.

    Validating a configuration through this model gives errors that name the field
    (``pydantic.ValidationError`` is a ``ValueError``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_gap_s: float | None = Field(
        default=None, gt=0, description="A longer silence between samples (in units of t) resets sequence state."
    )


class SignalParams(DetectorParams):
    """Parameters of a detector that watches one signal."""

    signal: str = Field(default="value", min_length=1, description="Key of the feature the detector reads.")


P = TypeVar("P", bound=DetectorParams)


def squash(statistic: float, level: float) -> float:
    """Map a non-negative statistic to [0, 1], with ``level`` landing exactly on 0.5."""
    if not math.isfinite(statistic):
        return 1.0 if statistic > 0 else 0.0
    if statistic <= 0.0:
        return 0.0
    return 1.0 - math.pow(2.0, -statistic / level)


def feature(x: Mapping[str, float], name: str) -> float | None:
    """The value of one feature, or None when it is absent, NaN, infinite or not a number."""
    v = x.get(name)
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class Detector(ABC, Generic[P]):
    """A streaming anomaly detector. Subclasses set ``name``, ``params_model`` and ``example``.

    ``example`` is a valid parameter set (keyword arguments of ``get``) used by documentation and
    by the shared check suite that every registered detector must pass.
    """

    name: ClassVar[str]
    params_model: ClassVar[type[DetectorParams]]
    example: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: P | None = None, /, **kwargs: Any) -> None:
        if params is None:
            params = cast(P, self.params_model.model_validate(kwargs))
        elif kwargs:
            raise TypeError("pass either a params model or keyword parameters, not both")
        elif not isinstance(params, self.params_model):
            raise TypeError(f"{type(self).__name__} takes {self.params_model.__name__}, not {type(params).__name__}")
        self.params: P = params
        self.reset()

    # -- what subclasses implement ------------------------------------------------------------

    @abstractmethod
    def inputs(self) -> tuple[str, ...]:
        """The feature names this detector reads (the default column names of the batch path)."""

    @abstractmethod
    def _reset_state(self) -> None:
        """Forget everything learned."""

    @abstractmethod
    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        """Score ``x`` from the current state without changing it (gaps already handled)."""

    @abstractmethod
    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        """Fold ``x`` in; ``update_model=False`` advances sequence state but not the baseline."""

    @abstractmethod
    def state_size(self) -> int:
        """How many numbers the detector holds; must stay bounded however long it runs."""

    def _on_gap(self) -> None:
        """Drop the sequence state a gap in time makes meaningless. Default: nothing to drop."""

    def _adopt_report(self, other: Detector[P]) -> None:
        """Copy per-score report attributes from a scratch copy used to score across a gap."""

    # -- the public API -----------------------------------------------------------------------

    def reset(self) -> None:
        """Return to the freshly constructed state."""
        self._last_t: float | None = None
        self._reset_state()

    def clone(self) -> Detector[P]:
        """A fresh, unlearned detector with the same parameters."""
        return type(self)(self.params)

    def _is_gap(self, t: float | None) -> bool:
        if t is None or self._last_t is None or not math.isfinite(t):
            return False
        dt = t - self._last_t
        return dt < 0 or (self.params.max_gap_s is not None and dt > self.params.max_gap_s)

    def score_one(self, x: Mapping[str, float], t: float | None = None) -> float:
        """How anomalous ``x`` (observed at time ``t``) is, in [0, 1]; the detector is unchanged."""
        if self._is_gap(t):
            scratch = copy.deepcopy(self)  # gaps are rare; scoring must not mutate self
            scratch._on_gap()
            s = scratch._score(x, t)
            self._adopt_report(scratch)
        else:
            s = self._score(x, t)
        if not math.isfinite(s):
            return 0.0
        return min(1.0, max(0.0, s))

    def learn_one(self, x: Mapping[str, float], t: float | None = None, *, update_model: bool = True) -> None:
        """Fold ``x`` in. With ``update_model=False`` (an anomaly a filter protects against) only
        the sequence state advances: counts, last values and time, not the notion of normal."""
        if self._is_gap(t):
            self._on_gap()
        if t is not None and math.isfinite(t):
            self._last_t = t
        self._learn(x, t, update_model)

    def score_many(
        self,
        X: npt.ArrayLike,
        t: npt.ArrayLike | None = None,
        columns: Sequence[str] | None = None,
        *,
        learn: bool = True,
    ) -> FloatArray:
        """Score each row in order; row i sees rows < i only, and is learned after it is scored
        when ``learn`` is true. Equal to calling ``score_one`` then ``learn_one`` per row."""
        rows, times = self.rows(X, t, columns)
        out = np.empty(len(rows), dtype=np.float64)
        for i, row in enumerate(rows):
            ti = times[i] if times is not None else None
            out[i] = self.score_one(row, ti)
            if learn:
                self.learn_one(row, ti)
        return out

    def learn_many(
        self, X: npt.ArrayLike, t: npt.ArrayLike | None = None, columns: Sequence[str] | None = None
    ) -> None:
        """Learn every row in order, as ``learn_one`` would."""
        rows, times = self.rows(X, t, columns)
        for i, row in enumerate(rows):
            self.learn_one(row, times[i] if times is not None else None)

    def rows(
        self, X: npt.ArrayLike, t: npt.ArrayLike | None, columns: Sequence[str] | None
    ) -> tuple[list[dict[str, float]], list[float] | None]:
        """Rows of ``X`` as feature mappings (columns default to ``inputs()``) and times as floats."""
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ValueError(f"X must be 1- or 2-dimensional, got shape {arr.shape}")
        names = list(columns) if columns is not None else list(self.inputs())
        if len(names) != arr.shape[1]:
            raise ValueError(f"X has {arr.shape[1]} columns but {len(names)} column names were given: {names}")
        times: list[float] | None = None
        if t is not None:
            tarr = np.asarray(t, dtype=np.float64).reshape(-1)
            if len(tarr) != arr.shape[0]:
                raise ValueError(f"t has {len(tarr)} values for {arr.shape[0]} rows")
            times = [float(v) for v in tarr]
        rows = [dict(zip(names, (float(v) for v in r), strict=True)) for r in arr]
        return rows, times

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"
