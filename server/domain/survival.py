"""Time to event after the first CAR-T infusion: Kaplan-Meier estimates (DOMAIN.md, "What the
trial asks beyond the primary endpoint", Time to event).

Time from the first infusion to first response, loss of response, B-cell aplasia or HLA
clearance, censored at the last follow-up or month 12; the Kaplan-Meier curve with Greenwood
variance, the median with its 95 % CI (Brookmeyer-Crowley with the log-log transform, computed
as lifelines computes it) and the number at risk at months 1, 3, 6, 12. Standard library only.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from statistics import NormalDist

KAPLAN_MEIER_RULE = (
    "kaplan-meier-v1: S(t) = prod over event times t_i <= t of (1 - d_i / n_i), n_i = subjects with time >= t_i "
    "(events before censorings at the same time); Greenwood variance; log-log pointwise band; median = smallest t "
    "with S(t) <= 0.5, its CI = the first times the band's lower and upper curves reach 0.5 (as lifelines)"
)
TIME_TO_EVENT_RULE = (
    "time-to-event-v1: months = days / 30.4375 from the first CAR-T infusion; an event at or before the horizon "
    "counts, otherwise censored at the earlier of the last follow-up and the horizon"
)
DAYS_PER_MONTH = 30.4375  # 365.25 / 12: the mean Gregorian month
DEFAULT_RISK_TIMES = (1.0, 3.0, 6.0, 12.0)  # months


@dataclass(frozen=True)
class KaplanMeierStep:
    """The estimate from `time` until the next step (right-continuous)."""

    time: float
    n_at_risk: int  # subjects with time >= this time
    events: int
    censored: int
    survival: float
    variance: float  # Greenwood: S^2 x sum d / (n (n - d))
    ci_lower: float  # pointwise log-log band
    ci_upper: float


@dataclass(frozen=True)
class KaplanMeier:
    n: int
    n_events: int
    steps: tuple[KaplanMeierStep, ...]  # one per distinct observed time (events or censorings), ascending
    median: float | None  # None: S never reaches 0.5
    median_ci_lower: float | None  # None: the band's lower curve never reaches 0.5
    median_ci_upper: float | None  # None: the upper curve never reaches 0.5 (an infinite upper bound)
    confidence: float
    sorted_times: tuple[float, ...]  # every subject's time, ascending
    rule: str = KAPLAN_MEIER_RULE

    def survival_at(self, t: float) -> float:
        """S(t): the estimate of the last step at or before t; 1 before the first step."""
        i = bisect_right([s.time for s in self.steps], t) - 1
        return self.steps[i].survival if i >= 0 else 1.0

    def at_risk_at(self, t: float) -> int:
        """Subjects still at risk at t: time >= t (a subject censored or with an event exactly
        at t is counted)."""
        return len(self.sorted_times) - bisect_left(self.sorted_times, t)


def _log_log_band(survival: Fraction, greenwood_sum: float, z: float) -> tuple[float, float]:
    """Pointwise CI of S on the log-log scale (Kalbfleisch & Prentice 1980; the "exponential
    Greenwood" band of lifelines' KaplanMeierFitter._bounds and R's conf.type="log-log"):
    S^exp(+z se) and S^exp(-z se), with se = sqrt(sum d / (n (n - d))) / |log S| the Greenwood
    standard error of log(-log S). S = 1 gives (1, 1) and S = 0 gives (0, 0), as in lifelines."""
    if survival == 1:
        return 1.0, 1.0
    if survival == 0:
        return 0.0, 0.0
    v = math.log(survival)
    spread = z * math.sqrt(greenwood_sum) / v  # negative
    lower = math.exp(-math.exp(math.log(-v) - spread))
    upper = math.exp(-math.exp(math.log(-v) + spread))
    return lower, upper


def _first_at_or_below(times: Sequence[float], values: Sequence[float | Fraction], q: float) -> float | None:
    return next((t for t, value in zip(times, values, strict=True) if value <= q), None)


def kaplan_meier(times: Sequence[float], events: Sequence[bool], confidence: float = 0.95) -> KaplanMeier:
    """Kaplan-Meier product-limit estimate (Kaplan & Meier, JASA 1958) with Greenwood's variance
    (Greenwood 1926): Var S(t) = S(t)^2 x sum over t_i <= t of d_i / (n_i (n_i - d_i)); a step
    where everyone at risk has the event (n = d, S drops to 0) adds nothing, as in lifelines.

    S is computed as an exact fraction (the counts are integers), so "S(t) <= 0.5" is decided
    exactly; lifelines works in floating point (exp of a sum of logs) and may land a hair either
    side of an exact 0.5.

    Median: the smallest time with S(t) <= 0.5 (lifelines' qth_survival_time; on a plateau at
    exactly 0.5 this is the plateau's left end, where R's survfit takes its midpoint). None when S
    stays above 0.5.

    Median CI (Brookmeyer & Crowley, Biometrics 1982, with the log-log transform): the set of t
    with |log(-log S(t)) - log(-log 0.5)| <= z x se_loglog(t). We compute it as lifelines does
    (median_survival_times(kmf.confidence_interval_)): the lower bound is the first time the
    pointwise log-log band's lower curve is <= 0.5, the upper bound the first time its upper curve
    is <= 0.5; a curve that never reaches 0.5 gives None (for the upper bound: infinite).
    """
    if len(times) != len(events):
        raise ValueError("times and events must have the same length")
    if any(not math.isfinite(t) or t < 0 for t in times):
        raise ValueError("times must be finite and >= 0")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    deaths = Counter(t for t, e in zip(times, events, strict=True) if e)
    removals = Counter(times)
    at_risk = len(times)
    survival = Fraction(1)
    greenwood_sum = 0.0
    steps: list[KaplanMeierStep] = []
    exact: list[Fraction] = []
    for t in sorted(removals):
        d = deaths.get(t, 0)
        if d:
            survival *= Fraction(at_risk - d, at_risk)
            if at_risk > d:
                greenwood_sum += d / (at_risk * (at_risk - d))
        lower, upper = _log_log_band(survival, greenwood_sum, z)
        s = float(survival)
        steps.append(KaplanMeierStep(t, at_risk, d, removals[t] - d, s, s * s * greenwood_sum, lower, upper))
        exact.append(survival)
        at_risk -= removals[t]
    step_times = [s.time for s in steps]
    return KaplanMeier(
        n=len(times),
        n_events=sum(deaths.values()),
        steps=tuple(steps),
        median=_first_at_or_below(step_times, exact, 0.5),
        median_ci_lower=_first_at_or_below(step_times, [s.ci_lower for s in steps], 0.5),
        median_ci_upper=_first_at_or_below(step_times, [s.ci_upper for s in steps], 0.5),
        confidence=confidence,
        sorted_times=tuple(sorted(times)),
    )


# --- from dates to times ------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeToEvent:
    time_months: float  # days / 30.4375
    time_days: float  # fractional days (seconds / 86400)
    event: bool  # False: censored
    rule: str = TIME_TO_EVENT_RULE


def time_to_event(
    start: datetime, event_at: datetime | None, last_follow_up: datetime, horizon_months: int = 12
) -> TimeToEvent:
    """Time from `start` (the first CAR-T infusion) to the event, in months of 30.4375 days
    (365.25 / 12); horizon = horizon_months x 30.4375 days (month 12 = 365.25 days). An event at
    or before the horizon counts (an observed event proves follow-up to it, even if the recorded
    last follow-up is earlier); otherwise the subject is censored at the earlier of the last
    follow-up and the horizon. Times must be timezone-aware; an event or last follow-up before
    the start is an error."""
    if any(m is not None and m.tzinfo is None for m in (start, event_at, last_follow_up)):
        raise ValueError("time to event needs timezone-aware times")
    if horizon_months <= 0:
        raise ValueError("horizon_months must be > 0")
    if event_at is not None and event_at < start:
        raise ValueError("the event is before the start")
    if last_follow_up < start:
        raise ValueError("the last follow-up is before the start")
    horizon = start + timedelta(days=horizon_months * DAYS_PER_MONTH)
    if event_at is not None and event_at <= horizon:
        end, event = event_at, True
    else:
        end, event = min(last_follow_up, horizon), False
    days = (end - start).total_seconds() / 86400
    return TimeToEvent(days / DAYS_PER_MONTH, days, event)


@dataclass(frozen=True)
class AtRisk:
    time: float  # months when the estimate is in months
    n_at_risk: int


def numbers_at_risk(km: KaplanMeier, at: Sequence[float] = DEFAULT_RISK_TIMES) -> tuple[AtRisk, ...]:
    """Subjects with time >= t at each requested time (the KM table's at-risk convention)."""
    return tuple(AtRisk(t, km.at_risk_at(t)) for t in at)
