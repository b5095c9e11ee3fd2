"""Secondary outcomes computed from the stored lab series by the domain's rules (nothing derived
is stored): B cells, IgG, marrow plasma cells, CAR-T kinetics, antibody clearance."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

from ..db.models import AntibodyTest, CarTInfusion, LabResult
from ..domain.enums import CarTProduct
from ..domain.labs import Analyte
from ..domain.outcomes import (
    AntibodyClass,
    AntibodySample,
    BCellStatus,
    Clearance,
    IgGStatus,
    KineticPoint,
    Kinetics,
    antibody_clearance,
    b_cell_status,
    car_t_kinetics,
    igg_status,
)
from ..domain.protocol import ProtocolParameters

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class BCellDraw:
    collected_on: date
    cd19_percent: float | None
    lymphocytes_per_ul: float | None
    status: BCellStatus
    aplastic: bool | None  # by the configured rule


def b_cell_series(results: Sequence[LabResult], params: ProtocolParameters) -> list[BCellDraw]:
    """One draw per collection date: %CD19+ of lymphocytes with the lymphocyte count (or a
    measured CD19+/uL) of the same date."""
    by_day: dict[date, dict[Analyte, float]] = defaultdict(dict)
    for r in results:
        if r.value is not None and r.analyte in (
            Analyte.CD19_PERCENT_LYMPHOCYTES,
            Analyte.LYMPHOCYTES,
            Analyte.CD19_PER_UL,
        ):
            by_day[r.collected_at.astimezone(timezone.utc).date()][r.analyte] = r.value
    draws = []
    for day in sorted(by_day):
        values = by_day[day]
        if Analyte.CD19_PERCENT_LYMPHOCYTES not in values and Analyte.CD19_PER_UL not in values:
            continue
        status = b_cell_status(
            values.get(Analyte.CD19_PERCENT_LYMPHOCYTES),
            values.get(Analyte.LYMPHOCYTES),
            values.get(Analyte.CD19_PER_UL),
            params.b_cell_aplasia_percent,
            params.b_cell_aplasia_per_ul,
        )
        by_percent = params.b_cell_aplasia_rule == "percent_of_lymphocytes"
        aplastic = status.aplasia_by_percent if by_percent else status.aplasia_by_absolute
        draws.append(
            BCellDraw(
                day, values.get(Analyte.CD19_PERCENT_LYMPHOCYTES), values.get(Analyte.LYMPHOCYTES), status, aplastic
            )
        )
    return draws


def aplasia_timing(draws: Sequence[BCellDraw], cd19_infusion: datetime | None) -> tuple[date | None, date | None]:
    """(first aplastic draw after the CD19 infusion, first non-aplastic draw after that)."""
    if cd19_infusion is None:
        return None, None
    start = cd19_infusion.astimezone(timezone.utc).date()
    after = [d for d in draws if d.collected_on >= start and d.aplastic is not None]
    onset = next((d.collected_on for d in after if d.aplastic), None)
    if onset is None:
        return None, None
    recovery = next((d.collected_on for d in after if d.collected_on > onset and not d.aplastic), None)
    return onset, recovery


def igg_series(results: Sequence[LabResult], params: ProtocolParameters) -> list[tuple[LabResult, IgGStatus]]:
    return [
        (r, igg_status(r.value, params.igg_low_below_mg_dl, params.igg_severe_at_or_below_mg_dl))
        for r in results
        if r.analyte is Analyte.IGG and r.value is not None
    ]


KINETIC_ANALYTES = {
    (CarTProduct.CD19, "qpcr"): Analyte.CAR_CD19_COPIES,
    (CarTProduct.BCMA, "qpcr"): Analyte.CAR_BCMA_COPIES,
}
FLOW_ANALYTES = {CarTProduct.CD19: Analyte.CAR_CD19_PERCENT_CD3, CarTProduct.BCMA: Analyte.CAR_BCMA_PERCENT_CD3}


def kinetic_points(results: Sequence[LabResult], infusion: CarTInfusion, measure: str) -> list[KineticPoint]:
    """Day 0 = this product's infusion; days are actual elapsed days. qPCR: transgene copies/ug
    DNA. Flow: CAR+ cells/uL = %CAR+ of CD3+ x CD3+/uL of the same collection."""

    def day_of(at: datetime) -> float:
        return round((at - infusion.infused_at).total_seconds() / SECONDS_PER_DAY, 3)

    if measure == "qpcr":
        analyte = KINETIC_ANALYTES[(infusion.product, "qpcr")]
        return [
            KineticPoint(day_of(r.collected_at), None if r.below_limit else r.value)
            for r in results
            if r.analyte is analyte
        ]
    cd3 = {r.collected_at: r.value for r in results if r.analyte is Analyte.CD3_PER_UL and r.value is not None}
    points = []
    for r in results:
        if r.analyte is FLOW_ANALYTES[infusion.product] and r.collected_at in cd3:
            value = None if r.below_limit or r.value is None else r.value / 100.0 * cd3[r.collected_at]
            points.append(KineticPoint(day_of(r.collected_at), value))
    return points


def kinetics_of(
    results: Sequence[LabResult], infusion: CarTInfusion, measure: str
) -> tuple[Kinetics, list[KineticPoint]]:
    points = sorted(kinetic_points(results, infusion, measure), key=lambda p: p.day)
    return car_t_kinetics([p for p in points if p.day >= 0]), points


def antibody_samples(tests: Sequence[AntibodyTest], classes: set[AntibodyClass]) -> list[AntibodySample]:
    samples: dict[datetime, AntibodySample] = {}
    for t in sorted(tests, key=lambda t: t.collected_at):
        if t.antibody_class not in classes:
            continue
        sample = samples.get(t.collected_at) or AntibodySample(t.collected_at, {}, {})
        for r in t.results:
            sample.positive[r["specificity"]] = bool(r["positive"])
            if r.get("mfi") is not None:
                sample.mfi[r["specificity"]] = float(r["mfi"])
        samples[t.collected_at] = sample
    return list(samples.values())


def clearance_of(
    tests: Sequence[AntibodyTest], classes: set[AntibodyClass], first_infusion: datetime | None
) -> Clearance | None:
    """Baseline: the last sample at or before the first CAR-T infusion (the first sample when
    there is no infusion yet); follow-up: the samples after it."""
    samples = antibody_samples(tests, classes)
    if not samples:
        return None
    before = [s for s in samples if first_infusion is None or s.collected_at <= first_infusion]
    baseline = before[-1] if before else samples[0]
    follow_up = [s for s in samples if s.collected_at > baseline.collected_at]
    return antibody_clearance(baseline, follow_up)
