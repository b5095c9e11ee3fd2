"""Therapy and procedure (transplant) mutations."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

import strawberry

from ...services import records
from ...services.unit_of_work import UnitOfWork
from ..common.amend import amend_fields
from ..common.context import Info
from ..common.errors import UserErrors, run_use_case
from .inputs import (
    AMEND_PROCEDURE,
    AMEND_THERAPY,
    GRAPHQL_FIELDS,
    PROCEDURE_NULLABLE,
    THERAPY_NULLABLE,
    AmendProcedureInput,
    AmendTherapyInput,
    RecordProcedureInput,
    RecordTherapyInput,
)
from .types import (
    Procedure,
    Therapy,
)


@strawberry.type(description="The therapy was written.")
class TherapySuccess:
    therapy: Therapy = strawberry.field(description="The therapy as stored.")


@strawberry.type(description="The procedure was written.")
class ProcedureSuccess:
    procedure: Procedure = strawberry.field(description="The procedure as stored.")


TherapyResult: TypeAlias = Annotated[
    TherapySuccess | UserErrors, strawberry.union("TherapyResult", description="TherapySuccess or a typed error.")
]


ProcedureResult: TypeAlias = Annotated[
    ProcedureSuccess | UserErrors, strawberry.union("ProcedureResult", description="ProcedureSuccess or a typed error.")
]


def _therapy(row: Any) -> TherapySuccess:
    return TherapySuccess(therapy=Therapy.of(row))


def _procedure(row: Any) -> ProcedureSuccess:
    return ProcedureSuccess(procedure=Procedure.of(row))


@strawberry.type
class TherapiesMutation:
    @strawberry.mutation(
        description="Record a prior or concomitant therapy. Confounding (IVIG, TPO-RA) is applied to the subject's stored responses at once."
    )
    async def record_therapy(
        self,
        info: Info,
        input: Annotated[RecordTherapyInput, strawberry.argument(description="The therapy.")],
    ) -> TherapyResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {name: getattr(input, name) for name in records.THERAPY.fields}
            return await records.create_record(uow, records.THERAPY, input.subject_code, values)

        return await run_use_case(info, use_case, _therapy)

    @strawberry.mutation(description="Correct a therapy, with a reason.")
    async def amend_therapy(
        self,
        info: Info,
        input: Annotated[AmendTherapyInput, strawberry.argument(description="The therapy's corrections.")],
    ) -> TherapyResult:
        return await amend_fields(
            info, records.THERAPY, input, AMEND_THERAPY, THERAPY_NULLABLE, _therapy, GRAPHQL_FIELDS
        )

    @strawberry.mutation(
        description="Record a splenectomy or an HSCT. An allogeneic HSCT ends the evaluable follow-up on its date (hsctEndsFollowUp)."
    )
    async def record_procedure(
        self,
        info: Info,
        input: Annotated[RecordProcedureInput, strawberry.argument(description="The procedure.")],
    ) -> ProcedureResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {name: getattr(input, name) for name in records.PROCEDURE.fields}
            return await records.create_record(uow, records.PROCEDURE, input.subject_code, values)

        return await run_use_case(info, use_case, _procedure)

    @strawberry.mutation(description="Correct a procedure, with a reason.")
    async def amend_procedure(
        self,
        info: Info,
        input: Annotated[AmendProcedureInput, strawberry.argument(description="The procedure's corrections.")],
    ) -> ProcedureResult:
        return await amend_fields(
            info, records.PROCEDURE, input, AMEND_PROCEDURE, PROCEDURE_NULLABLE, _procedure, GRAPHQL_FIELDS
        )
