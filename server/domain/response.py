"""Platelet transfusion response (DOMAIN.md, "Platelet transfusion response").

Per transfusion: attribute the subject's counts to it by time, compute the corrected count
increment (CCI) early and late, classify responsive / non-responsive / not evaluable. Per subject:
baseline refractoriness, sustained responsiveness after CAR-T, first response, loss of response.
Every result names the rule and the protocol parameter version that produced it.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from functools import lru_cache

from .bsa import BodySurfaceArea, Measurement, body_surface_area_at
from .protocol import ProtocolParameters
from .therapies import Confounding, EndpointExclusion, TherapyCourse, confounding_therapy
from .units import PER_UL_PER_E9_PER_L

CCI_RULE = (
    "cci-v2: (post - pre) [x10^9/L] x 1000 [per uL per x10^9/L] x BSA [m^2] / dose [x10^11]; the pre-count not "
    "before the end of an earlier transfusion, post counts drawn before the next transfusion starts"
)
RESPONSE_RULE = (
    "response-v2: R when early CCI > early threshold and late CCI > late threshold; N when any evaluable CCI fails; "
    "else NE (a pre-count from before an earlier transfusion ended, or a post count drawn at or after the next "
    "transfusion's start, is confounded)"
)
SUSTAINED_RULE = (
    "sustained-v2: >= N consecutive R (NE skipped) among transfusions started within the assessment window after "
    "the first CAR-T infusion and before an allogeneic HSCT (hsctEndsFollowUp)"
)
SENSITIVITY_RULE = (
    "sensitivity-v1: SENSITIVITY ANALYSIS - sustained-v2 with every transfusion flagged confounded by therapy "
    "(ivig-confounding-v1, tpo-ra-confounding-v1) left out, as if not given"
)
REFRACTORY_RULE = (
    "refractory-v2: >= N consecutive ABO-compatible transfusions with an evaluable early CCI below the threshold, "
    "before the first CAR-T infusion; a transfusion of unknown ABO compatibility, an incompatible one and one "
    "without an early CCI are not counted (listed with the reason) and neither extend nor break a run"
)
PPR_RULE = (
    "ppr-v1: increment [per uL] x weight [kg] x blood volume [mL/kg] x 1000 [uL/mL] / (dose [x10^11] x 1e11) x 100"
)


class ResponseCategory(str, Enum):
    RESPONSIVE = "responsive"
    NON_RESPONSIVE = "non_responsive"
    NOT_EVALUABLE = "not_evaluable"


class NotEvaluableReason(str, Enum):
    NO_PRE_COUNT = "no_pre_count"
    PRE_COUNT_CONFOUNDED = (
        "pre_count_confounded"  # the last count in the look-back predates an earlier transfusion's end
    )
    NO_EARLY_COUNT = "no_early_count"
    NO_LATE_COUNT = "no_late_count"
    EARLY_COUNT_CONFOUNDED = "early_count_after_next_transfusion"
    LATE_COUNT_CONFOUNDED = "late_count_after_next_transfusion"
    NO_BSA = "no_height_or_weight"
    NO_DOSE = "no_platelet_dose"


@dataclass(frozen=True)
class Count:
    count_id: int
    drawn_at: datetime
    value_e9_per_l: float


@dataclass(frozen=True)
class Transfusion:
    transfusion_id: int
    started_at: datetime
    ended_at: datetime
    dose_e11: float | None  # total measured or nominal content; None when unknown
    abo_compatible: bool | None  # None: ABO compatibility unknown (not recorded)


# --- the formulas ----------------------------------------------------------------------------


def corrected_count_increment(pre_e9_per_l: float, post_e9_per_l: float, bsa_m2: float, dose_e11: float) -> float:
    """CCI per uL = (post - pre) [x10^9/L] x 1000 x BSA [m^2] / platelets transfused [x10^11]
    (ASCO/AABB; ASH Education 2020:527). Counts arrive in x10^9/L; 1 x10^9/L = 1,000 per uL.
    Negative values are kept (post below pre); nothing is rounded. The dose must be positive."""
    if dose_e11 <= 0:
        raise ValueError("a CCI needs a positive platelet dose")
    return (post_e9_per_l - pre_e9_per_l) * PER_UL_PER_E9_PER_L * bsa_m2 / dose_e11


def percent_platelet_recovery(
    increment_per_ul: float, weight_kg: float, dose_e11: float, blood_volume_ml_per_kg: float = 70.0
) -> float:
    """PPR % = increment [per uL] x blood volume [uL] / (dose x10^11 x 1e11) x 100, with blood
    volume = weight_kg x mL/kg (parameter, default 70) x 1000 uL/mL."""
    if dose_e11 <= 0:
        raise ValueError("a PPR needs a positive platelet dose")
    blood_volume_ul = weight_kg * blood_volume_ml_per_kg * 1000.0
    return increment_per_ul * blood_volume_ul / (dose_e11 * 1e11) * 100.0


# --- attributing counts to a transfusion -------------------------------------------------------


@dataclass(frozen=True)
class AttributedCount:
    count: Count
    after_end: timedelta  # negative for a pre-count: time before the start


@dataclass(frozen=True)
class Attribution:
    pre: AttributedCount | None
    early: AttributedCount | None
    late: AttributedCount | None
    early_confounded: bool
    late_confounded: bool
    pre_confounded: bool = False  # the last count in the look-back was drawn before an earlier transfusion ended


class CountTimeline:
    """A subject's counts sorted by draw time, searched by bisection: attributing counts to each of
    a subject's transfusions costs O(log n) per window instead of a scan of every count."""

    def __init__(self, counts: Sequence[Count]) -> None:
        self.counts = sorted(counts, key=lambda c: (c.drawn_at, c.count_id))
        self.times = [c.drawn_at for c in self.counts]

    def earliest_in(self, lo: datetime, hi: datetime) -> Count | None:
        i = bisect_left(self.times, lo)
        return self.counts[i] if i < len(self.counts) and self.times[i] <= hi else None

    def latest_in(self, lo: datetime, hi: datetime) -> Count | None:
        i = bisect_right(self.times, hi) - 1
        return self.counts[i] if i >= 0 and self.times[i] >= lo else None


def attribute_counts(
    transfusion: Transfusion,
    counts: Sequence[Count] | CountTimeline,
    next_started_at: datetime | None,
    params: ProtocolParameters,
    previous_ended_at: datetime | None = None,
) -> Attribution:
    """Pre-count: the last count drawn at or before the start, at most the look-back before it, and
    not before `previous_ended_at` (the end of an earlier transfusion): a latest count older than
    that is no baseline for this transfusion (confounded), never replaced by an older one.
    Early and late: the earliest count in each window, timed from the END, bounds inclusive.
    A post count drawn at or after the next transfusion's start cannot be attributed (confounded:
    it is the next one's pre-count)."""
    timeline = counts if isinstance(counts, CountTimeline) else CountTimeline(counts)
    start, end = transfusion.started_at, transfusion.ended_at
    pre = timeline.latest_in(start - timedelta(hours=params.pre_count_lookback_hours), start)
    pre_confounded = pre is not None and previous_ended_at is not None and pre.drawn_at < previous_ended_at
    early = timeline.earliest_in(
        end + timedelta(minutes=params.early_window_min_minutes),
        end + timedelta(minutes=params.early_window_max_minutes),
    )
    late = timeline.earliest_in(
        end + timedelta(hours=params.late_window_min_hours), end + timedelta(hours=params.late_window_max_hours)
    )

    def confounded(count: Count | None) -> bool:
        return count is not None and next_started_at is not None and count.drawn_at >= next_started_at

    return Attribution(
        pre=AttributedCount(pre, pre.drawn_at - start) if pre and not pre_confounded else None,
        early=None if early is None or confounded(early) else AttributedCount(early, early.drawn_at - end),
        late=None if late is None or confounded(late) else AttributedCount(late, late.drawn_at - end),
        early_confounded=confounded(early),
        late_confounded=confounded(late),
        pre_confounded=pre_confounded,
    )


# --- one transfusion ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TransfusionResponse:
    transfusion: Transfusion
    attribution: Attribution
    bsa: BodySurfaceArea | None
    cci_early: float | None
    cci_late: float | None
    ppr_early: float | None
    category: ResponseCategory
    reasons: tuple[NotEvaluableReason, ...] = field(default=())  # why a CCI is missing

    @property
    def reason(self) -> str:
        return response_reason(self.category, self.reasons)


def response_reason(category: ResponseCategory, reasons: Sequence[NotEvaluableReason]) -> str:
    """A sentence for people: why the transfusion got its category."""
    if category is ResponseCategory.RESPONSIVE:
        return "early and late CCI above their thresholds"
    if category is ResponseCategory.NON_RESPONSIVE:
        return "an evaluable CCI is at or below its threshold"
    return "not evaluable: " + ", ".join(r.value.replace("_", " ") for r in reasons)


def joined_reasons(reasons: Sequence[NotEvaluableReason]) -> str:
    """Not-evaluable reasons as stored: their values, comma-joined, in order ("" for none)."""
    return ",".join(r.value for r in reasons)


@lru_cache(maxsize=256)  # a handful of distinct combinations, read back thousands of times a request
def not_evaluable_reasons(joined: str) -> tuple[NotEvaluableReason, ...]:
    """The inverse of joined_reasons."""
    return tuple(NotEvaluableReason(value) for value in joined.split(",")) if joined else ()


def classify_transfusion(
    cci_early: float | None, cci_late: float | None, params: ProtocolParameters
) -> ResponseCategory:
    """R: early > threshold AND late > threshold (strictly). N: any evaluable CCI fails its
    threshold (an early 6000 with no late sample has already failed). NE otherwise."""
    early_fails = cci_early is not None and not cci_early > params.cci_early_threshold_per_ul
    late_fails = cci_late is not None and not cci_late > params.cci_late_threshold_per_ul
    if early_fails or late_fails:
        return ResponseCategory.NON_RESPONSIVE
    if cci_early is not None and cci_late is not None:
        return ResponseCategory.RESPONSIVE
    return ResponseCategory.NOT_EVALUABLE


def evaluate_transfusion(
    transfusion: Transfusion,
    counts: Sequence[Count] | CountTimeline,
    measurements: Sequence[Measurement],
    next_started_at: datetime | None,
    params: ProtocolParameters,
    previous_ended_at: datetime | None = None,
) -> TransfusionResponse:
    """One transfusion: its counts attributed by time (`previous_ended_at`: the latest end of the
    transfusions started before it), its BSA, CCIs, PPR and category, with the reasons when NE."""
    attribution = attribute_counts(transfusion, counts, next_started_at, params, previous_ended_at)
    bsa = body_surface_area_at(measurements, transfusion.started_at, params.bsa_formula)
    dose = transfusion.dose_e11 if transfusion.dose_e11 and transfusion.dose_e11 > 0 else None
    reasons: list[NotEvaluableReason] = []
    if attribution.pre is None:
        reasons.append(
            NotEvaluableReason.PRE_COUNT_CONFOUNDED if attribution.pre_confounded else NotEvaluableReason.NO_PRE_COUNT
        )
    if attribution.early is None:
        reasons.append(
            NotEvaluableReason.EARLY_COUNT_CONFOUNDED
            if attribution.early_confounded
            else NotEvaluableReason.NO_EARLY_COUNT
        )
    if attribution.late is None:
        reasons.append(
            NotEvaluableReason.LATE_COUNT_CONFOUNDED
            if attribution.late_confounded
            else NotEvaluableReason.NO_LATE_COUNT
        )
    if bsa is None:
        reasons.append(NotEvaluableReason.NO_BSA)
    if dose is None:
        reasons.append(NotEvaluableReason.NO_DOSE)

    def cci(post: AttributedCount | None) -> float | None:
        if post is None or attribution.pre is None or bsa is None or dose is None:
            return None
        return corrected_count_increment(
            attribution.pre.count.value_e9_per_l, post.count.value_e9_per_l, bsa.value_m2, dose
        )

    cci_early, cci_late = cci(attribution.early), cci(attribution.late)
    ppr_early = None
    if attribution.early and attribution.pre and bsa and dose:
        increment = (
            attribution.early.count.value_e9_per_l - attribution.pre.count.value_e9_per_l
        ) * PER_UL_PER_E9_PER_L
        ppr_early = percent_platelet_recovery(increment, bsa.weight_kg, dose, params.blood_volume_ml_per_kg)
    category = classify_transfusion(cci_early, cci_late, params)
    return TransfusionResponse(
        transfusion=transfusion,
        attribution=attribution,
        bsa=bsa,
        cci_early=cci_early,
        cci_late=cci_late,
        ppr_early=ppr_early,
        category=category,
        reasons=tuple(reasons) if category is ResponseCategory.NOT_EVALUABLE else (),
    )


def evaluate_transfusions(
    transfusions: Sequence[Transfusion],
    counts: Sequence[Count],
    measurements: Sequence[Measurement],
    params: ProtocolParameters,
) -> list[TransfusionResponse]:
    """Every transfusion of one subject, in start order. Each is bounded by its neighbours: its
    pre-count by the latest end of the transfusions started before it, its post counts by the
    next one's start."""
    ordered = sorted(transfusions, key=lambda t: (t.started_at, t.transfusion_id))
    timeline = CountTimeline(counts)
    results = []
    previous_end: datetime | None = None
    for i, transfusion in enumerate(ordered):
        next_start = ordered[i + 1].started_at if i + 1 < len(ordered) else None
        results.append(evaluate_transfusion(transfusion, timeline, measurements, next_start, params, previous_end))
        previous_end = transfusion.ended_at if previous_end is None else max(previous_end, transfusion.ended_at)
    return results


# --- one subject -------------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """Same day-of-month `months` later (clamped to the month's last day)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def longest_run(categories: Sequence[ResponseCategory], wanted: ResponseCategory) -> int:
    """Longest run of `wanted` with not-evaluable transfusions skipped (they neither extend nor
    break a run)."""
    best = current = 0
    for category in categories:
        if category is ResponseCategory.NOT_EVALUABLE:
            continue
        current = current + 1 if category is wanted else 0
        best = max(best, current)
    return best


class RefractoryExclusion(str, Enum):
    """Why a transfusion is left out of baseline refractoriness (in this order of precedence)."""

    AFTER_CAR_T = "after_car_t"  # started at or after the first CAR-T infusion: not baseline
    ABO_UNKNOWN = "abo_unknown"  # ABO compatibility not recorded
    ABO_INCOMPATIBLE = "abo_incompatible"
    NO_EARLY_CCI = "no_early_cci"  # no evaluable early CCI (see the transfusion's not-evaluable reasons)


def refractory_exclusion(result: TransfusionResponse, first_infusion_at: datetime | None) -> RefractoryExclusion | None:
    """Why this transfusion does not count towards baseline refractoriness; None when it counts
    (a baseline, ABO-compatible transfusion with an evaluable early CCI)."""
    transfusion = result.transfusion
    if first_infusion_at is not None and transfusion.started_at >= first_infusion_at:
        return RefractoryExclusion.AFTER_CAR_T
    if transfusion.abo_compatible is None:
        return RefractoryExclusion.ABO_UNKNOWN
    if not transfusion.abo_compatible:
        return RefractoryExclusion.ABO_INCOMPATIBLE
    if result.cci_early is None:
        return RefractoryExclusion.NO_EARLY_CCI
    return None


def is_baseline_refractory(results: Sequence[TransfusionResponse], params: ProtocolParameters) -> bool:
    """>= N consecutive counted transfusions (ABO-compatible, with an evaluable early CCI) whose
    early CCI is below the threshold (strictly), among the baseline transfusions given. The others
    (ABO unknown or incompatible, no early CCI) are not counted: they neither extend nor break a
    run, as DOMAIN.md's 'consecutive ABO-compatible transfusions' reads; the evidence lists them."""
    run = 0
    for result in sorted(results, key=lambda r: (r.transfusion.started_at, r.transfusion.transfusion_id)):
        if refractory_exclusion(result, None) is not None:
            continue
        assert result.cci_early is not None  # counted
        run = run + 1 if result.cci_early < params.refractory_cci_threshold_per_ul else 0
        if run >= params.refractory_consecutive_transfusions:
            return True
    return False


@dataclass(frozen=True)
class RefractorinessEvidence:
    """Which transfusions counted towards baseline refractoriness and which were left out and why,
    in start order: a missing ABO entry is visible, not silent."""

    counted: tuple[int, ...]
    excluded: tuple[tuple[int, RefractoryExclusion], ...]


def refractoriness_evidence(
    results: Sequence[TransfusionResponse], first_infusion_at: datetime | None
) -> RefractorinessEvidence:
    ordered = sorted(results, key=lambda r: (r.transfusion.started_at, r.transfusion.transfusion_id))
    counted, excluded = [], []
    for result in ordered:
        reason = refractory_exclusion(result, first_infusion_at)
        if reason is None:
            counted.append(result.transfusion.transfusion_id)
        else:
            excluded.append((result.transfusion.transfusion_id, reason))
    return RefractorinessEvidence(tuple(counted), tuple(excluded))


@dataclass(frozen=True)
class SubjectResponse:
    first_infusion_at: datetime | None
    baseline_refractory: bool
    sustained: bool
    first_response_at: datetime | None  # start of the first responsive transfusion after CAR-T
    days_to_response: int | None  # UTC calendar days from the first infusion to that transfusion
    longest_responsive_run: int
    lost_response: bool
    lost_response_at: datetime | None  # start of the transfusion that completed the losing run
    evaluable_transfusions: int  # after CAR-T, within the assessment window
    responsive_transfusions: int
    # Therapies and transplant (flat, as stored): the evaluable follow-up's end (an allogeneic
    # HSCT), the counted transfusions flagged confounded by therapy, and the sensitivity analysis
    # (the same rule without the flagged transfusions, SENSITIVITY_RULE).
    follow_up_ends_on: date | None = None
    confounded_transfusions: int = 0
    sensitivity_sustained: bool = False
    sensitivity_first_response_at: datetime | None = None
    sensitivity_days_to_response: int | None = None
    sensitivity_longest_responsive_run: int = 0
    sensitivity_lost_response: bool = False
    sensitivity_lost_response_at: datetime | None = None
    sensitivity_evaluable_transfusions: int = 0
    sensitivity_responsive_transfusions: int = 0


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()


@dataclass(frozen=True)
class TransfusionFlags:
    """What therapies and a transplant say about one transfusion: the therapy that confounds it
    (still classified), and why it is not counted for the endpoint (None: counted)."""

    confounding: Confounding | None
    endpoint_exclusion: EndpointExclusion | None


def endpoint_exclusion(
    started_at: datetime, first_infusion_at: datetime | None, params: ProtocolParameters, follow_up_ends_on: date | None
) -> EndpointExclusion | None:
    """Counted for the primary endpoint: started from the first CAR-T infusion to the end of the
    assessment window, and before the UTC date of an allogeneic HSCT that ends follow-up."""
    if first_infusion_at is None or started_at < first_infusion_at:
        return EndpointExclusion.BEFORE_CAR_T
    if started_at > add_months(first_infusion_at, params.assessment_window_months):
        return EndpointExclusion.AFTER_ASSESSMENT_WINDOW
    if follow_up_ends_on is not None and _utc_date(started_at) >= follow_up_ends_on:
        return EndpointExclusion.AFTER_HSCT
    return None


def transfusion_flags(
    results: Sequence[TransfusionResponse],
    first_infusion_at: datetime | None,
    params: ProtocolParameters,
    therapies: Sequence[TherapyCourse] = (),
    follow_up_ends_on: date | None = None,
) -> dict[int, TransfusionFlags]:
    """Per transfusion id: its confounding therapy and endpoint exclusion."""
    return {
        r.transfusion.transfusion_id: TransfusionFlags(
            confounding_therapy(
                r.transfusion.started_at, therapies, params.ivig_confounding_days, params.tpo_ra_confounds
            ),
            endpoint_exclusion(r.transfusion.started_at, first_infusion_at, params, follow_up_ends_on),
        )
        for r in results
    }


@dataclass(frozen=True)
class _FollowUp:
    sustained: bool
    first_response_at: datetime | None
    days_to_response: int | None
    longest_responsive_run: int
    lost_response_at: datetime | None
    evaluable: int
    responsive: int


def _assess_follow_up(
    after: Sequence[TransfusionResponse], first_infusion_at: datetime | None, params: ProtocolParameters
) -> _FollowUp:
    """Sustained response, first and lost response over the counted transfusions, in start order."""
    categories = [r.category for r in after]
    evaluable = [r for r in after if r.category is not ResponseCategory.NOT_EVALUABLE]
    responsive = [r for r in evaluable if r.category is ResponseCategory.RESPONSIVE]
    first = responsive[0].transfusion.started_at if responsive else None

    sustained_at: int | None = None  # index in `evaluable` where the sustained run was reached
    run = 0
    for i, r in enumerate(evaluable):
        run = run + 1 if r.category is ResponseCategory.RESPONSIVE else 0
        if run >= params.sustained_consecutive_responses:
            sustained_at = i
            break
    lost_at = None
    if sustained_at is not None:
        failures = 0
        for r in evaluable[sustained_at + 1 :]:
            failures = failures + 1 if r.category is ResponseCategory.NON_RESPONSIVE else 0
            if failures >= params.loss_of_response_consecutive_failures:
                lost_at = r.transfusion.started_at
                break
    return _FollowUp(
        sustained=sustained_at is not None,
        first_response_at=first,
        days_to_response=(_utc_date(first) - _utc_date(first_infusion_at)).days
        if first and first_infusion_at
        else None,
        longest_responsive_run=longest_run(categories, ResponseCategory.RESPONSIVE),
        lost_response_at=lost_at,
        evaluable=len(evaluable),
        responsive=len(responsive),
    )


def assess_subject(
    results: Sequence[TransfusionResponse],
    first_infusion_at: datetime | None,
    params: ProtocolParameters,
    flags: dict[int, TransfusionFlags] | None = None,
    follow_up_ends_on: date | None = None,
) -> SubjectResponse:
    """Baseline refractoriness uses transfusions before the first CAR-T infusion; sustained
    response, first response and loss of response use those counted for the endpoint (started
    from the infusion to the end of the assessment window, before an allogeneic HSCT that ends
    follow-up: `flags`, from transfusion_flags; without them, no therapy or transplant). Loss of
    response: after a sustained run has been reached, a later run of >= N non-responsive
    transfusions (NE skipped). The sensitivity analysis repeats this without the counted
    transfusions flagged confounded by therapy."""
    ordered = sorted(results, key=lambda r: (r.transfusion.started_at, r.transfusion.transfusion_id))
    if flags is None:
        flags = transfusion_flags(ordered, first_infusion_at, params, (), follow_up_ends_on)
    before = [r for r in ordered if first_infusion_at is None or r.transfusion.started_at < first_infusion_at]
    after = [r for r in ordered if flags[r.transfusion.transfusion_id].endpoint_exclusion is None]
    unconfounded = [r for r in after if flags[r.transfusion.transfusion_id].confounding is None]
    main = _assess_follow_up(after, first_infusion_at, params)
    sensitivity = _assess_follow_up(unconfounded, first_infusion_at, params)
    return SubjectResponse(
        first_infusion_at=first_infusion_at,
        baseline_refractory=is_baseline_refractory(before, params),
        sustained=main.sustained,
        first_response_at=main.first_response_at,
        days_to_response=main.days_to_response,
        longest_responsive_run=main.longest_responsive_run,
        lost_response=main.lost_response_at is not None,
        lost_response_at=main.lost_response_at,
        evaluable_transfusions=main.evaluable,
        responsive_transfusions=main.responsive,
        follow_up_ends_on=follow_up_ends_on,
        confounded_transfusions=len(after) - len(unconfounded),
        sensitivity_sustained=sensitivity.sustained,
        sensitivity_first_response_at=sensitivity.first_response_at,
        sensitivity_days_to_response=sensitivity.days_to_response,
        sensitivity_longest_responsive_run=sensitivity.longest_responsive_run,
        sensitivity_lost_response=sensitivity.lost_response_at is not None,
        sensitivity_lost_response_at=sensitivity.lost_response_at,
        sensitivity_evaluable_transfusions=sensitivity.evaluable,
        sensitivity_responsive_transfusions=sensitivity.responsive,
    )
