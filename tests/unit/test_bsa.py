"""Body surface area (DOMAIN.md, "Platelet transfusion response"): Mosteller by default, DuBois as
an option, from the latest height and the latest weight measured on or before the transfusion."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.bsa import (
    Measurement,
    body_surface_area,
    body_surface_area_at,
    dubois_bsa,
    mosteller_bsa,
)
from server.domain.protocol import BsaFormula

UTC = timezone.utc
START = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)

heights = st.floats(min_value=100, max_value=250, allow_nan=False)
weights = st.floats(min_value=25, max_value=300, allow_nan=False)


# --- the formulas -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height_cm", "weight_kg", "expected"),
    [
        # DOMAIN.md worked examples: sqrt(180 * 80 / 3600) = sqrt(4) = 2; sqrt(170 * 65 / 3600) = sqrt(3.06944) = 1.7520
        (180, 80, 2.0000),
        (170, 65, 1.7520),
        # sqrt(150 * 54 / 3600) = sqrt(2.25) = 1.5
        (150, 54, 1.5000),
        # sqrt(200 * 72 / 3600) = sqrt(4) = 2
        (200, 72, 2.0000),
    ],
)
def test_mosteller_worked_examples(height_cm: float, weight_kg: float, expected: float) -> None:
    assert round(mosteller_bsa(height_cm, weight_kg), 4) == expected
    assert round(body_surface_area(height_cm, weight_kg), 4) == expected
    assert round(body_surface_area(height_cm, weight_kg, BsaFormula.MOSTELLER), 4) == expected


def test_mosteller_180_80_is_exactly_two() -> None:
    assert mosteller_bsa(180, 80) == 2.0


@pytest.mark.parametrize(
    ("height_cm", "weight_kg", "expected"),
    [
        # By hand: ln 180 = 5.1929569, x 0.725 = 3.7648938, e^ = 43.15912;
        # ln 80 = 4.3820266, x 0.425 = 1.8623613, e^ = 6.438923;
        # 0.007184 x 43.15912 x 6.438923 = 0.007184 x 277.89828 = 1.996421 -> 1.9964.
        (180, 80, 1.9964),
        # By hand: ln 170 = 5.1357984, x 0.725 = 3.7234539, e^ = 41.40716;
        # ln 65 = 4.1743873, x 0.425 = 1.7741146, e^ = 5.895059;
        # 0.007184 x 41.40716 x 5.895059 = 0.007184 x 244.09768 = 1.753598 -> 1.7536.
        (170, 65, 1.7536),
    ],
)
def test_dubois_values(height_cm: float, weight_kg: float, expected: float) -> None:
    assert round(dubois_bsa(height_cm, weight_kg), 4) == expected
    assert round(body_surface_area(height_cm, weight_kg, BsaFormula.DUBOIS), 4) == expected


@pytest.mark.parametrize(("height_cm", "weight_kg"), [(0, 70), (170, 0), (-1, 70), (170, -5)])
def test_non_positive_height_or_weight_is_refused(height_cm: float, weight_kg: float) -> None:
    with pytest.raises(ValueError):
        body_surface_area(height_cm, weight_kg)


@given(heights, weights, st.floats(min_value=0.1, max_value=10))
def test_mosteller_scales_with_the_square_root_of_height_times_weight(h: float, w: float, c: float) -> None:
    # sqrt(c*h * w / 3600) = sqrt(c) * sqrt(h * w / 3600)
    assert math.isclose(mosteller_bsa(h * c, w), math.sqrt(c) * mosteller_bsa(h, w), rel_tol=1e-12)
    assert math.isclose(mosteller_bsa(h, w * c), math.sqrt(c) * mosteller_bsa(h, w), rel_tol=1e-12)


@given(heights, weights)
def test_both_formulas_stay_plausible_over_the_accepted_range(h: float, w: float) -> None:
    # validation accepts height 100-250 cm and weight 25-300 kg
    assert 0.75 < mosteller_bsa(h, w) < 4.6
    assert 0.75 < dubois_bsa(h, w) < 4.6


@given(st.floats(min_value=150, max_value=200), st.floats(min_value=45, max_value=120))
def test_both_formulas_agree_within_ten_percent_for_usual_adults(h: float, w: float) -> None:
    m, d = mosteller_bsa(h, w), dubois_bsa(h, w)
    assert abs(m - d) / m < 0.1


@given(heights, weights, st.floats(min_value=0.1, max_value=50), st.floats(min_value=0.1, max_value=50))
def test_bsa_increases_with_height_and_weight(h: float, w: float, dh: float, dw: float) -> None:
    for formula in BsaFormula:
        base = body_surface_area(h, w, formula)
        assert body_surface_area(h + dh, w, formula) > base
        assert body_surface_area(h, w + dw, formula) > base


# --- which measurement ------------------------------------------------------------------------


def m(hours_before_start: float, height: float | None, weight: float | None) -> Measurement:
    return Measurement(START - timedelta(hours=hours_before_start), height, weight)


def test_latest_height_and_latest_weight_from_different_measurements() -> None:
    # given an old height+weight, a later weight alone, a later height alone, and a measurement after the start
    measurements = [
        m(24 * 30, 170, 90),
        m(24 * 10, None, 80),
        m(24 * 5, 180, None),
        m(-1, 150, 40),  # one hour after the start: ignored
    ]
    # when
    bsa = body_surface_area_at(measurements, START, BsaFormula.MOSTELLER)
    # then height 180 (5 days before) and weight 80 (10 days before): Mosteller 2.0
    assert bsa is not None
    assert bsa.height_cm == 180
    assert bsa.weight_kg == 80
    assert bsa.height_measured_at == START - timedelta(days=5)
    assert bsa.weight_measured_at == START - timedelta(days=10)
    assert bsa.value_m2 == 2.0
    assert bsa.formula is BsaFormula.MOSTELLER


def test_order_of_the_list_does_not_matter() -> None:
    measurements = [m(24 * 5, 180, None), m(-1, 150, 40), m(24 * 10, None, 80), m(24 * 30, 170, 90)]
    bsa = body_surface_area_at(measurements, START, BsaFormula.MOSTELLER)
    assert bsa is not None
    assert (bsa.height_cm, bsa.weight_kg, bsa.value_m2) == (180, 80, 2.0)


def test_a_measurement_exactly_at_the_start_is_used() -> None:
    measurements = [m(48, 150, 54), m(0, 180, 80)]
    bsa = body_surface_area_at(measurements, START, BsaFormula.MOSTELLER)
    assert bsa is not None
    assert (bsa.height_cm, bsa.weight_kg, bsa.value_m2) == (180, 80, 2.0)


def test_measurements_one_second_after_the_start_are_ignored() -> None:
    later = Measurement(START + timedelta(seconds=1), 180, 80)
    assert body_surface_area_at([later], START, BsaFormula.MOSTELLER) is None
    bsa = body_surface_area_at([m(48, 150, 54), later], START, BsaFormula.MOSTELLER)
    assert bsa is not None
    assert bsa.value_m2 == 1.5


@pytest.mark.parametrize(
    "measurements",
    [
        [],
        [m(24, None, 80)],  # only weight
        [m(24, 180, None)],  # only height
        [m(24, 180, None), m(12, 175, None)],  # heights only
        [m(24, 180, None), m(-2, None, 80)],  # the weight comes after the start
    ],
    ids=["none", "only-weight", "only-height", "heights-only", "weight-after-start"],
)
def test_missing_height_or_weight_gives_no_bsa(measurements: list[Measurement]) -> None:
    assert body_surface_area_at(measurements, START, BsaFormula.MOSTELLER) is None


def test_dubois_when_the_parameter_says_so() -> None:
    bsa = body_surface_area_at([m(24, 180, 80)], START, BsaFormula.DUBOIS)
    assert bsa is not None
    assert bsa.formula is BsaFormula.DUBOIS
    assert bsa.value_m2 == dubois_bsa(180, 80)
    assert round(bsa.value_m2, 4) == 1.9964


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-72, max_value=72),
            st.one_of(st.none(), heights),
            st.one_of(st.none(), weights),
        ),
        max_size=8,
    )
)
def test_bsa_only_ever_uses_the_latest_values_on_or_before_the_start(
    rows: list[tuple[int, float | None, float | None]],
) -> None:
    measurements = [Measurement(START + timedelta(hours=h), height, weight) for h, height, weight in rows]
    bsa = body_surface_area_at(measurements, START, BsaFormula.MOSTELLER)
    past = [x for x in measurements if x.measured_at <= START]
    past_heights = [x for x in past if x.height_cm is not None]
    past_weights = [x for x in past if x.weight_kg is not None]
    if not past_heights or not past_weights:
        assert bsa is None
        return
    assert bsa is not None
    latest_h = max(x.measured_at for x in past_heights)
    latest_w = max(x.measured_at for x in past_weights)
    assert bsa.height_measured_at == latest_h
    assert bsa.weight_measured_at == latest_w
    assert bsa.height_cm in {x.height_cm for x in past_heights if x.measured_at == latest_h}
    assert bsa.weight_kg in {x.weight_kg for x in past_weights if x.measured_at == latest_w}
    assert bsa.value_m2 == mosteller_bsa(bsa.height_cm, bsa.weight_kg)
