"""Exact confidence intervals for event rates and rate ratios, in pure Python.

scipy is not a dependency, and the report needs only a handful of quantiles per request, so
the two special functions are implemented here (Numerical Recipes, 3rd ed., §6.2 and §6.4):
the regularised incomplete gamma P(a, x) and beta I_x(a, b), with their inverses found by
bisection (monotone, and 200 halvings reach double precision on any bracket).

Formulas:

- Poisson rate, k events in exposure t (Garwood 1936): the exact interval is
  [G⁻¹(α/2; k) / t, G⁻¹(1 − α/2; k + 1) / t], G⁻¹(·; a) the Gamma(a, 1) quantile
  (= χ²(2a)/2), with lower bound 0 when k = 0.
- Rate ratio by conditioning (Przyborowski & Wilenski 1940; Breslow & Day 1987, §2.3):
  given the total K of events, the phase's share k is Binomial(K, π) with
  π = λ_p t_p / Σ λ_i t_i. The ratio of the phase's rate to the plant's mean rate is
  ρ = λ_p / λ̄ = π · T / t_p, so the exact (Clopper–Pearson 1934) interval for π, scaled by
  T / t_p, is an exact interval for ρ. ρ = 1 exactly when the phase's rate equals the rest's.
- The p-value is the exact binomial test of π = t_p / T, two-sided as twice the smaller
  tail (capped at 1): it is below α exactly when the central interval excludes 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 100_000


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError("incomplete beta: no convergence")  # pragma: no cover


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def gammainc(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x) for a > 0."""
    if x <= 0.0:
        return 0.0
    ln_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:  # series
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                return min(1.0, total * math.exp(ln_front))
        raise ArithmeticError("incomplete gamma: no convergence")  # pragma: no cover
    # continued fraction for Q(a, x) (modified Lentz)
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return max(0.0, 1.0 - math.exp(ln_front) * h)
    raise ArithmeticError("incomplete gamma: no convergence")  # pragma: no cover


def _bisect(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """The x in [lo, hi] where the increasing function f reaches target."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def beta_ppf(q: float, a: float, b: float) -> float:
    """The q-quantile of Beta(a, b)."""
    return _bisect(lambda x: betainc(a, b, x), q, 0.0, 1.0)


def gamma_ppf(q: float, a: float) -> float:
    """The q-quantile of Gamma(a, 1)."""
    hi = max(1.0, a)
    while gammainc(a, hi) < q:
        hi *= 2.0
    return _bisect(lambda x: gammainc(a, x), q, 0.0, hi)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact central interval for a binomial proportion, k successes of n."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n and n > 0")
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else beta_ppf(alpha / 2, k, n - k + 1)
    hi = 1.0 if k == n else beta_ppf(1 - alpha / 2, k + 1, n - k)
    return lo, hi


def poisson_ci(k: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson mean, k events observed."""
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else gamma_ppf(alpha / 2, k)
    return lo, gamma_ppf(1 - alpha / 2, k + 1)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X ≤ k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return betainc(n - k, k + 1, 1.0 - p)


def binom_test(k: int, n: int, p: float) -> float:
    """Two-sided exact binomial test: twice the smaller tail, capped at 1."""
    if n == 0:
        return 1.0
    lower = binom_cdf(k, n, p)
    upper = 1.0 - binom_cdf(k - 1, n, p)
    return min(1.0, 2.0 * min(lower, upper))


@dataclass(frozen=True)
class RatioEstimate:
    ratio: float
    low: float
    high: float
    p_value: float


def ratio_to_mean(k: int, t: float, k_total: int, t_total: float, confidence: float = 0.95) -> RatioEstimate | None:
    """The ratio of a part's event rate (k in exposure t) to the whole's (k_total in t_total),
    with the exact conditional interval; None without events or exposure."""
    if k_total <= 0 or t <= 0 or t_total <= 0 or k > k_total or t > t_total * (1 + 1e-12):
        return None
    share = min(1.0, t / t_total)
    scale = t_total / t
    ratio = (k / t) / (k_total / t_total)
    if share >= 1.0:
        return RatioEstimate(1.0, 1.0, 1.0, 1.0)
    lo, hi = clopper_pearson(k, k_total, confidence)
    return RatioEstimate(ratio, lo * scale, hi * scale, binom_test(k, k_total, share))
