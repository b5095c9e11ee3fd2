"""The response engine, applied to stored records: maps rows to the domain's values and runs the
domain's rules. Nothing is stored: derived values are computed from the inputs at read time, so
a corrected count changes the CCI, the response and the endpoint at once (DESIGN.md rule 5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..db.models import BodyMeasurement, PlateletCount, PlateletTransfusion
from ..domain.bsa import Measurement
from ..domain.protocol import ProtocolParameters
from ..domain.response import (
    Count,
    SubjectResponse,
    Transfusion,
    TransfusionResponse,
    assess_subject,
    evaluate_transfusions,
)
from ..domain.statistics import Proportion, clopper_pearson


def transfusion_dose_e11(row: PlateletTransfusion) -> float | None:
    """Total platelet content in x10^11; unknown when any unit's content is unknown."""
    contents: list[float | None] = [unit.get("content_e11") for unit in row.units]
    known = [float(c) for c in contents if c is not None]
    if not contents or len(known) < len(contents):
        return None
    return sum(known)


def _transfusion(row: PlateletTransfusion) -> Transfusion:
    return Transfusion(
        transfusion_id=row.id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        dose_e11=transfusion_dose_e11(row),
        abo_compatible=row.abo_compatibility.is_compatible,
    )


@dataclass(frozen=True)
class SubjectEvaluation:
    parameter_version: int
    by_transfusion: dict[int, TransfusionResponse]
    subject: SubjectResponse


def evaluate_subject(
    transfusions: Sequence[PlateletTransfusion],
    counts: Sequence[PlateletCount],
    measurements: Sequence[BodyMeasurement],
    first_infusion_at: datetime | None,
    parameters: ProtocolParameters,
    parameter_version: int,
) -> SubjectEvaluation:
    results = evaluate_transfusions(
        [_transfusion(t) for t in transfusions],
        [Count(c.id, c.drawn_at, c.value_e9_per_l) for c in counts],
        [Measurement(m.measured_at, m.height_cm, m.weight_kg) for m in measurements],
        parameters,
    )
    return SubjectEvaluation(
        parameter_version=parameter_version,
        by_transfusion={r.transfusion.transfusion_id: r for r in results},
        subject=assess_subject(results, first_infusion_at, parameters),
    )


@dataclass(frozen=True)
class EndpointSubject:
    infused: bool  # received at least one CAR-T infusion
    per_protocol: bool  # received both CD19 and BCMA
    sustained: bool


def primary_endpoint(subjects: Sequence[EndpointSubject], per_protocol: bool) -> Proportion:
    """Responders (sustained responsiveness) among infused or per-protocol subjects, with the
    exact Clopper-Pearson 95% interval."""
    population = [s for s in subjects if (s.per_protocol if per_protocol else s.infused)]
    return clopper_pearson(sum(1 for s in population if s.sustained), len(population))
