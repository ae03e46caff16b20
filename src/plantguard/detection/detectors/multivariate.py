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

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

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
from plantguard.detection.decision import EvidenceFilter
from plantguard.detection.detectors.mvmodel import Fit, Rows, batch_stats, fit, row_stats, shares

BLOCK_ROWS = 8192  # rows per block of the batch path's matrix products (bounds its memory)
EWMA_FORGOTTEN = 1e-30  # weight below which a smoothed value's start no longer shows (see _tail_ewma)


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
        m = len(p.signals)
        self._buf = Rows(m, p.buffer)  # raw rows learned as normal (NaN kept)
        self._fit: Fit | None = None
        self._since = 0  # rows learned since the last fit
        self._depth = max(p.window, p.lags + 1) - 1
        self._hist = Rows(m, self._depth)  # last raw (imputed) rows
        self._last: FloatArray = np.full(m, np.nan)  # last value seen per signal
        self._q: float | None = None  # smoothed statistics (sequence state)
        self._d: float | None = None
        self._pq: FloatArray | None = None  # smoothed per-signal parts of both (for contributions)
        self._pd: FloatArray | None = None
        self._share: FloatArray | None = None  # report of the latest score_one, not state:
        self._present: BoolArray | None = None  # each signal's share, and which were present
        self._evidence = 0.0  # report: the latest row's unsmoothed statistic in alarm levels

    def _on_gap(self) -> None:
        self._hist.clear()
        self._q = self._d = None
        self._pq = self._pd = None

    def _adopt_report(self, other: Detector[MultivariateParams]) -> None:
        if isinstance(other, Multivariate):
            self._share, self._present = other._share, other._present
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
        past = self._hist.array() if len(self._hist) else row[None, :]
        recent = np.vstack([np.repeat(past[:1], self._depth - len(past), axis=0), past, row])
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
        self._share = self._present = None
        self._evidence = 0.0
        v = self._vector(x)
        if v is None or self._fit is None:
            return 0.0
        q, d, pq, pd, raw = self._stats(v)
        self._evidence = raw / self.params.margin
        present = ~np.isnan(v)
        self._share, self._present = shares(pq, pd, present), present
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
        self._fit = fit(self._buf.array(), window=p.window, lags=p.lags, explained=p.explained,
                        ridge=p.ridge, alpha=p.smoothing, quantile=p.quantile)
        self._since = 0
        if first:  # continue the smoothing from where it stands at the end of the fitting rows
            self._q, self._d = self._fit.q_last, self._fit.d_last

    # -- batch path ---------------------------------------------------------------------------

    def _window_stats(self, e: FloatArray, idx: npt.NDArray[np.intp]) -> tuple[FloatArray, ...]:
        """Raw statistics of many rows: row k's recent past is ``e[idx[k]]`` (newest first),
        standardised as :meth:`_stats` does, in blocks so memory stays bounded."""
        f = self._fit
        assert f is not None
        parts = [batch_stats(f, (e[idx[i : i + BLOCK_ROWS]] - f.mu) / f.sd) for i in range(0, len(idx), BLOCK_ROWS)]
        return tuple(np.concatenate(col) for col in zip(*parts, strict=True))

    def _report(self, q: float, d: float, pq: FloatArray, pd: FloatArray, v: FloatArray) -> None:
        """What ``score_one`` reports for a scored row with raw statistics ``q``, ``d`` and
        smoothed per-signal parts ``pq``, ``pd``."""
        self._evidence = self.statistic(q, d) / self.params.margin
        self._present = ~np.isnan(v)
        self._share = shares(pq, pd, self._present)

    def _tail_ewma(self, state: FloatArray | None, per: FloatArray, reset: BoolArray) -> FloatArray | None:
        """The smoothed per-signal parts after the rows ``per`` (``reset``: the smoothing restarts
        before that row), in the loop's order. Only the end value is needed (for contributions),
        so the loop starts where the weight of everything earlier drops below
        :data:`EWMA_FORGOTTEN` (the latest restart, or that many rows back): the result is the
        loop's to the last bits, at a cost bounded per batch."""
        a = self.params.smoothing
        span = 1 if a >= 1.0 else math.ceil(math.log(EWMA_FORGOTTEN) / math.log1p(-a))
        first = max(int(last_index(reset)[-1]), len(per) - span, 0)
        if first > 0 or reset[0]:
            state = None
        for row in per[first:]:
            state = row if state is None else state + a * (row - state)
        return state

    def _score_learn_columns(self, cols: FloatArray, t: FloatArray | None, learn: bool) -> FloatArray | None:
        """The batch path: the lag windows of all rows are gathered at once, the PCA residual
        and the one-step errors are matrix products over them, and only the EWMA runs as a loop
        over floats. A batch is cut where the model is fitted or refitted, at the rows where the
        loop would do it; rows with no value are skipped (they only carry gaps)."""
        with np.errstate(invalid="ignore"):
            v = np.where(np.isfinite(cols), cols, np.nan)
        n, m = v.shape
        gap = self._gap_rows(n, t, learn)
        rows = np.flatnonzero(~np.isnan(v).all(axis=1))
        out = np.zeros(n, dtype=np.float64)
        self._share = self._present = None
        self._evidence = 0.0
        if not learn:
            if self._fit is not None and len(rows):
                self._score_only(v, rows, gap[rows], out)
            return out
        cg = np.cumsum(gap)
        reset = np.diff(np.r_[0, cg[rows]]) > 0 if len(rows) else np.zeros(0, dtype=np.bool_)
        trailing = bool(cg[-1] > (cg[rows[-1]] if len(rows) else 0))
        raw = v[rows]
        seen = ~np.isnan(raw)
        li = np.maximum.accumulate(np.where(seen, np.arange(len(raw))[:, None], -1), axis=0)
        carried = np.where(li >= 0, raw[np.maximum(li, 0), np.arange(m)], self._last)
        if len(rows):
            self._last = carried[-1].copy()
        p, k0 = self.params, 0
        pq0, pd0 = self._pq, self._pd
        parts: list[tuple[FloatArray, FloatArray, BoolArray]] = []  # per-signal parts of fitted rows
        while k0 < len(rows):
            if self._fit is None:
                need = max(1, p.warmup - len(self._buf))
            elif p.refit_every:
                need = max(1, p.refit_every - self._since)
            else:
                need = len(rows) - k0
            k1 = min(len(rows), k0 + need)
            part = self._learn_block(raw[k0:k1], carried[k0:k1], reset[k0:k1], out, rows[k0:k1])
            if part is not None:
                parts.append(part)
            self._buf.extend(raw[k0:k1])
            self._since += k1 - k0
            if (self._fit is None and len(self._buf) >= p.warmup) or (
                self._fit is not None and p.refit_every and self._since >= p.refit_every
            ):
                self._refit()
            k0 = k1
        if parts:  # only the end value of the smoothed parts is state (and the last row's report)
            per_q, per_d, rs = (np.concatenate(col) for col in zip(*parts, strict=True))
            self._pq, self._pd = self._tail_ewma(pq0, per_q, rs), self._tail_ewma(pd0, per_d, rs)
            if self._present is not None and self._pq is not None and self._pd is not None:
                self._share = shares(self._pq, self._pd, self._present)
        if trailing:
            self._on_gap()
        return out

    def _learn_block(self, raw: FloatArray, carried: FloatArray, reset: BoolArray, out: FloatArray,
                     where: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray, BoolArray] | None:
        """Score and learn rows with one fit (or none yet): the lag window of row k reaches back
        to the latest restart (a gap, or the rows already held), padded with its oldest row.
        Returns the rows' raw per-signal parts (smoothed by the caller, once per batch)."""
        f, depth = self._fit, self._depth
        imputed = np.where(np.isnan(carried), f.mu, carried) if f is not None else carried
        hist = self._hist.array()
        e = np.concatenate([hist, imputed])
        k = np.arange(len(raw))
        ri = last_index(reset)
        start = np.where(ri >= 0, len(hist) + ri, 0)
        pos = len(hist) + k
        if f is not None:
            idx = np.maximum(pos[:, None] - np.arange(depth + 1), start[:, None])
            q_raw, d_raw, per_q, per_d = self._window_stats(e, idx)
            a = self.params.smoothing
            qs, ds = [], []
            q, d = self._q, self._d
            for sq, sd, r in zip(q_raw.tolist(), d_raw.tolist(), reset.tolist(), strict=True):
                if r or q is None or d is None:
                    q, d = sq, sd
                else:
                    q += a * (sq - q)
                    d += a * (sd - d)
                qs.append(q)
                ds.append(d)
            self._q, self._d = q, d
            stat = 0.5 * (np.array(qs) / f.q_limit + np.array(ds) / f.d_limit)
            out[where] = squash_array(stat, self.params.margin)
            if where[-1] == len(out) - 1:  # the batch's last row: its evidence, before any refit
                self._evidence = self.statistic(float(q_raw[-1]), float(d_raw[-1])) / self.params.margin
                self._present = ~np.isnan(raw[-1])
            self._hist.replace(e[max(int(start[-1]), len(e) - depth):])
            return per_q, per_d, reset
        if reset.any():
            self._q = self._d = None
        self._hist.replace(e[max(int(start[-1]), len(e) - depth):])
        return None

    def _score_only(self, v: FloatArray, rows: npt.NDArray[np.intp], gap: BoolArray, out: FloatArray) -> None:
        """``learn=False``: every row against the held state (its lag window the held rows, or
        itself alone after a gap)."""
        f = self._fit
        assert f is not None
        raw = v[rows]
        imputed = np.where(np.isnan(raw), self._last, raw)
        imputed = np.where(np.isnan(imputed), f.mu, imputed)
        hist = self._hist.array()
        h, depth = len(hist), self._depth
        e = np.concatenate([hist, imputed])
        own = (h + np.arange(len(rows)))[:, None]
        back = np.arange(depth + 1)[None, :]
        idx = np.where((back == 0) | gap[:, None] | (h == 0), own, np.maximum(h - back, 0))
        q_raw, d_raw, per_q, per_d = self._window_stats(e, idx)
        a, keep = self.params.smoothing, ~gap[:, None]

        def smooth(state: float | FloatArray | None, x: FloatArray) -> FloatArray:
            if state is None:
                return x
            return np.where(keep if x.ndim == 2 else keep[:, 0], state + a * (x - state), x)

        q, d = smooth(self._q, q_raw), smooth(self._d, d_raw)
        out[rows] = squash_array(0.5 * (q / f.q_limit + d / f.d_limit), self.params.margin)
        if rows[-1] == len(out) - 1:
            self._report(float(q_raw[-1]), float(d_raw[-1]), smooth(self._pq, per_q)[-1], smooth(self._pd, per_d)[-1],
                         raw[-1])

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
        if self._share is None or self._present is None:
            return {}
        share, present = self._share, self._present
        return {s: float(share[j]) for j, s in enumerate(self.params.signals) if present[j]}
