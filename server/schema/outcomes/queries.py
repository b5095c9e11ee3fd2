"""Secondary outcome reads: a subject's lab series, B cells, IgG, CAR-T kinetics, antibody
clearance, and the cohort figures."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from ...domain.enums import CarTProduct
from ...domain.labs import Analyte
from ...domain.outcomes import AntibodyClass
from ...domain.response import add_months
from ...services import outcomes as so
from ..common import enums as e
from ..common.context import Info
from .loaders import OutcomesLoaders
from .types import (
    AntibodyClearance,
    AntibodyTest,
    BCellDraw,
    BCells,
    CarTKinetics,
    CohortCount,
    IgGValue,
    KineticPointType,
    LabResult,
    MedianValue,
    SpecificityClearance,
    SummedMfi,
)

HLA = {AntibodyClass.HLA_CLASS_I, AntibodyClass.HLA_CLASS_II}


AT_MONTH_TOLERANCE = dt.timedelta(days=30)


async def subject_lab_results(info: Info, subject_id: int, analytes: list[e.Analyte] | None) -> list[LabResult]:
    wanted = set(analytes) if analytes else None
    rows = [
        LabResult.of(r)
        for r in await info.context.loaders.of(OutcomesLoaders).lab_results.load(subject_id)
        if wanted is None or r.analyte in wanted
    ]
    if wanted is None or Analyte.PLATELETS in wanted:
        rows += [LabResult.of_platelet_count(c) for c in await info.context.loaders.platelet_counts.load(subject_id)]
    return sorted(rows, key=lambda r: (r.collected_at, r.analyte.value))


async def subject_b_cells(info: Info, subject_id: int) -> BCells:
    version, params = await info.context.loaders.protocol()
    draws = so.b_cell_series(await info.context.loaders.of(OutcomesLoaders).lab_results.load(subject_id), params)
    cd19 = await _infusion(info, subject_id, CarTProduct.CD19)
    onset, recovery = so.aplasia_timing(draws, cd19.infused_at if cd19 else None)
    day0 = cd19.infused_at.astimezone(dt.timezone.utc).date() if cd19 else None
    return BCells(
        draws=[
            BCellDraw(
                collected_on=d.collected_on,
                cd19_percent_of_lymphocytes=d.cd19_percent,
                lymphocytes_per_ul=d.lymphocytes_per_ul,
                cd19_per_ul=d.status.absolute_per_ul,
                aplasia_by_percent=d.status.aplasia_by_percent,
                aplasia_by_absolute=d.status.aplasia_by_absolute,
                rules_disagree=d.status.rules_disagree,
                aplastic=d.aplastic,
            )
            for d in draws
        ],
        rule=f"{params.b_cell_aplasia_rule} (< {params.b_cell_aplasia_percent}% of lymphocytes or < {params.b_cell_aplasia_per_ul}/uL)",
        parameter_version=version,
        aplasia_on=onset,
        recovery_on=recovery,
        days_to_aplasia=(onset - day0).days if onset and day0 else None,
        days_to_recovery=(recovery - day0).days if recovery and day0 else None,
    )


async def subject_igg(info: Info, subject_id: int) -> list[IgGValue]:
    _version, params = await info.context.loaders.protocol()
    series = so.igg_series(await info.context.loaders.of(OutcomesLoaders).lab_results.load(subject_id), params)
    return [IgGValue(collected_at=r.collected_at, igg_mg_per_dl=r.value or 0.0, status=status) for r, status in series]


async def _infusion(info: Info, subject_id: int, product: CarTProduct) -> Any:
    infusions = [i for i in await info.context.loaders.infusions.load(subject_id) if i.product is product]
    return min(infusions, key=lambda i: i.infused_at) if infusions else None


async def subject_kinetics(
    info: Info, subject_id: int, product: e.CarTProduct, measure: e.KineticsMeasure
) -> CarTKinetics | None:
    infusion = await _infusion(info, subject_id, product)
    if infusion is None:
        return None
    kinetics, points = so.kinetics_of(
        await info.context.loaders.of(OutcomesLoaders).lab_results.load(subject_id), infusion, measure.value
    )
    return CarTKinetics(
        product=product,
        measure=measure,
        unit="copies/ug genomic DNA" if measure is e.KineticsMeasure.QPCR else "CAR+ cells/uL",
        cmax=kinetics.cmax,
        tmax=kinetics.tmax,
        auc_0_28=kinetics.auc_0_28,
        tlast=kinetics.tlast,
        series=[KineticPointType(day=p.day, value=p.value, blq=p.value is None) for p in points],
    )


async def subject_antibody_tests(info: Info, subject_id: int) -> list[AntibodyTest]:
    return [AntibodyTest.of(t) for t in await info.context.loaders.of(OutcomesLoaders).antibody_tests.load(subject_id)]


async def subject_clearance(info: Info, subject_id: int, classes: set[AntibodyClass]) -> AntibodyClearance | None:
    tests = await info.context.loaders.of(OutcomesLoaders).antibody_tests.load(subject_id)
    first = await info.context.loaders.first_infusion_at.load(subject_id)
    clearance = so.clearance_of(tests, classes, first)
    if clearance is None:
        return None
    return AntibodyClearance(
        classes=sorted(classes, key=lambda c: c.value),
        baseline_positive=list(clearance.baseline_positive),
        specificities=[
            SpecificityClearance(specificity=s, cleared_at=clearance.cleared_at[s]) for s in clearance.baseline_positive
        ],
        cleared_at=clearance.subject_cleared_at,
        summed_mfi=[SummedMfi(collected_at=at, summed_mfi=total) for at, total in clearance.summed_mfi],
        summed_mfi_reduction_percent=clearance.summed_mfi_reduction_percent,
    )


async def _visible_subject_ids(info: Info, site_codes: list[str] | None) -> list[int]:
    from ...db import queries as q

    return list(await info.context.read(q.all_subject_ids, q.SubjectFilter(site_codes=site_codes)))


async def b_cell_aplasia_at(info: Info, month: int, site_codes: list[str] | None = None) -> CohortCount:
    """Subjects with a draw within 30 days of `month` months after the CD19 infusion; aplastic
    by the configured rule at the draw nearest to that time."""
    version, params = await info.context.loaders.protocol()
    ids = await _visible_subject_ids(info, site_codes)
    results = await info.context.loaders.of(OutcomesLoaders).lab_results.load_many(ids)
    infusions = await info.context.loaders.infusions.load_many(ids)
    assessed = meeting = 0
    for rows, given in zip(results, infusions, strict=True):
        cd19 = [i.infused_at for i in given if i.product is CarTProduct.CD19]
        if not cd19:
            continue
        target = add_months(min(cd19), month).astimezone(dt.timezone.utc).date()
        draws = [
            d
            for d in so.b_cell_series(rows, params)
            if d.aplastic is not None and abs(d.collected_on - target) <= AT_MONTH_TOLERANCE
        ]
        if not draws:
            continue
        assessed += 1
        nearest = min(draws, key=lambda d: (abs(d.collected_on - target), d.collected_on))
        meeting += int(bool(nearest.aplastic))
    return CohortCount(
        subjects_assessed=assessed,
        subjects_meeting=meeting,
        parameter_version=version,
        rule=f"aplastic ({params.b_cell_aplasia_rule}) at the draw nearest to month {month} after CD19, within 30 days",
    )


async def median_cmax(
    info: Info, product: e.CarTProduct, measure: e.KineticsMeasure, site_codes: list[str] | None = None
) -> MedianValue:
    ids = await _visible_subject_ids(info, site_codes)
    results = await info.context.loaders.of(OutcomesLoaders).lab_results.load_many(ids)
    infusions = await info.context.loaders.infusions.load_many(ids)
    peaks = []
    for rows, given in zip(results, infusions, strict=True):
        of_product = sorted((i for i in given if i.product is product), key=lambda i: i.infused_at)
        if of_product:
            kinetics, _ = so.kinetics_of(rows, of_product[0], measure.value)
            if kinetics.cmax is not None:
                peaks.append(kinetics.cmax)
    return MedianValue(
        subjects=len(peaks),
        median=statistics.median(peaks) if peaks else None,
        unit="copies/ug genomic DNA" if measure is e.KineticsMeasure.QPCR else "CAR+ cells/uL",
    )


async def hla_cleared_by(info: Info, month: int, site_codes: list[str] | None = None) -> CohortCount:
    version, _ = await info.context.loaders.protocol()
    ids = await _visible_subject_ids(info, site_codes)
    tests = await info.context.loaders.of(OutcomesLoaders).antibody_tests.load_many(ids)
    firsts = await info.context.loaders.first_infusion_at.load_many(ids)
    assessed = cleared = 0
    for subject_tests, first in zip(tests, firsts, strict=True):
        if first is None:
            continue
        clearance = so.clearance_of(subject_tests, HLA, first)
        if clearance is None or not clearance.baseline_positive:
            continue
        assessed += 1
        cleared += int(
            clearance.subject_cleared_at is not None and clearance.subject_cleared_at <= add_months(first, month)
        )
    return CohortCount(
        subjects_assessed=assessed,
        subjects_meeting=cleared,
        parameter_version=version,
        rule=f"subjects with HLA antibodies at baseline, cleared within {month} months of the first CAR-T infusion",
    )
