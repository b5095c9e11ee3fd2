"""Inputs of the lab result and antibody test mutations."""

from __future__ import annotations

import datetime as dt

import strawberry

from ...services import labs
from ..common import enums as e
from ..common.inputs import aware


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
