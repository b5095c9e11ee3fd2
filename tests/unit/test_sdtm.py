"""SDTM conventions of the exports: study day without day 0, ISO 8601, USUBJID, terminology."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.enums import Role
from server.domain.sdtm import (
    antibody_test_code,
    iso_date,
    iso_datetime,
    may_export,
    number_text,
    reference_range_indicator,
    sdtm_day_from_api_day,
    sdtm_study_day,
    usubjid,
)
from server.domain.sdtm_datasets import CODELISTS, DATASETS
from server.domain.study_time import study_day

UTC = timezone.utc
PLUS_9 = timezone(timedelta(hours=9))
INFUSION = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("api_day", "sdtm_day"),
    [(0, 1), (-1, -1), (5, 6), (1, 2), (-2, -2), (-60, -60), (28, 29), (364, 365)],
)
def test_api_day_converts_to_sdtm_day_without_day_zero(api_day: int, sdtm_day: int) -> None:
    assert sdtm_day_from_api_day(api_day) == sdtm_day


@given(st.integers(min_value=-10_000, max_value=10_000))
def test_sdtm_day_is_never_zero_and_keeps_order(api_day: int) -> None:
    converted = sdtm_day_from_api_day(api_day)
    assert converted != 0
    assert sdtm_day_from_api_day(api_day + 1) > converted


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 1),  # the reference date is day 1
        (datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC), -1),  # the day before is -1
        (datetime(2026, 3, 3, 0, 0, tzinfo=UTC), 2),
        (datetime(2026, 3, 2, 8, 0, tzinfo=PLUS_9), -1),  # 2026-03-01T23:00 UTC
        (date(2026, 3, 7), 6),  # API day 5
        (date(2026, 2, 25), -5),
    ],
)
def test_sdtm_study_day_of_a_record(moment: datetime | date, expected: int) -> None:
    assert sdtm_study_day(moment, INFUSION) == expected
    assert sdtm_study_day(moment, INFUSION) == sdtm_day_from_api_day(study_day(moment, INFUSION) or 0)


def test_no_study_day_without_a_reference_or_a_date() -> None:
    assert sdtm_study_day(date(2026, 3, 2), None) is None
    assert sdtm_study_day(None, INFUSION) is None


def test_iso_8601_in_utc() -> None:
    assert iso_datetime(datetime(2026, 3, 2, 8, 0, 30, 999, tzinfo=PLUS_9)) == "2026-03-01T23:00:30Z"
    assert iso_date(date(2026, 3, 2)) == "2026-03-02"
    assert iso_datetime(None) is None
    with pytest.raises(ValueError):
        iso_datetime(datetime(2026, 3, 2, 8, 0))


def test_usubjid_is_study_site_subject() -> None:
    assert usubjid("PTR-CART-01", "S01", "S01-001") == "PTR-CART-01-S01-S01-001"


@pytest.mark.parametrize(
    ("value", "low", "high", "expected"),
    [
        (10.0, 150.0, 400.0, "LOW"),
        (150.0, 150.0, 400.0, "NORMAL"),
        (400.0, 150.0, 400.0, "NORMAL"),
        (401.0, 150.0, 400.0, "HIGH"),
        (5.0, None, None, None),
        (None, 150.0, 400.0, None),
        (500.0, None, 400.0, "HIGH"),
    ],
)
def test_reference_range_indicator(value: float | None, low: float | None, high: float | None, expected: str) -> None:
    assert reference_range_indicator(value, low, high) == expected


@pytest.mark.parametrize(
    ("specificity", "code"),
    [("A*02:01", "A0201"), ("DRB1*04:01", "DRB10401"), ("HPA-1a", "HPA1A"), ("HPA-15a", "HPA15A"), ("", "UNKNOWN")],
)
def test_antibody_test_code_fits_sdtm(specificity: str, code: str) -> None:
    assert antibody_test_code(specificity) == code
    assert len(code) <= 8


def test_number_text() -> None:
    assert number_text(6.0) == "6"
    assert number_text(0.35) == "0.35"
    assert number_text(None) is None


@pytest.mark.parametrize("role", list(Role))
def test_only_analysts_monitors_and_admins_export(role: Role) -> None:
    assert may_export(role) is (role in (Role.ANALYST, Role.MONITOR, Role.ADMIN))


def test_dataset_definitions_are_sdtm_shaped() -> None:
    for name, spec in DATASETS.items():
        assert spec.name == name
        assert len(set(spec.names)) == len(spec.names), name
        assert all(len(v.name) <= 8 and v.name.isupper() for v in spec.variables), name
        assert all(len(v.label) <= 40 for v in spec.variables), name
        assert {"STUDYID", "USUBJID"} <= set(spec.names)
        keys = sorted(v.key for v in spec.variables if v.key)
        assert keys == list(range(1, len(keys) + 1)), name
        assert all(v.codelist in CODELISTS for v in spec.variables if v.codelist), name
    assert DATASETS["XR"].sponsor_defined
    assert not DATASETS["AE"].sponsor_defined
