"""Exact binomial confidence interval (Clopper-Pearson), standard library only."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

CLOPPER_PEARSON_RULE = "clopper-pearson-v1: exact binomial interval, two-sided, equal tails"


def _log_pmf(k: int, n: int, p: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    return min(1.0, math.fsum(math.exp(_log_pmf(i, n, p)) for i in range(k + 1)))


def _solve_decreasing(target: float, function: Callable[[float], float]) -> float:
    """p in [0, 1] with function(p) = target, for a function decreasing in p (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if function(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class Proportion:
    successes: int
    trials: int
    proportion: float | None
    ci_lower: float | None
    ci_upper: float | None
    confidence: float


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> Proportion:
    """Exact interval: the lower bound solves P(X >= k | p) = alpha/2, the upper bound solves
    P(X <= k | p) = alpha/2; 0 of n gives lower 0 and k = n gives upper 1 (Clopper & Pearson,
    Biometrika 1934). With no trials there is no proportion."""
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError("need 0 <= successes <= trials")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    if trials == 0:
        return Proportion(0, 0, None, None, None, confidence)
    alpha = 1 - confidence
    k, n = successes, trials
    lower = 0.0 if k == 0 else _solve_decreasing(1 - alpha / 2, lambda p: binomial_cdf(k - 1, n, p))
    upper = 1.0 if k == n else _solve_decreasing(alpha / 2, lambda p: binomial_cdf(k, n, p))
    return Proportion(k, n, k / n, lower, upper, confidence)
