"""Secondary outcome reads and writes: lab batches, antibody tests, per-subject derived series and
cohort summaries for analysts."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Annotated, Any

import strawberry

from ..domain.enums import CarTProduct
from ..domain.labs import Analyte
from ..domain.outcomes import AntibodyClass
from ..domain.response import add_months
from ..services import antibodies, labs
from ..services import outcomes as so
from ..services.unit_of_work import UnitOfWork
from . import enums as e
from .context import Info
from .errors import result_union, run_use_case
from .inputs import aware
from .outcome_types import (
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


# --- per subject ---------------------------------------------------------------------------------


async def subject_lab_results(info: Info, subject_id: int, analytes: list[e.Analyte] | None) -> list[LabResult]:
    wanted = set(analytes) if analytes else None
    rows = [
        LabResult.of(r)
        for r in await info.context.loaders.lab_results.load(subject_id)
        if wanted is None or r.analyte in wanted
    ]
    if wanted is None or Analyte.PLATELETS in wanted:
        rows += [LabResult.of_platelet_count(c) for c in await info.context.loaders.platelet_counts.load(subject_id)]
    return sorted(rows, key=lambda r: (r.collected_at, r.analyte.value))


async def subject_b_cells(info: Info, subject_id: int) -> BCells:
    version, params = await info.context.loaders.protocol()
    draws = so.b_cell_series(await info.context.loaders.lab_results.load(subject_id), params)
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
    series = so.igg_series(await info.context.loaders.lab_results.load(subject_id), params)
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
    kinetics, points = so.kinetics_of(await info.context.loaders.lab_results.load(subject_id), infusion, measure.value)
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
    return [AntibodyTest.of(t) for t in await info.context.loaders.antibody_tests.load(subject_id)]


async def subject_clearance(info: Info, subject_id: int, classes: set[AntibodyClass]) -> AntibodyClearance | None:
    tests = await info.context.loaders.antibody_tests.load(subject_id)
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


# --- cohort summaries ----------------------------------------------------------------------------


async def _visible_subject_ids(info: Info, site_codes: list[str] | None) -> list[int]:
    from ..db import queries as q

    return list(await info.context.read(q.all_subject_ids, q.SubjectFilter(site_codes=site_codes)))


async def b_cell_aplasia_at(info: Info, month: int, site_codes: list[str] | None = None) -> CohortCount:
    """Subjects with a draw within 30 days of `month` months after the CD19 infusion; aplastic
    by the configured rule at the draw nearest to that time."""
    version, params = await info.context.loaders.protocol()
    ids = await _visible_subject_ids(info, site_codes)
    results = await info.context.loaders.lab_results.load_many(ids)
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
    results = await info.context.loaders.lab_results.load_many(ids)
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
    tests = await info.context.loaders.antibody_tests.load_many(ids)
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


# --- writes --------------------------------------------------------------------------------------


@strawberry.input(
    description="One lab result. value is in `unit`; it is converted explicitly to the analyte's canonical unit."
)
class LabResultInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    analyte: e.Analyte = strawberry.field(description="What was measured.")
    unit: e.LabUnit = strawberry.field(
        description="Unit of value, lln, uln and lloq as the lab reported them (one the analyte is measured in)."
    )
    collected_at: dt.datetime = strawberry.field(description="With UTC offset.")
    value: float | None = strawberry.field(default=None, description="Null only when belowLimit.")
    specimen: e.Specimen | None = strawberry.field(
        default=None,
        description="What the sample was taken from; omitted: the analyte's usual specimen (blood; marrow for CD138+).",
    )
    lln: float | None = strawberry.field(default=None, description="Lower limit of normal, in `unit`.")
    uln: float | None = strawberry.field(default=None, description="Upper limit of normal, in `unit`.")
    lloq: float | None = strawberry.field(default=None, description="Lower limit of quantification, in `unit`.")
    below_limit: bool = strawberry.field(
        default=False,
        description="The value was below the lower limit of quantification (then value may be null); default false.",
    )
    lab_name: str | None = strawberry.field(default=None, description="Laboratory name, optional.")
    assay: str | None = strawberry.field(default=None, description="Assay, optional.")


@strawberry.input(description="A batch of lab results, written all or nothing.")
class RecordLabResultsInput:
    results: list[LabResultInput] = strawberry.field(description="The results; a row at fault is named by its index.")


@strawberry.type(
    description="A batch written in full. Results already recorded (same subject, analyte, specimen and time) are skipped, never duplicated."
)
class LabResultsRecorded:
    created: int = strawberry.field(description="Results written (rows).")
    already_present: int = strawberry.field(description="Results skipped as already recorded (rows).")
    results: list[LabResult] = strawberry.field(description="Every result of the batch as stored, by collection time.")
    proposed_adverse_event_ids: list[strawberry.ID] = strawberry.field(
        description="Lab-sourced adverse events proposed or continued, pending review."
    )


@strawberry.input(description="One specificity's result in an antibody test.")
class AntibodyResultInput:
    specificity: str = strawberry.field(description="e.g. A*02:01, DRB1*15:01, HPA-1a.")
    mfi: float | None = strawberry.field(default=None, description="MFI (single-antigen beads).")
    positive: bool | None = strawberry.field(
        default=None, description="For assays without an MFI; for beads it follows the cut-off."
    )


@strawberry.input(description="An HLA or HPA antibody test with its results per specificity.")
class RecordAntibodyTestInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    collected_at: dt.datetime = strawberry.field(description="When the sample was collected, with UTC offset.")
    antibody_class: e.AntibodyClass = strawberry.field(description="Which antibodies the test looks for.")
    method: e.AntibodyMethod = strawberry.field(description="Assay method.")
    results: list[AntibodyResultInput] = strawberry.field(description="One result per specificity, at least one.")
    kit: str | None = strawberry.field(
        default=None, description="Kit name, optional (MFI is not comparable across kits)."
    )
    lot: str | None = strawberry.field(default=None, description="Kit lot, optional.")
    cutoff_mfi: float | None = strawberry.field(
        default=None, description="The lab's cut-off; default: the protocol parameter (MFI 1000)."
    )
    cutoff_operator: e.CutoffOperator = strawberry.field(
        default=e.CutoffOperator.GE, description="GE (default): positive when MFI >= cut-off; GT: when MFI > cut-off."
    )
    cpra_percent: float | None = strawberry.field(default=None, description="cPRA in %, as reported.")
    lab_name: str | None = strawberry.field(default=None, description="Laboratory name, optional.")


@strawberry.type(description="The antibody test was written.")
class AntibodyTestSuccess:
    antibody_test: AntibodyTest = strawberry.field(description="The test as stored.")


RecordLabResultsResult = result_union("RecordLabResultsResult", LabResultsRecorded)
RecordAntibodyTestResult = result_union("RecordAntibodyTestResult", AntibodyTestSuccess)


def lab_row(data: LabResultInput, index: int) -> labs.LabRow:
    return labs.LabRow(
        subject_code=data.subject_code,
        analyte=data.analyte,
        unit=data.unit,
        collected_at=aware(data.collected_at, ("results", str(index), "collectedAt")),
        value=data.value,
        specimen=data.specimen,
        lln=data.lln,
        uln=data.uln,
        lloq=data.lloq,
        below_limit=data.below_limit,
        lab_name=data.lab_name,
        assay=data.assay,
    )


def _recorded(outcome: labs.LabBatchOutcome) -> LabResultsRecorded:
    from .ids import encode_id

    results = [LabResult.of(r) for r in outcome.lab_results] + [
        LabResult.of_platelet_count(c) for c in outcome.platelet_counts
    ]
    return LabResultsRecorded(
        created=len(outcome.created),
        already_present=len(outcome.already_present),
        results=sorted(results, key=lambda r: (r.collected_at, r.analyte.value)),
        proposed_adverse_event_ids=[encode_id("AdverseEvent", i) for i in sorted(set(outcome.proposed_event_ids))],
    )


@strawberry.type
class OutcomesMutation:
    @strawberry.mutation(
        description="Record a batch of lab results (site staff): all or nothing; a bad row is named by its index and field."
    )
    async def record_lab_results(
        self,
        info: Info,
        input: Annotated[RecordLabResultsInput, strawberry.argument(description="The batch of results.")],
    ) -> RecordLabResultsResult:
        async def use_case(uow: UnitOfWork) -> Any:
            rows = [lab_row(r, i) for i, r in enumerate(input.results)]
            return await labs.record_lab_results(uow, rows)

        return await run_use_case(info, use_case, _recorded)

    @strawberry.mutation(description="Record an HLA or HPA antibody test with its results per specificity.")
    async def record_antibody_test(
        self,
        info: Info,
        input: Annotated[RecordAntibodyTestInput, strawberry.argument(description="The test and its results.")],
    ) -> RecordAntibodyTestResult:
        async def use_case(uow: UnitOfWork) -> Any:
            _version, params = await info.context.loaders.protocol()
            test = antibodies.NewAntibodyTest(
                subject_code=input.subject_code,
                collected_at=aware(input.collected_at, ("collectedAt",)),
                antibody_class=input.antibody_class,
                method=input.method,
                results=tuple(antibodies.AntibodyResultRow(r.specificity, r.mfi, r.positive) for r in input.results),
                kit=input.kit,
                lot=input.lot,
                cutoff_mfi=input.cutoff_mfi,
                cutoff_operator=input.cutoff_operator,
                cpra_percent=input.cpra_percent,
                lab_name=input.lab_name,
            )
            return await antibodies.record_antibody_test(uow, test, params.hla_mfi_cutoff)

        return await run_use_case(info, use_case, lambda row: AntibodyTestSuccess(antibody_test=AntibodyTest.of(row)))
