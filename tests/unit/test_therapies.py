"""Therapies and transplant in the response engine (DOMAIN.md "Prior and concomitant therapies,
transplant"): confounding by IVIG and TPO-RA, the end of follow-up at an allogeneic HSCT, the
sensitivity analysis, protocol deviations, prior/concomitant timing and the records' checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.protocol import DEFAULT_PARAMETERS
from server.domain.response import (
    Attribution,
    ResponseCategory,
    Transfusion,
    TransfusionResponse,
    assess_subject,
    transfusion_flags,
)
from server.domain.therapies import (
    IVIG_CONFOUNDING_RULE,
    TPO_RA_CONFOUNDING_RULE,
    EndpointExclusion,
    HsctType,
    ProcedureEvent,
    ProcedureType,
    TherapyClass,
    TherapyCourse,
    TherapyDoseUnit,
    TherapyTiming,
    check_procedure,
    check_therapy,
    confounding_therapy,
    follow_up_end,
    is_protocol_deviation,
    therapy_timing,
)
from server.domain.validation import ProblemCode

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
INFUSION = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
R, N, NE = ResponseCategory.RESPONSIVE, ResponseCategory.NON_RESPONSIVE, ResponseCategory.NOT_EVALUABLE


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def ivig(start: date, end: date | None, therapy_id: int = 1) -> TherapyCourse:
    return TherapyCourse(therapy_id, TherapyClass.IVIG, start, end)


def tpo(start: date, end: date | None, therapy_id: int = 2) -> TherapyCourse:
    return TherapyCourse(therapy_id, TherapyClass.TPO_RA, start, end)


# --- confounding ----------------------------------------------------------------------------------

D = date(2026, 4, 1)


@pytest.mark.parametrize(
    ("course", "transfusion_day", "expected_rule"),
    [
        (ivig(D, D), D, IVIG_CONFOUNDING_RULE),  # the dose day itself
        (ivig(D, D), D + timedelta(days=10), IVIG_CONFOUNDING_RULE),  # 10 days after: flagged
        (ivig(D, D), D + timedelta(days=14), IVIG_CONFOUNDING_RULE),  # 14 days: the bound, inclusive
        (ivig(D, D), D + timedelta(days=15), None),
        (ivig(D, D), D - timedelta(days=1), None),  # before the dose
        (ivig(D, D + timedelta(days=4)), D + timedelta(days=18), IVIG_CONFOUNDING_RULE),  # from the last dose
        (ivig(D, None), D + timedelta(days=200), IVIG_CONFOUNDING_RULE),  # ongoing
        (tpo(D, D + timedelta(days=30)), D + timedelta(days=30), TPO_RA_CONFOUNDING_RULE),
        (tpo(D, D + timedelta(days=30)), D + timedelta(days=31), None),  # no carry-over after a TPO-RA
        (tpo(D, None), D + timedelta(days=300), TPO_RA_CONFOUNDING_RULE),
        (TherapyCourse(3, TherapyClass.CORTICOSTEROID, D, None), D + timedelta(days=1), None),
        (TherapyCourse(4, TherapyClass.ANTI_CD20, D, D), D + timedelta(days=1), None),
    ],
)
def test_confounding_table(course: TherapyCourse, transfusion_day: date, expected_rule: str | None) -> None:
    found = confounding_therapy(at(transfusion_day), [course], 14, True)
    assert (found.rule if found else None) == expected_rule
    if found:
        assert (found.therapy_id, found.therapy_class) == (course.therapy_id, course.therapy_class)


def test_tpo_ra_flag_is_a_parameter() -> None:
    assert confounding_therapy(at(D), [tpo(D, None)], 14, tpo_ra_confounds=False) is None


def test_ivig_days_are_a_parameter() -> None:
    assert confounding_therapy(at(D + timedelta(days=10)), [ivig(D, D)], 7, True) is None


def test_the_earliest_confounding_therapy_is_named() -> None:
    found = confounding_therapy(
        at(D + timedelta(days=5)), [tpo(D, None, 9), ivig(D - timedelta(days=3), D, 8)], 14, True
    )
    assert found is not None and found.therapy_id == 8


def test_a_transfusion_is_placed_on_its_utc_date() -> None:
    late_evening = datetime(2026, 4, 15, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 16 April UTC
    assert confounding_therapy(late_evening, [ivig(D, D)], 14, True) is None


@given(
    offset=st.integers(-30, 60),
    length=st.integers(0, 10),
    days=st.integers(0, 60),
)
def test_ivig_flag_is_exactly_the_window(offset: int, length: int, days: int) -> None:
    course = ivig(D, D + timedelta(days=length))
    flagged = confounding_therapy(at(D + timedelta(days=offset)), [course], days, True) is not None
    assert flagged is (0 <= offset <= length + days)


# --- follow-up, endpoint, sensitivity ----------------------------------------------------------


def result(i: int, started: datetime, category: ResponseCategory) -> TransfusionResponse:
    return TransfusionResponse(
        transfusion=Transfusion(i, started, started + timedelta(minutes=30), 3.0, True),
        attribution=Attribution(None, None, None, False, False),
        bsa=None,
        cci_early=None,
        cci_late=None,
        ppr_early=None,
        category=category,
    )


def series(categories: list[ResponseCategory], first_day: int = 5, gap: int = 7) -> list[TransfusionResponse]:
    return [result(i + 1, INFUSION + timedelta(days=first_day + gap * i), c) for i, c in enumerate(categories)]


def assess(results: list[TransfusionResponse], therapies=(), hsct: date | None = None):  # type: ignore[no-untyped-def]
    flags = transfusion_flags(results, INFUSION, DEFAULT_PARAMETERS, therapies, hsct)
    return assess_subject(results, INFUSION, DEFAULT_PARAMETERS, flags, hsct), flags


def test_without_therapies_the_sensitivity_equals_the_main_analysis() -> None:
    response, _ = assess(series([R, NE, R, N]))
    assert response.sustained and response.sensitivity_sustained
    assert response.confounded_transfusions == 0
    assert (response.evaluable_transfusions, response.sensitivity_evaluable_transfusions) == (3, 3)


def test_a_responsive_transfusion_10_days_after_ivig_is_flagged_and_left_out_of_the_sensitivity() -> None:
    # given: R on day 5 and R on day 12; IVIG on day 2 (the day-12 transfusion is 10 days after it)
    results = series([R, R])
    response, flags = assess(
        results, [ivig((INFUSION + timedelta(days=2)).date(), (INFUSION + timedelta(days=2)).date())]
    )
    # then: both are flagged (day 5 is 3 days after), still classified R, and counted
    assert flags[2].confounding is not None and flags[2].confounding.rule == IVIG_CONFOUNDING_RULE
    assert response.sustained is True
    assert response.confounded_transfusions == 2
    assert response.sensitivity_sustained is False
    assert response.sensitivity_evaluable_transfusions == 0


def test_tpo_ra_flags_only_the_transfusions_in_its_span() -> None:
    results = series([R, R, R, R])  # days 5, 12, 19, 26
    span = tpo((INFUSION + timedelta(days=10)).date(), (INFUSION + timedelta(days=20)).date())
    response, flags = assess(results, [span])
    assert [flags[i].confounding is not None for i in (1, 2, 3, 4)] == [False, True, True, False]
    assert response.sensitivity_sustained is True  # days 5 and 26 remain, consecutive once 12 and 19 go
    assert response.sensitivity_first_response_at == results[0].transfusion.started_at


def test_an_allogeneic_hsct_stops_the_sustained_response_window() -> None:
    results = series([R, N, R, R])  # days 5, 12, 19, 26
    hsct = (INFUSION + timedelta(days=19)).date()
    response, flags = assess(results, hsct=hsct)
    assert [flags[i].endpoint_exclusion for i in (1, 2, 3, 4)] == [
        None,
        None,
        EndpointExclusion.AFTER_HSCT,
        EndpointExclusion.AFTER_HSCT,
    ]
    assert response.sustained is False
    assert response.follow_up_ends_on == hsct
    assert (response.evaluable_transfusions, response.responsive_transfusions) == (2, 1)
    assert assess(results)[0].sustained is True  # without the transplant


def test_endpoint_exclusions_before_car_t_and_after_the_window() -> None:
    results = [
        result(1, INFUSION - timedelta(days=1), N),
        result(2, INFUSION + timedelta(days=400), R),
    ]
    _, flags = assess(results)
    assert flags[1].endpoint_exclusion is EndpointExclusion.BEFORE_CAR_T
    assert flags[2].endpoint_exclusion is EndpointExclusion.AFTER_ASSESSMENT_WINDOW


@given(st.lists(st.sampled_from([R, N, NE]), max_size=12), st.integers(0, 12), st.integers(0, 12))
def test_the_sensitivity_never_counts_more_transfusions(categories, ivig_at, hsct_at) -> None:  # type: ignore[no-untyped-def]
    results = series(categories)
    day = (INFUSION + timedelta(days=5 + 7 * ivig_at)).date()
    hsct = (INFUSION + timedelta(days=5 + 7 * hsct_at)).date()
    response, flags = assess(results, [ivig(day, day)], hsct)
    assert response.sensitivity_evaluable_transfusions <= response.evaluable_transfusions
    assert response.sensitivity_responsive_transfusions <= response.responsive_transfusions
    counted = [r for r in results if flags[r.transfusion.transfusion_id].endpoint_exclusion is None]
    assert all(r.transfusion.started_at.date() < hsct for r in counted)
    # the flag never changes a transfusion's category: the main analysis ignores it
    assert response.sustained == assess(results, (), hsct)[0].sustained


def test_follow_up_end_is_the_first_allogeneic_hsct() -> None:
    procedures = [
        ProcedureEvent(ProcedureType.SPLENECTOMY, None, date(2026, 5, 1)),
        ProcedureEvent(ProcedureType.HSCT, HsctType.AUTOLOGOUS, date(2026, 6, 1)),
        ProcedureEvent(ProcedureType.HSCT, HsctType.ALLOGENEIC, date(2026, 9, 1)),
        ProcedureEvent(ProcedureType.HSCT, HsctType.ALLOGENEIC, date(2026, 8, 1)),
    ]
    assert follow_up_end(procedures, True) == date(2026, 8, 1)
    assert follow_up_end(procedures, False) is None
    assert follow_up_end(procedures[:2], True) is None


# --- deviations and timing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("therapy_class", "start", "expected"),
    [
        (TherapyClass.ANTI_CD20, INFUSION.date() + timedelta(days=30), True),
        (TherapyClass.ANTI_CD20, INFUSION.date(), True),  # day 0 counts
        (TherapyClass.ANTI_CD20, INFUSION.date() - timedelta(days=1), False),
        (TherapyClass.ANTI_PLASMA_CELL, INFUSION.date() + timedelta(days=1), True),
        (TherapyClass.IVIG, INFUSION.date() + timedelta(days=30), False),
    ],
)
def test_protocol_deviation(therapy_class: TherapyClass, start: date, expected: bool) -> None:
    assert is_protocol_deviation(therapy_class, start, INFUSION) is expected
    assert is_protocol_deviation(therapy_class, start, None) is False


@pytest.mark.parametrize(
    ("end", "ongoing", "expected"),
    [
        (date(2026, 1, 9), False, TherapyTiming.PRIOR),
        (date(2026, 1, 10), False, TherapyTiming.CONCOMITANT),  # ends on the consent date
        (None, True, TherapyTiming.CONCOMITANT),
    ],
)
def test_timing_from_dates(end: date | None, ongoing: bool, expected: TherapyTiming) -> None:
    assert therapy_timing(end, ongoing, date(2026, 1, 10)) is expected


# --- checks ---------------------------------------------------------------------------------------


def therapy_problems(**overrides):  # type: ignore[no-untyped-def]
    values = {
        "name": "IVIG",
        "therapy_class": TherapyClass.IVIG,
        "dose": 1.0,
        "dose_unit": TherapyDoseUnit.G_PER_KG,
        "start_date": date(2026, 4, 1),
        "end_date": date(2026, 4, 2),
        "ongoing": False,
        "indication": "refractory thrombocytopenia",
        "now": NOW,
    }
    return [(p.field, p.code) for p in check_therapy(**{**values, **overrides})]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, []),
        ({"end_date": date(2026, 3, 31)}, [(("endDate",), ProblemCode.INVALID_ORDER)]),
        ({"dose_unit": None}, [(("doseUnit",), ProblemCode.REQUIRED)]),
        ({"dose": None, "dose_unit": None}, []),
        ({"dose": -1.0}, [(("dose",), ProblemCode.OUT_OF_RANGE)]),
        ({"therapy_class": TherapyClass.OTHER, "name": " "}, [(("name",), ProblemCode.REQUIRED)]),
        ({"name": None}, []),
        ({"end_date": None}, [(("endDate",), ProblemCode.REQUIRED)]),
        ({"end_date": None, "ongoing": True}, []),
        ({"ongoing": True}, [(("ongoing",), ProblemCode.NOT_ALLOWED)]),
        (
            {"start_date": date(2027, 1, 1), "end_date": None, "ongoing": True},
            [(("startDate",), ProblemCode.IN_FUTURE)],
        ),
    ],
)
def test_check_therapy(overrides, expected) -> None:  # type: ignore[no-untyped-def]
    assert therapy_problems(**overrides) == expected


@pytest.mark.parametrize(
    ("procedure_type", "hsct_type", "performed_on", "expected"),
    [
        (ProcedureType.HSCT, HsctType.ALLOGENEIC, date(2026, 8, 1), []),
        (ProcedureType.HSCT, HsctType.ALLOGENEIC, date(2026, 1, 9), [(("performedOn",), ProblemCode.INVALID_ORDER)]),
        (ProcedureType.HSCT, None, date(2026, 8, 1), [(("hsctType",), ProblemCode.REQUIRED)]),
        (ProcedureType.SPLENECTOMY, None, date(2020, 8, 1), []),  # a prior splenectomy
        (ProcedureType.SPLENECTOMY, HsctType.AUTOLOGOUS, date(2020, 8, 1), [(("hsctType",), ProblemCode.NOT_ALLOWED)]),
    ],
)
def test_check_procedure(procedure_type, hsct_type, performed_on, expected) -> None:  # type: ignore[no-untyped-def]
    problems = check_procedure(
        procedure_type=procedure_type,
        hsct_type=hsct_type,
        performed_on=performed_on,
        consent_date=date(2026, 1, 10),
        notes=None,
        now=NOW,
    )
    assert [(p.field, p.code) for p in problems] == expected


def test_defaults_flag_nothing_without_therapies() -> None:
    params = replace(DEFAULT_PARAMETERS)
    results = series([R, R])
    assert all(f.confounding is None for f in transfusion_flags(results, INFUSION, params).values())
