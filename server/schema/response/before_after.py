"""Before vs after CAR-T per subject (Subject.beforeAfter), the paired cohort comparison
(trial.beforeAfterComparison) and time to event (trial.timeToEvent). Reads go through the
request's loaders only, so the statement count does not grow with the subjects; the rules are
server.domain.comparison and server.domain.survival, applied by server.services.before_after."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import strawberry

from ...db import queries as q
from ...db.follow_up import LAST_FOLLOW_UP_RULE
from ...domain.comparison import (
    BURDEN_RULE,
    HODGES_LEHMANN_RULE,
    PAIRED_RULE,
    PERIOD_RULE,
    WILCOXON_RULE,
    Period,
)
from ...domain.enums import CarTProduct
from ...domain.survival import KAPLAN_MEIER_RULE, TIME_TO_EVENT_RULE
from ...services import before_after as ba
from ..common.context import Info
from ..common.enums import EndpointPopulation, describe_values
from ..outcomes.loaders import OutcomesLoaders
from ..safety.loaders import SafetyLoaders
from .loaders import ResponseLoaders

BeforeAfterMeasure = ba.Measure
strawberry.enum(
    BeforeAfterMeasure,
    name="BeforeAfterMeasure",
    description="A per-subject value compared between the baseline and follow-up periods.",
)
TimeToEventKind = ba.EventKind
strawberry.enum(
    TimeToEventKind,
    name="TimeToEventKind",
    description="FIRST_RESPONSE: first infusion to first responsive transfusion. LOSS_OF_RESPONSE: first response to "
    "loss of response, among sustained responders. B_CELL_APLASIA: CD19 infusion to aplasia (configured rule). "
    "HLA_CLEARANCE: first infusion to clearance of every baseline-positive HLA specificity.",
)
describe_values(
    BeforeAfterMeasure,
    {
        "MEDIAN_CCI_EARLY": "Median early (10-60 min) CCI of the period's evaluable transfusions (per uL).",
        "MEDIAN_CCI_LATE": "Median late (18-24 h) CCI of the period's evaluable transfusions (per uL).",
        "SHARE_RESPONSIVE": "Share (0-1) of the period's evaluable transfusions that were responsive (R).",
        "TRANSFUSIONS_PER_30_DAYS": "Platelet transfusions per 30 days under follow-up in the period.",
        "UNITS_PER_30_DAYS": "Platelet units per 30 days under follow-up in the period.",
        "BLEEDING_GRADE2_PROPORTION": "Proportion (0-1) of observed days with WHO bleeding grade >= 2.",
    },
)
describe_values(
    TimeToEventKind,
    {
        "FIRST_RESPONSE": "First CAR-T infusion to the first responsive transfusion.",
        "LOSS_OF_RESPONSE": "First response to loss of response (a later run of >= 2 N), among sustained responders.",
        "B_CELL_APLASIA": "CD19 CAR-T infusion to B-cell aplasia (configured rule).",
        "HLA_CLEARANCE": "First CAR-T infusion to clearance of every baseline-positive HLA specificity.",
    },
)
MONTHS = "months (days / 30.4375)"


# --- per subject ------------------------------------------------------------------------------------


@strawberry.type(
    description="A period of whole UTC calendar days around the first CAR-T infusion (study day 0). `start` is 00:00 "
    "UTC of the first day and `end` 00:00 UTC of the day after the last (half-open); days are counted inclusive."
)
class StudyPeriod:
    label: str = strawberry.field(description="baseline or follow_up.")
    start: dt.datetime = strawberry.field(description="00:00 UTC of the period's first day (inclusive).")
    end: dt.datetime = strawberry.field(description="00:00 UTC of the day after the period's last day (exclusive).")
    first_date: dt.date = strawberry.field(description="First day (UTC date), inclusive.")
    last_date: dt.date = strawberry.field(description="Last day (UTC date), inclusive.")
    first_study_day: int = strawberry.field(description="Study day of the first day (day 0 = first infusion).")
    last_study_day: int = strawberry.field(description="Study day of the last day, inclusive.")
    days_in_period: int = strawberry.field(description="Days in the period as the protocol sets it (days).")
    days_under_follow_up: int = strawberry.field(
        description="Days of the period up to the subject's last follow-up (days): the denominator of rates and adherence."
    )
    last_study_day_under_follow_up: int = strawberry.field(
        description="Last study day of the period under follow-up (firstStudyDay - 1 when none)."
    )
    rule: str = strawberry.field(description="How the period is set, with its version.")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")

    @classmethod
    def of(cls, nominal: Period, observed: Period, version: int) -> StudyPeriod:
        return cls(
            label=nominal.label,
            start=nominal.start,
            end=nominal.end,
            first_date=nominal.first_date,
            last_date=nominal.last_date,
            first_study_day=nominal.first_study_day,
            last_study_day=nominal.last_study_day,
            days_in_period=nominal.days_in_period,
            days_under_follow_up=observed.days_in_period,
            last_study_day_under_follow_up=observed.last_study_day,
            rule=nominal.rule,
            parameter_version=version,
        )


@strawberry.type(description="Platelet increment in one period: CCIs of the transfusions started in it.")
class PeriodPlateletIncrement:
    transfusions: int = strawberry.field(description="Platelet transfusions started in the period, any category.")
    evaluable_transfusions: int = strawberry.field(description="Responsive (R) or non-responsive (N) ones.")
    responsive_transfusions: int = strawberry.field(description="Responsive (R) transfusions in the period.")
    median_cci_early_per_ul: float | None = strawberry.field(
        description="Median early CCI (per uL) of evaluable transfusions with one; null when none."
    )
    cci_early_count: int = strawberry.field(description="Early CCIs behind the median (n).")
    median_cci_late_per_ul: float | None = strawberry.field(
        description="Median late CCI (per uL) of evaluable transfusions with one; null when none."
    )
    cci_late_count: int = strawberry.field(description="Late CCIs behind the median (n).")
    share_responsive: float | None = strawberry.field(
        description="R / (R + N) as a proportion (0-1), over evaluableTransfusions; null when none is evaluable."
    )
    rule: str = strawberry.field(description="The rule that produced the figures, with its version.")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")


@strawberry.type(description="Transfusion burden in one period.")
class PeriodTransfusionBurden:
    days_under_follow_up: int = strawberry.field(description="The denominator (days).")
    transfusions: int = strawberry.field(description="Platelet transfusions started in the period.")
    units: int = strawberry.field(description="Platelet units (bags) of those transfusions.")
    transfusions_per_30_days: float | None = strawberry.field(
        description="Transfusions x 30 / days under follow-up (per 30 days); null when no day is under follow-up."
    )
    units_per_30_days: float | None = strawberry.field(
        description="Units x 30 / days under follow-up (per 30 days); null when no day is under follow-up."
    )
    rule: str = strawberry.field(description="The rule that produced the figures, with its version.")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")


@strawberry.type(description="Bleeding in one period, from the patient's diary (local calendar days).")
class PeriodBleeding:
    days_under_follow_up: int = strawberry.field(description="The period's days under follow-up (days).")
    days_observed: int = strawberry.field(description="Days with a report or a 'no bleeding today' check-in (days).")
    days_grade2_or_more: int = strawberry.field(description="Observed days with WHO grade >= 2 (days).")
    days_grade2_or_more_confirmed: int = strawberry.field(
        description="Of those, days whose reports support an adverse event an investigator confirmed (days)."
    )
    proportion_grade2_or_more: float | None = strawberry.field(
        description="daysGrade2OrMore / daysObserved (0-1); null when no day was observed."
    )
    worst_grade: int | None = strawberry.field(
        description="Worst WHO grade of the observed days (0: observed, no bleeding); null when none observed."
    )
    adherence: float | None = strawberry.field(
        description="daysObserved / daysUnderFollowUp (0-1); null when no day is under follow-up."
    )
    grade_source: str = strawberry.field(description="Which grade a day counts with, and why.")
    rule: str = strawberry.field(description="The rule that produced the figures, with its version.")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")


@strawberry.type(description="One period's platelet increment, transfusion burden and bleeding.")
class BeforeAfterPeriod:
    period: StudyPeriod = strawberry.field(description="The period's days.")
    platelet_increment: PeriodPlateletIncrement = strawberry.field(
        description="Platelet increments (CCI) in the period."
    )
    transfusion_burden: PeriodTransfusionBurden = strawberry.field(
        description="Platelet transfusions and units per 30 days in the period."
    )
    bleeding: PeriodBleeding = strawberry.field(description="Bleeding from the diary in the period.")

    @classmethod
    def of(cls, p: ba.PeriodResult, version: int) -> BeforeAfterPeriod:
        inc, burden, bleed = p.increment, p.burden, p.bleeding
        return cls(
            period=StudyPeriod.of(p.nominal, p.observed, version),
            platelet_increment=PeriodPlateletIncrement(
                transfusions=inc.n_transfusions,
                evaluable_transfusions=inc.n_evaluable,
                responsive_transfusions=inc.n_responsive,
                median_cci_early_per_ul=inc.median_cci_early,
                cci_early_count=inc.n_cci_early,
                median_cci_late_per_ul=inc.median_cci_late,
                cci_late_count=inc.n_cci_late,
                share_responsive=inc.share_responsive,
                rule=inc.rule,
                parameter_version=version,
            ),
            transfusion_burden=PeriodTransfusionBurden(
                days_under_follow_up=burden.days_in_period,
                transfusions=burden.n_transfusions,
                units=burden.n_units,
                transfusions_per_30_days=burden.transfusions_per_30_days,
                units_per_30_days=burden.units_per_30_days,
                rule=BURDEN_RULE + " (days under follow-up)",
                parameter_version=version,
            ),
            bleeding=PeriodBleeding(
                days_under_follow_up=bleed.days_in_period,
                days_observed=bleed.days_observed,
                days_grade2_or_more=bleed.days_grade2_or_more,
                days_grade2_or_more_confirmed=p.days_grade2_confirmed,
                proportion_grade2_or_more=bleed.proportion_grade2_or_more,
                worst_grade=bleed.worst_grade,
                adherence=bleed.adherence,
                grade_source=ba.GRADE_SOURCE,
                rule=bleed.rule,
                parameter_version=version,
            ),
        )


@strawberry.type(
    description="The subject as their own control: a baseline period before the first CAR-T infusion against a "
    "follow-up period after it (protocol parameters baselineDays, followUpFromDay, followUpToDay)."
)
class BeforeAfter:
    first_infusion_at: dt.datetime = strawberry.field(description="Study day 0 (UTC).")
    last_follow_up_at: dt.datetime = strawberry.field(
        description="The subject's latest dated record (UTC); the periods are clipped there."
    )
    last_follow_up_rule: str = strawberry.field(description="How the last follow-up is found, with its version.")
    baseline: BeforeAfterPeriod = strawberry.field(
        description="The baseline period (by default the 30 days before the first CAR-T infusion)."
    )
    follow_up: BeforeAfterPeriod = strawberry.field(
        description="The follow-up period (by default study days 29 to 365)."
    )
    days_to_first_grade2_bleed: int | None = strawberry.field(
        description="Calendar days from the infusion date to the first diary day with WHO grade >= 2 after it; null when none."
    )
    days_to_first_grade2_bleed_rule: str = strawberry.field(
        description="How daysToFirstGrade2Bleed is counted, with its version."
    )
    rule: str = strawberry.field(description="How the baseline and follow-up periods are set, with its version.")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")

    @classmethod
    def of(cls, s: ba.SubjectBeforeAfter, version: int) -> BeforeAfter:
        return cls(
            first_infusion_at=s.first_infusion_at,
            last_follow_up_at=s.last_follow_up_at,
            last_follow_up_rule=LAST_FOLLOW_UP_RULE,
            baseline=BeforeAfterPeriod.of(s.baseline, version),
            follow_up=BeforeAfterPeriod.of(s.follow_up, version),
            days_to_first_grade2_bleed=s.days_to_first_grade2,
            days_to_first_grade2_bleed_rule=ba.FIRST_GRADE2_RULE,
            rule=PERIOD_RULE,
            parameter_version=version,
        )


async def summaries(info: Info, ids: Sequence[int]) -> list[ba.SubjectBeforeAfter | None]:
    """Every subject's before/after summary through the loaders (batched across the request)."""
    loaders = info.context.loaders
    # The loads first, all subjects' resolvers in step (a first protocol() read, awaited by each
    # resolver in turn, would put them out of step and split every batch after it).
    firsts = await loaders.first_infusion_at.load_many(ids)
    lasts = await loaders.of(ResponseLoaders).last_follow_up.load_many(ids)
    transfusions = await loaders.of(ResponseLoaders).transfusions.load_many(ids)
    readings = await loaders.of(ResponseLoaders).evaluation.load_many(ids)
    reports = await loaders.of(SafetyLoaders).bleeding_reports.load_many(ids)
    events = await loaders.of(SafetyLoaders).events_of_report.load_many([r.id for rows in reports for r in rows])
    _version, params = await loaders.protocol()  # read once by the evaluation loader already
    out: list[ba.SubjectBeforeAfter | None] = []
    offset = 0
    for first, last, rows, reading, subject_reports in zip(firsts, lasts, transfusions, readings, reports, strict=True):
        own_events = events[offset : offset + len(subject_reports)]
        offset += len(subject_reports)
        days = ba.diary_days(subject_reports, own_events)
        out.append(ba.subject_before_after(first, last, rows, reading.by_transfusion, days, params))
    return out


async def subject_before_after(info: Info, subject_id: int) -> BeforeAfter | None:
    (summary,) = await summaries(info, [subject_id])
    version, _ = await info.context.loaders.protocol()
    return BeforeAfter.of(summary, version) if summary else None


# --- cohort -------------------------------------------------------------------------------------------


async def population_ids(info: Info, site_codes: list[str] | None, population: EndpointPopulation) -> list[int]:
    """Visible subjects (of these sites) in the population, as the primary endpoint defines it:
    INFUSED = at least one live CAR-T infusion; PER_PROTOCOL = both CD19 and BCMA. A site the
    caller cannot see, or an unknown one, contributes no subject (as bCellAplasiaAt)."""
    ids = list(await info.context.read(q.all_subject_ids, q.SubjectFilter(site_codes=site_codes)))
    infusions = await info.context.loaders.infusions.load_many(ids)
    wanted = {CarTProduct.CD19, CarTProduct.BCMA} if population is EndpointPopulation.PER_PROTOCOL else set()
    return [
        subject_id
        for subject_id, given in zip(ids, infusions, strict=True)
        if given and {i.product for i in given} >= wanted
    ]


async def _codes(info: Info, ids: Sequence[int]) -> list[str]:
    return [s.code if s else "" for s in await info.context.loaders.subject.load_many(list(ids))]


@strawberry.type(description="One subject's values in a before/after comparison.")
class BeforeAfterSubjectValue:
    subject_code: str = strawberry.field(description="Code of the subject.")
    baseline: float | None = strawberry.field(description="In the comparison's `unit`; null when not available.")
    follow_up: float | None = strawberry.field(description="In the comparison's `unit`; null when not available.")
    difference: float | None = strawberry.field(description="followUp - baseline; null unless both are given.")


@strawberry.type(
    description="A paired before/after comparison across subjects: differences are follow-up minus baseline, per "
    "subject with a value in both periods."
)
class BeforeAfterComparison:
    measure: BeforeAfterMeasure = strawberry.field(description="The per-subject value compared.")
    population: EndpointPopulation = strawberry.field(description="The subjects compared.")
    unit: str = strawberry.field(description="Unit of the values, medians, differences and estimates.")
    measure_rule: str = strawberry.field(description="What a subject's value is.")
    subjects: int = strawberry.field(description="Subjects of the population you may see (n).")
    pairs: int = strawberry.field(description="Subjects with a value in both periods (n pairs).")
    median_baseline: float | None = strawberry.field(description="Median baseline value over the pairs, in `unit`.")
    median_follow_up: float | None = strawberry.field(description="Median follow-up value over the pairs, in `unit`.")
    median_difference: float | None = strawberry.field(description="Median of the differences, in `unit`.")
    hodges_lehmann: float | None = strawberry.field(
        description="Hodges-Lehmann estimate (median of the Walsh averages, zeros kept), in `unit`."
    )
    wilcoxon_statistic: float | None = strawberry.field(
        description="min(W+, W-) of the signed-rank test (as scipy reports it); null when no non-zero difference."
    )
    w_plus: float | None = strawberry.field(description="Sum of the ranks of the positive differences.")
    w_minus: float | None = strawberry.field(description="Sum of the ranks of the negative differences.")
    p_value: float | None = strawberry.field(
        description="Exact two-sided Wilcoxon signed-rank p-value; null when no non-zero difference."
    )
    differences_ranked: int = strawberry.field(description="Non-zero differences in the test (n).")
    zero_differences_dropped: int = strawberry.field(description="Zero differences left out of the test (n).")
    has_ties: bool = strawberry.field(description="Tied |differences| (average ranks; the p-value stays exact).")
    zero_handling: str = strawberry.field(
        description="How zero differences are handled (dropped, as in Wilcoxon's original), in words."
    )
    periods: str = strawberry.field(description="The periods compared, as the protocol parameters set them.")
    rule: str = strawberry.field(description="How the paired differences are formed, with its version.")
    wilcoxon_rule: str = strawberry.field(
        description="The Wilcoxon signed-rank test used (exact, two-sided), with its version."
    )
    hodges_lehmann_rule: str = strawberry.field(
        description="How the Hodges-Lehmann estimate is computed, with its version."
    )
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")
    values: list[BeforeAfterSubjectValue] = strawberry.field(description="Per subject, in enrolment order.")


async def before_after_comparison(
    info: Info, measure: ba.Measure, site_codes: list[str] | None, population: EndpointPopulation
) -> BeforeAfterComparison:
    version, params = await info.context.loaders.protocol()
    ids = await population_ids(info, site_codes, population)
    subjects = [(i, s) for i, s in zip(ids, await summaries(info, ids), strict=True) if s is not None]
    comparison = ba.compare_measure(measure, subjects)
    result, w = comparison.result, comparison.result.wilcoxon
    codes = await _codes(info, [p.subject_id for p in comparison.pairs])
    return BeforeAfterComparison(
        measure=measure,
        population=population,
        unit=comparison.spec.unit,
        measure_rule=comparison.spec.rule + f" (values and differences rounded to {ba.VALUE_DECIMALS} decimals)",
        subjects=result.n_subjects,
        pairs=result.n_pairs,
        median_baseline=result.median_baseline,
        median_follow_up=result.median_follow_up,
        median_difference=result.median_difference,
        hodges_lehmann=result.hodges_lehmann,
        wilcoxon_statistic=w.statistic,
        w_plus=w.w_plus,
        w_minus=w.w_minus,
        p_value=w.p_value,
        differences_ranked=w.n_used,
        zero_differences_dropped=w.n_zero_dropped,
        has_ties=w.has_ties,
        zero_handling=result.zero_handling,
        periods=ba.periods_text(params),
        rule=PAIRED_RULE,
        wilcoxon_rule=WILCOXON_RULE,
        hodges_lehmann_rule=HODGES_LEHMANN_RULE,
        parameter_version=version,
        values=[
            BeforeAfterSubjectValue(
                subject_code=code, baseline=p.baseline, follow_up=p.follow_up, difference=p.difference
            )
            for code, p in zip(codes, comparison.pairs, strict=True)
        ],
    )


# --- time to event --------------------------------------------------------------------------------------


@strawberry.type(description="Subjects still at risk at a time.")
class AtRiskCount:
    month: float = strawberry.field(description=f"Time in {MONTHS}.")
    subjects: int = strawberry.field(description="Subjects with time >= month (n).")


@strawberry.type(description="One step of the Kaplan-Meier curve: the estimate from this time until the next step.")
class SurvivalStep:
    time_months: float = strawberry.field(description=f"In {MONTHS}.")
    survival: float = strawberry.field(description="S(t): estimated probability of no event yet (0-1).")
    ci_lower: float = strawberry.field(description="Pointwise 95% log-log lower bound of S(t).")
    ci_upper: float = strawberry.field(description="Pointwise 95% log-log upper bound of S(t).")
    at_risk: int = strawberry.field(description="Subjects at risk just before this time (n).")
    events: int = strawberry.field(description="Events at this time (n).")
    censored: int = strawberry.field(description="Subjects censored at this time (n).")


@strawberry.type(description="One subject's time in the analysis.")
class SubjectEventTime:
    subject_code: str = strawberry.field(description="Code of the subject.")
    months: float = strawberry.field(description=f"Time to the event or censoring, in {MONTHS}.")
    event: bool = strawberry.field(description="False: censored.")


@strawberry.type(
    description="Kaplan-Meier estimate of the time to an event after CAR-T, censored at the last follow-up or month 12."
)
class TimeToEventEstimate:
    event: TimeToEventKind = strawberry.field(description="The event whose time is estimated.")
    population: EndpointPopulation = strawberry.field(description="The subjects analysed.")
    analysed: str = strawberry.field(description="Who is in the analysis and where their clock starts.")
    event_definition: str = strawberry.field(description="What counts as the event, in words.")
    subjects: int = strawberry.field(description="Subjects in the analysis (n).")
    events: int = strawberry.field(description="Subjects with the event (n).")
    censored: int = strawberry.field(description="Subjects censored (n).")
    median_months: float | None = strawberry.field(
        description=f"Median time ({MONTHS}): the smallest time with S(t) <= 0.5; null when not reached."
    )
    median_ci_lower_months: float | None = strawberry.field(
        description="95% CI of the median, lower bound (Brookmeyer-Crowley, log-log); null when not reached."
    )
    median_ci_upper_months: float | None = strawberry.field(
        description="95% CI of the median, upper bound; null when not reached (infinite)."
    )
    confidence_level: float = strawberry.field(description="Confidence level of the intervals (0-1, e.g. 0.95).")
    at_risk: list[AtRiskCount] = strawberry.field(description="Numbers at risk at months 1, 3, 6 and 12.")
    curve: list[SurvivalStep] = strawberry.field(
        description="The step curve; S = 1 (CI 1-1) from time 0 to the first step."
    )
    subject_times: list[SubjectEventTime] = strawberry.field(description="Per subject, in enrolment order.")
    censoring: str = strawberry.field(description="When a subject is censored, in words.")
    last_follow_up_rule: str = strawberry.field(description="How the last follow-up is found, with its version.")
    rule: str = strawberry.field(description="The Kaplan-Meier and median CI method, with its version.")
    time_rule: str = strawberry.field(description="How times are measured (months = days / 30.4375), with its version.")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")


async def time_to_event(
    info: Info, kind: ba.EventKind, site_codes: list[str] | None, population: EndpointPopulation
) -> TimeToEventEstimate:
    loaders = info.context.loaders
    version, params = await loaders.protocol()
    ids = await population_ids(info, site_codes, population)
    firsts = await loaders.first_infusion_at.load_many(ids)
    infusions = await loaders.infusions.load_many(ids)
    lasts = await loaders.of(ResponseLoaders).last_follow_up.load_many(ids)
    responses = await loaders.of(ResponseLoaders).subject_response.load_many(ids)
    labs = (
        await loaders.of(OutcomesLoaders).lab_results.load_many(ids)
        if kind is ba.EventKind.B_CELL_APLASIA
        else [[] for _ in ids]
    )
    tests = (
        await loaders.of(OutcomesLoaders).antibody_tests.load_many(ids)
        if kind is ba.EventKind.HLA_CLEARANCE
        else [[] for _ in ids]
    )
    clocks = [
        ba.SubjectClock(subject_id, first, ba.cd19_time(given), last, response, lab_rows, test_rows)
        for subject_id, first, given, last, response, lab_rows, test_rows in zip(
            ids, firsts, infusions, lasts, responses, labs, tests, strict=True
        )
        if first is not None
    ]
    result = ba.time_to_event_of(kind, clocks, params)
    km = result.km
    codes = await _codes(info, [t.subject_id for t in result.times])
    analysed, definition = ba.EVENT_DEFINITIONS[kind]
    return TimeToEventEstimate(
        event=kind,
        population=population,
        analysed=analysed,
        event_definition=definition,
        subjects=km.n,
        events=km.n_events,
        censored=km.n - km.n_events,
        median_months=km.median,
        median_ci_lower_months=km.median_ci_lower,
        median_ci_upper_months=km.median_ci_upper,
        confidence_level=km.confidence,
        at_risk=[AtRiskCount(month=a.time, subjects=a.n_at_risk) for a in result.at_risk],
        curve=[
            SurvivalStep(
                time_months=s.time,
                survival=s.survival,
                ci_lower=s.ci_lower,
                ci_upper=s.ci_upper,
                at_risk=s.n_at_risk,
                events=s.events,
                censored=s.censored,
            )
            for s in km.steps
        ],
        subject_times=[
            SubjectEventTime(subject_code=code, months=t.months, event=t.event)
            for code, t in zip(codes, result.times, strict=True)
        ],
        censoring=ba.CENSORING,
        last_follow_up_rule=LAST_FOLLOW_UP_RULE,
        rule=KAPLAN_MEIER_RULE,
        time_rule=TIME_TO_EVENT_RULE,
        parameter_version=version,
    )
