"""Laboratory values: analytes, units and their conversions, CTCAE v5.0 grading of cytopenias and
anemia (DOMAIN.md, "CTCAE v5.0 grading of lab values")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

CTCAE_LAB_RULE = (
    "ctcae-v5-labs-v2: DOMAIN.md table; lower bound inclusive; grade 0 at or above the lab's LLN, even where the "
    "LLN lies below a grade's absolute bound; below the LLN the absolute bounds decide"
)


class Specimen(str, Enum):
    BLOOD = "blood"
    MARROW = "marrow"


class Analyte(str, Enum):
    PLATELETS = "platelets"
    NEUTROPHILS = "neutrophils"
    LYMPHOCYTES = "lymphocytes"
    WHITE_CELLS = "white_cells"
    HEMOGLOBIN = "hemoglobin"
    IGG = "igg"
    IGA = "iga"
    IGM = "igm"
    CD19_PERCENT_LYMPHOCYTES = "cd19_percent_lymphocytes"
    CD19_PER_UL = "cd19_per_ul"
    CD3_PER_UL = "cd3_per_ul"
    MARROW_CD138_PERCENT = "marrow_cd138_percent"
    CAR_CD19_COPIES = "car_cd19_copies_per_ug_dna"
    CAR_BCMA_COPIES = "car_bcma_copies_per_ug_dna"
    CAR_CD19_PERCENT_CD3 = "car_cd19_percent_cd3"
    CAR_BCMA_PERCENT_CD3 = "car_bcma_percent_cd3"


class Unit(str, Enum):
    PER_UL = "per_ul"
    E9_PER_L = "e9_per_l"
    G_PER_DL = "g_per_dl"
    G_PER_L = "g_per_l"
    MG_PER_DL = "mg_per_dl"
    PERCENT = "percent"
    COPIES_PER_UG_DNA = "copies_per_ug_dna"


@dataclass(frozen=True)
class AnalyteSpec:
    canonical: Unit  # the unit values are stored in
    accepted: dict[Unit, float]  # unit -> factor to the canonical unit
    plausible: tuple[float, float]  # in the canonical unit; outside is refused, not stored
    specimen: Specimen = Specimen.BLOOD


CELL_COUNT = {Unit.PER_UL: 1.0, Unit.E9_PER_L: 1000.0}  # 1 x10^9/L = 1,000 per uL
IMMUNOGLOBULIN = {Unit.MG_PER_DL: 1.0, Unit.G_PER_L: 100.0}  # 1 g/L = 100 mg/dL
PERCENT = {Unit.PERCENT: 1.0}

SPECS: dict[Analyte, AnalyteSpec] = {
    Analyte.PLATELETS: AnalyteSpec(Unit.E9_PER_L, {Unit.E9_PER_L: 1.0, Unit.PER_UL: 0.001}, (0, 2000)),
    Analyte.NEUTROPHILS: AnalyteSpec(Unit.PER_UL, CELL_COUNT, (0, 100_000)),
    Analyte.LYMPHOCYTES: AnalyteSpec(Unit.PER_UL, CELL_COUNT, (0, 500_000)),
    Analyte.WHITE_CELLS: AnalyteSpec(Unit.PER_UL, CELL_COUNT, (0, 500_000)),
    Analyte.HEMOGLOBIN: AnalyteSpec(Unit.G_PER_DL, {Unit.G_PER_DL: 1.0, Unit.G_PER_L: 0.1}, (1, 25)),
    Analyte.IGG: AnalyteSpec(Unit.MG_PER_DL, IMMUNOGLOBULIN, (0, 10_000)),
    Analyte.IGA: AnalyteSpec(Unit.MG_PER_DL, IMMUNOGLOBULIN, (0, 10_000)),
    Analyte.IGM: AnalyteSpec(Unit.MG_PER_DL, IMMUNOGLOBULIN, (0, 10_000)),
    Analyte.CD19_PERCENT_LYMPHOCYTES: AnalyteSpec(Unit.PERCENT, PERCENT, (0, 100)),
    Analyte.CD19_PER_UL: AnalyteSpec(Unit.PER_UL, CELL_COUNT, (0, 100_000)),
    Analyte.CD3_PER_UL: AnalyteSpec(Unit.PER_UL, CELL_COUNT, (0, 100_000)),
    Analyte.MARROW_CD138_PERCENT: AnalyteSpec(Unit.PERCENT, PERCENT, (0, 100), Specimen.MARROW),
    Analyte.CAR_CD19_COPIES: AnalyteSpec(Unit.COPIES_PER_UG_DNA, {Unit.COPIES_PER_UG_DNA: 1.0}, (0, 1e9)),
    Analyte.CAR_BCMA_COPIES: AnalyteSpec(Unit.COPIES_PER_UG_DNA, {Unit.COPIES_PER_UG_DNA: 1.0}, (0, 1e9)),
    Analyte.CAR_CD19_PERCENT_CD3: AnalyteSpec(Unit.PERCENT, PERCENT, (0, 100)),
    Analyte.CAR_BCMA_PERCENT_CD3: AnalyteSpec(Unit.PERCENT, PERCENT, (0, 100)),
}


class UnitError(ValueError):
    pass


def to_canonical(analyte: Analyte, value: float, unit: Unit) -> float:
    """The value in the analyte's canonical unit; a unit the analyte is not measured in is an error
    (never a silent guess)."""
    spec = SPECS[analyte]
    if unit not in spec.accepted:
        accepted = ", ".join(u.value for u in spec.accepted)
        raise UnitError(f"{analyte.value} is reported in {accepted}, not {unit.value}")
    factor = spec.accepted[unit]
    # Dividing by 1000 rather than multiplying by 0.001 keeps stored values clean (0.35, not
    # 0.35000000000000003).
    return value * factor if factor >= 1 else value / round(1 / factor)


# --- CTCAE v5.0 grades of lab values -----------------------------------------------------------

# (term, MedDRA code, grade thresholds in the canonical unit: value < t[0] -> >= G2 etc.)
# Lower bound inclusive: "<75,000 - 50,000" is 50,000 <= x < 75,000 (grade 2).


@dataclass(frozen=True)
class LabGradeRule:
    term: str
    meddra_code: int
    bounds: tuple[float, ...]  # lower bounds of grades 2, 3, (4) in the canonical unit, descending


LAB_GRADES: dict[Analyte, LabGradeRule] = {
    # Platelets are graded per uL; stored in x10^9/L (75,000/uL = 75 x10^9/L).
    Analyte.PLATELETS: LabGradeRule("Platelet count decreased", 10035528, (75.0, 50.0, 25.0)),
    Analyte.NEUTROPHILS: LabGradeRule("Neutrophil count decreased", 10029366, (1500.0, 1000.0, 500.0)),
    Analyte.LYMPHOCYTES: LabGradeRule("Lymphocyte count decreased", 10025256, (800.0, 500.0, 200.0)),
    Analyte.WHITE_CELLS: LabGradeRule("White blood cell decreased", 10049182, (3000.0, 2000.0, 1000.0)),
    # Anemia: grade 4 is clinical (life-threatening), never from the value alone.
    Analyte.HEMOGLOBIN: LabGradeRule("Anemia", 10002272, (10.0, 8.0)),
}


@dataclass(frozen=True)
class LabGrade:
    grade: int  # 0 (>= LLN) to 4
    term: str
    meddra_code: int
    version: str = "CTCAE v5.0"


def ctcae_lab_grade(analyte: Analyte, value: float, lln: float | None) -> LabGrade | None:
    """Grade of a low value: 0 at or above the LLN (the lab's own), even where that LLN lies below
    a grade's absolute bound (neutrophils, LLN 1,400, value 1,450: grade 0, not 2). Below the LLN
    the absolute bounds decide: grade 1 down to the grade-2 bound, each bound being the lowest
    value of the milder grade. None for an analyte CTCAE does not grade here, or without an LLN
    for a value at or above the grade-2 bound (grade 0 or 1: the lab's LLN decides). Without an
    LLN a value below the grade-2 bound is graded by the absolute bounds."""
    rule = LAB_GRADES.get(analyte)
    if rule is None:
        return None
    if lln is not None and value >= lln:
        return LabGrade(0, rule.term, rule.meddra_code)
    if value >= rule.bounds[0]:
        return None if lln is None else LabGrade(1, rule.term, rule.meddra_code)
    grade = 2
    for bound in rule.bounds[1:]:
        if value < bound:
            grade += 1
    return LabGrade(grade, rule.term, rule.meddra_code)


def proposes_lab_event(previous_grade: int | None, grade: int, threshold: int = 3, worsening: int = 1) -> bool:
    """A new grade >= threshold, or a worsening by >= `worsening` grades from an already abnormal
    grade, proposes a lab-sourced adverse event (protocol parameters)."""
    before = previous_grade or 0
    if grade >= threshold and before < threshold:
        return True
    return before >= 1 and grade - before >= worsening and grade > before
