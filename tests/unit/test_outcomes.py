"""Secondary outcomes (DOMAIN.md, "Secondary outcomes"): CAR-T kinetics (Cmax, Tmax, AUC0-28, Tlast, BLQ
handling), B-cell aplasia by both rules, IgG status, HLA/HPA positivity and antibody clearance."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from server.domain.outcomes import (
    AntibodySample,
    BCellStatus,
    Clearance,
    CutoffOperator,
    IgGStatus,
    KineticPoint,
    Kinetics,
    antibody_clearance,
    b_cell_status,
    car_t_kinetics,
    igg_status,
    is_positive,
)
from server.domain.protocol import DEFAULT_PARAMETERS

BLQ = None


def series(days: Sequence[float], values: Sequence[float | None]) -> list[KineticPoint]:
    assert len(days) == len(values)
    return [KineticPoint(d, v) for d, v in zip(days, values, strict=True)]


# --- CAR-T kinetics: worked examples ------------------------------------------------------------

EXAMPLE_DAYS = [0, 1, 4, 7, 10, 14, 21, 28]
EXAMPLE_COPIES: list[float | None] = [BLQ, 500, 8000, 45000, 30000, 12000, 4000, 1500]


def test_domain_example_qpcr_copies() -> None:
    # DOMAIN.md: Cmax 45,000, Tmax 7, AUC0-28 364,250, Tlast 28.
    # By hand (BLQ at day 0 is before the first quantifiable sample: 0):
    #   0-1: 1x(0+500)/2 = 250;        1-4: 3x(500+8000)/2 = 12,750;   4-7: 3x(8000+45000)/2 = 79,500
    #   7-10: 3x(45000+30000)/2 = 112,500;  10-14: 4x(30000+12000)/2 = 84,000
    #   14-21: 7x(12000+4000)/2 = 56,000;   21-28: 7x(4000+1500)/2 = 19,250        total 364,250
    assert car_t_kinetics(series(EXAMPLE_DAYS, EXAMPLE_COPIES)) == Kinetics(
        cmax=45000, tmax=7, auc_0_28=364_250.0, tlast=28
    )


def test_domain_example_as_flow_car_positive_cells_per_ul() -> None:
    # the same shape as flow CAR+ cells/uL (%CAR+ of CD3+ x CD3+/uL): copies / 1000
    cells: list[float | None] = [BLQ, 0.5, 8.0, 45.0, 30.0, 12.0, 4.0, 1.5]

    result = car_t_kinetics(series(EXAMPLE_DAYS, cells))

    assert result.cmax == 45.0
    assert result.tmax == 7
    assert result.auc_0_28 == pytest.approx(364.25, rel=1e-12)
    assert result.tlast == 28


def test_blq_between_quantifiable_is_missing_and_after_the_last_is_zero() -> None:
    # given BLQ at day 0 (before the first: 0), day 7 (between quantifiable samples: missing) and day 28
    # (after the last quantifiable sample at day 21: 0)
    points = series([0, 1, 4, 7, 14, 21, 28], [BLQ, 1000, 5000, BLQ, 2000, 800, BLQ])

    # when
    result = car_t_kinetics(points)

    # then
    # By hand, trapezoid over (0,0) (1,1000) (4,5000) (14,2000) (21,800) (28,0):
    #   0-1: 500;  1-4: 3x6000/2 = 9,000;  4-14: 10x7000/2 = 35,000;  14-21: 7x2800/2 = 9,800;
    #   21-28: 7x800/2 = 2,800                                                      total 57,100
    # (BLQ at day 7 as zero would give 4-7: 7,500 + 7-14: 7,000 instead of 35,000: 36,600.)
    assert result == Kinetics(cmax=5000, tmax=4, auc_0_28=57_100.0, tlast=21)


def test_samples_after_day_28_count_for_tlast_not_for_auc() -> None:
    points = series([*EXAMPLE_DAYS, 35, 56], [*EXAMPLE_COPIES, 700, 90])

    result = car_t_kinetics(points)

    assert result == Kinetics(cmax=45000, tmax=7, auc_0_28=364_250.0, tlast=56)


def test_blq_after_day_28_does_not_move_tlast() -> None:
    points = series([*EXAMPLE_DAYS, 35, 56], [*EXAMPLE_COPIES, 700, BLQ])

    assert car_t_kinetics(points).tlast == 35


def test_blq_at_day_28_before_a_later_quantifiable_sample_is_missing() -> None:
    # day 28 BLQ lies between quantifiable samples (day 21 and 35): missing, so the AUC stops at day 21
    # (linear trapezoid on actual days, no interpolation to day 28)
    points = series([0, 7, 21, 28, 35], [BLQ, 1000, 200, BLQ, 100])

    # 0-7: 7x1000/2 = 3,500; 7-21: 14x1200/2 = 8,400  -> 11,900
    assert car_t_kinetics(points) == Kinetics(cmax=1000, tmax=7, auc_0_28=11_900.0, tlast=35)


def test_auc_end_day_parameter() -> None:
    # AUC0-7 of the example: 250 + 12,750 + 79,500
    assert car_t_kinetics(series(EXAMPLE_DAYS, EXAMPLE_COPIES), auc_end_day=7).auc_0_28 == 92_500.0


def test_single_quantifiable_sample_between_blq() -> None:
    # (0,0) (7,900) (14,0): 7x900/2 + 7x900/2
    result = car_t_kinetics(series([0, 7, 14], [BLQ, 900, BLQ]))

    assert result == Kinetics(cmax=900, tmax=7, auc_0_28=6300.0, tlast=7)


def test_tmax_is_the_first_day_of_a_tied_peak() -> None:
    result = car_t_kinetics(series([0, 3, 7, 10], [100, 2000, 2000, 50]))

    assert result.cmax == 2000
    assert result.tmax == 3


def test_unsorted_input_is_sorted_by_day() -> None:
    points = series(EXAMPLE_DAYS, EXAMPLE_COPIES)
    shuffled = list(reversed(points))

    assert car_t_kinetics(shuffled) == car_t_kinetics(points)


def test_all_blq_has_no_cmax_and_zero_auc() -> None:
    result = car_t_kinetics(series([0, 7, 14, 28], [BLQ, BLQ, BLQ, BLQ]))

    assert result == Kinetics(cmax=None, tmax=None, auc_0_28=0.0, tlast=None)


def test_no_samples_has_no_kinetics() -> None:
    assert car_t_kinetics([]) == Kinetics(cmax=None, tmax=None, auc_0_28=None, tlast=None)


def test_quantifiable_zero_is_a_value_not_blq() -> None:
    result = car_t_kinetics(series([0, 7, 14], [0.0, 0.0, 0.0]))

    assert result == Kinetics(cmax=0.0, tmax=0, auc_0_28=0.0, tlast=14)


# --- CAR-T kinetics: properties -----------------------------------------------------------------

# Whole days and whole values keep every trapezoid a multiple of 0.5: sums are exact in floating point.
VALUE = st.integers(min_value=0, max_value=1_000_000)


@st.composite
def kinetic_series(draw: st.DrawFn, blq: bool = True) -> list[KineticPoint]:
    days = sorted(draw(st.sets(st.integers(min_value=0, max_value=60), min_size=1, max_size=12)))
    values = st.none() | VALUE if blq else VALUE
    return [KineticPoint(d, draw(values)) for d in days]


def shifted_from(points: list[KineticPoint], day: float) -> list[KineticPoint]:
    return [KineticPoint(p.day - day, p.value) for p in points if p.day >= day]


@given(kinetic_series(), st.data())
def test_auc_is_additive_over_adjacent_intervals(points: list[KineticPoint], data: st.DataObject) -> None:
    # AUC(0..a) + AUC(a..b) == AUC(0..b) when a is a quantifiable sample day (so the BLQ classification
    # of the sub-series is the same as in the whole series)
    quantifiable_days = [p.day for p in points if p.value is not None]
    assume(quantifiable_days)
    a = data.draw(st.sampled_from(quantifiable_days))
    b = data.draw(st.integers(min_value=int(a), max_value=70))

    whole = car_t_kinetics(points, auc_end_day=b).auc_0_28
    first = car_t_kinetics(points, auc_end_day=a).auc_0_28
    second = car_t_kinetics(shifted_from(points, a), auc_end_day=b - a).auc_0_28

    assert first is not None and second is not None
    assert first + second == whole


@given(st.sets(st.integers(min_value=0, max_value=60), min_size=1, max_size=12), st.data())
def test_zero_series_gives_zero_auc(days: set[int], data: st.DataObject) -> None:
    points = [KineticPoint(d, data.draw(st.sampled_from([0.0, None]))) for d in sorted(days)]

    assert car_t_kinetics(points).auc_0_28 == 0.0


@given(kinetic_series(), st.integers(min_value=0, max_value=1000))
def test_auc_scales_linearly_with_the_values(points: list[KineticPoint], k: int) -> None:
    scaled = [KineticPoint(p.day, None if p.value is None else k * p.value) for p in points]

    original, result = car_t_kinetics(points), car_t_kinetics(scaled)

    assert original.auc_0_28 is not None
    assert result.auc_0_28 == k * original.auc_0_28
    if original.cmax is not None:
        assert result.cmax == k * original.cmax


@given(kinetic_series(), st.randoms(use_true_random=False))
def test_kinetics_do_not_depend_on_input_order(points: list[KineticPoint], rnd: random.Random) -> None:
    shuffled = list(points)
    rnd.shuffle(shuffled)

    assert car_t_kinetics(shuffled) == car_t_kinetics(points)


@given(kinetic_series())
def test_auc_is_bounded_by_cmax_over_the_window(points: list[KineticPoint]) -> None:
    result = car_t_kinetics(points)

    assert result.auc_0_28 is not None and result.auc_0_28 >= 0
    if result.cmax is None:
        assert result.auc_0_28 == 0
    else:
        assert result.auc_0_28 <= result.cmax * 28
        assert result.tlast is not None and result.tmax is not None
        assert result.tmax <= result.tlast


# --- B cells ------------------------------------------------------------------------------------


def test_domain_example_rules_disagree() -> None:
    # DOMAIN.md: lymphocytes 500/uL, CD19+ 3% -> 15/uL: not aplastic by percent (3% >= 1%), aplastic by
    # the absolute rule (15 < 20)
    result = b_cell_status(cd19_percent=3.0, lymphocytes_per_ul=500.0)

    assert result.absolute_per_ul == pytest.approx(15.0, rel=1e-12)
    assert result.aplasia_by_percent is False
    assert result.aplasia_by_absolute is True
    assert result.rules_disagree is True


@pytest.mark.parametrize(
    ("cd19_percent", "lymphocytes", "cd19_per_ul", "by_percent", "by_absolute"),
    [
        # percent boundary (lymphocytes high enough that the absolute rule says no aplasia)
        (1.0, 5000.0, None, False, False),
        (0.99, 5000.0, None, True, False),
        # absolute boundary, measured CD19+/uL (percent high enough to say no aplasia)
        (5.0, 1000.0, 20.0, False, False),
        (5.0, 1000.0, 19.9, False, True),
        # absolute boundary, computed: 2% of 1000 = 20 (not aplastic); 2% of 995 = 19.9 (aplastic)
        (2.0, 1000.0, None, False, False),
        (2.0, 995.0, None, False, True),
        # both aplastic
        (0.5, 1000.0, None, True, True),
        (0.0, 1200.0, None, True, True),
    ],
)
def test_b_cell_boundaries(
    cd19_percent: float,
    lymphocytes: float,
    cd19_per_ul: float | None,
    by_percent: bool,
    by_absolute: bool,
) -> None:
    result = b_cell_status(cd19_percent, lymphocytes, cd19_per_ul)

    assert result.aplasia_by_percent is by_percent
    assert result.aplasia_by_absolute is by_absolute
    assert result.rules_disagree is (by_percent != by_absolute)


def test_measured_cd19_per_ul_overrides_the_computed_one() -> None:
    # computed would be 3% x 500 = 15/uL (aplastic); the measured 25/uL decides
    result = b_cell_status(cd19_percent=3.0, lymphocytes_per_ul=500.0, cd19_per_ul=25.0)

    assert result == BCellStatus(absolute_per_ul=25.0, aplasia_by_percent=False, aplasia_by_absolute=False)
    assert result.rules_disagree is False


@pytest.mark.parametrize(
    ("cd19_percent", "lymphocytes", "cd19_per_ul", "expected"),
    [
        (None, 500.0, None, BCellStatus(None, None, None)),
        (3.0, None, None, BCellStatus(None, False, None)),
        (0.5, None, None, BCellStatus(None, True, None)),
        (None, None, None, BCellStatus(None, None, None)),
        (None, None, 10.0, BCellStatus(10.0, None, True)),
        (None, 500.0, 30.0, BCellStatus(30.0, None, False)),
    ],
)
def test_missing_inputs_give_none(
    cd19_percent: float | None, lymphocytes: float | None, cd19_per_ul: float | None, expected: BCellStatus
) -> None:
    result = b_cell_status(cd19_percent, lymphocytes, cd19_per_ul)

    assert result == expected
    assert result.rules_disagree is False  # never "disagree" with one rule unknown


def test_b_cell_thresholds_are_parameters() -> None:
    # 3% of 500 = 15/uL: aplastic by percent with a 5% threshold, not by absolute with a 10/uL threshold
    result = b_cell_status(3.0, 500.0, percent_threshold=5.0, absolute_threshold=10.0)

    assert result.aplasia_by_percent is True
    assert result.aplasia_by_absolute is False
    assert result.rules_disagree is True


def test_b_cell_defaults_match_the_protocol_parameters() -> None:
    assert DEFAULT_PARAMETERS.b_cell_aplasia_percent == 1.0
    assert DEFAULT_PARAMETERS.b_cell_aplasia_per_ul == 20.0


@given(
    st.floats(min_value=0, max_value=100, allow_nan=False),
    st.floats(min_value=0, max_value=100_000, allow_nan=False),
)
def test_b_cell_rules_follow_their_thresholds(percent: float, lymphocytes: float) -> None:
    result = b_cell_status(percent, lymphocytes)

    assert result.absolute_per_ul == pytest.approx(percent / 100 * lymphocytes, rel=1e-12, abs=1e-12)
    assert result.aplasia_by_percent is (percent < 1.0)
    assert result.absolute_per_ul is not None
    assert result.aplasia_by_absolute is (result.absolute_per_ul < 20.0)
    assert result.rules_disagree is (result.aplasia_by_percent != result.aplasia_by_absolute)


# --- IgG ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("igg", "status"),
    [
        (1200.0, IgGStatus.NORMAL),
        (700.0, IgGStatus.NORMAL),
        (699.9, IgGStatus.LOW),
        (400.1, IgGStatus.LOW),
        (400.0, IgGStatus.SEVERE),
        (399.9, IgGStatus.SEVERE),
        (0.0, IgGStatus.SEVERE),
    ],
)
def test_igg_status(igg: float, status: IgGStatus) -> None:
    assert igg_status(igg) is status


@pytest.mark.parametrize(
    ("igg", "status"),
    [
        (650.0, IgGStatus.NORMAL),
        (600.0, IgGStatus.NORMAL),
        (599.9, IgGStatus.LOW),
        (300.1, IgGStatus.LOW),
        (300.0, IgGStatus.SEVERE),
    ],
)
def test_igg_thresholds_are_parameters(igg: float, status: IgGStatus) -> None:
    assert igg_status(igg, low_below=600.0, severe_at_or_below=300.0) is status


def test_igg_defaults_match_the_protocol_parameters() -> None:
    assert DEFAULT_PARAMETERS.igg_low_below_mg_dl == 700.0
    assert DEFAULT_PARAMETERS.igg_severe_at_or_below_mg_dl == 400.0


@given(st.floats(min_value=0, max_value=10_000, allow_nan=False), st.floats(min_value=0, max_value=10_000))
def test_igg_status_is_monotone(a: float, b: float) -> None:
    order = [IgGStatus.NORMAL, IgGStatus.LOW, IgGStatus.SEVERE]
    low, high = min(a, b), max(a, b)
    assert order.index(igg_status(low)) >= order.index(igg_status(high))


# --- HLA / HPA antibodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mfi", "operator", "positive"),
    [
        (1000.0, CutoffOperator.GE, True),  # exactly at the cut-off
        (1000.0, CutoffOperator.GT, False),
        (999.9, CutoffOperator.GE, False),
        (1000.1, CutoffOperator.GT, True),
        (5000.0, CutoffOperator.GE, True),
        (0.0, CutoffOperator.GE, False),
    ],
)
def test_positivity_at_the_cutoff_depends_on_the_operator(mfi: float, operator: CutoffOperator, positive: bool) -> None:
    assert is_positive(mfi, 1000.0, operator) is positive


def test_positivity_defaults() -> None:
    assert is_positive(1000.0) is True
    assert is_positive(999.0) is False
    assert is_positive(1500.0, cutoff=2000.0) is False
    assert is_positive(2000.0, cutoff=2000.0) is True
    assert DEFAULT_PARAMETERS.hla_mfi_cutoff == 1000.0


T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def sample(n: int, mfi: dict[str, float] | None = None, **positive: bool) -> AntibodySample:
    """A sample on day n; with MFI, positivity follows the default cut-off (MFI >= 1000)."""
    if mfi is not None:
        return AntibodySample(day(n), {s: is_positive(v) for s, v in mfi.items()}, mfi)
    return AntibodySample(day(n), dict(positive), {})


A, B, C = "A*02:01", "B*07:02", "DR4"


def test_cleared_at_the_second_of_two_consecutive_negative_samples() -> None:
    # given
    baseline = sample(0, HPA_1a=True)
    follow_up = [sample(30, HPA_1a=True), sample(60, HPA_1a=False), sample(90, HPA_1a=False), sample(120, HPA_1a=False)]

    # when
    result = antibody_clearance(baseline, follow_up)

    # then
    assert result.baseline_positive == ("HPA_1a",)
    assert result.cleared_at == {"HPA_1a": day(90)}
    assert result.subject_cleared_at == day(90)


def test_a_single_negative_sample_does_not_clear() -> None:
    result = antibody_clearance(sample(0, HPA_1a=True), [sample(30, HPA_1a=False)])

    assert result.cleared_at == {"HPA_1a": None}
    assert result.subject_cleared_at is None


def test_a_positive_sample_between_resets_the_run() -> None:
    baseline = sample(0, HPA_1a=True)
    follow_up = [
        sample(30, HPA_1a=False),
        sample(60, HPA_1a=True),
        sample(90, HPA_1a=False),
        sample(120, HPA_1a=False),
    ]

    assert antibody_clearance(baseline, follow_up).cleared_at == {"HPA_1a": day(120)}


def test_a_sample_that_does_not_test_the_specificity_neither_extends_nor_breaks_the_run() -> None:
    baseline = sample(0, HPA_1a=True, HPA_5b=True)
    # day 30 negative for 1a; day 60 tests only 5b; day 90 negative for 1a again: two consecutive for 1a
    follow_up = [
        sample(30, HPA_1a=False, HPA_5b=True),
        sample(60, HPA_5b=False),
        sample(90, HPA_1a=False),
        sample(120, HPA_1a=False, HPA_5b=False),
    ]

    result = antibody_clearance(baseline, follow_up)

    assert result.cleared_at == {"HPA_1a": day(90), "HPA_5b": day(120)}
    assert result.subject_cleared_at == day(120)


def test_an_untested_sample_does_not_extend_the_run() -> None:
    baseline = sample(0, HPA_1a=True, HPA_5b=True)
    follow_up = [sample(30, HPA_1a=False), sample(60, HPA_5b=False), sample(90, HPA_5b=False)]

    result = antibody_clearance(baseline, follow_up)

    assert result.cleared_at == {"HPA_1a": None, "HPA_5b": day(90)}
    assert result.subject_cleared_at is None  # 1a is not cleared


def test_subject_cleared_at_the_latest_clearance_of_the_baseline_positives() -> None:
    baseline = sample(0, {A: 3000.0, B: 2000.0})
    follow_up = [
        sample(30, {A: 800.0, B: 1500.0}),
        sample(60, {A: 600.0, B: 900.0}),  # A cleared
        sample(90, {A: 400.0, B: 500.0}),  # B cleared
    ]

    result = antibody_clearance(baseline, follow_up)

    assert result.cleared_at == {A: day(60), B: day(90)}
    assert result.subject_cleared_at == day(90)


def test_specificities_negative_at_baseline_are_ignored() -> None:
    # C is below the cut-off at baseline and positive later: not part of clearance nor of the summed MFI
    baseline = sample(0, {A: 3000.0, B: 2000.0, C: 400.0})
    follow_up = [
        sample(30, {A: 900.0, B: 100.0, C: 5000.0}),
        sample(60, {A: 500.0, B: 0.0, C: 6000.0}),
    ]

    result = antibody_clearance(baseline, follow_up)

    assert result == Clearance(
        baseline_positive=(A, B),
        cleared_at={A: day(60), B: day(60)},
        subject_cleared_at=day(60),
        summed_mfi=((day(0), 5000.0), (day(30), 1000.0), (day(60), 500.0)),
        summed_mfi_reduction_percent=90.0,  # (5000 - 500) / 5000
    )


def test_summed_mfi_reduction_uses_the_latest_sample() -> None:
    baseline = sample(0, {A: 3000.0, B: 2000.0})
    follow_up = [sample(60, {A: 500.0, B: 0.0}), sample(30, {A: 2500.0, B: 1500.0})]  # out of order

    result = antibody_clearance(baseline, follow_up)

    assert result.summed_mfi == ((day(0), 5000.0), (day(30), 4000.0), (day(60), 500.0))
    assert result.summed_mfi_reduction_percent == 90.0
    assert result.cleared_at == {A: None, B: None}  # day 30 positive, day 60 one negative only


def test_mfi_exactly_at_the_cutoff_is_positive_and_not_clearing() -> None:
    baseline = sample(0, {A: 1000.0})  # exactly at the cut-off: positive (>=)
    follow_up = [sample(30, {A: 999.0}), sample(60, {A: 1000.0}), sample(90, {A: 999.0})]

    result = antibody_clearance(baseline, follow_up)

    assert result.baseline_positive == (A,)
    assert result.cleared_at == {A: None}  # the day-60 MFI at the cut-off is positive and resets the run


def test_no_baseline_positives_means_nothing_to_clear() -> None:
    baseline = sample(0, {A: 500.0, B: 999.9})
    follow_up = [sample(30, {A: 100.0, B: 100.0}), sample(60, {A: 100.0, B: 100.0})]

    result = antibody_clearance(baseline, follow_up)

    assert result == Clearance((), {}, None, (), None)


def test_positive_negative_assays_have_no_summed_mfi() -> None:
    baseline = sample(0, HPA_1a=True)
    follow_up = [sample(30, HPA_1a=False), sample(60, HPA_1a=False)]

    result = antibody_clearance(baseline, follow_up)

    assert result.summed_mfi == ()
    assert result.summed_mfi_reduction_percent is None
    assert result.subject_cleared_at == day(60)


def test_no_follow_up_has_no_reduction() -> None:
    result = antibody_clearance(sample(0, {A: 3000.0}), [])

    assert result.summed_mfi == ((day(0), 3000.0),)
    assert result.summed_mfi_reduction_percent is None
    assert result.cleared_at == {A: None}
