"""Before vs after CAR-T and time to event (DOMAIN.md, "What the trial asks beyond the primary
endpoint"): the stored rows mapped to the domain's values (server.domain.comparison and
server.domain.survival) and the rules applied. No I/O here: the GraphQL layer reads the rows
through its per-request loaders and passes them in.

Reading of "confirmed grade where an investigator reviewed it, else provisional" for bleeding
days: the data model holds one WHO grade per diary day, the provisional grade the diary's rule
derives from all the day's reports (who-diary-day-v1). An investigator reviews the adverse events
a report proposes, and a review confirms, rejects or regrades on the CTCAE v5.0 scale, which is
not the WHO bleeding scale (CTCAE grade 2 epistaxis is "medical intervention indicated", WHO grade
2 is a nosebleed over 30 minutes); staff annotations are free text. No stored value is an
investigator's WHO grade, so mapping a CTCAE regrade onto the WHO scale would invent one. The
day's grade used here is therefore the provisional WHO day grade, and each period also counts the
grade >= 2 days whose reports support at least one adverse event an investigator CONFIRMED, so the
share of the figure that a review has backed is visible (`days_grade2_confirmed`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Any

from ..domain import bleeding as b
from ..domain.adverse_events import AdverseEventStatus
from ..domain.comparison import (
    BleedingDayInput,
    BleedingSummary,
    BurdenSummary,
    IncrementSummary,
    PairedComparison,
    Period,
    PeriodBounds,
    TransfusionOutcome,
    TransfusionUnits,
    bleeding_by_period,
    days_to_first_grade2_after,
    hodges_lehmann_paired,
    median,
    period_bounds,
    platelet_increment_by_period,
    transfusion_burden,
    wilcoxon_signed_rank_exact,
)
from ..domain.enums import CarTProduct
from ..domain.outcomes import AntibodyClass
from ..domain.protocol import ProtocolParameters
from ..domain.survival import (
    DAYS_PER_MONTH,
    DEFAULT_RISK_TIMES,
    AtRisk,
    KaplanMeier,
    kaplan_meier,
    numbers_at_risk,
    time_to_event,
)
from .diary import symptoms_of
from .outcomes import aplasia_timing, b_cell_series, clearance_of

GRADE_SOURCE = (
    "provisional WHO day grade (who-diary-day-v1) from the diary: the data model holds no investigator WHO grade "
    "(a review confirms, rejects or regrades the linked adverse event on the CTCAE v5.0 scale, which is not the WHO "
    "scale); daysGrade2OrMoreConfirmed counts the grade >= 2 days whose reports support an investigator-confirmed "
    "adverse event"
)
FIRST_GRADE2_RULE = (
    "first-grade2-v1: calendar days from the UTC date of the first CAR-T infusion to the first diary day (the "
    "patient's local date) with WHO grade >= 2 strictly after it"
)
VALUE_DECIMALS = 6  # per-subject values and differences are rounded so float noise neither breaks ties nor keeps zeros
HORIZON_MONTHS = 12
HLA = frozenset({AntibodyClass.HLA_CLASS_I, AntibodyClass.HLA_CLASS_II})


# --- per subject ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodResult:
    nominal: Period  # the protocol's period
    observed: Period  # clipped at the last follow-up: the days under follow-up
    increment: IncrementSummary
    burden: BurdenSummary
    bleeding: BleedingSummary
    days_grade2_confirmed: int


@dataclass(frozen=True)
class SubjectBeforeAfter:
    first_infusion_at: datetime
    last_follow_up_at: datetime
    baseline: PeriodResult
    follow_up: PeriodResult
    days_to_first_grade2: int | None


@dataclass(frozen=True)
class DiaryDay:
    local_date: date
    grade: int | None  # provisional WHO day grade; None: nothing gradable (a check-in)
    confirmed: bool  # a report of the day supports an investigator-confirmed adverse event


def diary_days(reports: Sequence[Any], events_by_report: Sequence[Sequence[Any]]) -> list[DiaryDay]:
    """One DiaryDay per local date with a report or check-in, graded by the diary's daily rule
    from every report of the day (as Subject.bleedingDays grades it)."""
    by_day: dict[date, list[Any]] = defaultdict(list)
    confirmed: set[date] = set()
    for report, events in zip(reports, events_by_report, strict=True):
        by_day[report.local_date].append(report)
        if any(event.status is AdverseEventStatus.CONFIRMED for event in events):
            confirmed.add(report.local_date)
    days = []
    for local_date, rows in sorted(by_day.items()):
        entries = [b.DayEntry(symptoms_of(r), b.NeurologicalSigns(**r.neurological_signs)) for r in rows]
        days.append(DiaryDay(local_date, b.assess_day(entries).who_grade, local_date in confirmed))
    return days


def bounds_of(first_infusion_at: datetime, params: ProtocolParameters, last: datetime | None = None) -> PeriodBounds:
    return period_bounds(
        first_infusion_at, params.baseline_days, params.follow_up_from_day, params.follow_up_to_day, last
    )


def _period_result(
    nominal: Period,
    observed: Period,
    outcomes: Sequence[TransfusionOutcome],
    units: Sequence[TransfusionUnits],
    days: Sequence[DiaryDay],
) -> PeriodResult:
    bleeding = bleeding_by_period([BleedingDayInput(d.local_date, True, d.grade) for d in days], observed)
    confirmed = sum(
        1
        for d in days
        if d.confirmed
        and d.grade is not None
        and d.grade >= 2
        and observed.first_date <= d.local_date <= observed.last_date
    )
    return PeriodResult(
        nominal=nominal,
        observed=observed,
        increment=platelet_increment_by_period(outcomes, observed),
        burden=transfusion_burden(units, observed),
        bleeding=bleeding,
        days_grade2_confirmed=confirmed,
    )


def subject_before_after(
    first_infusion_at: datetime | None,
    last_follow_up_at: datetime | None,
    transfusions: Sequence[Any],
    responses: dict[int, Any],
    days: Sequence[DiaryDay],
    params: ProtocolParameters,
) -> SubjectBeforeAfter | None:
    """None without a CAR-T infusion. `transfusions`: the live transfusion rows (started_at,
    units); `responses`: the response engine's flat record per transfusion id (stored or live:
    started_at, cci_early, cci_late, category). Periods are clipped at the last follow-up; rates
    and adherence use the days under follow-up."""
    if first_infusion_at is None:
        return None
    last = max(last_follow_up_at or first_infusion_at, first_infusion_at)
    nominal = bounds_of(first_infusion_at, params)
    observed = bounds_of(first_infusion_at, params, last)
    outcomes = [
        TransfusionOutcome(r.started_at, r.cci_early, r.cci_late, r.category)
        for t in transfusions
        if (r := responses.get(t.id)) is not None
    ]
    units = [TransfusionUnits(t.started_at, len(t.units)) for t in transfusions]
    day0 = first_infusion_at.astimezone(timezone.utc).date()
    grades = [BleedingDayInput(d.local_date, True, d.grade) for d in days]
    return SubjectBeforeAfter(
        first_infusion_at=first_infusion_at,
        last_follow_up_at=last,
        baseline=_period_result(nominal.baseline, observed.baseline, outcomes, units, days),
        follow_up=_period_result(nominal.follow_up, observed.follow_up, outcomes, units, days),
        days_to_first_grade2=days_to_first_grade2_after(day0, grades),
    )


def periods_text(params: ProtocolParameters) -> str:
    return (
        f"baseline study days -{params.baseline_days}..-1, follow-up study days {params.follow_up_from_day}.."
        f"{params.follow_up_to_day} (day 0 = first CAR-T infusion, UTC dates, both ends inclusive), clipped at the "
        "last follow-up"
    )


# --- cohort comparison ----------------------------------------------------------------------------


class Measure(Enum):
    MEDIAN_CCI_EARLY = "median_cci_early"
    MEDIAN_CCI_LATE = "median_cci_late"
    SHARE_RESPONSIVE = "share_responsive"
    TRANSFUSIONS_PER_30_DAYS = "transfusions_per_30_days"
    UNITS_PER_30_DAYS = "units_per_30_days"
    BLEEDING_GRADE2_PROPORTION = "bleeding_grade2_proportion"


@dataclass(frozen=True)
class MeasureSpec:
    unit: str
    rule: str
    value: Callable[[PeriodResult], float | None]


MEASURES: dict[Measure, MeasureSpec] = {
    Measure.MEDIAN_CCI_EARLY: MeasureSpec(
        "per uL",
        "the subject's median early CCI of evaluable transfusions in the period",
        lambda p: p.increment.median_cci_early,
    ),
    Measure.MEDIAN_CCI_LATE: MeasureSpec(
        "per uL",
        "the subject's median late CCI of evaluable transfusions in the period",
        lambda p: p.increment.median_cci_late,
    ),
    Measure.SHARE_RESPONSIVE: MeasureSpec(
        "proportion (0-1)",
        "responsive / evaluable (R / (R + N)) transfusions in the period",
        lambda p: p.increment.share_responsive,
    ),
    Measure.TRANSFUSIONS_PER_30_DAYS: MeasureSpec(
        "platelet transfusions per 30 days",
        "platelet transfusions started in the period x 30 / days under follow-up",
        lambda p: p.burden.transfusions_per_30_days,
    ),
    Measure.UNITS_PER_30_DAYS: MeasureSpec(
        "platelet units per 30 days",
        "platelet units given in the period x 30 / days under follow-up",
        lambda p: p.burden.units_per_30_days,
    ),
    Measure.BLEEDING_GRADE2_PROPORTION: MeasureSpec(
        "proportion (0-1) of observed diary days",
        "diary days with WHO grade >= 2 / observed diary days in the period",
        lambda p: p.bleeding.proportion_grade2_or_more,
    ),
}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, VALUE_DECIMALS)


@dataclass(frozen=True)
class SubjectPair:
    subject_id: int
    baseline: float | None
    follow_up: float | None

    @property
    def difference(self) -> float | None:
        if self.baseline is None or self.follow_up is None:
            return None
        return round(self.follow_up - self.baseline, VALUE_DECIMALS)


@dataclass(frozen=True)
class CohortComparison:
    measure: Measure
    spec: MeasureSpec
    pairs: list[SubjectPair]
    result: PairedComparison


def compare_measure(measure: Measure, subjects: Sequence[tuple[int, SubjectBeforeAfter]]) -> CohortComparison:
    """Per subject (baseline, follow-up) values of the measure; the paired comparison over the
    subjects with both (compare_paired's rules). Values and differences are rounded to
    VALUE_DECIMALS first, so 0.3 - 0.1 is one tie with 0.2 and equal values give an exact zero."""
    spec = MEASURES[measure]
    pairs = [
        SubjectPair(subject_id, _rounded(spec.value(s.baseline)), _rounded(spec.value(s.follow_up)))
        for subject_id, s in subjects
    ]
    complete = [p for p in pairs if p.difference is not None]
    differences = [p.difference for p in complete if p.difference is not None]
    result = PairedComparison(
        n_subjects=len(pairs),
        n_pairs=len(complete),
        median_baseline=median([p.baseline for p in complete if p.baseline is not None]),
        median_follow_up=median([p.follow_up for p in complete if p.follow_up is not None]),
        median_difference=median(differences),
        hodges_lehmann=hodges_lehmann_paired(differences),
        wilcoxon=wilcoxon_signed_rank_exact(differences),
    )
    return CohortComparison(measure, spec, pairs, result)


# --- time to event --------------------------------------------------------------------------------


class EventKind(Enum):
    FIRST_RESPONSE = "first_response"
    LOSS_OF_RESPONSE = "loss_of_response"
    B_CELL_APLASIA = "b_cell_aplasia"
    HLA_CLEARANCE = "hla_clearance"


EVENT_DEFINITIONS: dict[EventKind, tuple[str, str]] = {
    # kind: (who is in the analysis and from when, what the event is)
    EventKind.FIRST_RESPONSE: (
        "every subject of the population, from the first CAR-T infusion",
        "the start of the first responsive (R) transfusion after the infusion (plateletResponse.firstResponseAt)",
    ),
    EventKind.LOSS_OF_RESPONSE: (
        "subjects with a sustained response, from their first response",
        "the start of the transfusion that completed a later run of non-responsive transfusions "
        "(plateletResponse.lostResponseAt)",
    ),
    EventKind.B_CELL_APLASIA: (
        "subjects given CD19 CAR-T with at least one B-cell draw on or after the CD19 infusion date, from the "
        "CD19 infusion",
        "the first aplastic draw on or after the CD19 infusion date, by the configured B-cell aplasia rule "
        "(whole UTC calendar days from the infusion, as bCells.daysToAplasia)",
    ),
    EventKind.HLA_CLEARANCE: (
        "subjects with HLA antibodies positive at baseline, from the first CAR-T infusion",
        "the sample completing the clearance of every baseline-positive HLA specificity (hlaClearance.clearedAt)",
    ),
}
CENSORING = (
    "censored at the earliest of the last follow-up (last-follow-up-v1), an allogeneic HSCT (hsct-follow-up-v1) "
    "and month 12 after the first CAR-T infusion "
    "(12 x 30.4375 days); an event at or before month 12 counts even when later than the last follow-up"
)


@dataclass(frozen=True)
class SubjectClock:
    """What a time-to-event analysis needs of one subject (already in the population)."""

    subject_id: int
    first_infusion_at: datetime
    cd19_infused_at: datetime | None
    last_follow_up_at: datetime | None
    response: Any  # SubjectResponse values (stored row or live)
    lab_results: Sequence[Any]
    antibody_tests: Sequence[Any]


@dataclass(frozen=True)
class SubjectTime:
    subject_id: int
    months: float
    event: bool


@dataclass(frozen=True)
class TimeToEventResult:
    kind: EventKind
    times: list[SubjectTime]
    km: KaplanMeier
    at_risk: tuple[AtRisk, ...]


def _on_day(start: datetime, day: date) -> datetime:
    """The start moved on by whole UTC calendar days to `day` (never before the start)."""
    return start + timedelta(days=max((day - start.astimezone(timezone.utc).date()).days, 0))


def _clock(kind: EventKind, s: SubjectClock, params: ProtocolParameters) -> tuple[datetime, datetime | None] | None:
    """(start, event time or None) of a subject in the analysis; None when not in it."""
    if kind is EventKind.FIRST_RESPONSE:
        return s.first_infusion_at, s.response.first_response_at
    if kind is EventKind.LOSS_OF_RESPONSE:
        if not s.response.sustained or s.response.first_response_at is None:
            return None
        return s.response.first_response_at, s.response.lost_response_at
    if kind is EventKind.B_CELL_APLASIA:
        if s.cd19_infused_at is None:
            return None
        draws = b_cell_series(s.lab_results, params)
        day0 = s.cd19_infused_at.astimezone(timezone.utc).date()
        if not any(d.collected_on >= day0 and d.aplastic is not None for d in draws):
            return None  # never assessed after CD19: no information on the event
        onset, _ = aplasia_timing(draws, s.cd19_infused_at)
        return s.cd19_infused_at, _on_day(s.cd19_infused_at, onset) if onset else None
    clearance = clearance_of(s.antibody_tests, set(HLA), s.first_infusion_at)
    if clearance is None or not clearance.baseline_positive:
        return None
    cleared = clearance.subject_cleared_at
    return s.first_infusion_at, max(cleared, s.first_infusion_at) if cleared else None


def time_to_event_of(
    kind: EventKind, subjects: Sequence[SubjectClock], params: ProtocolParameters
) -> TimeToEventResult:
    """Kaplan-Meier over the subjects in the analysis. Every clock stops at month 12 after the
    first CAR-T infusion (the trial's horizon), or earlier at the last follow-up; a clock that
    starts later than the infusion (loss of response) is cut at the same calendar time."""
    times: list[SubjectTime] = []
    for s in subjects:
        clock = _clock(kind, s, params)
        if clock is None:
            continue
        start, event_at = clock
        horizon = s.first_infusion_at + timedelta(days=HORIZON_MONTHS * DAYS_PER_MONTH)
        ends_on = getattr(s.response, "follow_up_ends_on", None)
        if ends_on is not None:
            # An allogeneic HSCT ends the evaluable follow-up on its date (DOMAIN.md, "Prior and
            # concomitant therapies, transplant"): the clock is censored there, later events unseen.
            horizon = min(horizon, max(datetime.combine(ends_on, time.min, tzinfo=timezone.utc), start))
        last = min(max(s.last_follow_up_at or start, start), max(horizon, start))
        if event_at is not None and event_at > horizon:
            event_at = None
        t = time_to_event(start, event_at, last, HORIZON_MONTHS)
        times.append(SubjectTime(s.subject_id, t.time_months, t.event))
    km = kaplan_meier([t.months for t in times], [t.event for t in times])
    return TimeToEventResult(kind, times, km, numbers_at_risk(km, DEFAULT_RISK_TIMES))


def cd19_time(infusions: Sequence[Any]) -> datetime | None:
    return min((i.infused_at for i in infusions if i.product is CarTProduct.CD19), default=None)
