"""Protocol parameters: DOMAIN.md's defaults, stored-JSON round trip, consistency checks."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.protocol import DEFAULT_PARAMETERS, BsaFormula, ProtocolParameters


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cci_early_threshold_per_ul", 7500),
        ("cci_late_threshold_per_ul", 5000),
        ("early_window_min_minutes", 10),
        ("early_window_max_minutes", 60),
        ("late_window_min_hours", 18),
        ("late_window_max_hours", 24),
        ("pre_count_lookback_hours", 24),
        ("refractory_consecutive_transfusions", 2),
        ("refractory_cci_threshold_per_ul", 7500),
        ("sustained_consecutive_responses", 2),
        ("assessment_window_months", 12),
        ("loss_of_response_consecutive_failures", 2),
        ("bsa_formula", BsaFormula.MOSTELLER),
        ("blood_volume_ml_per_kg", 70),
        ("allow_bcma_before_cd19", False),
        ("diary_entry_window_days", 7),
        ("bleeding_episode_gap_hours", 48),
        ("lab_event_min_grade", 3),
        ("lab_event_worsening_grades", 1),
        ("b_cell_aplasia_percent", 1.0),
        ("b_cell_aplasia_per_ul", 20.0),
        ("b_cell_aplasia_rule", "percent_of_lymphocytes"),
        ("igg_low_below_mg_dl", 700.0),
        ("igg_severe_at_or_below_mg_dl", 400.0),
        ("hla_mfi_cutoff", 1000.0),
        ("activation_code_ttl_hours", 72),
        ("baseline_days", 30),
        ("follow_up_from_day", 29),
        ("follow_up_to_day", 365),
        ("ivig_confounding_days", 14),
        ("tpo_ra_confounds", True),
        ("hsct_ends_follow_up", True),
    ],
)
def test_defaults_are_domain_md(name: str, expected: Any) -> None:
    assert getattr(DEFAULT_PARAMETERS, name) == expected
    assert getattr(ProtocolParameters(), name) == expected


def test_every_field_has_a_default_test() -> None:
    # A new parameter must get its DOMAIN.md default checked above.
    assert len(fields(ProtocolParameters)) == 32


def test_defaults_are_consistent() -> None:
    assert DEFAULT_PARAMETERS.problems() == []


def test_to_dict_is_json_ready() -> None:
    data = DEFAULT_PARAMETERS.to_dict()
    assert data["bsa_formula"] == "mosteller"
    assert json.loads(json.dumps(data)) == data
    assert data["cci_early_threshold_per_ul"] == 7500.0
    assert data["allow_bcma_before_cd19"] is False


def test_round_trip_defaults() -> None:
    assert ProtocolParameters.from_dict(DEFAULT_PARAMETERS.to_dict()) == DEFAULT_PARAMETERS


def test_unknown_keys_ignored() -> None:
    data = {**DEFAULT_PARAMETERS.to_dict(), "added_in_v9": 3, "another": {"x": 1}}
    assert ProtocolParameters.from_dict(data) == DEFAULT_PARAMETERS


def test_missing_keys_defaulted() -> None:
    params = ProtocolParameters.from_dict({"cci_late_threshold_per_ul": 4500.0, "bsa_formula": "dubois"})
    assert params == replace(DEFAULT_PARAMETERS, cci_late_threshold_per_ul=4500.0, bsa_formula=BsaFormula.DUBOIS)


def test_empty_dict_is_defaults() -> None:
    assert ProtocolParameters.from_dict({}) == DEFAULT_PARAMETERS


def test_from_dict_accepts_enum_member() -> None:
    assert ProtocolParameters.from_dict({"bsa_formula": BsaFormula.DUBOIS}).bsa_formula is BsaFormula.DUBOIS


def test_unknown_bsa_formula_refused() -> None:
    with pytest.raises(ValueError):
        ProtocolParameters.from_dict({"bsa_formula": "haycock"})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"early_window_min_minutes": 61}, [("earlyWindowMaxMinutes", "early window must have 0 <= min <= max")]),
        ({"early_window_min_minutes": -1}, [("earlyWindowMaxMinutes", "early window must have 0 <= min <= max")]),
        ({"early_window_max_minutes": 9}, [("earlyWindowMaxMinutes", "early window must have 0 <= min <= max")]),
        ({"late_window_min_hours": 25}, [("lateWindowMaxHours", "late window must have 0 <= min <= max")]),
        ({"late_window_min_hours": -1}, [("lateWindowMaxHours", "late window must have 0 <= min <= max")]),
        ({"refractory_consecutive_transfusions": 0}, [("refractoryConsecutiveTransfusions", "must be at least 1")]),
        ({"sustained_consecutive_responses": 0}, [("sustainedConsecutiveResponses", "must be at least 1")]),
        (
            {"loss_of_response_consecutive_failures": -2},
            [("lossOfResponseConsecutiveFailures", "must be at least 1")],
        ),
        ({"assessment_window_months": 0}, [("assessmentWindowMonths", "must be at least 1")]),
        ({"pre_count_lookback_hours": 0}, [("preCountLookbackHours", "must be at least 1")]),
        ({"blood_volume_ml_per_kg": 0.0}, [("bloodVolumeMlPerKg", "must be positive")]),
        ({"blood_volume_ml_per_kg": -70.0}, [("bloodVolumeMlPerKg", "must be positive")]),
        ({"cci_early_threshold_per_ul": -1.0}, [("cciEarlyThresholdPerUl", "must not be negative")]),
        ({"cci_late_threshold_per_ul": -0.5}, [("cciLateThresholdPerUl", "must not be negative")]),
        ({"refractory_cci_threshold_per_ul": -7500.0}, [("refractoryCciThresholdPerUl", "must not be negative")]),
        ({"activation_code_ttl_hours": 0}, [("activationCodeTtlHours", "must be between 1 and 720 hours")]),
        ({"activation_code_ttl_hours": 721}, [("activationCodeTtlHours", "must be between 1 and 720 hours")]),
        # boundaries that are fine
        ({"activation_code_ttl_hours": 1}, []),
        ({"activation_code_ttl_hours": 720}, []),
        ({"cci_early_threshold_per_ul": 0.0, "cci_late_threshold_per_ul": 0.0}, []),
        ({"blood_volume_ml_per_kg": 0.001}, []),
        ({"early_window_min_minutes": 0, "early_window_max_minutes": 0}, []),
        ({"early_window_min_minutes": 30, "early_window_max_minutes": 30}, []),
        ({"late_window_min_hours": 24, "late_window_max_hours": 24}, []),
        ({"refractory_consecutive_transfusions": 1, "sustained_consecutive_responses": 1}, []),
        ({"assessment_window_months": 1, "pre_count_lookback_hours": 1}, []),
    ],
)
def test_problems(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert replace(DEFAULT_PARAMETERS, **changes).problems() == expected


def test_problems_lists_every_inconsistency() -> None:
    params = replace(
        DEFAULT_PARAMETERS,
        early_window_min_minutes=90,
        late_window_min_hours=30,
        sustained_consecutive_responses=0,
        blood_volume_ml_per_kg=0.0,
        cci_late_threshold_per_ul=-1.0,
    )
    assert [name for name, _ in params.problems()] == [
        "earlyWindowMaxMinutes",
        "lateWindowMaxHours",
        "sustainedConsecutiveResponses",
        "bloodVolumeMlPerKg",
        "cciLateThresholdPerUl",
    ]


def test_problem_fields_are_graphql_names() -> None:
    # Every problem names an input field in camelCase, as the GraphQL error path does.
    params = ProtocolParameters(
        early_window_min_minutes=-1,
        late_window_min_hours=-1,
        pre_count_lookback_hours=0,
        refractory_consecutive_transfusions=0,
        sustained_consecutive_responses=0,
        assessment_window_months=0,
        loss_of_response_consecutive_failures=0,
        blood_volume_ml_per_kg=-1.0,
        cci_early_threshold_per_ul=-1.0,
        cci_late_threshold_per_ul=-1.0,
        refractory_cci_threshold_per_ul=-1.0,
    )
    names = [name for name, _ in params.problems()]
    assert len(names) == 11
    assert all("_" not in name and name[0].islower() for name in names)


_NAMES = {f.name for f in fields(ProtocolParameters)}
finite = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)
count = st.integers(min_value=1, max_value=1000)


@st.composite
def valid_parameters(draw: st.DrawFn) -> ProtocolParameters:
    early_min = draw(st.integers(min_value=0, max_value=600))
    late_min = draw(st.integers(min_value=0, max_value=240))
    return ProtocolParameters(
        cci_early_threshold_per_ul=draw(finite),
        cci_late_threshold_per_ul=draw(finite),
        early_window_min_minutes=early_min,
        early_window_max_minutes=draw(st.integers(min_value=early_min, max_value=1200)),
        late_window_min_hours=late_min,
        late_window_max_hours=draw(st.integers(min_value=late_min, max_value=480)),
        pre_count_lookback_hours=draw(count),
        refractory_consecutive_transfusions=draw(count),
        refractory_cci_threshold_per_ul=draw(finite),
        sustained_consecutive_responses=draw(count),
        assessment_window_months=draw(count),
        loss_of_response_consecutive_failures=draw(count),
        bsa_formula=draw(st.sampled_from(BsaFormula)),
        blood_volume_ml_per_kg=draw(finite),
        allow_bcma_before_cd19=draw(st.booleans()),
        diary_entry_window_days=draw(count),
        bleeding_episode_gap_hours=draw(count),
        lab_event_min_grade=draw(count),
        lab_event_worsening_grades=draw(count),
        b_cell_aplasia_percent=draw(finite),
        b_cell_aplasia_per_ul=draw(finite),
        b_cell_aplasia_rule=draw(st.sampled_from(["percent_of_lymphocytes", "absolute_per_ul"])),
        igg_low_below_mg_dl=draw(st.floats(min_value=500.0, max_value=2000.0)),
        igg_severe_at_or_below_mg_dl=draw(st.floats(min_value=0.0, max_value=499.0)),
        hla_mfi_cutoff=draw(finite),
        activation_code_ttl_hours=draw(st.integers(min_value=1, max_value=720)),
    )


@given(valid_parameters())
def test_round_trip(params: ProtocolParameters) -> None:
    assert params.problems() == []
    assert ProtocolParameters.from_dict(params.to_dict()) == params


@given(valid_parameters())
def test_round_trip_through_json(params: ProtocolParameters) -> None:
    stored = json.loads(json.dumps(params.to_dict()))
    assert ProtocolParameters.from_dict(stored) == params


@given(valid_parameters(), st.dictionaries(st.text(min_size=1).filter(lambda k: k not in _NAMES), st.integers()))
def test_extra_keys_never_matter(params: ProtocolParameters, extra: dict[str, int]) -> None:
    assert ProtocolParameters.from_dict({**params.to_dict(), **extra}) == params
