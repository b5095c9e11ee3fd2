"""Exact binomial (Clopper-Pearson) interval for the primary endpoint (DOMAIN.md)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.statistics import CLOPPER_PEARSON_RULE, binomial_cdf, clopper_pearson


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    [
        # Reference values: R binom.test(k, n)$conf.int (exact, two-sided 95 %).
        (7, 12, 0.2767, 0.8483),
        (0, 10, 0.0, 0.3085),
        (10, 10, 0.6915, 1.0),
        (50, 100, 0.3983, 0.6017),
        (5, 10, 0.1871, 0.8129),
        (1, 1, 0.0250, 1.0),
        (0, 1, 0.0, 0.9750),
        (1, 10, 0.0025, 0.4450),
        (3, 20, 0.0321, 0.3789),
    ],
)
def test_known_values(successes: int, trials: int, lower: float, upper: float) -> None:
    result = clopper_pearson(successes, trials)
    assert result.successes == successes
    assert result.trials == trials
    assert result.proportion == successes / trials
    assert result.confidence == 0.95
    assert result.ci_lower is not None and result.ci_upper is not None
    assert round(result.ci_lower, 4) == lower
    assert round(result.ci_upper, 4) == upper


def test_zero_of_n_has_lower_exactly_zero_and_n_of_n_upper_exactly_one() -> None:
    assert clopper_pearson(0, 10).ci_lower == 0.0
    assert clopper_pearson(10, 10).ci_upper == 1.0


@pytest.mark.parametrize("n", [1, 2, 5, 10, 12, 30, 100])
@pytest.mark.parametrize("confidence", [0.90, 0.95, 0.99])
def test_zero_and_all_have_closed_forms(n: int, confidence: float) -> None:
    # 0 of n: upper = 1 - (alpha/2)^(1/n); n of n: lower = (alpha/2)^(1/n)
    tail = (1 - confidence) / 2
    none = clopper_pearson(0, n, confidence)
    everyone = clopper_pearson(n, n, confidence)
    assert none.proportion == 0.0
    assert none.ci_lower == 0.0
    assert none.ci_upper is not None
    assert math.isclose(none.ci_upper, 1 - tail ** (1 / n), abs_tol=1e-9)
    assert everyone.proportion == 1.0
    assert everyone.ci_upper == 1.0
    assert everyone.ci_lower is not None
    assert math.isclose(everyone.ci_lower, tail ** (1 / n), abs_tol=1e-9)


def test_no_trials_has_no_proportion() -> None:
    result = clopper_pearson(0, 0)
    assert (result.successes, result.trials) == (0, 0)
    assert result.proportion is None
    assert result.ci_lower is None
    assert result.ci_upper is None


@pytest.mark.parametrize(
    ("successes", "trials", "confidence"),
    [
        (-1, 10, 0.95),
        (11, 10, 0.95),
        (1, 0, 0.95),
        (0, -1, 0.95),
        (5, 10, 0.0),
        (5, 10, 1.0),
        (5, 10, 1.5),
        (5, 10, -0.1),
    ],
)
def test_invalid_input_raises(successes: int, trials: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        clopper_pearson(successes, trials, confidence)


def test_wider_at_higher_confidence() -> None:
    c90, c95, c99 = (clopper_pearson(7, 12, c) for c in (0.90, 0.95, 0.99))
    assert c99.ci_lower < c95.ci_lower < c90.ci_lower  # type: ignore[operator]
    assert c90.ci_upper < c95.ci_upper < c99.ci_upper  # type: ignore[operator]


def test_rule_is_named() -> None:
    assert CLOPPER_PEARSON_RULE.startswith("clopper-pearson-v1")


# --- binomial_cdf -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [
        (0, 1, 0.5, 0.5),
        (0, 2, 0.5, 0.25),
        (1, 2, 0.5, 0.75),
        (2, 2, 0.5, 1.0),
        (0, 10, 0.1, 0.9**10),
        (3, 10, 0.5, 176 / 1024),  # C(10,0..3) = 1 + 10 + 45 + 120 = 176
        (-1, 10, 0.5, 0.0),
        (10, 10, 0.3, 1.0),
        (4, 10, 0.0, 1.0),
        (4, 10, 1.0, 0.0),
    ],
)
def test_binomial_cdf_values(k: int, n: int, p: float, expected: float) -> None:
    assert math.isclose(binomial_cdf(k, n, p), expected, rel_tol=1e-12, abs_tol=1e-15)


@given(
    st.integers(min_value=1, max_value=60).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(min_value=0, max_value=n - 1))
    ),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_binomial_cdf_is_monotone_decreasing_in_p(nk: tuple[int, int], p1: float, p2: float) -> None:
    n, k = nk
    lo, hi = min(p1, p2), max(p1, p2)
    assert 0.0 <= binomial_cdf(k, n, hi) <= binomial_cdf(k, n, lo) + 1e-12 <= 1.0 + 1e-12


@given(st.integers(min_value=1, max_value=60), st.floats(min_value=0.001, max_value=0.999))
def test_binomial_cdf_is_monotone_increasing_in_k_and_reaches_one(n: int, p: float) -> None:
    values = [binomial_cdf(k, n, p) for k in range(-1, n + 1)]
    assert values[0] == 0.0
    assert values[-1] == 1.0
    assert all(a <= b + 1e-12 for a, b in zip(values, values[1:], strict=False))


# --- interval properties ------------------------------------------------------------------------

trials_and_successes = st.integers(min_value=1, max_value=80).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@settings(max_examples=40, deadline=None)
@given(trials_and_successes, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_interval_contains_the_proportion_and_stays_in_unit_interval(kn: tuple[int, int], confidence: float) -> None:
    k, n = kn
    result = clopper_pearson(k, n, confidence)
    assert result.proportion == k / n
    assert result.ci_lower is not None and result.ci_upper is not None
    assert 0.0 <= result.ci_lower <= result.proportion <= result.ci_upper <= 1.0
    # strictly inside except at the ends, where the bound is exact
    assert (result.ci_lower == 0.0) == (k == 0)
    assert (result.ci_upper == 1.0) == (k == n)


@settings(max_examples=40, deadline=None)
@given(trials_and_successes)
def test_bounds_solve_the_tail_equations(kn: tuple[int, int]) -> None:
    # lower: P(X >= k | lower) = 2.5 %; upper: P(X <= k | upper) = 2.5 %
    k, n = kn
    result = clopper_pearson(k, n)
    assert result.ci_lower is not None and result.ci_upper is not None
    if k > 0:
        assert math.isclose(1 - binomial_cdf(k - 1, n, result.ci_lower), 0.025, abs_tol=1e-9)
    if k < n:
        assert math.isclose(binomial_cdf(k, n, result.ci_upper), 0.025, abs_tol=1e-9)


@settings(max_examples=30, deadline=None)
@given(trials_and_successes)
def test_symmetry_k_and_n_minus_k(kn: tuple[int, int]) -> None:
    k, n = kn
    a, b = clopper_pearson(k, n), clopper_pearson(n - k, n)
    assert a.ci_lower is not None and a.ci_upper is not None and b.ci_lower is not None and b.ci_upper is not None
    assert math.isclose(a.ci_lower, 1 - b.ci_upper, abs_tol=1e-9)
    assert math.isclose(a.ci_upper, 1 - b.ci_lower, abs_tol=1e-9)


@pytest.mark.parametrize(("k", "n", "factor"), [(5, 10, 10), (7, 12, 5), (0, 10, 10), (10, 10, 10), (1, 4, 25)])
def test_narrower_for_more_trials_at_the_same_proportion(k: int, n: int, factor: int) -> None:
    small, large = clopper_pearson(k, n), clopper_pearson(k * factor, n * factor)
    assert small.proportion == large.proportion
    assert large.ci_upper - large.ci_lower < small.ci_upper - small.ci_lower  # type: ignore[operator]


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=1, max_value=20).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
    st.integers(min_value=2, max_value=6),
)
def test_narrower_for_more_trials_property(kn: tuple[int, int], factor: int) -> None:
    k, n = kn
    small, large = clopper_pearson(k, n), clopper_pearson(k * factor, n * factor)
    assert large.ci_upper - large.ci_lower < small.ci_upper - small.ci_lower  # type: ignore[operator]


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=2, max_value=100).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n - 1), st.just(n))
    )
)
def test_one_more_success_moves_both_bounds_up(kn: tuple[int, int]) -> None:
    k, n = kn
    a, b = clopper_pearson(k, n), clopper_pearson(k + 1, n)
    assert a.ci_lower < b.ci_lower  # type: ignore[operator]
    assert a.ci_upper < b.ci_upper  # type: ignore[operator]
