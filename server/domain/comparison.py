"""Before vs after CAR-T: per-subject period summaries and the paired cohort comparison
(DOMAIN.md, "What the trial asks beyond the primary endpoint (before vs after CAR-T)").

Each subject is their own control: a baseline period before the first CAR-T infusion against a
follow-up period after it. Per subject and period: platelet increment, transfusion burden and
bleeding. Across the cohort: the paired differences (follow-up minus baseline) with their
median, the Hodges-Lehmann estimate and the exact Wilcoxon signed-rank test. Standard library
only; every result names the rule that produced it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction

from .response import ResponseCategory, TransfusionResponse

WILCOXON_RULE = (
    "wilcoxon-exact-v1: signed-rank test, zero differences dropped (Wilcoxon 1945), average ranks for ties, "
    "two-sided exact p = min(1, 2 x min(P(W+ <= w), P(W+ >= w))) over the 2^n equally likely sign assignments"
)
HODGES_LEHMANN_RULE = "hodges-lehmann-v1: median of the Walsh averages (d_i + d_j) / 2, i <= j, zero differences kept"
PAIRED_RULE = "paired-v1: follow-up minus baseline per subject with a value in both periods"
PERIOD_RULE = (
    "period-v1: UTC calendar days from the first CAR-T infusion (infusion day = 0); baseline days "
    "-30..-1, follow-up days 29..365, both ends inclusive; clipped at the last follow-up date"
)
INCREMENT_RULE = (
    "increment-by-period-v1: medians of the early and late CCI of evaluable (R or N) transfusions started in the "
    "period; share responsive = R / (R + N), NE excluded"
)
BURDEN_RULE = "burden-v1: platelet transfusions and units started in the period x 30 / days in the period"
BLEEDING_RULE = (
    "bleeding-by-period-v1: a day is observed with a report or a check-in; grade >= 2 days over observed days; "
    "adherence = observed days / days in the period"
)
ZERO_HANDLING = (
    "zero differences are dropped for the Wilcoxon test (Wilcoxon's original method) and kept for the median "
    "difference and the Hodges-Lehmann estimate"
)
PER_DAYS = 30  # burden is reported per 30 days


# --- small helpers -----------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """The sample median (mean of the two middle values for an even count); None when empty."""
    return statistics.median(values) if values else None


def _utc_date(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("a period needs timezone-aware times")
        return moment.astimezone(timezone.utc).date()
    return moment


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=timezone.utc)


# --- Wilcoxon signed-rank, exact -----------------------------------------------------------------


@dataclass(frozen=True)
class WilcoxonResult:
    n_total: int  # differences given
    n_zero_dropped: int
    n_used: int  # non-zero differences ranked
    statistic: float | None  # min(W+, W-), as scipy.stats.wilcoxon reports for two-sided; None when n_used = 0
    w_plus: float | None  # sum of the ranks of the positive differences
    w_minus: float | None
    p_value: float | None  # exact two-sided; None when n_used = 0
    has_ties: bool  # tied |d| among the used differences (average ranks)
    rule: str = WILCOXON_RULE


def average_ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (1-based) of the values; tied values share the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end + 2) / 2  # positions start+1 .. end+1
        start = end + 1
    return ranks


def _sign_flip_counts(doubled_ranks: Sequence[int]) -> list[int]:
    """counts[s] = number of the 2^n sign assignments whose doubled W+ equals s (dynamic
    programming: each rank joins the positive sum or not, independently, under H0)."""
    counts = [1] + [0] * sum(doubled_ranks)
    reach = 0
    for r in doubled_ranks:
        reach += r
        for s in range(reach, r - 1, -1):
            counts[s] += counts[s - r]
    return counts


def wilcoxon_signed_rank_exact(differences: Sequence[float]) -> WilcoxonResult:
    """Exact Wilcoxon signed-rank test of H0 "the paired differences are symmetric about 0"
    (Wilcoxon, Biometrics Bulletin 1945; Hollander, Wolfe & Chicken, Nonparametric Statistical
    Methods, 3rd ed., section 3.1).

    Zero differences are dropped before ranking (Wilcoxon's original method, scipy's
    zero_method="wilcox"). The |d| are ranked 1..n with average ranks for ties. W+ is the sum of
    the ranks of the positive differences, W- = n(n+1)/2 - W+; the reported statistic is
    min(W+, W-), as scipy reports for a two-sided test.

    Null distribution: conditional on the observed ranks, each of the 2^n sign assignments is
    equally likely; it is counted exactly by dynamic programming over the ranks. Average ranks are
    halves at worst, so the DP runs over doubled ranks, which are integers. Two-sided
    p = min(1, 2 x min(P(W+ <= w+), P(W+ >= w+))), computed in exact integer arithmetic.

    With ties this stays exact over the tied ranks' permutation (sign-flip) distribution, whereas
    scipy.stats.wilcoxon changes method: its default switches to a permutation test (n <= 13)
    or the normal approximation, and method="exact" uses the untied distribution with the
    statistic rounded. Without ties both give the same exact p-value.

    Zeros and ties are exact float equality: a caller with computed differences (a CCI
    difference, a rate) should round them to the precision they were measured with first, or
    1e-12 noise will break a tie or keep a "zero". Cost: O(n x n(n+1)) integer additions.
    """
    n_total = len(differences)
    used = [d for d in differences if d != 0]
    n_used = len(used)
    if n_used == 0:
        return WilcoxonResult(n_total, n_total, 0, None, None, None, None, False)
    magnitudes = [abs(d) for d in used]
    ranks = average_ranks(magnitudes)
    doubled = [round(2 * r) for r in ranks]
    observed = sum(r2 for r2, d in zip(doubled, used, strict=True) if d > 0)
    counts = _sign_flip_counts(doubled)
    total = 2**n_used
    at_or_below = sum(counts[: observed + 1])
    at_or_above = sum(counts[observed:])
    p = min(Fraction(1), Fraction(2 * min(at_or_below, at_or_above), total))
    w_plus = observed / 2
    w_minus = sum(doubled) / 2 - w_plus
    return WilcoxonResult(
        n_total=n_total,
        n_zero_dropped=n_total - n_used,
        n_used=n_used,
        statistic=min(w_plus, w_minus),
        w_plus=w_plus,
        w_minus=w_minus,
        p_value=float(p),
        has_ties=len(set(magnitudes)) < n_used,
    )


# --- Hodges-Lehmann and the paired summary -------------------------------------------------------


def walsh_averages(differences: Sequence[float]) -> list[float]:
    """(d_i + d_j) / 2 for every i <= j: n(n+1)/2 averages."""
    n = len(differences)
    return [(differences[i] + differences[j]) / 2 for i in range(n) for j in range(i, n)]


def hodges_lehmann_paired(differences: Sequence[float]) -> float | None:
    """One-sample Hodges-Lehmann estimate of the location of paired differences: the median of
    the Walsh averages (d_i + d_j) / 2 over i <= j (Hodges & Lehmann, Ann. Math. Stat. 1963;
    Hollander, Wolfe & Chicken section 3.2). Zero differences are kept: they are observed
    "no change" pairs and pull the estimate towards 0 (the Wilcoxon test drops them only because
    they carry no sign). O(n^2), fine for a cohort. None when there are no differences."""
    return median(walsh_averages(differences))


@dataclass(frozen=True)
class PairedComparison:
    n_subjects: int  # subjects given
    n_pairs: int  # subjects with a value in both periods
    median_baseline: float | None
    median_follow_up: float | None
    median_difference: float | None  # follow-up minus baseline
    hodges_lehmann: float | None
    wilcoxon: WilcoxonResult
    zero_handling: str = ZERO_HANDLING
    rule: str = PAIRED_RULE


def compare_paired(pairs: Sequence[tuple[float | None, float | None]]) -> PairedComparison:
    """Per subject (baseline value, follow-up value); subjects missing either value are left
    out. Differences are follow-up minus baseline; their median, Hodges-Lehmann estimate and
    exact Wilcoxon signed-rank test (see those functions for the zero handling)."""
    complete = [(b, f) for b, f in pairs if b is not None and f is not None]
    differences = [f - b for b, f in complete]
    return PairedComparison(
        n_subjects=len(pairs),
        n_pairs=len(complete),
        median_baseline=median([b for b, _ in complete]),
        median_follow_up=median([f for _, f in complete]),
        median_difference=median(differences),
        hodges_lehmann=hodges_lehmann_paired(differences),
        wilcoxon=wilcoxon_signed_rank_exact(differences),
    )


# --- periods -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A run of whole UTC calendar days. `start` and `end` are half-open: start is 00:00 UTC of
    the first day, end is 00:00 UTC of the day after the last day, so a moment is in the period
    when start <= moment < end; in days, first_date..last_date are both inclusive. An empty
    period (clipped before it began) has end == start and days_in_period == 0."""

    label: str
    start: datetime
    end: datetime
    first_study_day: int
    last_study_day: int  # inclusive; first_study_day - 1 when empty
    rule: str = PERIOD_RULE

    @property
    def first_date(self) -> date:
        return self.start.date()

    @property
    def last_date(self) -> date:
        return self.end.date() - timedelta(days=1)

    @property
    def days_in_period(self) -> int:
        return (self.end - self.start).days

    def contains(self, moment: datetime | date) -> bool:
        """A time by its UTC date, a date as given."""
        return self.first_date <= _utc_date(moment) <= self.last_date


@dataclass(frozen=True)
class PeriodBounds:
    baseline: Period
    follow_up: Period


def _period(label: str, day0: date, first_day: int, last_day: int, last_observed: date | None) -> Period:
    if last_observed is not None:
        last_day = min(last_day, (last_observed - day0).days)
    last_day = max(last_day, first_day - 1)
    start = _utc_midnight(day0 + timedelta(days=first_day))
    return Period(label, start, start + timedelta(days=last_day - first_day + 1), first_day, last_day)


def period_bounds(
    first_infusion: datetime,
    baseline_days: int = 30,
    follow_up_from_day: int = 29,
    follow_up_to_day: int = 365,
    last_follow_up: datetime | date | None = None,
) -> PeriodBounds:
    """Baseline: study days -baseline_days .. -1; follow-up: study days follow_up_from_day ..
    follow_up_to_day; both ends inclusive. Study days are UTC calendar days from the date of the
    first CAR-T infusion (infusion day = 0, study-day-v1), so the infusion day itself is in neither
    period (a transfusion that morning is not baseline). With a last follow-up date, days after it
    are cut off both periods (only days the subject was under follow-up count); a period cut
    before its first day is empty (0 days)."""
    if baseline_days < 0:
        raise ValueError("baseline_days must be >= 0")
    if not 0 < follow_up_from_day <= follow_up_to_day:
        raise ValueError("need 0 < follow_up_from_day <= follow_up_to_day")
    day0 = _utc_date(first_infusion)
    last = _utc_date(last_follow_up) if last_follow_up is not None else None
    return PeriodBounds(
        baseline=_period("baseline", day0, -baseline_days, -1, last),
        follow_up=_period("follow_up", day0, follow_up_from_day, follow_up_to_day, last),
    )


# --- platelet increment -------------------------------------------------------------------------


@dataclass(frozen=True)
class TransfusionOutcome:
    started_at: datetime
    cci_early: float | None  # per uL
    cci_late: float | None  # per uL
    category: ResponseCategory


def outcome_of(response: TransfusionResponse) -> TransfusionOutcome:
    return TransfusionOutcome(response.transfusion.started_at, response.cci_early, response.cci_late, response.category)


@dataclass(frozen=True)
class IncrementSummary:
    period: str
    n_transfusions: int  # started in the period, whatever their category
    n_evaluable: int  # R or N
    n_responsive: int
    median_cci_early: float | None  # per uL, over evaluable transfusions with an early CCI
    n_cci_early: int
    median_cci_late: float | None  # per uL, over evaluable transfusions with a late CCI
    n_cci_late: int
    share_responsive: float | None  # R / (R + N); None when no evaluable transfusion
    rule: str = INCREMENT_RULE


def platelet_increment_by_period(transfusions: Sequence[TransfusionOutcome], period: Period) -> IncrementSummary:
    """Transfusions started in the period (by UTC date). Evaluable means responsive or
    non-responsive; a not-evaluable transfusion is counted in n_transfusions but its partial
    CCIs are not used and it is left out of the responsive share (R / (R + N))."""
    inside = [t for t in transfusions if period.contains(t.started_at)]
    evaluable = [t for t in inside if t.category is not ResponseCategory.NOT_EVALUABLE]
    early = [t.cci_early for t in evaluable if t.cci_early is not None]
    late = [t.cci_late for t in evaluable if t.cci_late is not None]
    responsive = sum(t.category is ResponseCategory.RESPONSIVE for t in evaluable)
    return IncrementSummary(
        period=period.label,
        n_transfusions=len(inside),
        n_evaluable=len(evaluable),
        n_responsive=responsive,
        median_cci_early=median(early),
        n_cci_early=len(early),
        median_cci_late=median(late),
        n_cci_late=len(late),
        share_responsive=responsive / len(evaluable) if evaluable else None,
    )


# --- transfusion burden -------------------------------------------------------------------------


@dataclass(frozen=True)
class TransfusionUnits:
    started_at: datetime
    units: int


@dataclass(frozen=True)
class BurdenSummary:
    period: str
    days_in_period: int
    n_transfusions: int
    n_units: int
    transfusions_per_30_days: float | None  # None when the period has no days
    units_per_30_days: float | None
    rule: str = BURDEN_RULE


def transfusion_burden(
    transfusions: Sequence[TransfusionUnits], period: Period, days_in_period: int | None = None
) -> BurdenSummary:
    """Rate per 30 days = count x 30 / days in the period (days the subject was under follow-up,
    the period's own count unless given). Transfusions are counted by the UTC date they started."""
    days = period.days_in_period if days_in_period is None else days_in_period
    if days < 0:
        raise ValueError("days_in_period must be >= 0")
    inside = [t for t in transfusions if period.contains(t.started_at)]
    units = sum(t.units for t in inside)
    return BurdenSummary(
        period=period.label,
        days_in_period=days,
        n_transfusions=len(inside),
        n_units=units,
        transfusions_per_30_days=len(inside) * PER_DAYS / days if days else None,
        units_per_30_days=units * PER_DAYS / days if days else None,
    )


# --- bleeding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BleedingDayInput:
    """One diary day. `observed`: a report or a "no bleeding today" check-in that day. `grade`:
    the day's WHO grade, the investigator's confirmed grade where one reviewed it, else the
    provisional diary grade (the caller chooses; None: no bleeding reported). A day with a grade
    counts as observed."""

    local_date: date
    observed: bool
    grade: int | None


@dataclass(frozen=True)
class BleedingSummary:
    period: str
    days_in_period: int
    days_observed: int
    days_grade2_or_more: int
    proportion_grade2_or_more: float | None  # of observed days; None when none observed
    worst_grade: int | None  # 0 when days were observed without bleeding; None when none observed
    adherence: float | None  # observed / days in the period; None for an empty period
    rule: str = BLEEDING_RULE


def _by_day(days: Sequence[BleedingDayInput]) -> dict[date, int | None]:
    """Observed days -> the day's worst grade (several entries on one day merge)."""
    merged: dict[date, int | None] = {}
    for day in days:
        if not day.observed and day.grade is None:
            continue
        current = merged.get(day.local_date)
        grades = [g for g in (current, day.grade) if g is not None]
        merged[day.local_date] = max(grades) if grades else None
    return merged


def bleeding_by_period(days: Sequence[BleedingDayInput], period: Period) -> BleedingSummary:
    """The diary's local date is compared with the period's calendar dates (a date, not a UTC
    instant: the patient's day is the unit of the diary). Proportion = days with WHO grade >= 2 /
    observed days; adherence = observed days / days in the period (DOMAIN.md)."""
    observed = {d: g for d, g in _by_day(days).items() if period.first_date <= d <= period.last_date}
    grade2 = sum(1 for g in observed.values() if g is not None and g >= 2)
    total = period.days_in_period
    return BleedingSummary(
        period=period.label,
        days_in_period=total,
        days_observed=len(observed),
        days_grade2_or_more=grade2,
        proportion_grade2_or_more=grade2 / len(observed) if observed else None,
        worst_grade=max((g or 0 for g in observed.values()), default=None),
        adherence=len(observed) / total if total else None,
    )


def days_to_first_grade2_after(first_infusion_date: date, days: Sequence[BleedingDayInput]) -> int | None:
    """Calendar days from the infusion date to the first diary day with WHO grade >= 2 strictly
    after the infusion date (day >= 1: a diary day has no time of day, so a day-0 bleed cannot be
    placed after the infusion). None when there is none."""
    later = [d.local_date for d in days if d.grade is not None and d.grade >= 2 and d.local_date > first_infusion_date]
    return (min(later) - first_infusion_date).days if later else None
