"""The before/after periods as protocol parameters: DOMAIN.md's defaults, stored sets without the
keys read as the defaults, and inconsistent periods refused with the GraphQL field named."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from server.domain.protocol import DEFAULT_PARAMETERS, MAX_PERIOD_DAYS, ProtocolParameters


def test_defaults_are_domain_md() -> None:
    assert (DEFAULT_PARAMETERS.baseline_days, DEFAULT_PARAMETERS.follow_up_from_day) == (30, 29)
    assert DEFAULT_PARAMETERS.follow_up_to_day == 365


def test_a_stored_set_without_the_keys_reads_as_the_defaults() -> None:
    # given: a parameter set stored before the periods existed
    stored = {
        k: v
        for k, v in DEFAULT_PARAMETERS.to_dict().items()
        if k not in ("baseline_days", "follow_up_from_day", "follow_up_to_day")
    }
    # when
    params = ProtocolParameters.from_dict(stored)
    # then
    assert (params.baseline_days, params.follow_up_from_day, params.follow_up_to_day) == (30, 29, 365)
    assert params.problems() == []


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"follow_up_to_day": 28}, ["followUpToDay"]),  # ends before it starts
        ({"follow_up_from_day": 100, "follow_up_to_day": 99}, ["followUpToDay"]),
        ({"follow_up_from_day": 0}, ["followUpFromDay"]),  # the infusion day is in neither period
        ({"follow_up_from_day": -5, "follow_up_to_day": -1}, ["followUpFromDay"]),
        ({"baseline_days": 0}, ["baselineDays"]),
        ({"baseline_days": -30}, ["baselineDays"]),
        ({"baseline_days": MAX_PERIOD_DAYS + 1}, ["baselineDays"]),
        ({"follow_up_to_day": MAX_PERIOD_DAYS + 1}, ["followUpToDay"]),
    ],
)
def test_inconsistent_periods_are_problems(changes: dict[str, Any], fields: list[str]) -> None:
    assert [name for name, _ in replace(DEFAULT_PARAMETERS, **changes).problems()] == fields


@pytest.mark.parametrize(
    "changes",
    [{"follow_up_from_day": 29, "follow_up_to_day": 29}, {"baseline_days": 1}, {"follow_up_from_day": 1}],
)
def test_edge_periods_are_accepted(changes: dict[str, Any]) -> None:
    assert replace(DEFAULT_PARAMETERS, **changes).problems() == []
