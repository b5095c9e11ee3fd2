"""Plausibility rules of the trial's records: every check at its boundaries, plus properties."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain import validation as v
from server.domain.enums import CarTProduct, SubjectStatus
from server.domain.protocol import DEFAULT_PARAMETERS, ProtocolParameters
from server.domain.validation import Problem, ProblemCode

C = ProblemCode
UTC = timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAN = float("nan")
INF = float("inf")


def codes(problems: list[Problem]) -> list[tuple[tuple[str, ...], ProblemCode]]:
    return [(p.field, p.code) for p in problems]


# --- platelet count ---------------------------------------------------------------------------

FIELD = ("valueE9PerL",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, []),
        (0.001, []),
        (5.0, []),
        (150.0, []),
        (1999.999, []),
        (2000.0, []),
        (-0.001, [(FIELD, C.OUT_OF_RANGE)]),
        (-1.0, [(FIELD, C.OUT_OF_RANGE)]),
        (-INF, [(FIELD, C.OUT_OF_RANGE)]),
        (NAN, [(FIELD, C.OUT_OF_RANGE)]),
        (2000.5, [(FIELD, C.UNIT_SUSPECT)]),
        (35000.0, [(FIELD, C.UNIT_SUSPECT)]),
        (INF, [(FIELD, C.UNIT_SUSPECT)]),
    ],
)
def test_platelet_count(value: float, expected: list[Any]) -> None:
    assert codes(v.check_platelet_count(value)) == expected


def test_platelet_count_negative_message() -> None:
    assert v.check_platelet_count(-1) == [Problem(FIELD, C.OUT_OF_RANGE, "a platelet count cannot be negative")]


def test_platelet_count_nan_message() -> None:
    assert v.check_platelet_count(NAN) == [Problem(FIELD, C.OUT_OF_RANGE, "not a number")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (35000, "35000 x10^9/L is not plausible; counts are x10^9/L (a count of 35000/uL is 35 x10^9/L)"),
        (2000.5, "2000.5 x10^9/L is not plausible; counts are x10^9/L (a count of 2000.5/uL is 2.0005 x10^9/L)"),
    ],
)
def test_platelet_count_unit_suspect_hint(value: float, message: str) -> None:
    assert v.check_platelet_count(value) == [Problem(FIELD, C.UNIT_SUSPECT, message)]


def test_platelet_count_prefix() -> None:
    assert codes(v.check_platelet_count(-1, ("counts", "2"))) == [(("counts", "2", "valueE9PerL"), C.OUT_OF_RANGE)]


@given(st.floats())
def test_platelet_count_never_raises(value: float) -> None:
    problems = v.check_platelet_count(value)
    assert len(problems) <= 1


@given(st.floats(min_value=2000.0, exclude_min=True))
def test_platelet_count_above_2000_is_unit_suspect(value: float) -> None:
    assert codes(v.check_platelet_count(value)) == [(FIELD, C.UNIT_SUSPECT)]


@given(st.floats(min_value=0.0, max_value=2000.0))
def test_platelet_count_in_range_accepted(value: float) -> None:
    assert v.check_platelet_count(value) == []


@given(st.floats(max_value=0.0, exclude_max=True))
def test_platelet_count_negative_refused(value: float) -> None:
    assert codes(v.check_platelet_count(value)) == [(FIELD, C.OUT_OF_RANGE)]


# --- body measurement -------------------------------------------------------------------------

H, W = ("heightCm",), ("weightKg",)


@pytest.mark.parametrize(
    ("height", "weight", "expected"),
    [
        (170.0, 65.0, []),
        (100.0, 25.0, []),
        (250.0, 300.0, []),
        (170.0, None, []),
        (None, 65.0, []),
        (99.9, 65.0, [(H, C.OUT_OF_RANGE)]),
        (250.1, 65.0, [(H, C.OUT_OF_RANGE)]),
        (170.0, 24.9, [(W, C.OUT_OF_RANGE)]),
        (170.0, 300.1, [(W, C.OUT_OF_RANGE)]),
        (NAN, 65.0, [(H, C.OUT_OF_RANGE)]),
        (170.0, NAN, [(W, C.OUT_OF_RANGE)]),
        (1.7, 65000.0, [(H, C.OUT_OF_RANGE), (W, C.OUT_OF_RANGE)]),  # metres and grams
        (0.0, None, [(H, C.OUT_OF_RANGE)]),
        (None, None, [(H, C.REQUIRED)]),
    ],
)
def test_body_measurement(height: float | None, weight: float | None, expected: list[Any]) -> None:
    assert codes(v.check_body_measurement(height, weight)) == expected


def test_body_measurement_required_message_and_prefix() -> None:
    assert v.check_body_measurement(None, None, ("measurement",)) == [
        Problem(("measurement", "heightCm"), C.REQUIRED, "height or weight is required")
    ]


# --- transfusion ------------------------------------------------------------------------------

START = datetime(2026, 2, 27, 8, 0, tzinfo=UTC)


def transfusion(**changes: Any) -> list[Problem]:
    args: dict[str, Any] = {
        "started_at": START,
        "ended_at": START + timedelta(minutes=45),
        "unit_contents_e11": [3.2],
        "storage_age_days": 3,
        "now": NOW,
    }
    args.update(changes)
    return v.check_transfusion(**args)


E, U = ("endedAt",), ("units",)


def content(i: int) -> tuple[str, ...]:
    return ("units", str(i), "contentE11")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"ended_at": START - timedelta(seconds=1)}, [(E, C.INVALID_ORDER)]),
        ({"ended_at": START}, []),
        ({"ended_at": START + timedelta(hours=12)}, []),
        ({"ended_at": START + timedelta(hours=12, seconds=1)}, [(E, C.OUT_OF_RANGE)]),
        # an end time given in another offset is compared as an instant: 09:00+01:00 is 08:00Z
        ({"ended_at": datetime(2026, 2, 27, 9, 0, tzinfo=timezone(timedelta(hours=1)))}, []),
        ({"ended_at": datetime(2026, 2, 27, 8, 59, tzinfo=timezone(timedelta(hours=1)))}, [(E, C.INVALID_ORDER)]),
        ({"started_at": NOW, "ended_at": NOW + timedelta(minutes=5)}, []),
        ({"started_at": NOW, "ended_at": NOW + timedelta(minutes=6)}, [(E, C.IN_FUTURE)]),
        ({"unit_contents_e11": [None]}, []),
        ({"unit_contents_e11": [15.0]}, []),
        ({"unit_contents_e11": [0.1]}, []),
        ({"unit_contents_e11": [0.09]}, [(content(0), C.OUT_OF_RANGE)]),
        ({"unit_contents_e11": [0.0]}, [(content(0), C.OUT_OF_RANGE)]),
        ({"unit_contents_e11": [-3.0]}, [(content(0), C.OUT_OF_RANGE)]),
        ({"unit_contents_e11": [15.01]}, [(content(0), C.OUT_OF_RANGE)]),
        ({"unit_contents_e11": [NAN]}, [(content(0), C.OUT_OF_RANGE)]),
        ({"unit_contents_e11": [INF]}, [(content(0), C.OUT_OF_RANGE)]),
        (
            {"unit_contents_e11": [3.0, None, 0.0, 4.4, 320.0]},
            [(content(2), C.OUT_OF_RANGE), (content(4), C.OUT_OF_RANGE)],
        ),
        ({"unit_contents_e11": []}, [(U, C.REQUIRED)]),
        ({"unit_contents_e11": [0.6] * 12}, []),
        ({"unit_contents_e11": [0.6] * 13}, [(U, C.OUT_OF_RANGE)]),
        ({"storage_age_days": None}, []),
        ({"storage_age_days": 0}, []),
        ({"storage_age_days": 10}, []),
        ({"storage_age_days": -1}, [(("storageAgeDays",), C.OUT_OF_RANGE)]),
        ({"storage_age_days": 11}, [(("storageAgeDays",), C.OUT_OF_RANGE)]),
    ],
)
def test_transfusion(changes: dict[str, Any], expected: list[Any]) -> None:
    assert codes(transfusion(**changes)) == expected


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (15.01, True),
        (320.0, True),
        (0.0, False),
        (0.099, False),  # below any real platelet unit; a near-zero dose would blow the CCI up
        (5e-324, False),
        (-1.0, False),
        (NAN, False),
    ],
)
def test_transfusion_content_hint(value: float, hint: bool) -> None:
    (problem,) = transfusion(unit_contents_e11=[value])
    assert problem.message.startswith("platelet content must be >= 0.1 and <= 15 x10^11")
    assert ("an apheresis unit holds about 3-4.4" in problem.message) is hint


def test_transfusion_messages() -> None:
    assert transfusion(ended_at=START - timedelta(minutes=1)) == [
        Problem(E, C.INVALID_ORDER, "the transfusion cannot end before it started")
    ]
    assert transfusion(ended_at=START + timedelta(hours=13)) == [
        Problem(E, C.OUT_OF_RANGE, "a platelet transfusion lasts at most 12 hours")
    ]
    assert transfusion(unit_contents_e11=[]) == [Problem(U, C.REQUIRED, "at least one platelet unit is required")]


def test_transfusion_reports_every_problem() -> None:
    problems = transfusion(
        started_at=NOW + timedelta(hours=1),
        ended_at=NOW,
        unit_contents_e11=[0.0] * 13,
        storage_age_days=30,
    )
    assert codes(problems).count((U, C.OUT_OF_RANGE)) == 1
    assert (E, C.INVALID_ORDER) in codes(problems)
    assert (("storageAgeDays",), C.OUT_OF_RANGE) in codes(problems)
    assert [p.field for p in problems if p.field[-1] == "contentE11"] == [content(i) for i in range(13)]


# --- subject ----------------------------------------------------------------------------------


def subject(**changes: Any) -> list[Problem]:
    args: dict[str, Any] = {
        "code": "S01-001",
        "year_of_birth": 1990,
        "age_at_consent": 35,
        "consent_date": date(2026, 1, 15),
        "remission_date": date(2025, 12, 1),
        "initial_status": SubjectStatus.SCREENING,
        "now": NOW,
    }
    args.update(changes)
    return v.check_subject(**args)


AGE, YOB = ("ageAtConsent",), ("yearOfBirth",)


@pytest.mark.parametrize(
    "code",
    ["S01-001", "ABC", "A" * 20, "0-1", "9ZZ", "S01-001-X", "P-1"],
)
def test_subject_code_accepted(code: str) -> None:
    assert subject(code=code) == []


@pytest.mark.parametrize(
    "code",
    [
        "",
        "AB",
        "A" * 21,
        "-AB",
        "s01-001",
        "S01 001",
        "S01_001",
        "Smith, John",
        "S01-001\n",
        "ÄBC",
        "S01/001",
    ],
)
def test_subject_code_refused(code: str) -> None:
    assert codes(subject(code=code)) == [(("code",), C.INVALID_FORMAT)]


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (15, [(AGE, C.OUT_OF_RANGE)]),
        (16, []),
        (40, []),
        (65, []),
        (66, [(AGE, C.OUT_OF_RANGE)]),
        (0, [(AGE, C.OUT_OF_RANGE)]),
    ],
)
def test_subject_age_at_consent(age: int, expected: list[Any]) -> None:
    # year of birth chosen so that the age fits (gap 0)
    assert codes(subject(age_at_consent=age, year_of_birth=2026 - age)) == expected


@pytest.mark.parametrize(
    ("year_of_birth", "age", "expected"),
    [
        (1990, 36, []),  # gap 0: birthday already passed in 2026
        (1990, 35, []),  # gap 1: birthday still to come
        (1990, 34, [(AGE, C.INVALID_ORDER)]),  # gap 2
        (1990, 37, [(AGE, C.INVALID_ORDER)]),  # gap -1
        (1960, 65, []),  # gap 1 at the upper age bound
        (2010, 16, []),  # gap 0 at the lower age bound
        (2009, 16, []),  # gap 1 at the lower age bound
        (2008, 16, [(AGE, C.INVALID_ORDER)]),  # gap 2 at the lower age bound
        (1959, 65, [(AGE, C.INVALID_ORDER)]),  # gap 2 at the upper age bound
    ],
)
def test_subject_age_fits_year_of_birth(year_of_birth: int, age: int, expected: list[Any]) -> None:
    assert codes(subject(year_of_birth=year_of_birth, age_at_consent=age)) == expected


@pytest.mark.parametrize(
    ("year_of_birth", "expected"),
    [
        (1899, [(YOB, C.OUT_OF_RANGE)]),
        (2026, [(AGE, C.INVALID_ORDER)]),  # in range, but a 35-year-old cannot be born in 2026
        (2027, [(YOB, C.OUT_OF_RANGE)]),
    ],
)
def test_subject_year_of_birth_range(year_of_birth: int, expected: list[Any]) -> None:
    assert codes(subject(year_of_birth=year_of_birth)) == expected


def test_subject_age_mismatch_message() -> None:
    assert subject(age_at_consent=30) == [
        Problem(AGE, C.INVALID_ORDER, "age at consent does not fit the year of birth and the consent date")
    ]


def test_subject_age_mismatch_reported_with_a_bad_code() -> None:
    # A badly formed code must not hide the age problem: the form shows both at once.
    assert codes(subject(code="bad code", age_at_consent=30)) == [
        (("code",), C.INVALID_FORMAT),
        (AGE, C.INVALID_ORDER),
    ]


def test_subject_age_mismatch_not_reported_over_a_range_problem() -> None:
    # An age out of range already has its problem; no second one about the same box.
    assert codes(subject(age_at_consent=70)) == [(AGE, C.OUT_OF_RANGE)]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"consent_date": date(2026, 3, 1)}, []),
        ({"consent_date": date(2026, 3, 2)}, []),  # already 2 March at UTC+14
        ({"consent_date": date(2026, 3, 3)}, [(("consentDate",), C.IN_FUTURE)]),
        ({"consent_date": date(2027, 1, 1), "year_of_birth": 1991}, [(("consentDate",), C.IN_FUTURE)]),
        ({"remission_date": None}, []),
        ({"remission_date": date(2026, 3, 1)}, []),
        ({"remission_date": date(2026, 3, 3)}, [(("remissionDate",), C.IN_FUTURE)]),
    ],
)
def test_subject_dates(changes: dict[str, Any], expected: list[Any]) -> None:
    assert codes(subject(**changes)) == expected


@pytest.mark.parametrize("status", list(SubjectStatus), ids=lambda s: s.value)
def test_subject_initial_status(status: SubjectStatus) -> None:
    expected = [] if status in (SubjectStatus.SCREENING, SubjectStatus.ENROLLED) else [(("status",), C.NOT_ALLOWED)]
    assert codes(subject(initial_status=status)) == expected


# --- reason, text, not in the future ----------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, [(("reason",), C.REQUIRED)]),
        ("", [(("reason",), C.REQUIRED)]),
        ("   ", [(("reason",), C.REQUIRED)]),
        ("\n\t", [(("reason",), C.REQUIRED)]),
        ("x", []),
        ("  transcription error  ", []),
        ("x" * 2000, []),
        ("x" * 2001, [(("reason",), C.TOO_LONG)]),
    ],
)
def test_check_reason(reason: str | None, expected: list[Any]) -> None:
    assert codes(v.check_reason(reason)) == expected


def test_check_reason_field() -> None:
    assert v.check_reason(None, ("input", "reason")) == [
        Problem(("input", "reason"), C.REQUIRED, "a reason for the change is required")
    ]


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        (None, 64, []),
        ("", 64, []),
        ("x" * 64, 64, []),
        ("x" * 65, 64, [(("f",), C.TOO_LONG)]),
        ("é" * 64, 64, []),
        ("x" * 10, 10, []),
        ("x" * 11, 10, [(("f",), C.TOO_LONG)]),
    ],
)
def test_check_text(value: str | None, limit: int, expected: list[Any]) -> None:
    assert codes(v.check_text(value, ("f",), limit)) == expected


def test_check_text_default_limit_and_message() -> None:
    assert v.check_text("x" * 65, ("lotNumber",)) == [Problem(("lotNumber",), C.TOO_LONG, "at most 64 characters")]


F = ("when",)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (None, []),
        (NOW - timedelta(days=400), []),
        (NOW, []),
        (NOW + timedelta(minutes=4, seconds=59), []),
        (NOW + timedelta(minutes=5), []),
        (NOW + timedelta(minutes=5, microseconds=1), [(F, C.IN_FUTURE)]),
        (NOW + timedelta(hours=1), [(F, C.IN_FUTURE)]),
        # same instant written with an offset
        (datetime(2026, 3, 1, 14, 5, tzinfo=timezone(timedelta(hours=2))), []),
        (datetime(2026, 3, 1, 14, 6, tzinfo=timezone(timedelta(hours=2))), [(F, C.IN_FUTURE)]),
        (date(2026, 2, 28), []),
        (date(2026, 3, 1), []),
        (date(2026, 3, 2), []),  # a local date already reached at UTC+14
        (date(2026, 3, 3), [(F, C.IN_FUTURE)]),
    ],
)
def test_check_not_future(moment: datetime | date | None, expected: list[Any]) -> None:
    assert codes(v.check_not_future(moment, NOW, F)) == expected


def test_check_not_future_message() -> None:
    assert v.check_not_future(NOW + timedelta(days=1), NOW, F) == [Problem(F, C.IN_FUTURE, "cannot be in the future")]


# --- lymphodepletion --------------------------------------------------------------------------

FLU = ("fludarabine", 30.0, 3)
CY = ("cyclophosphamide", 500.0, 3)


def lymphodepletion(**changes: Any) -> list[Problem]:
    args: dict[str, Any] = {
        "start_date": date(2026, 2, 20),
        "end_date": date(2026, 2, 22),
        "agents": [FLU, CY],
        "now": NOW,
    }
    args.update(changes)
    return v.check_lymphodepletion(**args)


def agent(i: int, name: str) -> tuple[str, ...]:
    return ("agents", str(i), name)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"end_date": date(2026, 2, 20)}, []),
        ({"end_date": date(2026, 2, 19)}, [(("endDate",), C.INVALID_ORDER)]),
        ({"end_date": date(2026, 3, 6)}, []),  # 14 days
        ({"end_date": date(2026, 3, 7)}, [(("endDate",), C.OUT_OF_RANGE)]),  # 15 days
        ({"start_date": date(2026, 3, 1), "end_date": date(2026, 3, 3)}, []),
        ({"start_date": date(2026, 3, 3), "end_date": date(2026, 3, 5)}, [(("startDate",), C.IN_FUTURE)]),
        ({"agents": []}, [(("agents",), C.REQUIRED)]),
        ({"agents": [FLU]}, []),
        ({"agents": [("x" * 64, 30.0, 3)]}, []),
        ({"agents": [FLU, ("x" * 65, 30.0, 3)]}, [(agent(1, "otherName"), C.TOO_LONG)]),
        ({"agents": [("fludarabine", 0.001, 1)]}, []),
        ({"agents": [("fludarabine", 5000.0, 14)]}, []),
        ({"agents": [("fludarabine", 0.0, 3)]}, [(agent(0, "dosePerDay"), C.OUT_OF_RANGE)]),
        ({"agents": [("fludarabine", 5000.1, 3)]}, [(agent(0, "dosePerDay"), C.OUT_OF_RANGE)]),
        ({"agents": [("fludarabine", NAN, 3)]}, [(agent(0, "dosePerDay"), C.OUT_OF_RANGE)]),
        ({"agents": [FLU, ("cyclophosphamide", 500.0, 0)]}, [(agent(1, "days"), C.OUT_OF_RANGE)]),
        ({"agents": [("fludarabine", 30.0, 15)]}, [(agent(0, "days"), C.OUT_OF_RANGE)]),
    ],
)
def test_lymphodepletion(changes: dict[str, Any], expected: list[Any]) -> None:
    assert codes(lymphodepletion(**changes)) == expected


# --- CAR-T order and infusion -----------------------------------------------------------------

T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
CD19, BCMA = CarTProduct.CD19, CarTProduct.BCMA


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


@pytest.mark.parametrize(
    ("infusions", "ok"),
    [
        ([], True),
        ([(CD19, at(0))], True),
        ([(CD19, at(0)), (CD19, at(3))], True),
        ([(CD19, at(0)), (BCMA, at(14))], True),
        ([(BCMA, at(14)), (CD19, at(0))], True),  # order of the list does not matter
        ([(CD19, at(0)), (BCMA, at(0))], True),  # same instant allowed
        ([(BCMA, at(0))], False),
        ([(BCMA, at(0)), (CD19, at(1))], False),  # a CD19 after the BCMA does not help
        ([(CD19, at(1)), (BCMA, at(0)), (BCMA, at(2))], False),
        ([(CD19, at(0)), (BCMA, at(-1 / 86400))], False),  # one second early
        ([(CD19, at(0)), (BCMA, at(7)), (BCMA, at(28))], True),
        ([(CD19, at(5)), (CD19, at(0)), (BCMA, at(2))], True),  # the first CD19 counts
    ],
)
def test_bcma_follows_cd19(infusions: list[tuple[CarTProduct, datetime]], ok: bool) -> None:
    assert v.bcma_follows_cd19(infusions) is ok


def test_bcma_follows_cd19_across_offsets() -> None:
    # 11:00+02:00 is 09:00Z: before a CD19 at 10:00Z
    bcma = datetime(2026, 2, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    assert not v.bcma_follows_cd19([(CD19, T0), (BCMA, bcma)])
    assert v.bcma_follows_cd19([(CD19, T0), (BCMA, bcma + timedelta(hours=1))])


def car_t(**changes: Any) -> list[Problem]:
    args: dict[str, Any] = {
        "infused_at": at(0),
        "car_positive_cells_per_kg": 1e6,
        "total_car_positive_cells": 7e7,
        "lot_number": "LOT-19-0042",
        "infusions_after_change": [(CD19, at(0))],
        "parameters": DEFAULT_PARAMETERS,
        "now": NOW,
    }
    args.update(changes)
    return v.check_car_t_infusion(**args)


P = ("product",)
ALLOW = ProtocolParameters(allow_bcma_before_cd19=True)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, []),
        ({"infused_at": NOW + timedelta(minutes=5)}, []),
        ({"infused_at": NOW + timedelta(minutes=6)}, [(("infusedAt",), C.IN_FUTURE)]),
        ({"car_positive_cells_per_kg": None, "total_car_positive_cells": None}, []),
        ({"car_positive_cells_per_kg": 1e3}, []),
        ({"car_positive_cells_per_kg": 1e9}, []),
        ({"car_positive_cells_per_kg": 999.0}, [(("carPositiveCellsPerKg",), C.OUT_OF_RANGE)]),
        ({"car_positive_cells_per_kg": 1.1e9}, [(("carPositiveCellsPerKg",), C.OUT_OF_RANGE)]),
        ({"car_positive_cells_per_kg": NAN}, [(("carPositiveCellsPerKg",), C.OUT_OF_RANGE)]),
        ({"total_car_positive_cells": 1e5}, []),
        ({"total_car_positive_cells": 1e11}, []),
        ({"total_car_positive_cells": 9.9e4}, [(("totalCarPositiveCells",), C.OUT_OF_RANGE)]),
        ({"total_car_positive_cells": 1.01e11}, [(("totalCarPositiveCells",), C.OUT_OF_RANGE)]),
        ({"lot_number": ""}, [(("lotNumber",), C.REQUIRED)]),
        ({"lot_number": "   "}, [(("lotNumber",), C.REQUIRED)]),
        ({"lot_number": "L" * 64}, []),
        ({"lot_number": "L" * 65}, [(("lotNumber",), C.TOO_LONG)]),
        # the sequential design
        ({"infusions_after_change": [(BCMA, at(0))]}, [(P, C.NOT_ALLOWED)]),
        ({"infusions_after_change": [(CD19, at(0)), (BCMA, at(0))]}, []),
        ({"infusions_after_change": [(CD19, at(0)), (BCMA, at(14))]}, []),
        ({"infusions_after_change": [(BCMA, at(0)), (CD19, at(1))]}, [(P, C.NOT_ALLOWED)]),
        ({"infusions_after_change": [(BCMA, at(0))], "parameters": ALLOW}, []),
        ({"infusions_after_change": [(BCMA, at(0)), (CD19, at(1))], "parameters": ALLOW}, []),
        ({"infusions_after_change": []}, []),
    ],
)
def test_car_t_infusion(changes: dict[str, Any], expected: list[Any]) -> None:
    assert codes(car_t(**changes)) == expected


def test_car_t_order_message() -> None:
    assert car_t(infusions_after_change=[(BCMA, at(0))]) == [Problem(P, C.NOT_ALLOWED, v.BCMA_ORDER_MESSAGE)]


# --- check_range ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [(None, True), (1.0, True), (2.0, True), (1.5, True), (0.999, False), (2.001, False), (NAN, False), (INF, False)],
)
def test_check_range_inclusive(value: float | None, ok: bool) -> None:
    assert (v.check_range(value, 1.0, 2.0, ("x",), "x") == []) is ok


def test_check_range_message() -> None:
    assert v.check_range(3, 1, 2, ("x",), "storage age (days)") == [
        Problem(("x",), C.OUT_OF_RANGE, "storage age (days) must be between 1 and 2")
    ]


# --- properties -------------------------------------------------------------------------------

any_float = st.floats()
maybe_float = st.none() | any_float
aware = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2098, 12, 30), timezones=st.just(UTC))
prefix = st.lists(st.text(min_size=1, max_size=8), max_size=3).map(tuple)


def assert_well_formed(problems: list[Problem]) -> None:
    for p in problems:
        assert isinstance(p.field, tuple)
        assert len(p.field) > 0
        assert all(isinstance(part, str) and part for part in p.field)
        assert isinstance(p.code, ProblemCode)
        assert p.message


@given(any_float, prefix)
def test_property_platelet_count_fields(value: float, pre: tuple[str, ...]) -> None:
    problems = v.check_platelet_count(value, pre)
    assert_well_formed(problems)
    assert all(p.field == (*pre, "valueE9PerL") for p in problems)


@given(maybe_float, maybe_float, prefix)
def test_property_body_measurement_fields(height: float | None, weight: float | None, pre: tuple[str, ...]) -> None:
    assert_well_formed(v.check_body_measurement(height, weight, pre))


@given(aware, aware, st.lists(maybe_float, max_size=15), st.none() | st.integers(-50, 50), aware)
def test_property_transfusion_fields(
    started: datetime, ended: datetime, contents: list[float | None], age: int | None, now: datetime
) -> None:
    assert_well_formed(
        v.check_transfusion(
            started_at=started, ended_at=ended, unit_contents_e11=contents, storage_age_days=age, now=now
        )
    )


@given(
    st.text(max_size=25),
    st.integers(1800, 2100),
    st.integers(-5, 120),
    st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 1, 1)),
    st.none() | st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 1, 1)),
    st.sampled_from(SubjectStatus),
    aware,
)
def test_property_subject_fields(
    code: str, yob: int, age: int, consent: date, remission: date | None, status: SubjectStatus, now: datetime
) -> None:
    assert_well_formed(
        v.check_subject(
            code=code,
            year_of_birth=yob,
            age_at_consent=age,
            consent_date=consent,
            remission_date=remission,
            initial_status=status,
            now=now,
        )
    )


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    st.lists(st.tuples(st.text(max_size=80), any_float, st.integers(-5, 30)), max_size=5),
    aware,
)
def test_property_lymphodepletion_fields(
    start: date, end: date, agents: list[tuple[str, float, int]], now: datetime
) -> None:
    assert_well_formed(v.check_lymphodepletion(start_date=start, end_date=end, agents=agents, now=now))


@given(
    aware,
    maybe_float,
    maybe_float,
    st.text(max_size=80),
    st.lists(st.tuples(st.sampled_from(CarTProduct), aware), max_size=4),
    st.booleans(),
    aware,
)
def test_property_car_t_fields(
    infused: datetime,
    per_kg: float | None,
    total: float | None,
    lot: str,
    infusions: list[tuple[CarTProduct, datetime]],
    allow: bool,
    now: datetime,
) -> None:
    problems = v.check_car_t_infusion(
        infused_at=infused,
        car_positive_cells_per_kg=per_kg,
        total_car_positive_cells=total,
        lot_number=lot,
        infusions_after_change=infusions,
        parameters=ProtocolParameters(allow_bcma_before_cd19=allow),
        now=now,
    )
    assert_well_formed(problems)
    order_refused = any(p.code is C.NOT_ALLOWED for p in problems)
    assert order_refused is (not allow and not v.bcma_follows_cd19(infusions))


@given(st.lists(st.tuples(st.sampled_from(CarTProduct), aware), max_size=6))
def test_property_bcma_order_matches_definition(infusions: list[tuple[CarTProduct, datetime]]) -> None:
    cd19 = [t for p, t in infusions if p is CD19]
    bcma = [t for p, t in infusions if p is BCMA]
    expected = not bcma or (bool(cd19) and min(cd19) <= min(bcma))
    assert v.bcma_follows_cd19(infusions) is expected


@given(st.floats(min_value=v.MIN_UNIT_CONTENT_E11, max_value=v.MAX_UNIT_CONTENT_E11))
def test_property_unit_content_in_range_accepted(value: float) -> None:
    assert transfusion(unit_contents_e11=[value]) == []


@given(st.floats().filter(lambda x: math.isnan(x) or not v.MIN_UNIT_CONTENT_E11 <= x <= v.MAX_UNIT_CONTENT_E11))
def test_property_unit_content_out_of_range_refused(value: float) -> None:
    assert codes(transfusion(unit_contents_e11=[value])) == [(content(0), C.OUT_OF_RANGE)]
