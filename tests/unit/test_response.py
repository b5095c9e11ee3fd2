"""Platelet transfusion response (DOMAIN.md, "Platelet transfusion response"): CCI, windows,
per-transfusion classification, and per-subject refractoriness / sustained response / loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.bsa import Measurement, dubois_bsa
from server.domain.protocol import DEFAULT_PARAMETERS, BsaFormula, ProtocolParameters
from server.domain.response import (
    Attribution,
    Count,
    NotEvaluableReason,
    RefractoryExclusion,
    ResponseCategory,
    Transfusion,
    TransfusionResponse,
    add_months,
    assess_subject,
    attribute_counts,
    classify_transfusion,
    corrected_count_increment,
    evaluate_transfusion,
    evaluate_transfusions,
    is_baseline_refractory,
    longest_run,
    percent_platelet_recovery,
    refractoriness_evidence,
)

UTC = timezone.utc
R = ResponseCategory.RESPONSIVE
N = ResponseCategory.NON_RESPONSIVE
NE = ResponseCategory.NOT_EVALUABLE
P = DEFAULT_PARAMETERS

START = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)  # windows are timed from here
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)

# height 180 cm, weight 80 kg: Mosteller BSA exactly 2.0; with dose 4.0 the CCI is 500 x (post - pre)
BSA2 = [Measurement(START - timedelta(days=3), 180.0, 80.0)]


def tx(
    transfusion_id: int = 1,
    started_at: datetime = START,
    duration: timedelta = HOUR,
    dose: float | None = 4.0,
    abo_compatible: bool = True,
) -> Transfusion:
    return Transfusion(transfusion_id, started_at, started_at + duration, dose, abo_compatible)


def counts(*rows: tuple[datetime, float]) -> list[Count]:
    return [Count(i + 1, at, value) for i, (at, value) in enumerate(rows)]


def evaluate(
    transfusion: Transfusion,
    rows: Sequence[tuple[datetime, float]],
    measurements: Sequence[Measurement] = BSA2,
    next_started_at: datetime | None = None,
    params: ProtocolParameters = P,
    previous_ended_at: datetime | None = None,
) -> TransfusionResponse:
    return evaluate_transfusion(transfusion, counts(*rows), measurements, next_started_at, params, previous_ended_at)


# --- the CCI and PPR formulas -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pre", "post", "bsa", "dose", "expected"),
    [
        # DOMAIN.md: (35 - 5) x 1000 x 1.8 / 3.0 = 18,000 (not 18: counts arrive in x10^9/L)
        (5, 35, 1.8, 3.0, 18_000.0),
        # (7 - 10) x 1000 x 1.6 / 3.2 = -1,500: a negative CCI is kept
        (10, 7, 1.6, 3.2, -1_500.0),
        # (17.5 - 5) x 1000 x 1.8 / 3.0 = 7,500
        (5, 17.5, 1.8, 3.0, 7_500.0),
        # no change: 0
        (20, 20, 1.9, 3.5, 0.0),
        # a whole-blood-derived unit: (30 - 10) x 1000 x 2.0 / 0.6 = 66,666.67
        (10, 30, 2.0, 0.6, 66_666.666666666667),
    ],
)
def test_cci_worked_examples(pre: float, post: float, bsa: float, dose: float, expected: float) -> None:
    assert math.isclose(corrected_count_increment(pre, post, bsa, dose), expected, rel_tol=1e-12, abs_tol=1e-9)


@pytest.mark.parametrize("dose", [0.0, -3.0])
def test_cci_refuses_a_non_positive_dose(dose: float) -> None:
    with pytest.raises(ValueError):
        corrected_count_increment(5, 35, 1.8, dose)


def test_ppr_worked_example() -> None:
    # 30,000 /uL x (70 kg x 70 mL/kg x 1000 uL/mL) / (3.0 x 1e11) x 100 = 49.0 %
    assert math.isclose(percent_platelet_recovery(30_000, 70, 3.0), 49.0, rel_tol=1e-12)
    assert math.isclose(percent_platelet_recovery(30_000, 70, 3.0, blood_volume_ml_per_kg=70.0), 49.0, rel_tol=1e-12)
    # the blood volume is a parameter: 75 mL/kg -> 52.5 %
    assert math.isclose(percent_platelet_recovery(30_000, 70, 3.0, blood_volume_ml_per_kg=75.0), 52.5, rel_tol=1e-12)
    # negative increments are kept
    assert math.isclose(percent_platelet_recovery(-30_000, 70, 3.0), -49.0, rel_tol=1e-12)


@pytest.mark.parametrize("dose", [0.0, -1.0])
def test_ppr_refuses_a_non_positive_dose(dose: float) -> None:
    with pytest.raises(ValueError):
        percent_platelet_recovery(30_000, 70, dose)


counts_e9 = st.floats(min_value=0, max_value=1500, allow_nan=False)
bsas = st.floats(min_value=0.5, max_value=3.5, allow_nan=False)
doses = st.floats(min_value=0.3, max_value=10, allow_nan=False)
factors = st.floats(min_value=0.01, max_value=100, allow_nan=False)


@given(counts_e9, counts_e9, bsas, doses, factors)
def test_cci_is_linear_in_the_increment(pre: float, post: float, bsa: float, dose: float, c: float) -> None:
    base = corrected_count_increment(pre, post, bsa, dose)
    scaled = corrected_count_increment(pre, pre + c * (post - pre), bsa, dose)
    # the only error is rounding pre + c x increment (a few ulps of a count of at most ~150,000)
    assert math.isclose(scaled, c * base, rel_tol=1e-9, abs_tol=1e-6 * bsa / dose)


@given(counts_e9, counts_e9, bsas, doses, factors)
def test_cci_is_linear_in_bsa_and_inverse_in_dose(pre: float, post: float, bsa: float, dose: float, c: float) -> None:
    base = corrected_count_increment(pre, post, bsa, dose)
    assert math.isclose(corrected_count_increment(pre, post, c * bsa, dose), c * base, rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(corrected_count_increment(pre, post, bsa, c * dose), base / c, rel_tol=1e-12, abs_tol=1e-9)


@given(counts_e9, counts_e9, bsas, doses)
def test_cci_has_the_sign_of_the_increment_and_is_never_clamped(
    pre: float, post: float, bsa: float, dose: float
) -> None:
    cci = corrected_count_increment(pre, post, bsa, dose)
    assert math.isfinite(cci)
    assert (cci > 0) == (post > pre)
    assert (cci < 0) == (post < pre)
    assert math.isclose(cci, (post - pre) * 1000 * bsa / dose, rel_tol=1e-12, abs_tol=1e-9)


# --- classification -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("early", "late", "expected"),
    [
        (6000.0, None, N),  # an early 6000 with no late sample has already failed
        (8000.0, None, NE),  # early passes, late missing: not evaluable
        (8000.0, 5000.0, N),  # late 5000 is not > 5000
        (8000.0, 5001.0, R),
        (7500.0, 6000.0, N),  # early 7500 is not > 7500
        (7500.0, None, N),
        (7500.000001, 5000.000001, R),
        (-1500.0, None, N),  # negative CCI kept, and fails
        (-1500.0, 9000.0, N),
        (None, 4000.0, N),  # an evaluable late CCI that fails
        (None, 6000.0, NE),
        (None, None, NE),
        (18000.0, 18000.0, R),
        (0.0, 0.0, N),
    ],
)
def test_classify_transfusion(early: float | None, late: float | None, expected: ResponseCategory) -> None:
    assert classify_transfusion(early, late, P) is expected


def test_classification_follows_the_threshold_parameters() -> None:
    lenient = replace(P, cci_early_threshold_per_ul=5000.0, cci_late_threshold_per_ul=2500.0)
    assert classify_transfusion(6000.0, 3000.0, P) is N
    assert classify_transfusion(6000.0, 3000.0, lenient) is R
    assert classify_transfusion(5000.0, 3000.0, lenient) is N


maybe_cci = st.one_of(st.none(), st.floats(allow_nan=False))
thresholds = st.floats(min_value=0, max_value=50_000, allow_nan=False)


@given(maybe_cci, maybe_cci, thresholds, thresholds)
def test_classification_is_consistent_with_the_thresholds(
    early: float | None, late: float | None, early_threshold: float, late_threshold: float
) -> None:
    params = replace(P, cci_early_threshold_per_ul=early_threshold, cci_late_threshold_per_ul=late_threshold)
    category = classify_transfusion(early, late, params)
    early_fails = early is not None and early <= early_threshold
    late_fails = late is not None and late <= late_threshold
    if early_fails or late_fails:
        assert category is N
    elif early is not None and late is not None:
        assert early > early_threshold and late > late_threshold
        assert category is R
    else:
        assert category is NE


# --- windows: which count belongs to the transfusion ----------------------------------------------


@pytest.mark.parametrize(
    ("after_end", "used"),
    [
        (9 * MIN, False),
        (10 * MIN - timedelta(seconds=1), False),
        (10 * MIN, True),
        (35 * MIN, True),
        (60 * MIN, True),
        (60 * MIN + timedelta(seconds=1), False),
        (61 * MIN, False),
    ],
)
def test_early_window_bounds(after_end: timedelta, used: bool) -> None:
    # given a pre-count 5 and one count of 21 at `after_end` after the END of the transfusion
    result = evaluate(tx(), [(START - HOUR, 5.0), (END + after_end, 21.0)])
    # then the count is the early one (CCI 500 x 16 = 8000) only inside [10, 60] min
    if used:
        assert result.attribution.early is not None
        assert result.attribution.early.after_end == after_end
        assert result.cci_early == 8000.0
    else:
        assert result.attribution.early is None
        assert result.cci_early is None
        assert NotEvaluableReason.NO_EARLY_COUNT in result.reasons


@pytest.mark.parametrize(
    ("after_end", "used"),
    [
        (17 * HOUR + 59 * MIN, False),
        (18 * HOUR, True),
        (21 * HOUR, True),
        (24 * HOUR, True),
        (24 * HOUR + 1 * MIN, False),
    ],
)
def test_late_window_bounds(after_end: timedelta, used: bool) -> None:
    result = evaluate(tx(), [(START - HOUR, 5.0), (END + 30 * MIN, 21.0), (END + after_end, 16.0)])
    if used:
        assert result.attribution.late is not None
        assert result.attribution.late.after_end == after_end
        assert result.cci_late == 5500.0
        assert result.category is R
    else:
        assert result.attribution.late is None
        assert result.category is NE
        assert result.reasons == (NotEvaluableReason.NO_LATE_COUNT,)


def test_windows_are_timed_from_the_end_not_the_start() -> None:
    # given a 3-hour transfusion: start + 30 min and start + 19 h are inside windows timed from the start,
    # but end - 2.5 h and end + 16 h are outside those timed from the end
    long = tx(duration=3 * HOUR)
    end = long.ended_at
    result = evaluate(long, [(START - HOUR, 5.0), (START + 30 * MIN, 40.0), (START + 19 * HOUR, 40.0)])
    assert result.attribution.early is None
    assert result.attribution.late is None
    # and end + 30 min and end + 20 h are used
    result = evaluate(long, [(START - HOUR, 5.0), (end + 30 * MIN, 21.0), (end + 20 * HOUR, 16.0)])
    assert result.attribution.early is not None and result.attribution.early.count.drawn_at == end + 30 * MIN
    assert result.attribution.late is not None and result.attribution.late.count.drawn_at == end + 20 * HOUR
    assert result.category is R


def test_attribute_counts_reports_the_timing_of_each_count() -> None:
    # given a pre-count 2 h before the start, an early count 10 min and a late count 24 h after the end
    data = counts((START - 2 * HOUR, 5.0), (END + 10 * MIN, 21.0), (END + 24 * HOUR, 16.0))
    # when
    attribution = attribute_counts(tx(), data, None, P)
    # then
    assert attribution.pre is not None and attribution.pre.count.count_id == 1
    assert attribution.pre.after_end == -2 * HOUR
    assert attribution.early is not None and attribution.early.count.count_id == 2
    assert attribution.early.after_end == 10 * MIN
    assert attribution.late is not None and attribution.late.count.count_id == 3
    assert attribution.late.after_end == 24 * HOUR
    assert (attribution.early_confounded, attribution.late_confounded) == (False, False)


def test_a_count_during_the_transfusion_is_neither_pre_nor_post() -> None:
    result = evaluate(tx(), [(START + 30 * MIN, 5.0)])
    assert result.attribution.pre is None
    assert result.attribution.early is None
    assert result.attribution.late is None


def test_window_parameters_change_the_attribution() -> None:
    wide = replace(P, early_window_max_minutes=120, late_window_min_hours=12)
    rows = [(START - HOUR, 5.0), (END + 90 * MIN, 21.0), (END + 13 * HOUR, 16.0)]
    assert evaluate(tx(), rows).category is NE
    assert evaluate(tx(), rows, params=wide).category is R


@pytest.mark.parametrize(
    ("before_start", "used"),
    [
        (timedelta(0), True),  # drawn at the start: the last count before the transfusion
        (1 * MIN, True),
        (23 * HOUR + 59 * MIN, True),
        (24 * HOUR, True),
        (24 * HOUR + 1 * MIN, False),
        (48 * HOUR, False),
    ],
)
def test_pre_count_look_back(before_start: timedelta, used: bool) -> None:
    result = evaluate(tx(), [(START - before_start, 5.0), (END + 30 * MIN, 21.0), (END + 20 * HOUR, 16.0)])
    if used:
        assert result.attribution.pre is not None
        assert result.attribution.pre.after_end == -before_start  # negative: time before the start
        assert result.category is R
    else:
        assert result.attribution.pre is None
        assert result.category is NE
        assert result.reasons == (NotEvaluableReason.NO_PRE_COUNT,)


def test_pre_count_is_the_last_before_the_start() -> None:
    # given counts 20 h, 6 h and 30 min before the start
    result = evaluate(
        tx(), [(START - 20 * HOUR, 50.0), (START - 30 * MIN, 5.0), (START - 6 * HOUR, 40.0), (END + 30 * MIN, 21.0)]
    )
    # then the one 30 min before is used: (21 - 5) x 500 = 8000
    assert result.attribution.pre is not None
    assert result.attribution.pre.count.value_e9_per_l == 5.0
    assert result.cci_early == 8000.0


def test_several_counts_in_a_window_use_the_earliest() -> None:
    rows = [
        (START - HOUR, 5.0),
        (END + 50 * MIN, 99.0),
        (END + 15 * MIN, 21.0),  # earliest early
        (END + 40 * MIN, 1.0),
        (END + 23 * HOUR, 99.0),
        (END + 19 * HOUR, 16.0),
        (END + 18 * HOUR + 30 * MIN, 17.0),  # earliest late
    ]
    result = evaluate(tx(), rows)
    assert result.attribution.early is not None
    assert result.attribution.early.count.drawn_at == END + 15 * MIN
    assert result.attribution.late is not None
    assert result.attribution.late.count.drawn_at == END + 18 * HOUR + 30 * MIN
    assert result.cci_early == 8000.0
    assert result.cci_late == 6000.0  # (17 - 5) x 500


# --- a count after the next transfusion ---------------------------------------------------------------


def test_early_count_after_the_next_transfusion_started_is_not_evaluable() -> None:
    # given the next transfusion starts 20 min after this one ends, and the only early count is at 30 min
    first, second = tx(1), tx(2, started_at=END + 20 * MIN)
    rows = counts((START - HOUR, 5.0), (END + 30 * MIN, 21.0), (END + 20 * HOUR, 16.0))
    # when
    results = evaluate_transfusions([second, first], rows, BSA2, P)
    # then the first is not evaluable: its early count is confounded by the second
    result = results[0]
    assert result.transfusion is first
    assert result.attribution.early is None
    assert result.attribution.early_confounded is True
    assert result.cci_early is None
    assert result.category is NE
    assert NotEvaluableReason.EARLY_COUNT_CONFOUNDED in result.reasons
    assert NotEvaluableReason.LATE_COUNT_CONFOUNDED in result.reasons
    assert NotEvaluableReason.NO_EARLY_COUNT not in result.reasons
    assert result.reasons == (NotEvaluableReason.EARLY_COUNT_CONFOUNDED, NotEvaluableReason.LATE_COUNT_CONFOUNDED)
    assert "early count after next transfusion" in result.reason


def test_late_count_after_the_next_transfusion_started_is_not_evaluable() -> None:
    # given the next transfusion starts 12 h after this one ends
    rows = [(START - HOUR, 5.0), (END + 30 * MIN, 21.0), (END + 20 * HOUR, 16.0)]
    result = evaluate(tx(), rows, next_started_at=END + 12 * HOUR)
    # then the early count is used and the late one is confounded
    assert result.cci_early == 8000.0
    assert result.cci_late is None
    assert result.attribution.late_confounded is True
    assert result.category is NE
    assert result.reasons == (NotEvaluableReason.LATE_COUNT_CONFOUNDED,)


@pytest.mark.parametrize(
    ("drawn_after_end", "next_after_end", "attributed"),
    [
        (15 * MIN, 20 * MIN, True),  # before the next start
        (20 * MIN - timedelta(seconds=1), 20 * MIN, True),
        (20 * MIN, 20 * MIN, False),  # AT the next start: the next one's pre-count, not this one's post count
        (25 * MIN, 20 * MIN, False),
    ],
)
def test_a_post_count_at_or_after_the_next_start_is_not_attributed(
    drawn_after_end: timedelta, next_after_end: timedelta, attributed: bool
) -> None:
    # given an early count and the next transfusion's start
    rows = [(START - HOUR, 5.0), (END + drawn_after_end, 21.0)]
    # when
    result = evaluate(tx(), rows, next_started_at=END + next_after_end)
    # then
    assert (result.cci_early == 8000.0) is attributed
    assert result.attribution.early_confounded is not attributed
    if not attributed:
        assert result.reasons[0] is NotEvaluableReason.EARLY_COUNT_CONFOUNDED


def test_a_count_at_the_next_start_is_the_next_transfusions_pre_count() -> None:
    # given the second transfusion starts 20 min after the first ends, with a count drawn at that moment
    first, second = tx(1), tx(2, started_at=END + 20 * MIN)
    rows = counts((START - HOUR, 5.0), (END + 20 * MIN, 21.0), (second.ended_at + 30 * MIN, 41.0))
    # when
    results = evaluate_transfusions([first, second], rows, BSA2, P)
    # then it is the second's pre-count and not the first's early count
    assert results[0].attribution.early is None and results[0].attribution.early_confounded
    assert results[1].attribution.pre is not None and results[1].attribution.pre.count.value_e9_per_l == 21.0
    assert results[1].cci_early == 10_000.0  # (41 - 21) x 500


# --- a pre-count from before an earlier transfusion ended ---------------------------------------------


PREVIOUS_END = START - 6 * HOUR  # an earlier transfusion ended 6 h before this one started


@pytest.mark.parametrize(
    ("pre_rows", "used", "reason"),
    [
        # the latest count in the look-back is after the previous end: used
        ([PREVIOUS_END + 2 * HOUR], PREVIOUS_END + 2 * HOUR, None),
        # at the previous end: not before it, used
        ([PREVIOUS_END], PREVIOUS_END, None),
        # the latest count predates the previous end: confounded, never silently "no pre-count"
        ([PREVIOUS_END - MIN], None, NotEvaluableReason.PRE_COUNT_CONFOUNDED),
        ([START - 23 * HOUR, PREVIOUS_END - 2 * HOUR], None, NotEvaluableReason.PRE_COUNT_CONFOUNDED),
        # an older count never stands in for a confounded latest one, nor a newer one for it
        ([PREVIOUS_END - 3 * HOUR, PREVIOUS_END + HOUR], PREVIOUS_END + HOUR, None),
        # nothing in the look-back at all: no pre-count, as before
        ([], None, NotEvaluableReason.NO_PRE_COUNT),
        ([START - 25 * HOUR], None, NotEvaluableReason.NO_PRE_COUNT),
    ],
)
def test_pre_count_not_before_the_end_of_the_previous_transfusion(
    pre_rows: list[datetime], used: datetime | None, reason: NotEvaluableReason | None
) -> None:
    # given pre-counts and early/late counts of a responsive transfusion
    rows = [*((at, 5.0) for at in pre_rows), (END + 30 * MIN, 21.0), (END + 20 * HOUR, 16.0)]
    # when
    result = evaluate(tx(), rows, previous_ended_at=PREVIOUS_END)
    # then
    assert (result.attribution.pre.count.drawn_at if result.attribution.pre else None) == used
    assert result.attribution.pre_confounded is (reason is NotEvaluableReason.PRE_COUNT_CONFOUNDED)
    if reason is None:
        assert result.category is R
    else:
        assert (result.category, result.reasons) == (NE, (reason,))
        assert result.reason == f"not evaluable: {reason.value.replace('_', ' ')}"


def test_pre_count_confounded_by_the_previous_transfusion_in_a_sequence() -> None:
    # given two transfusions 8 h apart and no count between them: the only count in the second's
    # look-back is the first's pre-count, drawn before the first ended
    first, second = tx(1), tx(2, started_at=START + 8 * HOUR)
    rows = counts((START - HOUR, 5.0), (second.ended_at + 30 * MIN, 41.0))
    # when
    results = evaluate_transfusions([second, first], rows, BSA2, P)
    # then the second is not evaluable, pre-count confounded (not a CCI from the first's baseline)
    assert results[1].transfusion is second
    assert results[1].attribution.pre is None
    assert results[1].cci_early is None
    assert results[1].reasons == (NotEvaluableReason.PRE_COUNT_CONFOUNDED, NotEvaluableReason.NO_LATE_COUNT)
    # and the first still uses it
    assert results[0].attribution.pre is not None and results[0].attribution.pre.count.value_e9_per_l == 5.0


def test_the_latest_end_of_all_earlier_transfusions_bounds_the_pre_count() -> None:
    # given a long transfusion, a short one started during it, and a third after both
    long = tx(1, duration=10 * HOUR)  # ends START + 10 h
    short = tx(2, started_at=START + HOUR)  # ends START + 2 h
    third = tx(3, started_at=START + 12 * HOUR)
    rows = counts((START + 9 * HOUR, 5.0), (third.ended_at + 30 * MIN, 41.0))
    # when
    results = evaluate_transfusions([long, short, third], rows, BSA2, P)
    # then the count at START + 9 h is after the short one's end but before the long one's: confounded
    assert results[2].transfusion is third
    assert results[2].reasons[0] is NotEvaluableReason.PRE_COUNT_CONFOUNDED


def test_a_late_failing_count_after_the_next_transfusion_does_not_make_it_non_responsive() -> None:
    # given early 8000 and a late count of 5 (CCI 0) drawn after the next transfusion started
    rows = [(START - HOUR, 5.0), (END + 30 * MIN, 21.0), (END + 20 * HOUR, 5.0)]
    result = evaluate(tx(), rows, next_started_at=END + 19 * HOUR)
    # then not evaluable, not N: the late count belongs to no transfusion
    assert result.category is NE
    assert result.reasons == (NotEvaluableReason.LATE_COUNT_CONFOUNDED,)


# --- one transfusion, end to end ----------------------------------------------------------------------


def test_worked_example_18000_end_to_end() -> None:
    # given height 162 cm, weight 72 kg: Mosteller sqrt(162 x 72 / 3600) = sqrt(3.24) = 1.8; dose 3.0
    measurements = [Measurement(START - timedelta(days=1), 162.0, 72.0)]
    rows = [(START - HOUR, 5.0), (END + 30 * MIN, 35.0), (END + 20 * HOUR, 35.0)]
    result = evaluate(tx(dose=3.0), rows, measurements)
    # then (35 - 5) x 1000 x 1.8 / 3.0 = 18,000 early and late: responsive
    assert result.bsa is not None and math.isclose(result.bsa.value_m2, 1.8, rel_tol=1e-12)
    assert result.cci_early is not None and math.isclose(result.cci_early, 18_000.0, rel_tol=1e-12)
    assert result.cci_late is not None and math.isclose(result.cci_late, 18_000.0, rel_tol=1e-12)
    assert result.category is R
    assert result.reasons == ()
    assert result.reason == "early and late CCI above their thresholds"
    # PPR: 30,000 /uL x 72 kg x 70 mL/kg x 1000 / (3.0 x 1e11) x 100 = 50.4 %
    assert result.ppr_early is not None and math.isclose(result.ppr_early, 50.4, rel_tol=1e-12)


def test_worked_example_negative_cci_end_to_end() -> None:
    # given height 144 cm, weight 64 kg: sqrt(144 x 64 / 3600) = sqrt(2.56) = 1.6; dose 3.2; pre 10, post 7
    measurements = [Measurement(START - timedelta(days=1), 144.0, 64.0)]
    result = evaluate(tx(dose=3.2), [(START - HOUR, 10.0), (END + 30 * MIN, 7.0)], measurements)
    # then (7 - 10) x 1000 x 1.6 / 3.2 = -1,500, kept, and non-responsive without a late count
    assert result.cci_early is not None and math.isclose(result.cci_early, -1_500.0, rel_tol=1e-12)
    assert result.cci_late is None
    assert result.category is N
    assert result.reasons == ()
    assert result.reason == "an evaluable CCI is at or below its threshold"


def test_worked_example_cci_exactly_7500_fails() -> None:
    # given BSA 1.8, dose 3.0, pre 5, post 17.5 early and a fine late count
    measurements = [Measurement(START - timedelta(days=1), 162.0, 72.0)]
    rows = [(START - HOUR, 5.0), (END + 30 * MIN, 17.5), (END + 20 * HOUR, 30.0)]
    result = evaluate(tx(dose=3.0), rows, measurements)
    # then the early CCI is 7,500: not > 7500, non-responsive
    assert result.cci_early is not None and math.isclose(result.cci_early, 7_500.0, rel_tol=1e-12)
    assert result.category is N


def test_worked_example_ppr_49_percent_end_to_end() -> None:
    # given weight 70 kg, increment 30 x10^9/L = 30,000 /uL, dose 3.0
    measurements = [Measurement(START - timedelta(days=1), 175.0, 70.0)]
    result = evaluate(tx(dose=3.0), [(START - HOUR, 5.0), (END + 30 * MIN, 35.0)], measurements)
    assert result.ppr_early is not None and math.isclose(result.ppr_early, 49.0, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("early", "late", "category", "reasons"),
    [
        # BSA 2.0, dose 4.0, pre 5: CCI = 500 x (post - 5)
        (17.0, None, N, ()),  # early 6000, no late: already failed
        (21.0, None, NE, (NotEvaluableReason.NO_LATE_COUNT,)),  # early 8000, late missing
        (21.0, 15.0, N, ()),  # early 8000, late 5000: not > 5000
        (21.0, 15.002, R, ()),  # early 8000, late 5001
        (20.0, 30.0, N, ()),  # early exactly 7500
        (None, 4.0, N, ()),  # no early sample, late -500
        (None, 30.0, NE, (NotEvaluableReason.NO_EARLY_COUNT,)),
        (None, None, NE, (NotEvaluableReason.NO_EARLY_COUNT, NotEvaluableReason.NO_LATE_COUNT)),
    ],
)
def test_classification_end_to_end(
    early: float | None, late: float | None, category: ResponseCategory, reasons: tuple[NotEvaluableReason, ...]
) -> None:
    rows = [(START - HOUR, 5.0)]
    if early is not None:
        rows.append((END + 30 * MIN, early))
    if late is not None:
        rows.append((END + 20 * HOUR, late))
    result = evaluate(tx(), rows)
    assert result.category is category
    assert result.reasons == reasons
    if early is not None:
        assert result.cci_early is not None and math.isclose(result.cci_early, 500 * (early - 5), rel_tol=1e-12)
    if late is not None:
        assert result.cci_late is not None and math.isclose(result.cci_late, 500 * (late - 5), rel_tol=1e-12)


GOOD_ROWS = [(START - HOUR, 5.0), (END + 30 * MIN, 21.0), (END + 20 * HOUR, 16.0)]


@pytest.mark.parametrize(
    ("transfusion", "rows", "measurements", "reasons"),
    [
        (tx(), GOOD_ROWS[1:], BSA2, (NotEvaluableReason.NO_PRE_COUNT,)),
        (tx(), GOOD_ROWS, [], (NotEvaluableReason.NO_BSA,)),
        (tx(), GOOD_ROWS, [Measurement(START - HOUR, None, 80.0)], (NotEvaluableReason.NO_BSA,)),
        (tx(), GOOD_ROWS, [Measurement(START - HOUR, 180.0, None)], (NotEvaluableReason.NO_BSA,)),
        (tx(), GOOD_ROWS, [Measurement(START + HOUR, 180.0, 80.0)], (NotEvaluableReason.NO_BSA,)),
        (tx(dose=None), GOOD_ROWS, BSA2, (NotEvaluableReason.NO_DOSE,)),
        (tx(dose=0.0), GOOD_ROWS, BSA2, (NotEvaluableReason.NO_DOSE,)),
        (tx(dose=-1.0), GOOD_ROWS, BSA2, (NotEvaluableReason.NO_DOSE,)),
        (
            tx(dose=0.0),
            [],
            [],
            (
                NotEvaluableReason.NO_PRE_COUNT,
                NotEvaluableReason.NO_EARLY_COUNT,
                NotEvaluableReason.NO_LATE_COUNT,
                NotEvaluableReason.NO_BSA,
                NotEvaluableReason.NO_DOSE,
            ),
        ),
    ],
    ids=[
        "no-pre",
        "no-measurement",
        "only-weight",
        "only-height",
        "measured-after",
        "dose-none",
        "dose-0",
        "dose-neg",
        "nothing",
    ],
)
def test_not_evaluable_with_reasons_never_an_exception(
    transfusion: Transfusion,
    rows: list[tuple[datetime, float]],
    measurements: list[Measurement],
    reasons: tuple[NotEvaluableReason, ...],
) -> None:
    result = evaluate(transfusion, rows, measurements)
    assert result.category is NE
    assert result.reasons == reasons
    assert result.cci_early is None
    assert result.cci_late is None
    assert result.ppr_early is None
    assert result.reason.startswith("not evaluable: ")


def test_not_evaluable_even_when_the_counts_would_fail() -> None:
    # an early count below the pre-count, but no dose: no CCI, so not N
    result = evaluate(tx(dose=None), [(START - HOUR, 20.0), (END + 30 * MIN, 5.0)])
    assert result.category is NE
    assert result.reasons == (NotEvaluableReason.NO_LATE_COUNT, NotEvaluableReason.NO_DOSE)
    assert result.reason == "not evaluable: no late count, no platelet dose"


def test_bsa_uses_the_latest_height_and_weight_before_the_start_ignoring_later() -> None:
    # given an old height+weight, a newer weight, and a measurement taken after the start
    measurements = [
        Measurement(START - timedelta(days=60), 180.0, 60.0),
        Measurement(START - timedelta(days=2), None, 80.0),
        Measurement(START + 2 * HOUR, 150.0, 40.0),
    ]
    result = evaluate(tx(), GOOD_ROWS, measurements)
    # then BSA = sqrt(180 x 80 / 3600) = 2.0 and the CCIs are 8000 and 5500
    assert result.bsa is not None
    assert (result.bsa.height_cm, result.bsa.weight_kg, result.bsa.value_m2) == (180.0, 80.0, 2.0)
    assert result.cci_early == 8000.0
    assert result.cci_late == 5500.0


def test_dubois_when_the_parameter_says_so() -> None:
    params = replace(P, bsa_formula=BsaFormula.DUBOIS)
    result = evaluate(tx(), GOOD_ROWS, params=params)
    assert result.bsa is not None
    assert result.bsa.formula is BsaFormula.DUBOIS
    bsa = dubois_bsa(180.0, 80.0)  # 1.996421 (computed by hand in test_bsa.py)
    assert result.bsa.value_m2 == bsa
    assert result.cci_early is not None and math.isclose(result.cci_early, 16 * 1000 * bsa / 4.0, rel_tol=1e-12)
    assert math.isclose(result.cci_early, 7985.68, abs_tol=0.01)
    assert result.category is R
    # a borderline case passes with Mosteller and fails with DuBois
    borderline = [(START - HOUR, 5.0), (END + 30 * MIN, 20.02), (END + 20 * HOUR, 16.0)]
    assert evaluate(tx(), borderline).category is R  # Mosteller: 500 x 15.02 = 7510
    assert evaluate(tx(), borderline, params=params).category is N  # DuBois: 7496.6


def test_evaluate_transfusions_orders_by_start_and_uses_the_next_start() -> None:
    # given three transfusions a day apart, listed out of order
    t1, t2, t3 = tx(1), tx(2, started_at=START + 24 * HOUR), tx(3, started_at=START + 48 * HOUR)
    rows = counts(
        (START - HOUR, 5.0),
        (END + 30 * MIN, 21.0),
        (END + 20 * HOUR, 16.0),
        (t2.ended_at + 30 * MIN, 10.0),  # t2: pre is the t1 late count (16), increment -6 -> N
        (t3.started_at - 2 * HOUR, 5.0),
        (t3.ended_at + 30 * MIN, 45.0),
        (t3.ended_at + 23 * HOUR, 35.0),
    )
    results = evaluate_transfusions([t3, t1, t2], rows, BSA2, P)
    assert [r.transfusion.transfusion_id for r in results] == [1, 2, 3]
    assert [r.category for r in results] == [R, N, R]
    assert results[1].attribution.pre is not None and results[1].attribution.pre.count.value_e9_per_l == 16.0
    assert results[1].cci_early == -3000.0
    assert results[2].cci_early == 20_000.0
    assert results[2].cci_late == 15_000.0


# --- properties of one transfusion ----------------------------------------------------------------


offsets_minutes = st.integers(min_value=-30 * 60, max_value=26 * 60)


@settings(max_examples=150)
@given(
    st.lists(st.tuples(offsets_minutes, st.floats(min_value=0, max_value=500)), max_size=10),
    # doses: missing, not positive (not evaluable), or what validation accepts per transfusion
    # (server.domain.validation: >= 0.1 x10^11 per unit)
    st.one_of(st.none(), st.floats(min_value=-2, max_value=0), st.floats(min_value=0.1, max_value=8)),
    st.booleans(),
    st.one_of(st.none(), st.integers(min_value=0, max_value=26 * 60)),
    st.one_of(st.none(), st.integers(min_value=-30 * 60, max_value=-60)),
)
def test_attribution_and_evaluation_follow_the_rules(
    rows: list[tuple[int, float]],
    dose: float | None,
    has_bsa: bool,
    next_after_end: int | None,
    previous_end_after_end: int | None,
) -> None:
    # counts at minute offsets from the END of a one-hour transfusion; an earlier transfusion
    # ended at or before this one's start
    transfusion = tx(dose=dose)
    data = counts(*[(END + m * MIN, v) for m, v in rows])
    next_start = END + next_after_end * MIN if next_after_end is not None else None
    previous_end = END + previous_end_after_end * MIN if previous_end_after_end is not None else None
    result = evaluate_transfusion(transfusion, data, BSA2 if has_bsa else [], next_start, P, previous_end)

    def earliest(lo: timedelta, hi: timedelta) -> Count | None:
        inside = [c for c in data if END + lo <= c.drawn_at <= END + hi]
        return min(inside, key=lambda c: (c.drawn_at, c.count_id)) if inside else None

    before = [c for c in data if START - 24 * HOUR <= c.drawn_at <= START]
    latest = max(before, key=lambda c: (c.drawn_at, c.count_id)) if before else None
    confounded_pre = latest is not None and previous_end is not None and latest.drawn_at < previous_end
    pre = None if confounded_pre else latest
    early, late = earliest(10 * MIN, 60 * MIN), earliest(18 * HOUR, 24 * HOUR)

    def usable(c: Count | None) -> Count | None:
        return c if c is not None and (next_start is None or c.drawn_at < next_start) else None

    a = result.attribution
    assert (a.pre.count if a.pre else None) == pre
    assert a.pre_confounded is confounded_pre
    assert (NotEvaluableReason.PRE_COUNT_CONFOUNDED in result.reasons) is confounded_pre
    if latest is None:
        assert NotEvaluableReason.NO_PRE_COUNT in result.reasons
    assert (a.early.count if a.early else None) == usable(early)
    assert (a.late.count if a.late else None) == usable(late)
    assert a.early_confounded == (early is not None and usable(early) is None)
    assert a.late_confounded == (late is not None and usable(late) is None)

    for cci, post in ((result.cci_early, usable(early)), (result.cci_late, usable(late))):
        if pre and post and has_bsa and dose is not None and dose > 0:
            # BSA 2.0: CCI = increment x 1000 x 2.0 / dose
            expected = (post.value_e9_per_l - pre.value_e9_per_l) * 1000 * 2.0 / dose
            assert cci is not None and math.isfinite(cci)
            assert math.isclose(cci, expected, rel_tol=1e-9)
        else:
            assert cci is None
    assert result.category is classify_transfusion(result.cci_early, result.cci_late, P)
    assert bool(result.reasons) == (result.category is NE)


@settings(max_examples=150)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=96 * 60), st.integers(min_value=10, max_value=12 * 60)),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.integers(min_value=-30 * 60, max_value=100 * 60), max_size=25),
)
def test_counts_never_cross_a_neighbouring_transfusion(
    transfusions: list[tuple[int, int]], count_minutes: list[int]
) -> None:
    # given transfusions (start, duration in minutes) that may overlap, and counts anywhere
    given_transfusions = [tx(i + 1, START + s * MIN, duration=d * MIN) for i, (s, d) in enumerate(transfusions)]
    data = counts(*[(START + m * MIN, 10.0 + i) for i, m in enumerate(count_minutes)])
    # when
    results = evaluate_transfusions(given_transfusions, data, BSA2, P)
    # then: a pre-count is never older than the end of an earlier transfusion, a post count never
    # drawn at or after the next start, and no count is a post count of two transfusions
    for i, result in enumerate(results):
        a = result.attribution
        earlier_ends = [r.transfusion.ended_at for r in results[:i]]
        if a.pre is not None and earlier_ends:
            assert a.pre.count.drawn_at >= max(earlier_ends)
        next_start = results[i + 1].transfusion.started_at if i + 1 < len(results) else None
        for post in (a.early, a.late):
            if post is not None:
                assert next_start is None or post.count.drawn_at < next_start
        if a.pre_confounded:
            assert result.reasons[0] is NotEvaluableReason.PRE_COUNT_CONFOUNDED
    owners: dict[int, set[int]] = {}
    for result in results:
        for post in (result.attribution.early, result.attribution.late):
            if post is not None:
                owners.setdefault(post.count.count_id, set()).add(result.transfusion.transfusion_id)
    assert all(len(ids) == 1 for ids in owners.values())


# --- one subject: helpers ---------------------------------------------------------------------------

INFUSION = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
EMPTY = Attribution(pre=None, early=None, late=None, early_confounded=False, late_confounded=False)


def response(
    category: ResponseCategory,
    started_at: datetime,
    transfusion_id: int = 1,
    cci_early: float | None = None,
    abo_compatible: bool | None = True,
) -> TransfusionResponse:
    if cci_early is None and category is not NE:
        cci_early = 9000.0 if category is R else 4000.0
    return TransfusionResponse(
        transfusion=Transfusion(transfusion_id, started_at, started_at + HOUR, 4.0, abo_compatible),
        attribution=EMPTY,
        bsa=None,
        cci_early=cci_early,
        cci_late=(6000.0 if category is R else None),
        ppr_early=None,
        category=category,
        reasons=(NotEvaluableReason.NO_PRE_COUNT,) if category is NE else (),
    )


def after_infusion(categories: Sequence[ResponseCategory], first_day: int = 3) -> list[TransfusionResponse]:
    """One transfusion per week, the first `first_day` days after the infusion."""
    return [
        response(c, INFUSION + timedelta(days=first_day + 7 * i), transfusion_id=i + 1)
        for i, c in enumerate(categories)
    ]


# --- small helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2026, 1, 31, 10, 0, tzinfo=UTC), 12, datetime(2027, 1, 31, 10, 0, tzinfo=UTC)),
        (datetime(2026, 1, 31, 10, 0, tzinfo=UTC), 1, datetime(2026, 2, 28, 10, 0, tzinfo=UTC)),
        (datetime(2028, 1, 31, 10, 0, tzinfo=UTC), 1, datetime(2028, 2, 29, 10, 0, tzinfo=UTC)),
        (datetime(2028, 2, 29, 8, 30, tzinfo=UTC), 12, datetime(2029, 2, 28, 8, 30, tzinfo=UTC)),
        (datetime(2026, 3, 15, 0, 0, tzinfo=UTC), 12, datetime(2027, 3, 15, 0, 0, tzinfo=UTC)),
        (datetime(2026, 8, 31, 23, 59, tzinfo=UTC), 6, datetime(2027, 2, 28, 23, 59, tzinfo=UTC)),
        (datetime(2026, 12, 1, tzinfo=UTC), 1, datetime(2027, 1, 1, tzinfo=UTC)),
        (datetime(2026, 5, 31, tzinfo=UTC), 1, datetime(2026, 6, 30, tzinfo=UTC)),
        (datetime(2026, 5, 10, tzinfo=UTC), 0, datetime(2026, 5, 10, tzinfo=UTC)),
        (datetime(2026, 5, 10, tzinfo=UTC), 24, datetime(2028, 5, 10, tzinfo=UTC)),
    ],
)
def test_add_months(moment: datetime, months: int, expected: datetime) -> None:
    assert add_months(moment, months) == expected
    assert add_months(moment, months).tzinfo is moment.tzinfo


@pytest.mark.parametrize(
    ("categories", "longest"),
    [
        ([], 0),
        ([NE, NE], 0),
        ([R], 1),
        ([R, R], 2),
        ([R, NE, R], 2),
        ([R, N, R], 1),
        ([R, R, N, R, R, R], 3),
        ([R, NE, NE, R, NE, R, N], 3),
        ([N, N, N], 0),
    ],
)
def test_longest_run_skips_not_evaluable(categories: list[ResponseCategory], longest: int) -> None:
    assert longest_run(categories, R) == longest


def test_longest_run_of_failures() -> None:
    assert longest_run([N, NE, N, R, N], N) == 2


# --- sustained responsiveness -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("categories", "sustained", "longest", "lost", "lost_index"),
    [
        ([R, R], True, 2, False, None),
        ([R, NE, R], True, 2, False, None),
        ([R, N, R], False, 1, False, None),
        ([R], False, 1, False, None),
        ([], False, 0, False, None),
        ([NE, NE, NE], False, 0, False, None),
        ([N, N, R, R], True, 2, False, None),  # failures before the sustained run are not a loss
        ([R, R, N, N], True, 2, True, 3),
        ([R, R, N, R, N], True, 2, False, None),
        ([R, R, N, NE, N], True, 2, True, 4),  # NE skipped in the losing run too
        ([R, R, R, N, N, N], True, 3, True, 4),  # lost at the transfusion completing the run of 2
        ([N, R, NE, R, N, R, R], True, 2, False, None),
    ],
)
def test_sustained_and_loss(
    categories: list[ResponseCategory], sustained: bool, longest: int, lost: bool, lost_index: int | None
) -> None:
    results = after_infusion(categories)
    subject = assess_subject(results, INFUSION, P)
    assert subject.sustained is sustained
    assert subject.longest_responsive_run == longest
    assert subject.lost_response is lost
    assert subject.lost_response_at == (results[lost_index].transfusion.started_at if lost_index is not None else None)
    assert subject.evaluable_transfusions == sum(1 for c in categories if c is not NE)
    assert subject.responsive_transfusions == sum(1 for c in categories if c is R)
    assert subject.first_infusion_at == INFUSION


def test_first_response_and_days_to_response() -> None:
    # given N on day 3, NE on day 10, R on day 17, R on day 24
    results = after_infusion([N, NE, R, R])
    subject = assess_subject(results, INFUSION, P)
    assert subject.first_response_at == INFUSION + timedelta(days=17)
    assert subject.days_to_response == 17


@pytest.mark.parametrize(
    ("infusion", "transfusion", "days"),
    [
        # 23:00 to 01:00 two days later is 26 hours but 2 UTC calendar days
        (datetime(2026, 3, 2, 23, 0, tzinfo=UTC), datetime(2026, 3, 4, 1, 0, tzinfo=UTC), 2),
        # same UTC day
        (datetime(2026, 3, 2, 0, 30, tzinfo=UTC), datetime(2026, 3, 2, 23, 30, tzinfo=UTC), 0),
        # 2026-03-02T22:30-02:00 = 03-03T00:30Z; 2026-03-04T08:00+09:00 = 03-03T23:00Z: day 0
        (
            datetime(2026, 3, 2, 22, 30, tzinfo=timezone(timedelta(hours=-2))),
            datetime(2026, 3, 4, 8, 0, tzinfo=timezone(timedelta(hours=9))),
            0,
        ),
    ],
)
def test_days_to_response_counts_utc_calendar_days(infusion: datetime, transfusion: datetime, days: int) -> None:
    subject = assess_subject([response(R, transfusion)], infusion, P)
    assert subject.first_response_at == transfusion
    assert subject.days_to_response == days


def test_no_response_has_no_first_response() -> None:
    subject = assess_subject(after_infusion([N, NE, N]), INFUSION, P)
    assert subject.first_response_at is None
    assert subject.days_to_response is None
    assert subject.sustained is False


def test_responses_before_the_infusion_do_not_count() -> None:
    # given two responsive transfusions before the infusion and one after
    results = [
        response(R, INFUSION - timedelta(days=10), 1),
        response(R, INFUSION - timedelta(days=3), 2),
        response(R, INFUSION + timedelta(days=3), 3),
    ]
    subject = assess_subject(results, INFUSION, P)
    assert subject.sustained is False
    assert subject.longest_responsive_run == 1
    assert subject.first_response_at == INFUSION + timedelta(days=3)
    assert subject.days_to_response == 3
    assert subject.evaluable_transfusions == 1


def test_a_transfusion_started_at_the_infusion_counts() -> None:
    results = [response(R, INFUSION, 1), response(R, INFUSION + timedelta(days=1), 2)]
    subject = assess_subject(results, INFUSION, P)
    assert subject.sustained is True
    assert subject.days_to_response == 0


@pytest.mark.parametrize(
    ("second_at", "sustained"),
    [
        (datetime(2027, 1, 31, 10, 0, tzinfo=UTC), True),  # exactly add_months(infusion, 12): inclusive
        (datetime(2027, 1, 31, 10, 0, 1, tzinfo=UTC), False),
        (datetime(2027, 2, 1, 9, 0, tzinfo=UTC), False),
        (datetime(2027, 1, 30, 10, 0, tzinfo=UTC), True),
    ],
)
def test_assessment_window_is_twelve_months_inclusive(second_at: datetime, sustained: bool) -> None:
    results = [response(R, INFUSION + timedelta(days=300), 1), response(R, second_at, 2)]
    assert assess_subject(results, INFUSION, P).sustained is sustained


def test_assessment_window_parameter_changes_the_result() -> None:
    results = [response(R, INFUSION + timedelta(days=150), 1), response(R, INFUSION + timedelta(days=200), 2)]
    assert assess_subject(results, INFUSION, P).sustained is True
    assert assess_subject(results, INFUSION, replace(P, assessment_window_months=6)).sustained is False


def test_a_failure_after_the_window_is_not_a_loss() -> None:
    results = after_infusion([R, R]) + [
        response(N, add_months(INFUSION, 12) + timedelta(days=1), 10),
        response(N, add_months(INFUSION, 12) + timedelta(days=8), 11),
    ]
    subject = assess_subject(results, INFUSION, P)
    assert subject.sustained is True
    assert subject.lost_response is False


def test_sustained_count_parameter_changes_the_result() -> None:
    three = replace(P, sustained_consecutive_responses=3)
    assert assess_subject(after_infusion([R, R]), INFUSION, P).sustained is True
    assert assess_subject(after_infusion([R, R]), INFUSION, three).sustained is False
    assert assess_subject(after_infusion([R, NE, R, R]), INFUSION, three).sustained is True
    # loss is counted after the run of 3 was reached: [R, R, N, N, R, R, R] is sustained, not lost
    subject = assess_subject(after_infusion([R, R, N, N, R, R, R]), INFUSION, three)
    assert (subject.sustained, subject.lost_response) == (True, False)


def test_loss_count_parameter_changes_the_result() -> None:
    assert assess_subject(after_infusion([R, R, N, N]), INFUSION, P).lost_response is True
    three = replace(P, loss_of_response_consecutive_failures=3)
    assert assess_subject(after_infusion([R, R, N, N]), INFUSION, three).lost_response is False
    assert assess_subject(after_infusion([R, R, N, NE, N, N]), INFUSION, three).lost_response is True


def test_without_an_infusion_nothing_is_assessed_after_it() -> None:
    results = [
        response(N, INFUSION, 1, cci_early=4000.0),
        response(N, INFUSION + timedelta(days=2), 2, cci_early=3000.0),
        response(R, INFUSION + timedelta(days=4), 3),
        response(R, INFUSION + timedelta(days=6), 4),
    ]
    subject = assess_subject(results, None, P)
    assert subject.first_infusion_at is None
    assert subject.sustained is False
    assert subject.first_response_at is None
    assert subject.days_to_response is None
    assert subject.longest_responsive_run == 0
    assert subject.evaluable_transfusions == 0
    assert subject.baseline_refractory is True  # everything counts as baseline


def test_input_order_does_not_matter() -> None:
    results = after_infusion([R, R, N, N])
    assert assess_subject(list(reversed(results)), INFUSION, P) == assess_subject(results, INFUSION, P)


# --- baseline refractoriness --------------------------------------------------------------------------


def baseline(*rows: tuple[float | None, bool | None]) -> list[TransfusionResponse]:
    """Transfusions before the infusion with the given early CCI (None: not evaluable) and ABO
    compatibility (None: unknown)."""
    out = []
    for i, (cci, abo) in enumerate(rows):
        at = INFUSION - timedelta(days=60 - 3 * i)
        if cci is None:
            out.append(response(NE, at, i + 1, abo_compatible=abo))
        else:
            out.append(response(N if cci <= 7500 else NE, at, i + 1, cci_early=cci, abo_compatible=abo))
    return out


@pytest.mark.parametrize(
    ("rows", "refractory"),
    [
        ([(6000.0, True), (7000.0, True)], True),
        ([(6000.0, True)], False),
        ([], False),
        ([(6000.0, True), (8000.0, True), (7000.0, True)], False),  # a good increment breaks the run
        ([(6000.0, True), (9000.0, False), (7000.0, True)], True),  # an incompatible one is skipped
        ([(6000.0, True), (3000.0, False)], False),  # an incompatible one does not count either
        ([(6000.0, True), (None, True), (7000.0, True)], True),  # no early CCI: skipped
        ([(7500.0, True), (7000.0, True)], False),  # 7500 is not below 7500
        ([(7499.99, True), (-1500.0, True)], True),  # negative CCIs count
        ([(8000.0, True), (6000.0, True), (8000.0, True), (5000.0, True), (4000.0, True)], True),
        # ABO compatibility unknown: not counted, and (like an incompatible one) it neither extends
        # nor breaks a run; the evidence lists it (test below)
        ([(6000.0, True), (3000.0, None)], False),
        ([(3000.0, None), (3000.0, None)], False),
        ([(6000.0, True), (9000.0, None), (7000.0, True)], True),
        ([(6000.0, True), (2000.0, None), (8000.0, True)], False),
    ],
)
def test_baseline_refractoriness(rows: list[tuple[float | None, bool | None]], refractory: bool) -> None:
    results = baseline(*rows)
    assert is_baseline_refractory(results, P) is refractory
    assert assess_subject(results, INFUSION, P).baseline_refractory is refractory


def test_refractoriness_evidence_lists_what_counted_and_what_was_left_out_and_why() -> None:
    # given five baseline transfusions and one after CAR-T
    results = [
        *baseline((6000.0, True), (9000.0, None), (3000.0, False), (None, True), (7000.0, True)),
        response(N, INFUSION + timedelta(days=2), 6, cci_early=6000.0),
    ]
    # when
    evidence = refractoriness_evidence(list(reversed(results)), INFUSION)
    # then
    assert evidence.counted == (1, 5)
    assert evidence.excluded == (
        (2, RefractoryExclusion.ABO_UNKNOWN),
        (3, RefractoryExclusion.ABO_INCOMPATIBLE),
        (4, RefractoryExclusion.NO_EARLY_CCI),
        (6, RefractoryExclusion.AFTER_CAR_T),
    )
    assert assess_subject(results, INFUSION, P).baseline_refractory is True


@pytest.mark.parametrize(
    ("cci", "abo", "after_car_t", "reason"),
    [
        (6000.0, True, False, None),
        (9000.0, True, False, None),  # counted: a good increment is evidence too (it breaks a run)
        (6000.0, None, True, RefractoryExclusion.AFTER_CAR_T),  # after CAR-T first
        (None, None, False, RefractoryExclusion.ABO_UNKNOWN),  # then a missing ABO entry
        (None, False, False, RefractoryExclusion.ABO_INCOMPATIBLE),
        (None, True, False, RefractoryExclusion.NO_EARLY_CCI),
    ],
)
def test_refractory_exclusion_precedence(
    cci: float | None, abo: bool | None, after_car_t: bool, reason: RefractoryExclusion | None
) -> None:
    at = INFUSION + timedelta(days=1) if after_car_t else INFUSION - timedelta(days=1)
    result = response(NE if cci is None else N, at, 1, cci_early=cci, abo_compatible=abo)
    evidence = refractoriness_evidence([result], INFUSION)
    assert evidence == (refractoriness_evidence([result], INFUSION))
    assert (evidence.counted, evidence.excluded) == (((1,), ()) if reason is None else ((), ((1, reason),)))


def test_refractory_threshold_parameter_changes_the_result() -> None:
    results = baseline((6000.0, True), (7000.0, True))
    strict = replace(P, refractory_cci_threshold_per_ul=5000.0)
    assert assess_subject(results, INFUSION, P).baseline_refractory is True
    assert assess_subject(results, INFUSION, strict).baseline_refractory is False
    assert assess_subject(baseline((4000.0, True), (4999.0, True)), INFUSION, strict).baseline_refractory is True
    assert assess_subject(baseline((4000.0, True), (5000.0, True)), INFUSION, strict).baseline_refractory is False


def test_refractory_count_parameter_changes_the_result() -> None:
    results = baseline((6000.0, True), (7000.0, True))
    three = replace(P, refractory_consecutive_transfusions=3)
    assert is_baseline_refractory(results, three) is False
    assert is_baseline_refractory(baseline((6000.0, True), (7000.0, True), (100.0, True)), three) is True


def test_refractoriness_uses_only_transfusions_before_the_infusion() -> None:
    results = [
        response(N, INFUSION - timedelta(days=2), 1, cci_early=6000.0),
        response(N, INFUSION, 2, cci_early=6000.0),  # at the infusion: after CAR-T
        response(N, INFUSION + timedelta(days=2), 3, cci_early=6000.0),
    ]
    assert assess_subject(results, INFUSION, P).baseline_refractory is False
    assert assess_subject(results, INFUSION + timedelta(seconds=1), P).baseline_refractory is True


# --- properties of one subject ----------------------------------------------------------------------

evaluable_categories = st.lists(st.sampled_from([R, N]), max_size=12)


def timed(categories: Sequence[ResponseCategory]) -> list[TransfusionResponse]:
    return [response(c, INFUSION + timedelta(days=1 + 5 * i), transfusion_id=i + 1) for i, c in enumerate(categories)]


@given(evaluable_categories, st.data())
def test_inserting_not_evaluable_transfusions_never_changes_the_assessment(
    categories: list[ResponseCategory], data: st.DataObject
) -> None:
    # given a sequence of R/N and the same with NE inserted anywhere
    with_ne = list(categories)
    for _ in range(data.draw(st.integers(min_value=0, max_value=6))):
        with_ne.insert(data.draw(st.integers(min_value=0, max_value=len(with_ne))), NE)
    for params in (P, replace(P, sustained_consecutive_responses=3, loss_of_response_consecutive_failures=3)):
        # when
        plain, padded = (
            assess_subject(timed(categories), INFUSION, params),
            assess_subject(timed(with_ne), INFUSION, params),
        )
        # then
        assert padded.sustained == plain.sustained
        assert padded.lost_response == plain.lost_response
        assert padded.longest_responsive_run == plain.longest_responsive_run
        assert padded.evaluable_transfusions == plain.evaluable_transfusions
        assert padded.responsive_transfusions == plain.responsive_transfusions
        assert (padded.first_response_at is None) == (plain.first_response_at is None)


@given(st.lists(st.sampled_from([R, N, NE]), max_size=15), st.integers(min_value=1, max_value=4))
def test_sustained_means_a_long_enough_run(categories: list[ResponseCategory], needed: int) -> None:
    params = replace(P, sustained_consecutive_responses=needed)
    subject = assess_subject(timed(categories), INFUSION, params)
    assert subject.longest_responsive_run == longest_run(categories, R)
    assert subject.sustained == (longest_run(categories, R) >= needed)
    if subject.lost_response:
        assert subject.sustained
        assert longest_run(categories, N) >= params.loss_of_response_consecutive_failures
    if subject.sustained:
        assert subject.first_response_at is not None
        assert subject.days_to_response is not None and subject.days_to_response >= 1


abo_states = st.one_of(st.booleans(), st.none())


@given(
    st.lists(st.tuples(st.one_of(st.none(), st.floats(min_value=-20_000, max_value=40_000)), abo_states), max_size=10)
)
def test_refractory_means_a_run_of_low_compatible_early_ccis(rows: list[tuple[float | None, bool | None]]) -> None:
    kept = [cci for cci, abo in rows if abo is True and cci is not None]
    best = current = 0
    for cci in kept:
        current = current + 1 if cci < 7500 else 0
        best = max(best, current)
    assert is_baseline_refractory(baseline(*rows), P) == (best >= 2)


@given(
    st.lists(st.tuples(st.one_of(st.none(), st.floats(min_value=-20_000, max_value=40_000)), abo_states), max_size=10),
    st.data(),
)
def test_abo_unknown_transfusions_never_change_refractoriness_and_are_always_listed(
    rows: list[tuple[float | None, bool | None]], data: st.DataObject
) -> None:
    # given the same baseline with ABO-unknown transfusions (any early CCI) inserted anywhere
    padded = list(rows)
    for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
        cci = data.draw(st.one_of(st.none(), st.floats(min_value=-20_000, max_value=40_000)))
        padded.insert(data.draw(st.integers(min_value=0, max_value=len(padded))), (cci, None))
    # when
    plain, with_unknown = baseline(*rows), baseline(*padded)
    evidence = refractoriness_evidence(with_unknown, INFUSION)
    # then: the answer is the same, and every transfusion is either counted or listed with a reason
    assert is_baseline_refractory(with_unknown, P) == is_baseline_refractory(plain, P)
    ids = [r.transfusion.transfusion_id for r in with_unknown]
    assert sorted([*evidence.counted, *(i for i, _ in evidence.excluded)]) == sorted(ids)
    unknown = {r.transfusion.transfusion_id for r in with_unknown if r.transfusion.abo_compatible is None}
    assert {i for i, reason in evidence.excluded if reason is RefractoryExclusion.ABO_UNKNOWN} == unknown
