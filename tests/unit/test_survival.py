"""Time to event (DOMAIN.md): Kaplan-Meier with Greenwood variance, the median and its
Brookmeyer-Crowley log-log CI, numbers at risk, and times from dates. lifelines is the oracle."""

from __future__ import annotations

import ast
import math
import sys
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server.domain import comparison, survival
from server.domain.survival import DAYS_PER_MONTH, AtRisk, kaplan_meier, numbers_at_risk, time_to_event

UTC = timezone.utc
T0 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)

# --- a textbook example by hand -------------------------------------------------------------------

# times 1, 2, 2+, 3, 4+, 5, 5+, 6 (+ = censored)
TIMES = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 5.0, 6.0]
EVENTS = [True, True, False, True, False, True, False, True]


def test_textbook_example_by_hand() -> None:
    km = kaplan_meier(TIMES, EVENTS)
    rows = [(s.time, s.n_at_risk, s.events, s.censored, s.survival) for s in km.steps]
    assert rows == [
        (1.0, 8, 1, 0, 7 / 8),
        (2.0, 7, 1, 1, 3 / 4),  # the censored subject at 2 is still at risk at 2
        (3.0, 5, 1, 0, 3 / 5),
        (4.0, 4, 0, 1, 3 / 5),
        (5.0, 3, 1, 1, 2 / 5),
        (6.0, 1, 1, 0, 0.0),
    ]
    # Greenwood: sum d / (n (n - d)) = 1/56 + 1/42 + 1/20 + 1/6 = 217/840 up to t = 5
    assert km.steps[4].variance == pytest.approx((2 / 5) ** 2 * 217 / 840, rel=1e-12)
    assert km.steps[0].variance == pytest.approx((7 / 8) ** 2 / 56, rel=1e-12)
    assert km.steps[5].variance == 0.0  # S = 0: the n = d step adds nothing
    assert (km.n, km.n_events, km.median) == (8, 5, 5.0)
    assert km.survival_at(0.5) == 1.0
    assert km.survival_at(2.0) == 0.75
    assert km.survival_at(4.99) == 0.6
    assert km.survival_at(100) == 0.0
    assert [km.at_risk_at(t) for t in (0, 1, 1.5, 2, 5, 6, 6.5)] == [8, 8, 7, 7, 3, 1, 0]
    # log-log band at t = 1: S^exp(+-z sqrt(1/56) / |log S|)
    se = math.sqrt(1 / 56) / abs(math.log(7 / 8))
    assert km.steps[0].ci_lower == pytest.approx((7 / 8) ** math.exp(1.959963984540054 * se), rel=1e-12)
    assert km.steps[0].ci_upper == pytest.approx((7 / 8) ** math.exp(-1.959963984540054 * se), rel=1e-12)
    assert km.rule.startswith("kaplan-meier-v1")


def test_all_censored_has_no_median() -> None:
    km = kaplan_meier([1.0, 2.0, 3.0], [False, False, False])
    assert [s.survival for s in km.steps] == [1.0, 1.0, 1.0]
    assert km.median is None and km.median_ci_lower is None and km.median_ci_upper is None
    assert km.n_events == 0


def test_empty_input() -> None:
    km = kaplan_meier([], [])
    assert km.steps == () and km.median is None and km.survival_at(1) == 1.0 and km.at_risk_at(0) == 0


def test_median_on_a_plateau_at_one_half_is_its_left_end() -> None:
    # S = 3/4, 1/2, 1/4, 0: S(t) = 0.5 on [2, 3); the smallest t with S <= 0.5 is 2
    # (lifelines' qth_survival_time; R's survfit would say 2.5, the plateau's midpoint)
    km = kaplan_meier([1.0, 2.0, 3.0, 4.0], [True] * 4)
    assert km.median == 2.0
    # a plateau at 0.5 to the end of follow-up: the median is its start
    assert kaplan_meier([2.0, 2.0, 5.0, 5.0], [True, True, False, False]).median == 2.0


def test_exact_one_half_is_recognised_where_floating_point_lands_above() -> None:
    # 6 events: S(3) = 5/6 x 4/5 x 3/4 = 1/2 exactly. lifelines computes exp(sum of logs) =
    # 0.5000000000000001 there and reports a median of 4; the exact fraction gives 3.
    km = kaplan_meier([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [True] * 6)
    assert km.steps[2].survival == 0.5
    assert km.median == 3.0


def test_events_come_before_censorings_at_the_same_time() -> None:
    km = kaplan_meier([2.0, 2.0, 3.0], [False, True, True])
    assert (km.steps[0].n_at_risk, km.steps[0].events, km.steps[0].censored) == (3, 1, 1)
    assert km.steps[0].survival == pytest.approx(2 / 3)
    assert km.steps[1].survival == 0.0


@pytest.mark.parametrize(
    ("times", "events"),
    [([1.0], [True, False]), ([-1.0], [True]), ([math.nan], [True]), ([math.inf], [False])],
)
def test_bad_input_is_rejected(times: list[float], events: list[bool]) -> None:
    with pytest.raises(ValueError):
        kaplan_meier(times, events)


def test_numbers_at_risk_at_months() -> None:
    km = kaplan_meier([0.5, 1.0, 2.0, 3.0, 7.0, 12.0, 12.0], [True, False, True, True, False, False, False])
    assert numbers_at_risk(km) == (AtRisk(1.0, 6), AtRisk(3.0, 4), AtRisk(6.0, 3), AtRisk(12.0, 2))
    assert numbers_at_risk(km, at=(0.0, 13.0)) == (AtRisk(0.0, 7), AtRisk(13.0, 0))


# --- time to event --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_days", "follow_up_days", "expected_days", "event"),
    [
        (45.0, 200.0, 45.0, True),
        (None, 200.0, 200.0, False),  # censored at the last follow-up
        (None, 500.0, 365.25, False),  # censored at month 12 = 365.25 days
        (400.0, 500.0, 365.25, False),  # an event after month 12 is censored at month 12
        (365.25, 500.0, 365.25, True),  # an event exactly at the horizon counts
        (100.0, 90.0, 100.0, True),  # the event proves follow-up to it
        (0.0, 10.0, 0.0, True),
        (None, 0.0, 0.0, False),
    ],
)
def test_time_to_event(event_days: float | None, follow_up_days: float, expected_days: float, event: bool) -> None:
    event_at = T0 + timedelta(days=event_days) if event_days is not None else None
    result = time_to_event(T0, event_at, T0 + timedelta(days=follow_up_days))
    assert result.event is event
    assert result.time_days == pytest.approx(expected_days, abs=1e-9)
    assert result.time_months == pytest.approx(expected_days / DAYS_PER_MONTH, abs=1e-12)
    assert result.rule.startswith("time-to-event-v1")


def test_time_to_event_month_12_is_12_months_and_shorter_horizons() -> None:
    assert time_to_event(T0, None, T0 + timedelta(days=1000)).time_months == pytest.approx(12.0)
    assert time_to_event(T0, None, T0 + timedelta(days=1000), horizon_months=6).time_months == pytest.approx(6.0)
    # half a day counts as half a day, not a whole one
    assert time_to_event(T0, T0 + timedelta(hours=12), T0 + timedelta(days=9)).time_days == 0.5


@pytest.mark.parametrize(
    ("event_at", "last_follow_up", "horizon"),
    [
        (T0 - timedelta(days=1), T0 + timedelta(days=5), 12),
        (None, T0 - timedelta(days=1), 12),
        (None, T0 + timedelta(days=5), 0),
        (datetime(2026, 4, 1), T0 + timedelta(days=50), 12),
    ],
)
def test_time_to_event_rejects_inconsistent_dates(
    event_at: datetime | None, last_follow_up: datetime, horizon: int
) -> None:
    with pytest.raises(ValueError):
        time_to_event(T0, event_at, last_follow_up, horizon)


# --- lifelines as the oracle ------------------------------------------------------------------------


def fit_lifelines(times: list[float], events: list[bool]) -> tuple[Any, float | None, float | None, float | None]:
    lifelines = pytest.importorskip("lifelines")
    from lifelines.utils import median_survival_times

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf = lifelines.KaplanMeierFitter().fit(times, events)
        ci = median_survival_times(kmf.confidence_interval_)

    def finite(x: Any) -> float | None:
        return None if math.isinf(float(x)) else float(x)

    return kmf, finite(kmf.median_survival_time_), finite(ci.iloc[0, 0]), finite(ci.iloc[0, 1])


def on_knife_edge(km: survival.KaplanMeier) -> bool:
    """S or a band curve at 0.5 up to rounding: floating point decides lifelines' side."""
    return any(s.survival == 0.5 or abs(s.ci_lower - 0.5) < 1e-9 or abs(s.ci_upper - 0.5) < 1e-9 for s in km.steps)


def assert_matches_lifelines(times: list[float], events: list[bool]) -> None:
    km = kaplan_meier(times, events)
    kmf, median, lower, upper = fit_lifelines(times, events)
    for step in km.steps:
        assert step.survival == pytest.approx(float(kmf.survival_function_.loc[step.time].iloc[0]), abs=1e-12)
        assert step.n_at_risk == int(kmf.event_table.loc[step.time, "at_risk"])
        assert step.events == int(kmf.event_table.loc[step.time, "observed"])
        assert step.censored == int(kmf.event_table.loc[step.time, "censored"])
        band = kmf.confidence_interval_.loc[step.time]
        assert step.ci_lower == pytest.approx(float(band.iloc[0]), abs=1e-9)
        assert step.ci_upper == pytest.approx(float(band.iloc[1]), abs=1e-9)
    if not on_knife_edge(km):
        assert (km.median, km.median_ci_lower, km.median_ci_upper) == (median, lower, upper)


@pytest.mark.parametrize(
    ("times", "events"),
    [
        (TIMES, EVENTS),
        ([1.0, 2.0, 3.0, 4.0], [True] * 4),  # plateau at 0.5
        ([2.0, 2.0, 5.0, 5.0], [True, True, False, False]),
        ([1.0, 2.0, 3.0], [False] * 3),  # all censored
        ([3.0] * 5, [True, False, True, False, True]),  # one time, events and censorings tied
        (
            [0.0, 0.0, 1.0, 4.0, 4.0, 4.0, 9.0, 9.0, 10.0, 12.0],
            [True, False, True, True, False, True, True, True, False, False],
        ),
        ([float(t) for t in range(1, 21)], [t % 3 != 0 for t in range(1, 21)]),
    ],
)
def test_matches_lifelines_on_fixed_cases(times: list[float], events: list[bool]) -> None:
    assert_matches_lifelines(times, events)


def test_median_ci_matches_lifelines_on_a_cohort() -> None:
    # 20 subjects, months, a few censored: median and both CI bounds reached
    times = [0.9, 1.4, 2.0, 2.2, 2.8, 3.1, 3.3, 4.0, 4.4, 5.0, 5.5, 6.1, 6.7, 7.0, 8.2, 9.0, 10.3, 11.0, 12.0, 12.0]
    events = [
        True,
        True,
        False,
        True,
        True,
        True,
        False,
        True,
        True,
        True,
        True,
        False,
        True,
        True,
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    km = kaplan_meier(times, events)
    _, median, lower, upper = fit_lifelines(times, events)
    assert km.median is not None and km.median_ci_lower is not None and km.median_ci_upper is not None
    assert km.median_ci_lower <= km.median <= km.median_ci_upper
    assert (km.median, km.median_ci_lower, km.median_ci_upper) == (median, lower, upper)


subjects = st.lists(
    st.tuples(
        st.integers(0, 12).map(float) | st.floats(0, 12, allow_nan=False).map(lambda x: round(x, 1)), st.booleans()
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(subjects)
def test_matches_lifelines_on_random_cohorts(pairs: list[tuple[float, bool]]) -> None:
    times = [t for t, _ in pairs]
    events = [e for _, e in pairs]
    assert_matches_lifelines(times, events)


@given(subjects, st.floats(-1, 14, allow_nan=False))
def test_survival_and_at_risk_properties(pairs: list[tuple[float, bool]], t: float) -> None:
    times = [x for x, _ in pairs]
    km = kaplan_meier(times, [e for _, e in pairs])
    assert km.at_risk_at(t) == sum(1 for x in times if x >= t)
    assert 0.0 <= km.survival_at(t) <= 1.0
    survivals = [s.survival for s in km.steps]
    assert survivals == sorted(survivals, reverse=True)
    for s in km.steps:
        assert 0.0 <= s.ci_lower <= s.survival <= s.ci_upper <= 1.0
    if km.median is not None:
        assert km.survival_at(km.median) <= 0.5
        assert km.median_ci_upper is None or km.median <= km.median_ci_upper
        assume(km.median_ci_lower is not None)
        assert km.median_ci_lower is not None and km.median_ci_lower <= km.median


# --- the domain stays stdlib-only ------------------------------------------------------------------


@pytest.mark.parametrize("module", [comparison, survival])
def test_statistics_modules_import_only_the_standard_library(module: Any) -> None:
    tree = ast.parse(Path(module.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, name
