"""Lab values (DOMAIN.md, "CTCAE v5.0 grading of lab values"): unit conversions to the canonical unit,
CTCAE v5.0 grades of cytopenias and anemia at every boundary, and when a grade proposes a lab-sourced
adverse event."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.labs import (
    LAB_GRADES,
    SPECS,
    Analyte,
    LabGrade,
    Unit,
    UnitError,
    ctcae_lab_grade,
    proposes_lab_event,
    to_canonical,
)
from server.domain.protocol import DEFAULT_PARAMETERS

PLT = Analyte.PLATELETS
ANC = Analyte.NEUTROPHILS
ALC = Analyte.LYMPHOCYTES
WBC = Analyte.WHITE_CELLS
HGB = Analyte.HEMOGLOBIN

# Typical lab lower limits of normal, in the canonical unit (platelets x10^9/L, counts per uL, Hgb g/dL).
LLN = {PLT: 150.0, ANC: 2000.0, ALC: 1000.0, WBC: 4000.0, HGB: 12.0}


# --- to_canonical --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "canonical"),
    [
        # cell counts stored per uL: 1 x10^9/L = 1,000 per uL
        (ANC, 1.5, Unit.E9_PER_L, 1500.0),
        (ANC, 1500.0, Unit.PER_UL, 1500.0),
        (ALC, 0.5, Unit.E9_PER_L, 500.0),
        (WBC, 3.0, Unit.E9_PER_L, 3000.0),
        (Analyte.CD19_PER_UL, 0.02, Unit.E9_PER_L, 20.0),
        (Analyte.CD3_PER_UL, 1.25, Unit.E9_PER_L, 1250.0),
        # platelets stored x10^9/L: per uL / 1,000
        (PLT, 150_000.0, Unit.PER_UL, 150.0),
        (PLT, 75_000.0, Unit.PER_UL, 75.0),
        (PLT, 25_000.0, Unit.PER_UL, 25.0),
        (PLT, 35.0, Unit.E9_PER_L, 35.0),
        # immunoglobulins stored mg/dL: 1 g/L = 100 mg/dL
        (Analyte.IGG, 7.0, Unit.G_PER_L, 700.0),
        (Analyte.IGG, 4.0, Unit.G_PER_L, 400.0),
        (Analyte.IGG, 650.0, Unit.MG_PER_DL, 650.0),
        (Analyte.IGA, 0.5, Unit.G_PER_L, 50.0),
        (Analyte.IGM, 0.25, Unit.G_PER_L, 25.0),
        # hemoglobin stored g/dL: g/L / 10
        (HGB, 100.0, Unit.G_PER_L, 10.0),
        (HGB, 80.0, Unit.G_PER_L, 8.0),
        (HGB, 9.5, Unit.G_PER_DL, 9.5),
        # identity units
        (Analyte.CD19_PERCENT_LYMPHOCYTES, 3.0, Unit.PERCENT, 3.0),
        (Analyte.CAR_CD19_COPIES, 45_000.0, Unit.COPIES_PER_UG_DNA, 45_000.0),
    ],
)
def test_to_canonical_converts(analyte: Analyte, value: float, unit: Unit, canonical: float) -> None:
    assert to_canonical(analyte, value, unit) == canonical


def test_to_canonical_inexact_factors_are_close() -> None:
    # platelets 24,990/uL is 24.99 x10^9/L; hemoglobin 79.9 g/L is 7.99 g/dL (floating point)
    assert to_canonical(PLT, 24_990.0, Unit.PER_UL) == pytest.approx(24.99, rel=1e-12)
    assert to_canonical(HGB, 79.9, Unit.G_PER_L) == pytest.approx(7.99, rel=1e-12)


@pytest.mark.parametrize(
    ("analyte", "unit"),
    [
        (Analyte.IGG, Unit.PER_UL),
        (Analyte.IGG, Unit.G_PER_DL),
        (HGB, Unit.MG_PER_DL),
        (HGB, Unit.PER_UL),
        (PLT, Unit.G_PER_L),
        (ANC, Unit.PERCENT),
        (Analyte.CD19_PERCENT_LYMPHOCYTES, Unit.PER_UL),
        (Analyte.CAR_CD19_COPIES, Unit.PER_UL),
    ],
)
def test_to_canonical_refuses_a_unit_the_analyte_is_not_measured_in(analyte: Analyte, unit: Unit) -> None:
    with pytest.raises(UnitError) as raised:
        to_canonical(analyte, 1.0, unit)
    assert analyte.value in str(raised.value)
    assert unit.value in str(raised.value)


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(UnitError, ValueError)


def test_every_analyte_accepts_its_canonical_unit_with_factor_one() -> None:
    for analyte in Analyte:
        spec = SPECS[analyte]
        assert spec.accepted[spec.canonical] == 1.0, analyte


@given(
    st.sampled_from([ANC, ALC, WBC, Analyte.CD19_PER_UL, Analyte.CD3_PER_UL]),
    st.floats(min_value=0, max_value=500, allow_nan=False),
)
def test_cell_counts_e9_per_l_are_1000_per_ul(analyte: Analyte, e9: float) -> None:
    assert to_canonical(analyte, e9, Unit.E9_PER_L) == pytest.approx(e9 * 1000, rel=1e-12, abs=1e-9)


@given(st.floats(min_value=0, max_value=2_000_000, allow_nan=False))
def test_platelets_per_ul_are_a_thousandth_e9_per_l(per_ul: float) -> None:
    assert to_canonical(PLT, per_ul, Unit.PER_UL) == pytest.approx(per_ul / 1000, rel=1e-12, abs=1e-12)


# --- CTCAE v5.0 grades: every boundary of every row --------------------------------------------


def grade_of(analyte: Analyte, value: float, lln: float | None = None) -> int | None:
    result = ctcae_lab_grade(analyte, value, LLN[analyte] if lln is None else lln)
    return None if result is None else result.grade


@pytest.mark.parametrize(
    ("analyte", "value", "grade"),
    [
        # Platelet count decreased, stored x10^9/L (75,000/uL = 75), LLN 150
        (PLT, 400.0, 0),
        (PLT, 150.0, 0),
        (PLT, 149.9, 1),
        (PLT, 75.0, 1),
        (PLT, 74.99, 2),
        (PLT, 50.0, 2),
        (PLT, 49.99, 3),
        (PLT, 25.0, 3),
        (PLT, 24.99, 4),
        (PLT, 0.0, 4),
        # Neutrophil count decreased, /uL, LLN 2000
        (ANC, 2000.0, 0),
        (ANC, 1999.0, 1),
        (ANC, 1500.0, 1),
        (ANC, 1499.0, 2),
        (ANC, 1000.0, 2),
        (ANC, 999.0, 3),
        (ANC, 500.0, 3),
        (ANC, 499.0, 4),
        (ANC, 0.0, 4),
        # Lymphocyte count decreased, /uL, LLN 1000
        (ALC, 1000.0, 0),
        (ALC, 999.0, 1),
        (ALC, 800.0, 1),
        (ALC, 799.0, 2),
        (ALC, 500.0, 2),
        (ALC, 499.0, 3),
        (ALC, 200.0, 3),
        (ALC, 199.0, 4),
        # White blood cell decreased, /uL, LLN 4000
        (WBC, 4000.0, 0),
        (WBC, 3999.0, 1),
        (WBC, 3000.0, 1),
        (WBC, 2999.0, 2),
        (WBC, 2000.0, 2),
        (WBC, 1999.0, 3),
        (WBC, 1000.0, 3),
        (WBC, 999.0, 4),
        # Anemia, Hgb g/dL, LLN 12.0; grade 4 is clinical, never from the value
        (HGB, 12.0, 0),
        (HGB, 11.9, 1),
        (HGB, 10.0, 1),
        (HGB, 9.99, 2),
        (HGB, 8.0, 2),
        (HGB, 7.99, 3),
        (HGB, 5.0, 3),
        (HGB, 1.0, 3),
    ],
)
def test_ctcae_grade_at_every_boundary(analyte: Analyte, value: float, grade: int) -> None:
    assert grade_of(analyte, value) == grade


@pytest.mark.parametrize(
    ("analyte", "term", "meddra_code"),
    [
        (PLT, "Platelet count decreased", 10035528),
        (ANC, "Neutrophil count decreased", 10029366),
        (ALC, "Lymphocyte count decreased", 10025256),
        (WBC, "White blood cell decreased", 10049182),
        (HGB, "Anemia", 10002272),
    ],
)
def test_grade_carries_term_code_and_version(analyte: Analyte, term: str, meddra_code: int) -> None:
    # given a value of grade 3 for every row
    value = {PLT: 30.0, ANC: 700.0, ALC: 300.0, WBC: 1500.0, HGB: 7.0}[analyte]

    # when
    result = ctcae_lab_grade(analyte, value, LLN[analyte])

    # then
    assert result == LabGrade(3, term, meddra_code, "CTCAE v5.0")
    assert result.version == "CTCAE v5.0"


def test_grade_zero_also_carries_term_and_version() -> None:
    assert ctcae_lab_grade(PLT, 200.0, 150.0) == LabGrade(0, "Platelet count decreased", 10035528, "CTCAE v5.0")


def test_graded_analytes_are_exactly_the_table_rows() -> None:
    assert set(LAB_GRADES) == {PLT, ANC, ALC, WBC, HGB}


@pytest.mark.parametrize(
    ("analyte", "value"),
    [(PLT, 75.0), (PLT, 300.0), (ANC, 1500.0), (ALC, 800.0), (WBC, 3000.0), (HGB, 10.0), (HGB, 14.0)],
)
def test_at_or_above_the_grade_2_bound_without_lln_is_not_graded(analyte: Analyte, value: float) -> None:
    # grade 0 or 1 depends on the lab's LLN: no guess
    assert ctcae_lab_grade(analyte, value, None) is None


@pytest.mark.parametrize(
    ("analyte", "value", "grade"),
    [(PLT, 74.99, 2), (PLT, 24.99, 4), (ANC, 1499.0, 2), (ALC, 100.0, 4), (WBC, 1999.0, 3), (HGB, 7.99, 3)],
)
def test_below_the_grade_2_bound_is_graded_without_lln(analyte: Analyte, value: float, grade: int) -> None:
    result = ctcae_lab_grade(analyte, value, None)
    assert result is not None
    assert result.grade == grade


@pytest.mark.parametrize(
    "analyte",
    [
        Analyte.IGG,
        Analyte.IGA,
        Analyte.IGM,
        Analyte.CD19_PERCENT_LYMPHOCYTES,
        Analyte.CD19_PER_UL,
        Analyte.CD3_PER_UL,
        Analyte.MARROW_CD138_PERCENT,
        Analyte.CAR_CD19_COPIES,
    ],
)
def test_analytes_ctcae_does_not_grade_here_give_none(analyte: Analyte) -> None:
    assert ctcae_lab_grade(analyte, 0.0, 700.0) is None
    assert ctcae_lab_grade(analyte, 100.0, None) is None


def test_the_lab_lln_decides_grade_0_or_1() -> None:
    # the same 140 x10^9/L platelets: grade 1 with LLN 150, grade 0 with LLN 130
    assert grade_of(PLT, 140.0, lln=150.0) == 1
    assert grade_of(PLT, 140.0, lln=130.0) == 0


@pytest.mark.parametrize(
    ("analyte", "value", "lln", "grade"),
    [
        # DOMAIN.md's example: neutrophils, LLN 1,400 (below the grade-2 bound 1,500), value 1,450
        (ANC, 1450.0, 1400.0, 0),
        (ANC, 1400.0, 1400.0, 0),  # at the LLN
        (ANC, 1399.0, 1400.0, 2),  # below the LLN: the absolute bounds decide
        (ANC, 999.0, 1400.0, 3),
        (ANC, 1000.0, 900.0, 0),  # an LLN even below the grade-3 bound
        (ANC, 899.0, 900.0, 3),
        (PLT, 70.0, 60.0, 0),  # platelets x10^9/L: LLN 60 below the grade-2 bound 75
        (PLT, 59.0, 60.0, 2),
        (ALC, 700.0, 650.0, 0),
        (ALC, 649.0, 650.0, 2),
        (WBC, 2500.0, 2500.0, 0),
        (WBC, 2499.0, 2500.0, 2),
        (HGB, 9.5, 9.0, 0),
        (HGB, 8.9, 9.0, 2),
        (HGB, 7.9, 7.5, 0),  # anemia: an LLN below the grade-3 bound
        (HGB, 7.4, 7.5, 3),
    ],
)
def test_at_or_above_an_lln_below_a_grade_bound_is_grade_0(
    analyte: Analyte, value: float, lln: float, grade: int
) -> None:
    # An earlier rule graded a value between such an LLN and the grade-2 bound as grade 2 (the
    # absolute bound first); DOMAIN.md (amended) puts the LLN first.
    assert grade_of(analyte, value, lln=lln) == grade


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "grade"),
    [
        # a value exactly at a bound in the other unit stays on the milder side after conversion
        (PLT, 75_000.0, Unit.PER_UL, 1),
        (PLT, 50_000.0, Unit.PER_UL, 2),
        (PLT, 25_000.0, Unit.PER_UL, 3),
        (PLT, 24_999.0, Unit.PER_UL, 4),
        (ANC, 1.5, Unit.E9_PER_L, 1),
        (ANC, 1.0, Unit.E9_PER_L, 2),
        (ANC, 0.5, Unit.E9_PER_L, 3),
        (ALC, 0.8, Unit.E9_PER_L, 1),
        (ALC, 0.5, Unit.E9_PER_L, 2),
        (ALC, 0.2, Unit.E9_PER_L, 3),
        (WBC, 3.0, Unit.E9_PER_L, 1),
        (WBC, 2.0, Unit.E9_PER_L, 2),
        (WBC, 1.0, Unit.E9_PER_L, 3),
        (HGB, 100.0, Unit.G_PER_L, 1),
        (HGB, 80.0, Unit.G_PER_L, 2),
        (HGB, 79.0, Unit.G_PER_L, 3),
    ],
)
def test_boundaries_survive_unit_conversion(analyte: Analyte, value: float, unit: Unit, grade: int) -> None:
    assert grade_of(analyte, to_canonical(analyte, value, unit)) == grade


VALUES = {
    PLT: st.floats(min_value=0, max_value=2000, allow_nan=False),
    ANC: st.floats(min_value=0, max_value=100_000, allow_nan=False),
    ALC: st.floats(min_value=0, max_value=500_000, allow_nan=False),
    WBC: st.floats(min_value=0, max_value=500_000, allow_nan=False),
    HGB: st.floats(min_value=1, max_value=25, allow_nan=False),
}


@st.composite
def two_values_and_lln(draw: st.DrawFn) -> tuple[Analyte, float, float, float | None]:
    analyte = draw(st.sampled_from(sorted(LAB_GRADES, key=lambda a: a.value)))
    a, b = draw(VALUES[analyte]), draw(VALUES[analyte])
    lln = draw(st.none() | VALUES[analyte])
    return analyte, min(a, b), max(a, b), lln


@given(two_values_and_lln())
def test_grade_is_monotone_in_the_value(case: tuple[Analyte, float, float, float | None]) -> None:
    # a lower value never has a lower grade
    analyte, lower, higher, lln = case
    low, high = ctcae_lab_grade(analyte, lower, lln), ctcae_lab_grade(analyte, higher, lln)
    if low is not None and high is not None:
        assert low.grade >= high.grade
    # without an LLN only values at or above the grade-2 bound go ungraded, so a graded higher
    # value implies a graded lower one
    if high is not None:
        assert low is not None


@given(two_values_and_lln())
def test_grade_range(case: tuple[Analyte, float, float, float | None]) -> None:
    analyte, value, _, lln = case
    result = ctcae_lab_grade(analyte, value, lln)
    if lln is not None:
        assert result is not None
    if result is not None:
        assert 0 <= result.grade <= (3 if analyte is HGB else 4)  # never 5; anemia never 4 from a value
        # grade 0 exactly at or above the LLN, wherever the LLN lies against the absolute bounds
        assert (result.grade == 0) == (lln is not None and value >= lln)
        if lln is not None and value < lln:  # below the LLN the absolute bounds decide
            below = sum(value < bound for bound in LAB_GRADES[analyte].bounds)
            assert result.grade == 1 + below


# --- proposes_lab_event -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "grade", "proposes"),
    [
        # a new grade >= 3
        (None, 3, True),
        (0, 3, True),
        (1, 3, True),
        (2, 3, True),
        (None, 4, True),
        (0, 4, True),
        (2, 4, True),
        # same episode: no new proposal
        (3, 3, False),
        (4, 4, False),
        # worsening by >= 1 grade from an already abnormal grade
        (3, 4, True),
        (1, 2, True),
        # from normal (or unknown) to grades 1-2: not a proposal
        (0, 1, False),
        (None, 1, False),
        (0, 2, False),
        (None, 2, False),
        # improvement or unchanged
        (2, 1, False),
        (4, 3, False),
        (1, 1, False),
        (2, 2, False),
        (1, 0, False),
        (0, 0, False),
        (None, 0, False),
    ],
)
def test_proposes_lab_event_default_parameters(previous: int | None, grade: int, proposes: bool) -> None:
    assert proposes_lab_event(previous, grade) is proposes


def test_default_parameters_match_the_function_defaults() -> None:
    assert DEFAULT_PARAMETERS.lab_event_min_grade == 3
    assert DEFAULT_PARAMETERS.lab_event_worsening_grades == 1


@pytest.mark.parametrize(
    ("previous", "grade", "threshold", "worsening", "proposes"),
    [
        # threshold 4: a new grade 3 is no longer a proposal, a new grade 4 is
        (0, 3, 4, 1, False),
        (0, 4, 4, 1, True),
        (2, 3, 4, 1, True),  # still a worsening by 1 from abnormal
        # worsening by >= 2 grades
        (1, 2, 4, 2, False),
        (2, 3, 4, 2, False),
        (1, 3, 4, 2, True),
        (2, 4, 4, 2, True),  # new grade >= threshold
        (3, 4, 4, 2, True),  # new grade >= threshold (first time at 4)
        (4, 4, 4, 2, False),
        # threshold 2
        (0, 2, 2, 1, True),
        (None, 2, 2, 1, True),
        (0, 1, 2, 1, False),
        (2, 2, 2, 1, False),
    ],
)
def test_proposes_lab_event_parameters_change_it(
    previous: int | None, grade: int, threshold: int, worsening: int, proposes: bool
) -> None:
    assert proposes_lab_event(previous, grade, threshold=threshold, worsening=worsening) is proposes


@given(st.none() | st.integers(0, 4), st.integers(0, 4), st.integers(1, 4), st.integers(1, 4))
def test_never_proposes_without_a_worse_grade(previous: int | None, grade: int, threshold: int, worsening: int) -> None:
    if grade <= (previous or 0):
        assert not proposes_lab_event(previous, grade, threshold=threshold, worsening=worsening)
