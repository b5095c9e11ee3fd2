"""The demo's lab series for the secondary outcomes: blood counts, B cells, IgG, marrow, CAR-T
kinetics and HLA/HPA antibody panels, engineered per subject in LAB_PROFILES (pure: no I/O)."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from ..domain.enums import (
    CarTProduct,
    Sex,
)
from ..domain.labs import SPECS, Analyte, Unit, to_canonical
from ..domain.outcomes import AntibodyClass, AntibodyMethod
from ..domain.response import add_months
from ..services import antibodies, labs
from ..services.labs import LabRow
from ..services.unit_of_work import UnitOfWork
from .scenario import SEED, SubjectPlan, at_hour

BLOOD_DAYS = (7, 14, 28, 90, 180)  # blood counts and B cells, days from the CD19 infusion
IGG_DAYS = (28, 90, 180)
MARROW_DAYS = (-10, 28, 90)
KINETIC_DAYS = (0, 1, 4, 7, 10, 14, 21, 28, 60, 90)  # days from that product's infusion
FLOW_DAYS = (7, 14, 28)
ANTIBODY_MONTHS = (1, 3, 6)
CAR_LLOQ = 50.0  # copies/ug genomic DNA
MARROW_LOD = 0.01  # % CD138+ of nucleated cells
HLA_CUTOFF = 1000.0  # the HLA lab's MFI cut-off (positive at or above)

HLA_CLASS_I = (
    "A*01:01", "A*02:01", "A*03:01", "A*11:01", "A*24:02", "B*07:02",
    "B*08:01", "B*15:01", "B*35:01", "B*44:02", "B*51:01", "C*07:02",
)  # fmt: skip
HLA_CLASS_II = ("DRB1*04:01", "DRB1*07:01", "DRB1*11:01", "DRB1*15:01", "DQB1*03:02", "DQB1*06:02", "DPB1*04:01")
HPA_PANEL = ("HPA-1a", "HPA-1b", "HPA-3a", "HPA-5b", "HPA-15a")


class HlaCourse(str, Enum):
    FAST = "every baseline specificity negative from month 1"
    STEADY = "negative from month 3"
    PERSISTENT = "the strongest specificity stays positive"


@dataclass(frozen=True)
class LabProfile:
    aplasia_day: int  # first draw (of BLOOD_DAYS) with CD19+ below 1% of lymphocytes
    hla: HlaCourse
    recovery_day: int | None = None  # B cells back (CD19 CAR-T lost)
    disagree_day: int | None = None  # a draw where the percent and absolute rules disagree
    igg_severe: bool = False
    hpa: bool = False  # HPA-1a by MAIPA, positive at baseline only
    cd19_blq_from: int | None = None  # CD19 CAR transgene below the LLOQ from this day on
    blq_gap: bool = False  # one BLQ sample between quantifiable ones (BCMA day 21)


LAB_PROFILES: dict[str, LabProfile] = {
    "S01-001": LabProfile(7, HlaCourse.STEADY, recovery_day=180, igg_severe=True, hpa=True, cd19_blq_from=60),
    "S02-001": LabProfile(14, HlaCourse.STEADY),
    "S01-002": LabProfile(28, HlaCourse.PERSISTENT, disagree_day=14, blq_gap=True),
    "S02-002": LabProfile(7, HlaCourse.FAST, igg_severe=True),
    "S01-003": LabProfile(7, HlaCourse.STEADY),
    "S02-003": LabProfile(14, HlaCourse.STEADY),  # withdrawn before month 1: baseline panel only
    "S01-004": LabProfile(14, HlaCourse.FAST, igg_severe=True),
    "S02-004": LabProfile(7, HlaCourse.FAST, hpa=True),
    "S01-005": LabProfile(7, HlaCourse.STEADY),  # screen failure: screening labs only
    "S02-005": LabProfile(7, HlaCourse.PERSISTENT, recovery_day=90, cd19_blq_from=60),
    "S01-006": LabProfile(28, HlaCourse.FAST),
    "S02-006": LabProfile(7, HlaCourse.PERSISTENT),
}


@dataclass(frozen=True)
class SiteLab:
    name: str
    count_unit: Unit  # neutrophils, lymphocytes, white cells
    hemoglobin_unit: Unit
    igg_unit: Unit


SITE_LABS = {
    "S01": SiteLab("S01 central laboratory (demo)", Unit.E9_PER_L, Unit.G_PER_L, Unit.G_PER_L),
    "S02": SiteLab("S02 haematology laboratory (demo)", Unit.PER_UL, Unit.G_PER_DL, Unit.MG_PER_DL),
}
# Digits a lab reports in each unit (negative: rounded to tens).
REPORT_DIGITS = {Unit.E9_PER_L: 2, Unit.PER_UL: -1, Unit.G_PER_DL: 1, Unit.MG_PER_DL: 0}


@dataclass
class LabPlan:
    """The subject's lab rows grouped by collection date, and its antibody tests."""

    code: str
    site: SiteLab
    last_day: date  # nothing is drawn after this day
    rows: dict[date, list[LabRow]] = field(default_factory=dict)
    antibody_tests: list[antibodies.NewAntibodyTest] = field(default_factory=list)
    cd3_times: set[datetime] = field(default_factory=set)

    def add(self, analyte: Analyte, unit: Unit, at: datetime, value: float | None, **extra: Any) -> bool:
        if at.date() > self.last_day:
            return False
        self.rows.setdefault(at.date(), []).append(
            LabRow(self.code, analyte, unit, at, value, lab_name=self.site.name, **extra)
        )
        return True


def _reported(analyte: Analyte, canonical: float, unit: Unit, digits: int | None = None) -> float:
    """A canonical value as the lab reports it in `unit` (rounded the way that lab rounds)."""
    places = REPORT_DIGITS[unit] if digits is None else digits
    return float(round(canonical / SPECS[analyte].accepted[unit], places))


def _sig(value: float, figures: int = 3) -> float:
    return float(round(value, figures - 1 - math.floor(math.log10(value))))


def _blood_counts(
    lp: LabPlan, rng: random.Random, at: datetime, day: int | None, sex: Sex, lymphocytes: float | None = None
) -> float:
    """Neutrophils, lymphocytes (unless given), white cells and hemoglobin with the lab's limits;
    returns the lymphocyte count (cells/uL) as reported, for the B-cell tube of the same draw."""
    # (neutrophils, lymphocytes /uL, hemoglobin g/dL) by day: cytopenic after fludarabine/cyclophosphamide.
    ranges = {
        None: ((1500, 4000), (800, 2000), (9.0, 12.5)),
        7: ((100, 600), (250, 900), (7.4, 9.5)),
        14: ((600, 1400), (500, 1500), (8.0, 10.0)),
        28: ((1200, 2500), (700, 1600), (9.0, 11.5)),
        90: ((1800, 3500), (900, 1800), (10.5, 13.0)),
        180: ((2000, 4000), (1000, 2000), (11.5, 14.0)),
    }
    (n_lo, n_hi), (l_lo, l_hi), (h_lo, h_hi) = ranges[day]
    neutrophils, drawn = rng.uniform(n_lo, n_hi), rng.uniform(l_lo, l_hi)
    lymphocytes = drawn if lymphocytes is None else lymphocytes
    white_cells = neutrophils + lymphocytes + rng.uniform(150, 700)
    count_unit = lp.site.count_unit
    limits = {Analyte.NEUTROPHILS: (1800, 7500), Analyte.LYMPHOCYTES: (1000, 4000), Analyte.WHITE_CELLS: (4000, 11000)}
    values = {Analyte.NEUTROPHILS: neutrophils, Analyte.LYMPHOCYTES: lymphocytes, Analyte.WHITE_CELLS: white_cells}
    for analyte, canonical in values.items():
        lln, uln = limits[analyte]
        lp.add(
            analyte,
            count_unit,
            at,
            _reported(analyte, canonical, count_unit),
            lln=_reported(analyte, lln, count_unit),
            uln=_reported(analyte, uln, count_unit),
            assay="automated blood count",
        )
    hgb_lln, hgb_uln = (12.0, 16.0) if sex is Sex.FEMALE else (13.0, 17.5)
    unit = lp.site.hemoglobin_unit
    digits = 0 if unit is Unit.G_PER_L else 1
    lp.add(
        Analyte.HEMOGLOBIN,
        unit,
        at,
        _reported(Analyte.HEMOGLOBIN, rng.uniform(h_lo, h_hi), unit, digits),
        lln=_reported(Analyte.HEMOGLOBIN, hgb_lln, unit, digits),
        uln=_reported(Analyte.HEMOGLOBIN, hgb_uln, unit, digits),
        assay="automated blood count",
    )
    return to_canonical(Analyte.LYMPHOCYTES, _reported(Analyte.LYMPHOCYTES, lymphocytes, count_unit), count_unit)


def _cd19_percent(rng: random.Random, profile: LabProfile, day: int | None, lymphocytes: float) -> float:
    """%CD19+ of lymphocytes. Outside the engineered disagreement both rules agree: aplastic
    draws are below 1% (and so below 20/uL at these lymphocyte counts), others above 20/uL."""
    if day is None:  # screening
        return round(rng.uniform(4.0, 14.0), 1)
    if day == profile.disagree_day:  # 500/uL at 3%: 15/uL, aplastic by count but not by percent
        return 3.0
    recovered = profile.recovery_day is not None and day >= profile.recovery_day
    if day >= profile.aplasia_day and not recovered:
        return round(rng.uniform(0.02, 0.6), 2)
    return round(max(rng.uniform(25, 60) / lymphocytes * 100, 1.5), 1)  # 25-60 CD19+ cells/uL


def _b_cell_draw(lp: LabPlan, rng: random.Random, profile: LabProfile, at: datetime, day: int | None, sex: Sex) -> None:
    """A blood count with the B-cell tube of the same draw."""
    disagree = day is not None and day == profile.disagree_day
    lymphocytes = _blood_counts(lp, rng, at, day, sex, lymphocytes=500.0 if disagree else None)
    lp.add(
        Analyte.CD19_PERCENT_LYMPHOCYTES,
        Unit.PERCENT,
        at,
        _cd19_percent(rng, profile, day, lymphocytes),
        assay="flow cytometry CD19/CD45",
    )


def _igg(lp: LabPlan, rng: random.Random, profile: LabProfile, moments: list[tuple[datetime, int | None]]) -> None:
    baseline = rng.uniform(750, 1300)
    factors = {None: 1.0, 28: rng.uniform(0.8, 0.95), 90: rng.uniform(0.65, 0.85), 180: rng.uniform(0.6, 0.8)}
    if profile.igg_severe:
        factors |= {90: rng.uniform(0.45, 0.52), 180: rng.uniform(300, 390) / baseline}
    unit = lp.site.igg_unit
    digits = 1 if unit is Unit.G_PER_L else 0
    for at, day in moments:
        lp.add(
            Analyte.IGG,
            unit,
            at,
            _reported(Analyte.IGG, baseline * factors[day], unit, digits),
            lln=_reported(Analyte.IGG, 700, unit, digits),
            uln=_reported(Analyte.IGG, 1600, unit, digits),
            assay="nephelometry",
        )


def _marrow(lp: LabPlan, rng: random.Random, day0: date, bcma_day: int | None) -> None:
    for day in MARROW_DAYS:
        if day < 0:
            value: float | None = round(rng.uniform(0.8, 3.5), 2)
        elif bcma_day is not None and bcma_day < day:  # BCMA CAR-T depletes plasma cells
            value = round(rng.uniform(0.02, 0.3), 2) if day == 28 else rng.choice([None, None, 0.02, 0.05])
        else:
            value = round(rng.uniform(0.5, 2.0), 2)
        lp.add(
            Analyte.MARROW_CD138_PERCENT,
            Unit.PERCENT,
            at_hour(day0 + timedelta(days=day), 9, 30),
            value,
            lloq=MARROW_LOD,
            below_limit=value is None,
            assay="marrow flow cytometry CD138/CD38",
        )


def _kinetics(lp: LabPlan, rng: random.Random, profile: LabProfile, product: CarTProduct, infused_at: datetime) -> None:
    """CAR transgene copies/ug DNA: BLQ at day 0, expansion to a peak on day 7 or 10, then decline;
    CAR+ % of CD3+ with CD3+/uL by flow on FLOW_DAYS."""
    cd19 = product is CarTProduct.CD19
    peak = 10 ** rng.uniform(4.3, 5.2) if cd19 else 10 ** rng.uniform(4.0, 4.9)
    peak_day = rng.choice([7, 10])
    ratios = {
        0: 0.0,
        1: rng.uniform(0.0005, 0.02),
        4: rng.uniform(0.05, 0.25),
        7: 1.0 if peak_day == 7 else rng.uniform(0.4, 0.8),
        10: 1.0 if peak_day == 10 else rng.uniform(0.5, 0.8),
        14: rng.uniform(0.2, 0.45),
        21: rng.uniform(0.06, 0.15),
        28: rng.uniform(0.02, 0.06),
        60: rng.uniform(0.003, 0.012),
        90: rng.uniform(0.0002, 0.004),
    }
    analyte = Analyte.CAR_CD19_COPIES if cd19 else Analyte.CAR_BCMA_COPIES
    flow = Analyte.CAR_CD19_PERCENT_CD3 if cd19 else Analyte.CAR_BCMA_PERCENT_CD3
    for day in KINETIC_DAYS:
        hours = 6 if day == 0 else rng.choice([-3, 0]) if day == 28 else rng.choice([-3, 0, 0, 3])
        at = infused_at + timedelta(days=day, hours=hours)
        copies = peak * ratios[day]
        lost = cd19 and profile.cd19_blq_from is not None and day >= profile.cd19_blq_from
        gap = not cd19 and profile.blq_gap and day == 21
        blq = copies < CAR_LLOQ or lost or gap
        written = lp.add(
            analyte,
            Unit.COPIES_PER_UG_DNA,
            at,
            None if blq else _sig(copies),
            lloq=CAR_LLOQ,
            below_limit=blq,
            assay="qPCR CAR transgene",
        )
        if written and day in FLOW_DAYS and not blq:
            lp.add(flow, Unit.PERCENT, at, round(max(0.1, rng.uniform(15, 35) * ratios[day]), 1), assay="flow CAR")
            if at not in lp.cd3_times:  # one CD3+ count per draw, whatever the product
                lp.cd3_times.add(at)
                lp.add(Analyte.CD3_PER_UL, Unit.PER_UL, at, float(round(rng.uniform(300, 1200), -1)), assay="flow")


def _hla_panels(lp: LabPlan, rng: random.Random, profile: LabProfile, moments: list[datetime], kit_lot: str) -> None:
    """Single-antigen bead panels (class I and II at each draw): 3-6 specificities positive at
    baseline, falling after CAR-T as `profile.hla` says; the other beads stay negative."""
    n_class_ii = rng.randint(0, 2)
    positive = rng.sample(HLA_CLASS_I, rng.randint(3, 6) - n_class_ii) + rng.sample(HLA_CLASS_II, n_class_ii)
    baseline = {s: float(round(rng.uniform(2500, 16000))) for s in positive}
    strongest = max(baseline, key=lambda s: baseline[s])
    if profile.hla is HlaCourse.PERSISTENT:
        baseline[strongest] = max(baseline[strongest], float(round(rng.uniform(9000, 16000))))

    def mfi(specificity: str, visit: int) -> float:
        if specificity not in baseline:
            return float(round(rng.uniform(40, 700)))
        base = baseline[specificity]
        if visit == 0:
            return base
        if profile.hla is HlaCourse.PERSISTENT and specificity == strongest:
            return float(round(base * {1: 0.8, 2: 0.6, 3: 0.45}[visit]))
        if visit == 1 and profile.hla is not HlaCourse.FAST:
            return float(round(max(base * rng.uniform(0.3, 0.6), 1100)))
        return float(round(rng.uniform(60, 900) / visit))

    for visit, at in enumerate(moments):
        for antibody_class, panel, kit in (
            (AntibodyClass.HLA_CLASS_I, HLA_CLASS_I, "LABScreen Single Antigen HLA Class I"),
            (AntibodyClass.HLA_CLASS_II, HLA_CLASS_II, "LABScreen Single Antigen HLA Class II"),
        ):
            results = tuple(antibodies.AntibodyResultRow(s, mfi(s, visit)) for s in panel)
            n_positive = sum(r.mfi is not None and r.mfi >= HLA_CUTOFF for r in results)
            lp.antibody_tests.append(
                antibodies.NewAntibodyTest(
                    subject_code=lp.code,
                    collected_at=at,
                    antibody_class=antibody_class,
                    method=AntibodyMethod.SINGLE_ANTIGEN_BEADS,
                    results=results,
                    kit=kit,
                    lot=kit_lot,
                    cutoff_mfi=HLA_CUTOFF,
                    cpra_percent=float(min(99, 18 * n_positive + rng.randint(0, 9))) if n_positive else 0.0,
                    lab_name=f"{lp.code[:3]} HLA laboratory (demo)",
                )
            )
    if profile.hpa:
        for visit, at in enumerate(moments):
            results = tuple(antibodies.AntibodyResultRow(s, positive=s == "HPA-1a" and visit == 0) for s in HPA_PANEL)
            lp.antibody_tests.append(
                antibodies.NewAntibodyTest(
                    subject_code=lp.code,
                    collected_at=at,
                    antibody_class=AntibodyClass.HPA,
                    method=AntibodyMethod.MAIPA,
                    results=results,
                    lab_name="Platelet immunology laboratory (demo)",
                )
            )


def _lab_step(plan: SubjectPlan, rows: list[LabRow]) -> Callable[[UnitOfWork], Awaitable[Any]]:
    async def step(uow: UnitOfWork) -> None:
        outcome = await labs.record_lab_results(uow, rows)
        new_events = set(outcome.proposed_event_ids) - plan.lab_events
        plan.lab_events |= new_events
        plan.tally["lab-sourced adverse events (pending review)"] += len(new_events)

    return step


def _antibody_step(test: antibodies.NewAntibodyTest) -> Callable[[UnitOfWork], Awaitable[Any]]:
    return lambda uow: antibodies.record_antibody_test(uow, test, HLA_CUTOFF)


def plan_labs(plan: SubjectPlan, consent: date, anchor: date) -> None:
    """The subject's lab series and antibody panels as steps, one lab batch per collection date."""
    rng = random.Random(f"{SEED}:{plan.code}:labs")
    profile = LAB_PROFILES[plan.code]
    last_day = anchor - timedelta(days=1)
    if plan.withdrawn_on is not None:
        last_day = min(last_day, plan.withdrawn_on - timedelta(days=1))
    lp = LabPlan(plan.code, SITE_LABS[plan.code[:3]], last_day)
    sex = plan.details.sex
    screening = at_hour(consent + timedelta(days=rng.randint(1, 4)), 7, 30)
    kit_lot = f"LS-{rng.randint(10, 19):03d}"
    _b_cell_draw(lp, rng, profile, screening, None, sex)
    day0 = plan.day0
    if day0 is None:  # screen failure: screening labs only
        _igg(lp, rng, profile, [(screening, None)])
        _hla_panels(lp, rng, profile, [screening], kit_lot)
    else:
        draws = [(at_hour(day0 + timedelta(days=day), 7, 30), day) for day in BLOOD_DAYS]
        for at, day in draws:
            _b_cell_draw(lp, rng, profile, at, day, sex)
        _igg(lp, rng, profile, [(screening, None)] + [(at, day) for at, day in draws if day in IGG_DAYS])
        bcma_at = plan.infused_at.get(CarTProduct.BCMA)
        _marrow(lp, rng, day0, None if bcma_at is None else (bcma_at.date() - day0).days)
        for product, infused_at in sorted(plan.infused_at.items(), key=lambda item: item[1]):
            _kinetics(lp, rng, profile, product, infused_at)
        baseline = at_hour(day0 - timedelta(days=7), 8, 15)
        follow_up = [add_months(at_hour(day0, 8, 15), m) for m in ANTIBODY_MONTHS]
        moments = [baseline] + [at for at in follow_up if at.date() <= lp.last_day]
        _hla_panels(lp, rng, profile, moments, kit_lot)
    # One batch, as a lab system's export arrives (the service writes it in collection order).
    rows = [row for _day, day_rows in sorted(lp.rows.items()) for row in day_rows]
    plan.add(rows[-1].collected_at, "lab results", _lab_step(plan, rows), n=len(rows))
    for test in lp.antibody_tests:
        plan.add(test.collected_at, "antibody tests", _antibody_step(test))
