"""The numerical core of the ``multivariate`` detector: two linear models of normal operation
fitted on a block of rows, and the per-row statistics they give.

Why two models, both temporal:

* **Dynamic PCA** (Ku, Storer & Georgakis 1995): principal components of the last ``window``
  standardised rows stacked into one vector. The components that explain ``explained`` of the
  variance span "how the signals and their recent past normally move together"; the squared
  residual off that subspace (Q, the squared prediction error) grows when that joint pattern
  breaks, e.g. one sensor no longer following the others, even though every sensor stays
  inside its own range.
* **A vector autoregression** VAR(``lags``) fitted by ridge regression: it predicts each row from
  the ``lags`` rows before it. Its one-step residual, scored by the Mahalanobis distance under
  the residual covariance of the fitting rows, grows when the dynamics change (a new vibration,
  a control loop that no longer settles) and is blind to slow drift, because drift is predicted
  from the recent past.

Both statistics are smoothed by an EWMA (a single noisy row should not alarm; a sustained
change should) and divided by a high quantile of their own smoothed values on the fitting rows,
so each is 1 at "as unusual as the most unusual 1 % of normal operation". Their mean is the
detector's statistic. Nothing here looks at labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plantguard.detection.base import BoolArray, FloatArray

SD_FLOOR = 1e-9  # a constant signal is centred but not scaled (its z stays 0)
COV_RIDGE = 1e-6  # keeps the residual covariance invertible when a signal is constant
SKIP_ROWS = 20  # the first smoothed values of a fit still carry the EWMA's start-up


def fill_missing(rows: FloatArray) -> FloatArray:
    """Carry the last finite value of each column forward; leading gaps take the column mean
    (0 when a column has no value at all). Fitting needs complete rows; this keeps the rows."""
    out = np.array(rows, dtype=np.float64, copy=True)
    ok = np.isfinite(out)
    for j in range(out.shape[1]):
        col, good = out[:, j], ok[:, j]
        if good.all():
            continue
        if not good.any():
            col[:] = 0.0
            continue
        idx = np.where(good, np.arange(len(col)), -1)
        np.maximum.accumulate(idx, out=idx)
        col[idx >= 0] = col[idx[idx >= 0]]
        col[idx < 0] = float(col[good].mean())
    return out


def ewma(values: FloatArray, alpha: float, start: float | None = None) -> FloatArray:
    """Exponentially weighted moving average, starting at ``start`` (or the first value)."""
    out = np.empty(len(values), dtype=np.float64)
    m = float(values[0]) if start is None and len(values) else (start or 0.0)
    for i, v in enumerate(values.tolist()):  # plain floats: the same numbers, far faster
        m += alpha * (v - m)
        out[i] = m
    return out


def embed(z: FloatArray, rows: int) -> FloatArray:
    """Row i becomes [z_i, z_{i-1}, ..., z_{i-rows+1}]; before the start the first row repeats."""
    padded = np.vstack([np.repeat(z[:1], rows - 1, axis=0), z]) if rows > 1 else z
    n = len(z)
    return np.hstack([padded[rows - 1 - k : rows - 1 - k + n] for k in range(rows)])


class Rows:
    """A bounded FIFO of float rows (oldest first) in one ring array.

    The detector's buffers (rows for refits, the lag window) live here rather than in a deque of
    arrays so that the batch path can add thousands of rows in one copy, and so that two
    detectors' states compare by value (rows equal, NaN equal to NaN), which the batch-equals-
    streaming checks rely on. Storage grows by doubling up to ``maxlen``.
    """

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __init__(self, width: int, maxlen: int) -> None:
        self.width, self.maxlen = width, maxlen
        self._a = np.empty((min(maxlen, 16), width), dtype=np.float64)
        self._start = 0
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rows):
            return NotImplemented
        return self.maxlen == other.maxlen and bool(np.array_equal(self.array(), other.array(), equal_nan=True))

    def clear(self) -> None:
        self._start = self._n = 0

    def array(self) -> FloatArray:
        """The rows, oldest first (a copy when the ring wraps, else a view: do not write)."""
        cap = len(self._a)
        end = self._start + self._n
        if end <= cap:
            return self._a[self._start:end]
        return np.concatenate([self._a[self._start:], self._a[: end - cap]])

    def append(self, row: FloatArray) -> None:
        cap = len(self._a)
        if self._n < self.maxlen:
            if self._n == cap:
                self._a = np.concatenate([self.array(), np.empty((min(2 * cap, self.maxlen) - cap, self.width))])
                self._start, cap = 0, len(self._a)
            self._a[(self._start + self._n) % cap] = row
            self._n += 1
        else:
            self._a[self._start] = row
            self._start = (self._start + 1) % cap

    def extend(self, rows: FloatArray) -> None:
        """Append the rows in order (as ``append`` one by one would, in one copy)."""
        if len(rows) == 0:
            return
        kept = np.concatenate([self.array(), rows])[-self.maxlen:] if self._n else rows[-self.maxlen:]
        self.replace(kept)

    def replace(self, rows: FloatArray) -> None:
        """Hold exactly ``rows`` (at most ``maxlen`` of them)."""
        n = len(rows)
        if n > self.maxlen:
            raise ValueError(f"{n} rows exceed the capacity {self.maxlen}")
        cap = len(self._a)
        if n > cap:
            cap = min(self.maxlen, max(n, 2 * cap))
            self._a = np.empty((cap, self.width), dtype=np.float64)
        self._a[:n] = rows
        self._start, self._n = 0, n


@dataclass(eq=False)
class Fit:
    """Everything a fit produces; immutable in use, replaced whole by a refit.

    Compared by value (equal arrays, NaN equal to NaN): the same rows give the same fit to the
    last bit, whether they came in one by one or in a batch."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fit):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k), equal_nan=True)
                   for k in self.__dataclass_fields__)

    mu: FloatArray  # per-signal mean and scale of the fitting rows
    sd: FloatArray
    center: FloatArray  # DPCA: mean of the embedded vectors, loadings, retained eigenvalues
    loadings: FloatArray
    var_w: FloatArray  # VAR: (lags * m + 1) x m ridge coefficients, last row the intercept
    res_prec: FloatArray  # inverse residual covariance
    res_sd: FloatArray  # residual standard deviation per signal (for contributions)
    q_limit: float  # quantile of the smoothed Q / Mahalanobis statistics on the fitting rows
    d_limit: float
    q_last: float  # the smoothed statistics at the end of the fitting rows
    d_last: float

    def size(self) -> int:
        return sum(a.size for a in (self.mu, self.sd, self.center, self.loadings, self.var_w,
                                    self.res_prec, self.res_sd)) + 4


def fit(rows: FloatArray, *, window: int, lags: int, explained: float, ridge: float, alpha: float,
        quantile: float) -> Fit:
    """Fit both models on ``rows`` (oldest first, NaN allowed) and their label-free limits."""
    x = fill_missing(rows)
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > SD_FLOOR, sd, 1.0)
    z = (x - mu) / sd
    emb = embed(z, window)
    center = emb.mean(axis=0)
    d = emb - center
    cov = d.T @ d / max(len(d) - 1, 1)
    ev, vec = np.linalg.eigh(cov)
    ev, vec = ev[::-1], vec[:, ::-1]
    total = float(ev.sum())
    k = int(np.searchsorted(np.cumsum(ev) / total, explained) + 1) if total > 0 else 1
    k = min(max(k, 1), len(ev))
    loadings = np.ascontiguousarray(vec[:, :k])
    q = _q(d, loadings)

    design = _design(z, lags)
    a, b = design[lags:], z[lags:]
    w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b)
    res = z - design @ w
    rcov = np.cov(res[lags:].T).reshape(z.shape[1], z.shape[1]) + COV_RIDGE * np.eye(z.shape[1])
    prec = np.asarray(np.linalg.inv(rcov), dtype=np.float64)
    dist = np.einsum("ij,jk,ik->i", res, prec, res)
    dist[:lags] = np.median(dist[lags:])  # padded rows have no honest prediction

    qs, ds = ewma(q, alpha), ewma(dist, alpha)
    skip = min(SKIP_ROWS, len(qs) // 2)
    q_limit = max(float(np.quantile(qs[skip:], quantile)), 1e-12)
    d_limit = max(float(np.quantile(ds[skip:], quantile)), 1e-12)
    res_sd = np.asarray(np.sqrt(np.diag(rcov)), dtype=np.float64)
    return Fit(mu, sd, center, loadings, w, prec, res_sd, q_limit, d_limit,
               float(qs[-1]), float(ds[-1]))


def _q(d: FloatArray, loadings: FloatArray) -> FloatArray:
    r = d - (d @ loadings) @ loadings.T
    return np.asarray(np.einsum("ij,ij->i", r, r), dtype=np.float64)


def _design(z: FloatArray, lags: int) -> FloatArray:
    """Row i: [z_{i-1}, ..., z_{i-lags}, 1] (the first row repeats before the start)."""
    emb = embed(z, lags + 1)
    return np.hstack([emb[:, z.shape[1]:], np.ones((len(z), 1))])


@dataclass(frozen=True)
class RowStats:
    q: float  # raw squared prediction error of the newest embedded vector
    d: float  # raw Mahalanobis distance of the one-step residual
    per_q: FloatArray  # per-signal parts of q (summed over the window; they add up to q)
    per_d: FloatArray  # per-signal squared one-step errors in residual standard deviations


def row_stats(f: Fit, recent: FloatArray) -> RowStats:
    """Statistics of the newest row of ``recent`` (standardised, oldest first, at least
    ``max(window, lags + 1)`` rows, complete)."""
    m = recent.shape[1]
    window = f.center.size // m
    lags = (f.var_w.shape[0] - 1) // m
    vec = recent[::-1][:window].reshape(-1) - f.center
    res_q = vec - (vec @ f.loadings) @ f.loadings.T
    q = float(res_q @ res_q)
    past = np.append(recent[::-1][1 : lags + 1].reshape(-1), 1.0)
    res_d = recent[-1] - past @ f.var_w
    d = float(res_d @ f.res_prec @ res_d)
    per_q = (res_q.reshape(window, m) ** 2).sum(axis=0)
    per_d = (res_d / f.res_sd) ** 2
    return RowStats(q, d, per_q, per_d)


def batch_stats(f: Fit, z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """:func:`row_stats` of many rows at once: ``z`` is ``n x depth x m``, standardised, each
    row's recent past newest first (``z[:, 0]`` is the scored row, at least
    ``max(window, lags + 1)`` deep). Returns q, d, per_q and per_d, one row per row; the same
    products as :func:`row_stats` as matrix products, so equal up to summation order."""
    n, _, m = z.shape
    window = f.center.size // m
    lags = (f.var_w.shape[0] - 1) // m
    vec = z[:, :window].reshape(n, window * m) - f.center
    res_q = vec - (vec @ f.loadings) @ f.loadings.T
    q = np.einsum("ij,ij->i", res_q, res_q)
    past = np.hstack([z[:, 1 : lags + 1].reshape(n, lags * m), np.ones((n, 1))])
    res_d = z[:, 0] - past @ f.var_w
    d = np.einsum("ij,ij->i", res_d @ f.res_prec, res_d)
    per_q = (res_q.reshape(n, window, m) ** 2).sum(axis=1)
    per_d = (res_d / f.res_sd) ** 2
    return q, d, per_q, per_d


def shares(per_q: FloatArray, per_d: FloatArray, present: BoolArray) -> FloatArray:
    """Each signal's share of the evidence: half from its part of Q, half from its part of the
    one-step error, over the ``present`` signals only; sums to 1 (all 0 when there is none)."""
    pq, pd = np.where(present, per_q, 0.0), np.where(present, per_d, 0.0)
    share = pq / max(float(pq.sum()), 1e-300) + pd / max(float(pd.sum()), 1e-300)
    total = float(share.sum())
    return share / total if total > 0 else np.zeros(len(share))
