"""Lab result and antibody test mutations."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

import strawberry

from ...services import antibodies, labs
from ...services.unit_of_work import UnitOfWork
from ..common.context import Info
from ..common.errors import UserErrors, run_use_case
from ..common.ids import encode_id
from ..common.inputs import aware
from .inputs import RecordAntibodyTestInput, RecordLabResultsInput, lab_row
from .types import (
    AntibodyTest,
    LabResult,
)


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


@strawberry.type(description="The antibody test was written.")
class AntibodyTestSuccess:
    antibody_test: AntibodyTest = strawberry.field(description="The test as stored.")


RecordLabResultsResult: TypeAlias = Annotated[
    LabResultsRecorded | UserErrors,
    strawberry.union("RecordLabResultsResult", description="LabResultsRecorded or a typed error."),
]


RecordAntibodyTestResult: TypeAlias = Annotated[
    AntibodyTestSuccess | UserErrors,
    strawberry.union("RecordAntibodyTestResult", description="AntibodyTestSuccess or a typed error."),
]


def _recorded(outcome: labs.LabBatchOutcome) -> LabResultsRecorded:

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
