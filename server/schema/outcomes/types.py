"""Secondary outcome types: lab results, B cells, IgG, CAR-T kinetics, HLA/HPA antibodies."""

from __future__ import annotations

import datetime as dt

import strawberry

from ...db import models as m
from ...domain import outcomes as o
from ...domain.labs import CTCAE_LAB_RULE, SPECS, ctcae_lab_grade
from ..common import enums as e
from ..common.context import Info
from ..common.ids import encode_id
from ..common.node import STUDY_DAY, study_day_at


@strawberry.type(description="A CTCAE v5.0 grade of a low lab value.")
class LabGrade:
    grade: int = strawberry.field(description="0 (at or above the lab's LLN) to 4.")
    term: str = strawberry.field(description="CTCAE v5.0 term (e.g. Platelet count decreased).")
    meddra_code: int = strawberry.field(description="MedDRA code of the term.")
    version: str = strawberry.field(description="CTCAE version that graded the value (v5.0).")
    rule: str = strawberry.field(
        default=CTCAE_LAB_RULE, description="The rule that produced the figures, with its version."
    )


@strawberry.type(
    description="A lab result. `value` is in the analyte's canonical unit (see `unit`); what the lab sent is kept in valueReported/unitReported."
)
class LabResult:
    id: strawberry.ID = strawberry.field(description="Global id of the lab result.")
    subject_id: strawberry.Private[int]
    analyte: e.Analyte = strawberry.field(description="What was measured.")
    specimen: e.Specimen = strawberry.field(description="What the sample was taken from.")
    collected_at: dt.datetime = strawberry.field(description="When the sample was collected (UTC).")
    value: float | None = strawberry.field(description="In `unit`; null when below the limit of quantification.")
    unit: e.LabUnit = strawberry.field(description="The canonical unit of this analyte.")
    value_reported: float | None = strawberry.field(
        description="The value as the lab reported it, in unitReported; null when below the limit."
    )
    unit_reported: e.LabUnit = strawberry.field(description="The unit the lab reported in.")
    lln: float | None = strawberry.field(description="Lower limit of normal, in `unit` (the lab's own).")
    uln: float | None = strawberry.field(description="Upper limit of normal, in `unit`.")
    lloq: float | None = strawberry.field(description="Lower limit of quantification, in `unit`.")
    below_limit: bool = strawberry.field(description="Whether the value was below the lower limit of quantification.")
    lab_name: str | None = strawberry.field(description="Laboratory that reported it; null when not given.")
    assay: str | None = strawberry.field(description="Assay used; null when not given.")

    @strawberry.field(
        description="CTCAE v5.0 grade for platelets, neutrophils, lymphocytes, white cells and hemoglobin; null otherwise."
    )
    def ctcae_grade(self) -> LabGrade | None:
        if self.value is None:
            return None
        grade = ctcae_lab_grade(self.analyte, self.value, self.lln)
        return (
            LabGrade(grade=grade.grade, term=grade.term, meddra_code=grade.meddra_code, version=grade.version)
            if grade
            else None
        )

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.collected_at)

    @classmethod
    def of(cls, row: m.LabResult) -> LabResult:
        return cls(
            id=encode_id("LabResult", row.id),
            subject_id=row.subject_id,
            analyte=row.analyte,
            specimen=row.specimen,
            collected_at=row.collected_at,
            value=row.value,
            unit=SPECS[row.analyte].canonical,
            value_reported=row.value_reported,
            unit_reported=row.unit_reported,
            lln=row.lln,
            uln=row.uln,
            lloq=row.lloq,
            below_limit=row.below_limit,
            lab_name=row.lab_name,
            assay=row.assay,
        )

    @classmethod
    def of_platelet_count(cls, row: m.PlateletCount) -> LabResult:
        """Platelet counts are lab results too (one table, the one the response engine reads)."""
        from ...domain.labs import Analyte, Specimen, Unit

        return cls(
            id=encode_id("PlateletCount", row.id),
            subject_id=row.subject_id,
            analyte=Analyte.PLATELETS,
            specimen=Specimen.BLOOD,
            collected_at=row.drawn_at,
            value=row.value_e9_per_l,
            unit=Unit.E9_PER_L,
            value_reported=row.value_reported if row.unit_reported is not None else row.value_e9_per_l,
            unit_reported=Unit(row.unit_reported) if row.unit_reported else Unit.E9_PER_L,
            lln=row.lln_e9_per_l,
            uln=row.uln_e9_per_l,
            lloq=None,
            below_limit=False,
            lab_name=row.lab_name,
            assay=row.assay,
        )


@strawberry.type(description="B cells at one draw: absolute CD19+ and aplasia by both rules.")
class BCellDraw:
    collected_on: dt.date = strawberry.field(description="Date of the draw (UTC).")
    cd19_percent_of_lymphocytes: float | None = strawberry.field(description="% of lymphocytes.")
    lymphocytes_per_ul: float | None = strawberry.field(description="cells/uL.")
    cd19_per_ul: float | None = strawberry.field(
        description="Absolute CD19+ cells/uL (%CD19+ x lymphocytes/uL unless measured)."
    )
    aplasia_by_percent: bool | None = strawberry.field(
        description="Aplastic by the % rule (CD19+ below the % of lymphocytes threshold); null without the %."
    )
    aplasia_by_absolute: bool | None = strawberry.field(
        description="Aplastic by the absolute rule (CD19+ below the cells/uL threshold); null without a count."
    )
    rules_disagree: bool = strawberry.field(description="Whether the two rules disagree at this draw.")
    aplastic: bool | None = strawberry.field(description="By the rule the protocol parameters choose.")


@strawberry.type(description=f"B-cell aplasia over time. Rule: {o.B_CELL_RULE}")
class BCells:
    draws: list[BCellDraw] = strawberry.field(description="Draws with B-cell values, oldest first.")
    rule: str = strawberry.field(description="The rule that produced the figures, with its version.")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")
    aplasia_on: dt.date | None = strawberry.field(description="First aplastic draw after the CD19 infusion.")
    days_to_aplasia: int | None = strawberry.field(description="Days from the CD19 infusion to aplasia.")
    recovery_on: dt.date | None = strawberry.field(description="First non-aplastic draw after aplasia.")
    days_to_recovery: int | None = strawberry.field(description="Days from the CD19 infusion to recovery.")


@strawberry.type(description=f"IgG with its status. Rule: {o.IGG_RULE} (thresholds are protocol parameters).")
class IgGValue:
    collected_at: dt.datetime = strawberry.field(description="When the sample was collected (UTC).")
    igg_mg_per_dl: float = strawberry.field(description="IgG in mg/dL (1 g/L = 100 mg/dL).")
    status: e.IgGStatus = strawberry.field(description="NORMAL, LOW or SEVERE by the protocol's thresholds.")


@strawberry.type(description="A point of a CAR-T series, ready to plot.")
class KineticPointType:
    day: float = strawberry.field(description="Days from this product's infusion (actual elapsed days).")
    value: float | None = strawberry.field(description="copies/ug DNA (QPCR) or CAR+ cells/uL (FLOW); null when BLQ.")
    blq: bool = strawberry.field(description="Below the lower limit of quantification.")


@strawberry.type(description=f"CAR-T expansion and persistence of one product. Rule: {o.KINETICS_RULE}")
class CarTKinetics:
    product: e.CarTProduct = strawberry.field(description="The CAR-T product measured (day 0 = its infusion).")
    measure: e.KineticsMeasure = strawberry.field(description="QPCR or FLOW.")
    unit: str = strawberry.field(
        description="Unit of cmax and the series values: copies/ug genomic DNA or CAR+ cells/uL."
    )
    cmax: float | None = strawberry.field(description="Peak value, in `unit`.")
    tmax: float | None = strawberry.field(description="Day of the peak.")
    auc_0_28: float | None = strawberry.field(
        name="auc0To28", description="Area under the curve from day 0 to 28, in `unit` x days."
    )
    tlast: float | None = strawberry.field(description="Last quantifiable day (persistence).")
    series: list[KineticPointType] = strawberry.field(description="The measurements, by day, ready to plot.")
    rule: str = strawberry.field(
        default=o.KINETICS_RULE, description="The rule that produced the figures, with its version."
    )


@strawberry.type(description="One specificity in an antibody test.")
class AntibodySpecificity:
    specificity: str = strawberry.field(description="The specificity (e.g. A*02:01, HPA-1a).")
    mfi: float | None = strawberry.field(
        description="Median fluorescence intensity (bead assays); not comparable across kits."
    )
    positive: bool = strawberry.field(
        description="Whether the specificity is positive by the test's cut-off (or as reported)."
    )


@strawberry.type(description="An HLA or HPA antibody test with its kit, lot and positivity rule.")
class AntibodyTest:
    id: strawberry.ID = strawberry.field(description="Global id of the antibody test.")
    subject_id: strawberry.Private[int]
    collected_at: dt.datetime = strawberry.field(description="When the sample was collected (UTC).")
    antibody_class: e.AntibodyClass = strawberry.field(description="Which antibodies the test looks for.")
    method: e.AntibodyMethod = strawberry.field(description="Assay method.")
    kit: str | None = strawberry.field(description="Kit name (MFI is not comparable across kits); null when not given.")
    lot: str | None = strawberry.field(description="Kit lot; null when not given.")
    cutoff_mfi: float | None = strawberry.field(description="Positive when MFI meets this (see cutoffOperator).")
    cutoff_operator: e.CutoffOperator = strawberry.field(description="How MFI is compared with cutoffMfi.")
    cpra_percent: float | None = strawberry.field(description="Calculated PRA in %, as the lab reports it.")
    results: list[AntibodySpecificity] = strawberry.field(description="One result per specificity.")

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.collected_at)

    @classmethod
    def of(cls, row: m.AntibodyTest) -> AntibodyTest:
        return cls(
            id=encode_id("AntibodyTest", row.id),
            subject_id=row.subject_id,
            collected_at=row.collected_at,
            antibody_class=row.antibody_class,
            method=row.method,
            kit=row.kit,
            lot=row.lot,
            cutoff_mfi=row.cutoff_mfi,
            cutoff_operator=row.cutoff_operator,
            cpra_percent=row.cpra_percent,
            results=[
                AntibodySpecificity(specificity=r["specificity"], mfi=r.get("mfi"), positive=bool(r["positive"]))
                for r in row.results
            ],
        )


@strawberry.type(description="When one baseline-positive specificity cleared.")
class SpecificityClearance:
    specificity: str = strawberry.field(description="The specificity (e.g. A*02:01).")
    cleared_at: dt.datetime | None = strawberry.field(
        description="The second of two consecutive negative samples (UTC); null while not cleared."
    )


@strawberry.type(description="The summed MFI of the baseline-positive specificities at one sample.")
class SummedMfi:
    collected_at: dt.datetime = strawberry.field(description="When the sample was collected (UTC).")
    summed_mfi: float = strawberry.field(description="Sum of the MFIs of the baseline-positive specificities.")


@strawberry.type(description=f"Clearance of antibodies positive at baseline. Rule: {o.CLEARANCE_RULE}")
class AntibodyClearance:
    classes: list[e.AntibodyClass] = strawberry.field(description="The antibody classes considered.")
    baseline_positive: list[str] = strawberry.field(description="Specificities positive at baseline.")
    specificities: list[SpecificityClearance] = strawberry.field(
        description="Clearance of each baseline-positive specificity."
    )
    cleared_at: dt.datetime | None = strawberry.field(
        description="When every baseline-positive specificity was cleared."
    )
    summed_mfi: list[SummedMfi] = strawberry.field(description="Summed MFI over time, oldest first.")
    summed_mfi_reduction_percent: float | None = strawberry.field(
        description="Reduction of the summed MFI from baseline to the latest sample, in %."
    )
    rule: str = strawberry.field(
        default=o.CLEARANCE_RULE, description="The rule that produced the figures, with its version."
    )


@strawberry.type(description="A cohort count at a time point.")
class CohortCount:
    subjects_assessed: int = strawberry.field(description="Subjects who could be assessed at the time point.")
    subjects_meeting: int = strawberry.field(description="Of those, subjects meeting the criterion.")
    rule: str = strawberry.field(description="The criterion and its time point, in words.")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")


@strawberry.type(description="Median Cmax of a product across subjects.")
class MedianValue:
    subjects: int = strawberry.field(description="Subjects with a value.")
    median: float | None = strawberry.field(
        description="Median across them, in `unit`; null when no subject has a value."
    )
    unit: str = strawberry.field(description="copies/ug genomic DNA (QPCR) or CAR+ cells/uL (FLOW).")
