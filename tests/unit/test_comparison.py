"""Before vs after CAR-T (DOMAIN.md): exact Wilcoxon signed-rank test, Hodges-Lehmann estimate,
paired summary, period bounds and the per-period increment, burden and bleeding summaries."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server.domain.comparison import (
    BleedingDayInput,
    Period,
    TransfusionOutcome,
    TransfusionUnits,
    average_ranks,
    bleeding_by_period,
    compare_paired,
    days_to_first_grade2_after,
    hodges_lehmann_paired,
    median,
    period_bounds,
    platelet_increment_by_period,
    transfusion_burden,
    walsh_averages,
    wilcoxon_signed_rank_exact,
)
from server.domain.response import ResponseCategory

R, N, NE = ResponseCategory.RESPONSIVE, ResponseCategory.NON_RESPONSIVE, ResponseCategory.NOT_EVALUABLE
UTC = timezone.utc
INFUSION = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)  # study day 0 = 2026-03-10


def brute_force_p(differences: list[float]) -> Fraction | None:
    """Two-sided p by enumerating all 2^n sign assignments of the ranked non-zero |d|."""
    used = [d for d in differences if d != 0]
    if not used:
        return None
    ranks = average_ranks([abs(d) for d in used])
    observed = sum(r for r, d in zip(ranks, used, strict=True) if d > 0)
    below = above = 0
    for signs in itertools.product((False, True), repeat=len(used)):
        w = sum(r for r, positive in zip(ranks, signs, strict=True) if positive)
        below += w <= observed
        above += w >= observed
    return min(Fraction(1), Fraction(2 * min(below, above), 2 ** len(used)))


# --- Wilcoxon: hand cases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("differences", "w_plus", "statistic", "n_used", "n_zero", "p"),
    [
        # all positive: W+ = 1+..+5 = 15, only 1 of 32 assignments as extreme each side -> 2/32
        ([1, 2, 3, 4, 5], 15, 0, 5, 0, Fraction(2, 32)),
        ([-1, -2, -3, -4, -5], 0, 0, 5, 0, Fraction(2, 32)),
        # zeros dropped: same as above
        ([0, 1, 0, 2, 3, 4, 5], 15, 0, 5, 2, Fraction(2, 32)),
        # W+ = 2+3+4 = 9 of 15: P(W+ >= 9) = P(W+ <= 6) = 13/32 (subsets of 1..5 summing to <= 6)
        ([-1, 2, 3, 4, -5], 9, 6, 5, 0, Fraction(26, 32)),
        # n = 1: p = 2 x 1/2 = 1
        ([7.5], 1, 0, 1, 0, Fraction(1)),
        # ties |1| = |-1|: ranks 1.5, 1.5, 3; W+ = 1.5 + 3 = 4.5 of 6; doubled ranks 3, 3, 6:
        # W+ over the 8 assignments: 0, 1.5, 1.5, 3, 3, 4.5, 4.5, 6; P(W+ >= 4.5) = 3/8 -> p = 6/8
        ([1, -1, 2], 4.5, 1.5, 3, 0, Fraction(6, 8)),
        # 6 positive of 6 with ties: the only assignment reaching W+ = 21 is all positive -> 2/64
        ([2, 2, 2, 5, 5, 9], 21, 0, 6, 0, Fraction(2, 64)),
    ],
)
def test_wilcoxon_hand_cases(
    differences: list[float], w_plus: float, statistic: float, n_used: int, n_zero: int, p: Fraction
) -> None:
    result = wilcoxon_signed_rank_exact(differences)
    assert result.w_plus == w_plus
    assert result.statistic == statistic
    assert result.w_plus + (result.w_minus or 0) == n_used * (n_used + 1) / 2
    assert (result.n_total, result.n_used, result.n_zero_dropped) == (len(differences), n_used, n_zero)
    assert result.p_value == pytest.approx(float(p), abs=1e-15)
    assert result.p_value == float(brute_force_p(differences) or 0)
    assert result.rule.startswith("wilcoxon-exact-v1")


@pytest.mark.parametrize("differences", [[], [0], [0, 0.0, -0.0]])
def test_wilcoxon_nothing_left_has_no_p_value(differences: list[float]) -> None:
    result = wilcoxon_signed_rank_exact(differences)
    assert result.n_used == 0
    assert result.n_zero_dropped == len(differences)
    assert result.p_value is None
    assert result.statistic is None
    assert result.w_plus is None


def test_signed_ranks_average_ties() -> None:
    assert average_ranks([3.0, 1.0, 3.0, 2.0, 3.0]) == [4.0, 1.0, 4.0, 2.0, 4.0]
    assert average_ranks([]) == []
    assert average_ranks([5.0, 5.0]) == [1.5, 1.5]


def test_wilcoxon_flags_ties() -> None:
    assert wilcoxon_signed_rank_exact([1, -1, 2]).has_ties
    assert not wilcoxon_signed_rank_exact([1, -2, 3]).has_ties


# --- Wilcoxon: properties and oracles --------------------------------------------------------------

small_ints = st.integers(-6, 6)
diff_lists = st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False) | small_ints.map(float), max_size=30)


@given(diff_lists)
def test_wilcoxon_p_in_unit_interval(differences: list[float]) -> None:
    result = wilcoxon_signed_rank_exact(differences)
    if result.n_used == 0:
        assert result.p_value is None
    else:
        assert result.p_value is not None
        assert 0 < result.p_value <= 1


@given(diff_lists)
def test_wilcoxon_symmetric_under_sign_flip(differences: list[float]) -> None:
    result = wilcoxon_signed_rank_exact(differences)
    flipped = wilcoxon_signed_rank_exact([-d for d in differences])
    assert flipped.p_value == result.p_value
    assert flipped.statistic == result.statistic
    assert flipped.w_plus == result.w_minus


@settings(max_examples=150, deadline=None)
@given(st.lists(small_ints, min_size=1, max_size=12))
def test_wilcoxon_with_ties_matches_sign_flip_enumeration(values: list[int]) -> None:
    differences = [float(v) for v in values]
    expected = brute_force_p(differences)
    result = wilcoxon_signed_rank_exact(differences)
    assert result.p_value == (None if expected is None else float(expected))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 10_000), min_size=1, max_size=25, unique=True),
    st.lists(st.booleans(), min_size=25, max_size=25),
)
def test_wilcoxon_matches_scipy_exact_without_ties(magnitudes: list[int], negatives: list[bool]) -> None:
    stats = pytest.importorskip("scipy.stats")
    differences = [-m / 7 if neg else m / 7 for m, neg in zip(magnitudes, negatives, strict=False)]
    expected = stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided", method="exact")
    result = wilcoxon_signed_rank_exact(differences)
    assert result.statistic == float(expected.statistic)
    assert result.p_value == pytest.approx(float(expected.pvalue), rel=1e-12, abs=1e-15)


@settings(max_examples=40, deadline=None)  # each scipy permutation test enumerates up to 2^10
@given(st.lists(small_ints, min_size=1, max_size=10))
def test_wilcoxon_with_ties_matches_scipy_permutation_test(values: list[int]) -> None:
    # scipy's default (method="auto") uses an exhaustive permutation test for n <= 13 when there
    # are ties or zeros: the same sign-flip distribution as ours.
    stats = pytest.importorskip("scipy.stats")
    assume(any(values))
    expected = stats.wilcoxon([float(v) for v in values], zero_method="wilcox")
    result = wilcoxon_signed_rank_exact([float(v) for v in values])
    assert result.statistic == float(expected.statistic)
    assert result.p_value == pytest.approx(float(expected.pvalue), rel=1e-9)


def test_wilcoxon_is_fast_for_a_large_cohort() -> None:
    result = wilcoxon_signed_rank_exact([float(i % 17 - 5) for i in range(300)])
    assert result.p_value is not None and 0 < result.p_value <= 1


# --- Hodges-Lehmann and the paired summary -----------------------------------------------------------


@pytest.mark.parametrize(
    ("differences", "expected"),
    [
        ([], None),
        ([4.0], 4.0),
        # Walsh averages of 1, 2, 9: 1, 1.5, 5, 2, 5.5, 9 -> median (2 + 5) / 2 = 3.5
        ([1.0, 2.0, 9.0], 3.5),
        # zeros are kept: 0, 0, 6 -> 0, 0, 3, 0, 3, 6 -> median 1.5
        ([0.0, 0.0, 6.0], 1.5),
        ([-3.0, -1.0], -2.0),
    ],
)
def test_hodges_lehmann_hand_cases(differences: list[float], expected: float | None) -> None:
    assert hodges_lehmann_paired(differences) == expected


@given(st.lists(st.integers(-1000, 1000).map(float), max_size=25))
def test_hodges_lehmann_is_the_median_of_walsh_averages(differences: list[float]) -> None:
    walsh = [(a + b) / 2 for i, a in enumerate(differences) for b in differences[i:]]
    assert len(walsh_averages(differences)) == len(differences) * (len(differences) + 1) // 2
    expected = statistics.median(walsh) if walsh else None
    assert hodges_lehmann_paired(differences) == expected
    if differences:
        shifted = hodges_lehmann_paired([d + 10 for d in differences])
        assert shifted == pytest.approx((expected or 0) + 10)


def test_median_helper() -> None:
    assert median([]) is None
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0]) == 2.5


def test_compare_paired_keeps_subjects_with_both_values() -> None:
    pairs: list[tuple[float | None, float | None]] = [
        (2.0, 0.0),  # -2
        (4.0, 1.0),  # -3
        (3.0, 3.0),  # 0: kept for the median and HL, dropped by Wilcoxon
        (5.0, 1.0),  # -4
        (None, 1.0),
        (2.0, None),
    ]
    result = compare_paired(pairs)
    assert (result.n_subjects, result.n_pairs) == (6, 4)
    assert result.median_difference == -2.5
    assert result.median_baseline == 3.5
    assert result.median_follow_up == 1.0
    # Walsh averages of -2, -3, 0, -4: -2, -2.5, -1, -3, -3, -1.5, -3.5, 0, -2, -4 -> median -2.25
    assert result.hodges_lehmann == -2.25
    assert (result.wilcoxon.n_used, result.wilcoxon.n_zero_dropped) == (3, 1)
    assert result.wilcoxon.p_value == 0.25  # all 3 negative: 2 / 8
    assert "dropped" in result.zero_handling and "kept" in result.zero_handling


def test_compare_paired_with_no_pairs() -> None:
    result = compare_paired([(None, 1.0)])
    assert result.n_pairs == 0
    assert result.median_difference is None
    assert result.hodges_lehmann is None
    assert result.wilcoxon.p_value is None


# --- periods -------------------------------------------------------------------------------------


def midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last_follow_up", "baseline", "follow_up"),
    [
        # (first date, last date, days) of each period
        (None, (date(2026, 2, 8), date(2026, 3, 9), 30), (date(2026, 4, 8), date(2027, 3, 10), 337)),
        # last follow-up inside the follow-up: clipped, that day included
        (date(2026, 4, 17), (date(2026, 2, 8), date(2026, 3, 9), 30), (date(2026, 4, 8), date(2026, 4, 17), 10)),
        # last follow-up on day 29 exactly: one day
        (date(2026, 4, 8), (date(2026, 2, 8), date(2026, 3, 9), 30), (date(2026, 4, 8), date(2026, 4, 8), 1)),
        # before day 29: the follow-up is empty
        (date(2026, 4, 7), (date(2026, 2, 8), date(2026, 3, 9), 30), (date(2026, 4, 8), date(2026, 4, 7), 0)),
        # a time is taken by its UTC date; the last day of follow-up is counted whole
        (
            datetime(2026, 4, 18, 1, 0, tzinfo=timezone(timedelta(hours=5))),
            (date(2026, 2, 8), date(2026, 3, 9), 30),
            (date(2026, 4, 8), date(2026, 4, 17), 10),
        ),
        # after day 365: no clipping
        (date(2028, 1, 1), (date(2026, 2, 8), date(2026, 3, 9), 30), (date(2026, 4, 8), date(2027, 3, 10), 337)),
    ],
)
def test_period_bounds(
    last_follow_up: date | datetime | None, baseline: tuple[date, date, int], follow_up: tuple[date, date, int]
) -> None:
    bounds = period_bounds(INFUSION, last_follow_up=last_follow_up)
    for period, (first, last, days) in ((bounds.baseline, baseline), (bounds.follow_up, follow_up)):
        assert (period.first_date, period.last_date, period.days_in_period) == (first, last, days)
        assert period.start == midnight(first)
        assert period.end == midnight(last) + timedelta(days=1)
    assert bounds.baseline.label == "baseline" and bounds.follow_up.label == "follow_up"
    assert (bounds.baseline.first_study_day, bounds.baseline.last_study_day) == (-30, -1)
    assert bounds.follow_up.first_study_day == 29


def test_period_ends_are_inclusive_days_and_half_open_times() -> None:
    bounds = period_bounds(INFUSION)
    base, follow = bounds.baseline, bounds.follow_up
    assert base.contains(datetime(2026, 2, 8, 0, 0, tzinfo=UTC))  # day -30, first moment
    assert not base.contains(datetime(2026, 2, 7, 23, 59, tzinfo=UTC))  # day -31
    assert base.contains(datetime(2026, 3, 9, 23, 59, tzinfo=UTC))  # day -1
    assert not base.contains(datetime(2026, 3, 10, 8, 0, tzinfo=UTC))  # day 0, before the infusion
    assert not follow.contains(datetime(2026, 4, 7, 23, 59, tzinfo=UTC))  # day 28
    assert follow.contains(datetime(2026, 4, 8, 0, 0, tzinfo=UTC))  # day 29
    assert follow.contains(datetime(2027, 3, 10, 23, 59, tzinfo=UTC))  # day 365
    assert not follow.contains(datetime(2027, 3, 11, 0, 0, tzinfo=UTC))  # day 366
    # the infusion's UTC date decides day 0, whatever the local time zone
    late_evening = datetime(2026, 3, 10, 23, 30, tzinfo=timezone(timedelta(hours=-3)))  # 2026-03-11 UTC
    assert period_bounds(late_evening).baseline.last_date == date(2026, 3, 10)


@pytest.mark.parametrize(
    ("kwargs"), [{"baseline_days": -1}, {"follow_up_from_day": 0}, {"follow_up_from_day": 40, "follow_up_to_day": 39}]
)
def test_period_bounds_reject_bad_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        period_bounds(INFUSION, **kwargs)


def test_period_bounds_need_aware_times() -> None:
    with pytest.raises(ValueError):
        period_bounds(datetime(2026, 3, 10, 14, 30))


# --- platelet increment ---------------------------------------------------------------------------

BOUNDS = period_bounds(INFUSION)
BASE, FOLLOW = BOUNDS.baseline, BOUNDS.follow_up


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, 10, hour, tzinfo=UTC) + timedelta(days=day)


def test_increment_by_period_hand_case() -> None:
    transfusions = [
        TransfusionOutcome(at(-20), 2000.0, 1000.0, N),
        TransfusionOutcome(at(-10), 9000.0, 6000.0, R),
        TransfusionOutcome(at(-5), 4000.0, None, N),  # early only: an N
        TransfusionOutcome(at(-3), 12000.0, None, NE),  # partial CCI of an NE: not used
        TransfusionOutcome(at(0), 10000.0, 8000.0, R),  # infusion day: neither period
        TransfusionOutcome(at(40), 11000.0, 7000.0, R),
    ]
    base = platelet_increment_by_period(transfusions, BASE)
    assert (base.n_transfusions, base.n_evaluable, base.n_responsive) == (4, 3, 1)
    assert base.median_cci_early == 4000.0
    assert (base.n_cci_early, base.n_cci_late) == (3, 2)
    assert base.median_cci_late == 3500.0
    assert base.share_responsive == pytest.approx(1 / 3)
    assert base.period == "baseline"
    follow = platelet_increment_by_period(transfusions, FOLLOW)
    assert (follow.n_transfusions, follow.share_responsive, follow.median_cci_early) == (1, 1.0, 11000.0)


def test_increment_of_an_empty_period_is_none() -> None:
    empty = platelet_increment_by_period([TransfusionOutcome(at(-5), None, None, NE)], BASE)
    assert (empty.n_transfusions, empty.n_evaluable) == (1, 0)
    assert empty.median_cci_early is None and empty.median_cci_late is None and empty.share_responsive is None
    nothing = platelet_increment_by_period([], FOLLOW)
    assert nothing.n_transfusions == 0 and nothing.share_responsive is None


# --- transfusion burden ---------------------------------------------------------------------------


def test_burden_hand_case() -> None:
    transfusions = [TransfusionUnits(at(d), u) for d, u in ((-30, 1), (-15, 2), (-1, 1), (0, 5), (29, 1), (-31, 9))]
    base = transfusion_burden(transfusions, BASE, BASE.days_in_period)
    assert (base.n_transfusions, base.n_units, base.days_in_period) == (3, 4, 30)
    assert base.transfusions_per_30_days == 3.0
    assert base.units_per_30_days == 4.0
    clipped = period_bounds(INFUSION, last_follow_up=date(2026, 5, 7)).follow_up  # days 29..58: 30 days
    follow = transfusion_burden(transfusions, clipped)
    assert (follow.n_transfusions, follow.days_in_period, follow.transfusions_per_30_days) == (1, 30, 1.0)


def test_burden_of_a_period_without_days_is_none() -> None:
    empty = period_bounds(INFUSION, last_follow_up=date(2026, 4, 1)).follow_up
    result = transfusion_burden([TransfusionUnits(at(30), 2)], empty, empty.days_in_period)
    assert result.days_in_period == 0
    assert result.transfusions_per_30_days is None and result.units_per_30_days is None


# --- bleeding -------------------------------------------------------------------------------------


def diary(day: int, observed: bool = True, grade: int | None = None) -> BleedingDayInput:
    return BleedingDayInput(date(2026, 3, 10) + timedelta(days=day), observed, grade)


def test_bleeding_by_period_hand_case() -> None:
    days = [
        diary(-30),  # check-in, no bleeding
        diary(-20, grade=1),
        diary(-12, grade=2),
        diary(-12, grade=1),  # a second report on the same day: one day, worst grade 2
        diary(-5, grade=3),
        diary(-4, observed=False),  # nothing that day
        diary(-31, grade=2),  # outside
        diary(0, grade=2),  # infusion day: outside both
    ]
    base = bleeding_by_period(days, BASE)
    assert (base.days_in_period, base.days_observed, base.days_grade2_or_more) == (30, 4, 2)
    assert base.proportion_grade2_or_more == 0.5
    assert base.worst_grade == 3
    assert base.adherence == pytest.approx(4 / 30)
    follow = bleeding_by_period(days, FOLLOW)
    assert follow.days_observed == 0
    assert follow.proportion_grade2_or_more is None and follow.worst_grade is None
    assert follow.adherence == 0.0


def test_bleeding_observed_days_without_bleeding_have_worst_grade_zero() -> None:
    result = bleeding_by_period([diary(30), diary(31)], FOLLOW)
    assert (result.days_observed, result.worst_grade, result.proportion_grade2_or_more) == (2, 0, 0.0)


def test_bleeding_in_an_empty_period() -> None:
    empty = period_bounds(INFUSION, last_follow_up=date(2026, 4, 1)).follow_up
    result = bleeding_by_period([diary(30, grade=2)], empty)
    assert (result.days_in_period, result.days_observed, result.adherence) == (0, 0, None)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ([], None),
        ([diary(0, grade=2), diary(3, grade=1), diary(9, grade=2), diary(5, grade=3)], 5),
        ([diary(-3, grade=4), diary(0, grade=3)], None),  # day 0 and before do not count
        ([diary(1, grade=2)], 1),
    ],
)
def test_days_to_first_grade2_after(days: list[BleedingDayInput], expected: int | None) -> None:
    assert days_to_first_grade2_after(date(2026, 3, 10), days) == expected


@given(st.lists(st.tuples(st.integers(-40, 400), st.booleans(), st.none() | st.integers(0, 4)), max_size=60))
def test_bleeding_summary_invariants(entries: list[tuple[int, bool, int | None]]) -> None:
    days = [diary(d, observed, grade) for d, observed, grade in entries]
    for period in (BASE, FOLLOW):
        result = bleeding_by_period(days, period)
        assert 0 <= result.days_grade2_or_more <= result.days_observed <= result.days_in_period
        assert result.adherence is not None and 0 <= result.adherence <= 1
        if result.days_observed:
            assert result.proportion_grade2_or_more is not None and 0 <= result.proportion_grade2_or_more <= 1
            assert result.worst_grade is not None and 0 <= result.worst_grade <= 4


def test_period_is_a_plain_value() -> None:
    period = Period("x", midnight(date(2026, 1, 1)), midnight(date(2026, 1, 3)), 1, 2)
    assert period.days_in_period == 2 and period.last_date == date(2026, 1, 2)
    assert math.isclose(transfusion_burden([], period).transfusions_per_30_days or 0, 0)
