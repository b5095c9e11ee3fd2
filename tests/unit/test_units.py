"""Unit conversions of the platelet records (DOMAIN.md: 1 x10^9/L = 1,000 per uL)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.units import MAX_PLATELET_COUNT_E9_PER_L, PER_UL_PER_E9_PER_L, platelets_per_ul


@pytest.mark.parametrize(
    ("e9_per_l", "per_ul"),
    [
        (0, 0),
        (5, 5000),
        (35, 35000),
        (17.5, 17500),
        (0.5, 500),
        (2000, 2_000_000),
        (-3, -3000),
    ],
)
def test_platelets_per_ul_multiplies_by_1000(e9_per_l: float, per_ul: float) -> None:
    assert platelets_per_ul(e9_per_l) == per_ul


def test_constants() -> None:
    assert PER_UL_PER_E9_PER_L == 1000
    assert MAX_PLATELET_COUNT_E9_PER_L == 2000.0


def test_worked_example_increment() -> None:
    # DOMAIN.md: pre 5, post 35 x10^9/L -> increment 30,000 per uL (not 30).
    assert platelets_per_ul(35) - platelets_per_ul(5) == 30_000


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False))
def test_platelets_per_ul_is_linear(x: float) -> None:
    assert math.isclose(platelets_per_ul(x), x * 1000, rel_tol=0, abs_tol=0)


def test_nan_stays_nan() -> None:
    assert math.isnan(platelets_per_ul(float("nan")))
