"""Adverse events (DOMAIN.md, "Safety workflow"): the plausibility check of an event against the
trial's CTCAE v5.0 term list and the ICH E2A rules, and the 24-hour SAE reporting deadline."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain import ctcae
from server.domain.adverse_events import (
    SAE_REPORTING_WINDOW,
    AdverseEventFacts,
    Outcome,
    SeriousCriterion,
    check_adverse_event,
    sae_deadline,
    sae_overdue,
)
from server.domain.ctcae import GradingScale
from server.domain.validation import MAX_REASON, Problem, ProblemCode
from server.services.terms import trial_terms

C = ProblemCode
UTC = timezone.utc
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CTCAE = GradingScale.CTCAE_V5
ASTCT = GradingScale.ASTCT_2019
TERMS = trial_terms()

EPISTAXIS = TERMS[ctcae.EPISTAXIS]
BRUISING = TERMS[ctcae.BRUISING]
PURPURA = TERMS[ctcae.PURPURA]
CRS = TERMS[ctcae.CYTOKINE_RELEASE_SYNDROME]
ICANS = TERMS[ctcae.NERVOUS_SYSTEM_OTHER]
FEBRILE_NEUTROPENIA = TERMS[10016288]

BASE = AdverseEventFacts(
    term=EPISTAXIS,
    grade=2,
    scale=CTCAE,
    onset_date=date(2026, 3, 5),
    resolution_date=None,
    serious=False,
    serious_criteria=(),
    outcome=None,
    verbatim="nosebleed needing packing",
    awareness_at=datetime(2026, 3, 5, 9, 0, tzinfo=UTC),
)


def codes(problems: list[Problem]) -> list[tuple[tuple[str, ...], ProblemCode]]:
    return [(p.field, p.code) for p in problems]


def test_a_plausible_event_has_no_problems() -> None:
    assert check_adverse_event(BASE, NOW) == []


# --- grade against the term ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "grade", "expected"),
    [
        (BRUISING, 1, []),
        (BRUISING, 2, []),
        (BRUISING, 3, [(("grade",), C.NOT_ALLOWED)]),
        (BRUISING, 5, [(("grade",), C.NOT_ALLOWED)]),
        (PURPURA, 3, []),
        (PURPURA, 4, [(("grade",), C.NOT_ALLOWED)]),
        (FEBRILE_NEUTROPENIA, 1, [(("grade",), C.NOT_ALLOWED)]),
        (FEBRILE_NEUTROPENIA, 2, [(("grade",), C.NOT_ALLOWED)]),
        (FEBRILE_NEUTROPENIA, 3, []),
        (FEBRILE_NEUTROPENIA, 4, []),
        (EPISTAXIS, 1, []),
        (EPISTAXIS, 4, []),
        (EPISTAXIS, 0, [(("grade",), C.NOT_ALLOWED), (("grade",), C.OUT_OF_RANGE)]),
        (EPISTAXIS, 6, [(("grade",), C.NOT_ALLOWED), (("grade",), C.OUT_OF_RANGE)]),
    ],
)
def test_the_grade_must_be_one_the_term_defines(term: ctcae.Term, grade: int, expected: list[object]) -> None:
    # given
    facts = replace(BASE, term=term, grade=grade)

    # when
    problems = check_adverse_event(facts, NOW)

    # then
    assert codes(problems) == expected


def test_the_grade_message_names_the_allowed_grades() -> None:
    # when
    problems = check_adverse_event(replace(BASE, term=BRUISING, grade=3), NOW)

    # then
    assert [p.message for p in problems] == ["Bruising has grades 1, 2 in CTCAE v5.0"]


@given(st.sampled_from(sorted(TERMS)), st.integers(1, 5))
def test_a_ctcae_graded_term_accepts_exactly_its_own_grades(code: int, grade: int) -> None:
    # given
    term = TERMS[code]
    facts = replace(BASE, term=term, grade=grade, outcome=Outcome.FATAL if grade == 5 else None)

    # when
    problems = codes(check_adverse_event(facts, NOW))

    # then
    assert ((("grade",), C.NOT_ALLOWED) in problems) == (grade not in term.grades and CTCAE in term.allowed_scales())
    assert ((("gradingScale",), C.NOT_ALLOWED) in problems) == (CTCAE not in term.allowed_scales())


def test_an_unknown_term_is_not_allowed() -> None:
    # when
    problems = check_adverse_event(replace(BASE, term=None), NOW)

    # then
    assert codes(problems) == [(("meddraCode",), C.NOT_ALLOWED)]


# --- grading scale: CRS by ASTCT only, ICANS (Nervous system - Other) by either ---------------------


@pytest.mark.parametrize(
    ("term", "scale", "grade", "expected"),
    [
        (CRS, CTCAE, 2, [(("gradingScale",), C.NOT_ALLOWED)]),
        (CRS, ASTCT, 2, []),
        (CRS, ASTCT, 4, []),
        (ICANS, ASTCT, 3, []),
        (ICANS, CTCAE, 3, []),
        (EPISTAXIS, ASTCT, 2, [(("gradingScale",), C.NOT_ALLOWED)]),
        (BRUISING, ASTCT, 2, [(("gradingScale",), C.NOT_ALLOWED)]),
    ],
)
def test_grading_scale(term: ctcae.Term, scale: GradingScale, grade: int, expected: list[object]) -> None:
    # when
    problems = check_adverse_event(replace(BASE, term=term, scale=scale, grade=grade), NOW)

    # then
    assert codes(problems) == expected


def test_the_scale_message_names_astct_for_crs() -> None:
    problems = check_adverse_event(replace(BASE, term=CRS, scale=CTCAE), NOW)
    assert [p.message for p in problems] == ["Cytokine release syndrome is graded by astct_2019"]


def test_astct_grades_stay_within_1_to_5() -> None:
    assert codes(check_adverse_event(replace(BASE, term=CRS, scale=ASTCT, grade=0), NOW)) == [
        (("grade",), C.OUT_OF_RANGE)
    ]
    assert codes(check_adverse_event(replace(BASE, term=CRS, scale=ASTCT, grade=6), NOW)) == [
        (("grade",), C.OUT_OF_RANGE)
    ]


# --- dates, seriousness, outcome, text -----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"resolution_date": date(2026, 3, 5)}, []),
        ({"resolution_date": date(2026, 3, 6)}, []),
        ({"resolution_date": date(2026, 3, 4)}, [(("resolutionDate",), C.INVALID_ORDER)]),
        # serious: at least one ICH E2A criterion, and criteria only for a serious event
        ({"serious": True, "serious_criteria": ()}, [(("seriousCriteria",), C.REQUIRED)]),
        ({"serious": True, "serious_criteria": (SeriousCriterion.HOSPITALIZATION,)}, []),
        (
            {"serious": True, "serious_criteria": (SeriousCriterion.LIFE_THREATENING, SeriousCriterion.DISABILITY)},
            [],
        ),
        (
            {"serious": False, "serious_criteria": (SeriousCriterion.HOSPITALIZATION,)},
            [(("serious",), C.INVALID_ORDER)],
        ),
        # death criterion needs a fatal outcome
        (
            {"serious": True, "serious_criteria": (SeriousCriterion.DEATH,), "outcome": Outcome.RECOVERED_RESOLVED},
            [(("outcome",), C.INVALID_ORDER)],
        ),
        (
            {"serious": True, "serious_criteria": (SeriousCriterion.DEATH,), "outcome": Outcome.UNKNOWN},
            [(("outcome",), C.INVALID_ORDER)],
        ),
        (
            {"serious": True, "serious_criteria": (SeriousCriterion.DEATH,), "outcome": Outcome.FATAL, "grade": 5},
            [],
        ),
        # grade 5 is death
        ({"grade": 5, "outcome": Outcome.FATAL}, []),
        ({"grade": 5, "outcome": Outcome.RECOVERING_RESOLVING}, [(("outcome",), C.INVALID_ORDER)]),
        ({"grade": 5, "outcome": Outcome.RECOVERED_RESOLVED_WITH_SEQUELAE}, [(("outcome",), C.INVALID_ORDER)]),
        # nothing in the future (dates: the earliest time zone's day; moments: 5 min of clock skew)
        ({"onset_date": date(2026, 3, 11)}, []),  # already 11 March at UTC+14 when it is 12:00 UTC
        ({"onset_date": date(2026, 3, 12)}, [(("onsetDate",), C.IN_FUTURE)]),
        (
            {"onset_date": date(2026, 3, 12), "resolution_date": date(2026, 3, 12)},
            [(("onsetDate",), C.IN_FUTURE), (("resolutionDate",), C.IN_FUTURE)],
        ),
        ({"awareness_at": NOW + timedelta(minutes=5)}, []),
        ({"awareness_at": NOW + timedelta(minutes=5, seconds=1)}, [(("awarenessAt",), C.IN_FUTURE)]),
        # verbatim text
        ({"verbatim": None}, []),
        ({"verbatim": "x" * MAX_REASON}, []),
        ({"verbatim": "x" * (MAX_REASON + 1)}, [(("verbatim",), C.TOO_LONG)]),
    ],
)
def test_event_rules(changes: dict[str, object], expected: list[object]) -> None:
    # given
    facts = replace(BASE, **changes)  # type: ignore[arg-type]

    # when
    problems = check_adverse_event(facts, NOW)

    # then
    assert codes(problems) == expected


def test_every_problem_is_reported_at_once() -> None:
    # given
    facts = replace(
        BASE,
        term=BRUISING,
        grade=3,
        resolution_date=date(2026, 3, 1),
        serious=True,
        serious_criteria=(),
        verbatim="x" * (MAX_REASON + 1),
    )

    # when
    problems = check_adverse_event(facts, NOW)

    # then
    assert codes(problems) == [
        (("grade",), C.NOT_ALLOWED),
        (("resolutionDate",), C.INVALID_ORDER),
        (("seriousCriteria",), C.REQUIRED),
        (("verbatim",), C.TOO_LONG),
    ]


# --- SAE reporting deadline ----------------------------------------------------------------------

AWARE = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_the_deadline_is_24_hours_after_awareness() -> None:
    assert timedelta(hours=24) == SAE_REPORTING_WINDOW
    assert sae_deadline(AWARE) == DEADLINE
    assert sae_deadline(datetime(2026, 3, 28, 23, 30, tzinfo=UTC)) == datetime(2026, 3, 29, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("serious", "reported_at", "now", "overdue"),
    [
        # non-serious: never
        (False, None, DEADLINE + timedelta(days=30), False),
        (False, DEADLINE + timedelta(days=2), DEADLINE + timedelta(days=30), False),
        # serious, not reported: overdue only after the deadline
        (True, None, AWARE, False),
        (True, None, DEADLINE - S, False),
        (True, None, DEADLINE, False),
        (True, None, DEADLINE + S, True),
        (True, None, DEADLINE + timedelta(days=3), True),
        # serious, reported: judged by the report time, whatever the time now
        (True, AWARE + timedelta(hours=2), DEADLINE + timedelta(days=3), False),
        (True, DEADLINE, DEADLINE + timedelta(days=3), False),
        (True, DEADLINE + S, DEADLINE + timedelta(days=3), True),
        (True, DEADLINE + timedelta(hours=5), DEADLINE + timedelta(hours=6), True),
    ],
)
def test_sae_overdue(serious: bool, reported_at: datetime | None, now: datetime, overdue: bool) -> None:
    assert sae_overdue(serious, AWARE, reported_at, now) is overdue


@given(
    st.integers(-3 * 86400, 3 * 86400),
    st.none() | st.integers(0, 3 * 86400),
    st.integers(0, 5 * 86400),
)
def test_sae_overdue_property(aware_s: int, reported_s: int | None, now_s: int) -> None:
    # given
    aware = AWARE + timedelta(seconds=aware_s)
    reported = None if reported_s is None else aware + timedelta(seconds=reported_s)
    now = aware + timedelta(seconds=now_s)

    # when
    overdue = sae_overdue(True, aware, reported, now)

    # then
    moment = reported if reported is not None else now
    assert overdue is (moment - aware > timedelta(hours=24))
    assert sae_overdue(False, aware, reported, now) is False
