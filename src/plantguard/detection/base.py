"""The detector contract: streaming estimators that score how anomalous the newest sample is.

Detectors follow river's estimator habit. ``score_one(x, t)`` says how anomalous ``x`` is given
what was learned so far and does not change the detector; ``learn_one(x, t)`` folds ``x`` in.
Scoring comes first, then learning, so a score never depends on the sample it judges having
been learned, nor on anything later (no look-ahead). ``score_many`` runs that same loop over the
rows of an array, so the batch path and the streaming path give the same numbers.

The batch path: a detector may implement :meth:`Detector._score_learn_columns` over float arrays
(no per-row dicts). ``score_many`` and ``learn_many`` use it when it answers and fall back to the
row loop when it returns None. It must give the loop's scores (up to the last bits of a float
where a sum is reassociated) and leave the detector in the loop's state, so streaming can go on
after a batch. :meth:`Detector._gap_rows` tells it which rows start after a gap, exactly as
``score_one``/``learn_one`` would see them.

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
BoolArray = npt.NDArray[np.bool_]


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


def squash_array(statistic: FloatArray, level: float) -> FloatArray:
    """:func:`squash` of every element (the batch paths use it)."""
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.asarray(statistic, dtype=np.float64)
        out = 1.0 - np.power(2.0, -np.maximum(s, 0.0) / level)
        out = np.where(np.isnan(s), 0.0, out)
        return np.where(s == np.inf, 1.0, out)


def last_index(mask: BoolArray) -> npt.NDArray[np.intp]:
    """For each position, the index of the last True at or before it (-1 when there is none).
    The batch paths use it to forward-fill "the previous usable sample" without a loop."""
    idx = np.where(mask, np.arange(len(mask)), -1)
    return np.maximum.accumulate(idx) if len(idx) else idx


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

    def _score_learn_columns(self, cols: FloatArray, t: FloatArray | None, learn: bool) -> FloatArray | None:
        """The batch path, optional: score (and with ``learn`` also learn) the rows of ``cols``.

        ``cols`` is ``n x len(inputs())`` (n > 0) in the order of ``inputs()``: a missing input
        is a NaN column, values may be NaN or infinite; it may be the caller's array, so read
        only. ``t`` holds the times (may be NaN), or is None for "no times". Return the raw
        scores (the caller maps non-finite to 0 and clips to [0, 1]), or None, before changing
        anything, to let the row loop do it. Row i must score as ``score_one`` would after rows
        < i were learned (none of them when ``learn`` is false), with gaps as :meth:`_gap_rows`
        reports them; afterwards the state must be what ``learn_one`` per row would leave,
        except ``_last_t``, which the caller sets.
        Default: no batch path.
        """
        return None

    def _learn_columns(self, cols: FloatArray, t: FloatArray | None) -> bool:
        """Learn the rows of ``cols`` (as in :meth:`_score_learn_columns`); False: not supported.
        Default: the batch path with the scores thrown away. A detector whose scoring costs
        far more than its learning can do better."""
        return self._score_learn_columns(cols, t, True) is not None

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

    def _gap_rows(self, n: int, t: FloatArray | None, learn: bool) -> BoolArray:
        """Which rows of a batch ``score_one``/``learn_one`` would treat as coming after a gap.

        Like :meth:`_is_gap`, a row is compared with the last finite time learned before it
        (with ``learn`` false, only with the time learned before the batch); a row whose time is
        not finite is never a gap and does not move the clock.
        """
        if t is None:
            return np.zeros(n, dtype=np.bool_)
        finite = np.isfinite(t)
        if learn:
            prev_idx = np.empty(n, dtype=np.intp)
            prev_idx[:1] = -1
            prev_idx[1:] = last_index(finite)[:-1]
        else:
            prev_idx = np.full(n, -1, dtype=np.intp)
        last0 = math.nan if self._last_t is None else self._last_t
        prev = np.where(prev_idx >= 0, t[np.maximum(prev_idx, 0)], last0)
        has_prev = (prev_idx >= 0) | (self._last_t is not None)
        with np.errstate(invalid="ignore"):
            dt = t - prev
            late = dt > self.params.max_gap_s if self.params.max_gap_s is not None else np.zeros(n, dtype=np.bool_)
            gap: BoolArray = finite & has_prev & ((dt < 0) | late)
        return gap

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
        when ``learn`` is true. Equal to calling ``score_one`` then ``learn_one`` per row, through
        the detector's batch path when it has one."""
        cols, times = self.as_columns(X, t, columns)
        if len(cols) == 0:
            return np.empty(0, dtype=np.float64)
        raw = self._score_learn_columns(cols, times, learn)
        if raw is not None:
            if learn:
                self._advance_clock(times)
            with np.errstate(invalid="ignore"):
                return np.where(np.isfinite(raw), np.clip(raw, 0.0, 1.0), 0.0)
        rows, tlist = self.rows(X, t, columns)
        out = np.empty(len(rows), dtype=np.float64)
        for i, row in enumerate(rows):
            ti = tlist[i] if tlist is not None else None
            out[i] = self.score_one(row, ti)
            if learn:
                self.learn_one(row, ti)
        return out

    def learn_many(
        self, X: npt.ArrayLike, t: npt.ArrayLike | None = None, columns: Sequence[str] | None = None
    ) -> None:
        """Learn every row in order, as ``learn_one`` would (through the batch path if any)."""
        cols, times = self.as_columns(X, t, columns)
        if len(cols) == 0:
            return
        if self._learn_columns(cols, times):
            self._advance_clock(times)
            return
        rows, tlist = self.rows(X, t, columns)
        for i, row in enumerate(rows):
            self.learn_one(row, tlist[i] if tlist is not None else None)

    def _advance_clock(self, t: FloatArray | None) -> None:
        """Set the time of the last learned sample, as ``learn_one`` per row would."""
        if t is not None:
            finite = t[np.isfinite(t)]
            if len(finite):
                self._last_t = float(finite[-1])

    def _matrix(
        self, X: npt.ArrayLike, t: npt.ArrayLike | None, columns: Sequence[str] | None
    ) -> tuple[FloatArray, list[str], FloatArray | None]:
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ValueError(f"X must be 1- or 2-dimensional, got shape {arr.shape}")
        names = list(columns) if columns is not None else list(self.inputs())
        if len(names) != arr.shape[1]:
            raise ValueError(f"X has {arr.shape[1]} columns but {len(names)} column names were given: {names}")
        tarr: FloatArray | None = None
        if t is not None:
            tarr = np.asarray(t, dtype=np.float64).reshape(-1)
            if len(tarr) != arr.shape[0]:
                raise ValueError(f"t has {len(tarr)} values for {arr.shape[0]} rows")
        return arr, names, tarr

    def as_columns(
        self, X: npt.ArrayLike, t: npt.ArrayLike | None, columns: Sequence[str] | None
    ) -> tuple[FloatArray, FloatArray | None]:
        """``X`` as an ``n x len(inputs())`` float array in the order of ``inputs()`` (an input
        ``columns`` does not name is all NaN, i.e. missing; with a name given twice the last
        column wins, as in a dict) and the times as a float array."""
        arr, names, tarr = self._matrix(X, t, columns)
        where = {name: j for j, name in enumerate(names)}
        inputs = self.inputs()
        if list(inputs) == names:
            return np.ascontiguousarray(arr), tarr
        cols = np.full((arr.shape[0], len(inputs)), np.nan, dtype=np.float64)
        for k, name in enumerate(inputs):
            if name in where:
                cols[:, k] = arr[:, where[name]]
        return cols, tarr

    def rows(
        self, X: npt.ArrayLike, t: npt.ArrayLike | None, columns: Sequence[str] | None
    ) -> tuple[list[dict[str, float]], list[float] | None]:
        """Rows of ``X`` as feature mappings (columns default to ``inputs()``) and times as floats."""
        arr, names, tarr = self._matrix(X, t, columns)
        times = [float(v) for v in tarr] if tarr is not None else None
        rows = [dict(zip(names, (float(v) for v in r), strict=True)) for r in arr]
        return rows, times

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"
