"""``multivariate``: one model of how several signals move together over time.

Univariate detectors ask "is this sensor unusual?". Many plant faults are not: a closing valve
or a leak shows as sensors that no longer agree with each other or whose dynamics change while
each stays in its range. This detector learns, from rows it is told are normal, a dynamic PCA of
the last ``window`` rows and a VAR(``lags``) one-step predictor (see
:mod:`plantguard.detection.detectors.mvmodel`), and scores each row by the mean of their two
EWMA-smoothed statistics, each divided by its own ``quantile`` on the fitting rows. The score is
``squash(statistic, margin)``: 0.5 — every detector's nominal alarm level — when the statistic
is ``margin`` times that quantile. The limit is therefore set without labels, from normal rows
only.

The decision (:meth:`Multivariate.alarm_filter`, used by the benchmark and the product alike) does
not threshold that smoothed score: it accumulates each row's own, unsmoothed statistic in alarm
levels (:meth:`Multivariate.evidence`) in a CUSUM that raises and a CUSUM of
normality that clears (:mod:`plantguard.detection.decision`). A strong jump raises at once, a
weak change after a few rows, and the alarm clears within a few normal rows however large the
fault was — the EWMA behind the score would delay both edges.

Life cycle: without prior training it collects ``warmup`` rows (scoring 0), then fits. Calling
``learn_many`` on normal rows first fits on them at once. Afterwards every ``refit_every`` rows
learned with ``update_model=True`` it refits on the last ``buffer`` such rows (bounded memory),
so slow changes of the normal state are followed; a filter that protects anomalies
(``update_model=False``) keeps faults out of that buffer while the lag window and the smoothed
statistics still advance. A gap (``max_gap_s``) drops the lag window and the smoothing.

Missing values: a missing signal takes its last value (the model mean before any); a row with
no signal at all scores 0 and is not learned. ``contributions()`` says, for the last scored row,
which signals carry the evidence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

from plantguard.detection.base import Detector, DetectorParams, FloatArray, feature, squash
from plantguard.detection.decision import EvidenceFilter
from plantguard.detection.detectors.mvmodel import Fit, fit, row_stats, shares


class MultivariateParams(DetectorParams):
    """Defaults are generic choices (see docs/detection.md), not fitted to one data set."""

    signals: list[str] = Field(min_length=1, max_length=256, description="Feature names modelled jointly.")
    window: int = Field(default=5, ge=1, le=60, description="Rows stacked into one vector by the dynamic PCA.")
    lags: int = Field(default=3, ge=1, le=30, description="Past rows the VAR predictor uses for the next row.")
    explained: float = Field(default=0.9, gt=0, lt=1, description="Share of variance the PCA subspace keeps.")
    ridge: float = Field(default=1.0, ge=0, description="Ridge penalty of the VAR fit (standardised units).")
    smoothing: float = Field(default=0.2, gt=0, le=1, description="EWMA weight of the newest row's statistics.")
    quantile: float = Field(default=0.99, gt=0.5, lt=1, description="Quantile of normal statistics used as unit.")
    margin: float = Field(default=3.0, gt=0, description="Statistic / quantile ratio that scores 0.5 (alarm).")
    warmup: int = Field(default=400, ge=20, description="Rows collected before the first fit without training.")
    buffer: int = Field(default=2000, ge=20, le=1_000_000, description="Most recent normal rows kept for refits.")
    refit_every: int = Field(default=0, ge=0, description="Refit after this many newly learned rows; 0 = never.")
    onset_drift: float = Field(default=0.5, gt=0, description="Alarm filter: evidence (in alarm levels) a row must "
                               "exceed to add to the onset CUSUM.")
    onset_evidence: float = Field(default=3.0, gt=0, description="Alarm filter: raise when the onset CUSUM reaches "
                                  "this (a row at 4 alarm levels raises at once).")
    clear_level: float = Field(default=0.7, gt=0, description="Alarm filter: rows below this many alarm levels add "
                               "to the evidence of normality.")
    clear_evidence: float = Field(default=1.0, gt=0, description="Alarm filter: clear when the evidence of "
                                  "normality reaches this.")
    min_on_s: float = Field(default=10.0, ge=0, description="Alarm filter: an alarm lasts at least this long "
                            "(sample time, seconds).")
    min_off_s: float = Field(default=30.0, ge=0, description="Alarm filter: after a clear, a new alarm needs this "
                             "long (sample time, seconds; chatter suppression).")

    @field_validator("signals")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or any(not s for s in v):
            raise ValueError("signals must be distinct, non-empty names")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> MultivariateParams:
        if self.warmup > self.buffer:
            raise ValueError("warmup must not exceed buffer")
        return self


class Multivariate(Detector[MultivariateParams]):
    name = "multivariate"
    params_model = MultivariateParams
    example: ClassVar[dict[str, Any]] = {"signals": ["a", "b", "c"], "warmup": 100, "buffer": 300,
                                         "refit_every": 100, "quantile": 0.9}

    def inputs(self) -> tuple[str, ...]:
        return tuple(self.params.signals)

    # -- state --------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        p = self.params
        self._buf: deque[FloatArray] = deque(maxlen=p.buffer)  # raw rows learned as normal (NaN kept)
        self._fit: Fit | None = None
        self._since = 0  # rows learned since the last fit
        self._depth = max(p.window, p.lags + 1) - 1
        self._hist: deque[FloatArray] = deque(maxlen=self._depth)  # last raw (imputed) rows
        self._last: FloatArray = np.full(len(p.signals), np.nan)  # last value seen per signal
        self._q: float | None = None  # smoothed statistics (sequence state)
        self._d: float | None = None
        self._pq: FloatArray | None = None  # smoothed per-signal parts of both (for contributions)
        self._pd: FloatArray | None = None
        self._shares: dict[str, float] = {}  # report of the latest score_one, not state
        self._evidence = 0.0  # report: the latest row's unsmoothed statistic in alarm levels

    def _on_gap(self) -> None:
        self._hist.clear()
        self._q = self._d = None
        self._pq = self._pd = None

    def _adopt_report(self, other: Detector[MultivariateParams]) -> None:
        if isinstance(other, Multivariate):
            self._shares = other._shares
            self._evidence = other._evidence

    def state_size(self) -> int:
        m = len(self.params.signals)
        fitted = self._fit.size() if self._fit is not None else 0
        return (len(self._buf) + len(self._hist) + 3) * m + fitted + 4

    @property
    def fitted(self) -> bool:
        return self._fit is not None

    # -- rows ---------------------------------------------------------------------------------

    def _vector(self, x: Mapping[str, float]) -> FloatArray | None:
        """The row as an array (NaN where missing), or None when no signal has a value."""
        v = np.array([np.nan if (f := feature(x, s)) is None else f for s in self.params.signals])
        return None if np.isnan(v).all() else v

    def _impute(self, v: FloatArray) -> FloatArray:
        """Missing signals take their last value, else the fitted mean (0 in model units)."""
        out = np.where(np.isnan(v), self._last, v)
        if self._fit is not None:
            out = np.where(np.isnan(out), self._fit.mu, out)
        return out

    def _stats(self, v: FloatArray) -> tuple[float, float, FloatArray, FloatArray, float]:
        """Smoothed Q and Mahalanobis statistics after row ``v``, their per-signal parts, and the
        row's own (unsmoothed) statistic."""
        f = self._fit
        assert f is not None
        row = self._impute(v)
        past = list(self._hist) or [row]
        recent = np.vstack([*([past[0]] * (self._depth - len(past))), *past, row])
        z = (recent - f.mu) / f.sd
        s = row_stats(f, z)
        a = self.params.smoothing
        q = s.q if self._q is None else self._q + a * (s.q - self._q)
        d = s.d if self._d is None else self._d + a * (s.d - self._d)
        pq = s.per_q if self._pq is None else self._pq + a * (s.per_q - self._pq)
        pd = s.per_d if self._pd is None else self._pd + a * (s.per_d - self._pd)
        return q, d, pq, pd, self.statistic(s.q, s.d)

    def statistic(self, q: float, d: float) -> float:
        f = self._fit
        assert f is not None
        return 0.5 * (q / f.q_limit + d / f.d_limit)

    # -- contract -----------------------------------------------------------------------------

    def _score(self, x: Mapping[str, float], t: float | None) -> float:
        self._shares = {}
        self._evidence = 0.0
        v = self._vector(x)
        if v is None or self._fit is None:
            return 0.0
        q, d, pq, pd, raw = self._stats(v)
        self._evidence = raw / self.params.margin
        present = ~np.isnan(v)
        share = shares(pq, pd, present)
        self._shares = {s: float(share[j]) for j, s in enumerate(self.params.signals) if present[j]}
        return squash(self.statistic(q, d), self.params.margin)

    def _learn(self, x: Mapping[str, float], t: float | None, update_model: bool) -> None:
        v = self._vector(x)
        if v is None:
            return
        if self._fit is not None:
            self._q, self._d, self._pq, self._pd, _ = self._stats(v)
        row = self._impute(v)
        self._hist.append(row)
        self._last = np.where(np.isnan(v), self._last, v)
        if not update_model:
            return
        self._buf.append(v)
        self._since += 1
        p = self.params
        if (self._fit is None and len(self._buf) >= p.warmup) or (
            self._fit is not None and p.refit_every and self._since >= p.refit_every
        ):
            self._refit()

    def _refit(self) -> None:
        p = self.params
        first = self._fit is None
        self._fit = fit(np.vstack(self._buf), window=p.window, lags=p.lags, explained=p.explained,
                        ridge=p.ridge, alpha=p.smoothing, quantile=p.quantile)
        self._since = 0
        if first:  # continue the smoothing from where it stands at the end of the fitting rows
            self._q, self._d = self._fit.q_last, self._fit.d_last

    def learn_many(
        self, X: npt.ArrayLike, t: npt.ArrayLike | None = None, columns: Sequence[str] | None = None
    ) -> None:
        """Learn the rows in order, then :meth:`fit_now`."""
        super().learn_many(X, t, columns)
        self.fit_now()

    def fit_now(self) -> bool:
        """Fit on the normal rows held so far if not fitted yet and there are at least
        ``max(20, 2 * (window + lags))`` of them (training given up front need not reach
        ``warmup``). Returns whether the detector is fitted."""
        p = self.params
        if self._fit is None and len(self._buf) >= max(20, 2 * (p.window + p.lags)):
            self._refit()
        return self._fit is not None

    def evidence(self) -> float:
        """The latest ``score_one`` row's own statistic, before smoothing, in alarm levels
        (1 = ``margin`` times the normal quantile); 0 when nothing was scored.
        :meth:`alarm_filter` accumulates it: the CUSUM does the smoothing, so a second one (the
        EWMA behind the score) would only delay both edges."""
        return self._evidence

    def alarm_filter(self) -> EvidenceFilter:
        """The decision this detector is evaluated with and the product uses: raise on
        accumulated evidence of an anomaly, clear on accumulated evidence of normality (see
        :mod:`plantguard.detection.decision`); alarmed rows are not learned."""
        p = self.params
        return EvidenceFilter(self, self.evidence, onset_drift=p.onset_drift, onset_evidence=p.onset_evidence,
                              clear_level=p.clear_level, clear_evidence=p.clear_evidence, min_on_s=p.min_on_s,
                              min_off_s=p.min_off_s)

    def contributions(self) -> dict[str, float]:
        """Each signal's share (summing to 1) of the evidence behind the latest ``score_one``:
        its smoothed part of the PCA residual over the window plus its smoothed part of the
        standardised one-step prediction error (smoothed like the statistics that alarm).
        Only signals present in that row; empty before a fit or when nothing was scored."""
        return dict(self._shares)
