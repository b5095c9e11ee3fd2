"""Therapy and procedure (transplant) mutations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Annotated, Any, TypeAlias, TypeVar

import strawberry

from ...services import records
from ...services.errors import InvalidInput, NotFound
from ...services.unit_of_work import UnitOfWork
from ..common.context import Info
from ..common.errors import UserErrors, run_use_case
from ..common.ids import decode_id
from ..common.inputs import Converter, patch_of
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


S = TypeVar("S")


async def amend_record(
    info: Info,
    kind: records.RecordKind,
    data: Any,
    converters: Mapping[str, tuple[str, Converter]],
    nullable: tuple[str, ...],
    present: Callable[[Any], S],
) -> S | UserErrors:
    """As records.mutations.amend_fields: the patch of the given fields, amended with the reason."""

    async def use_case(uow: UnitOfWork) -> Any:
        decoded = decode_id(data.id)
        if decoded is None or decoded[0] != kind.entity:
            raise NotFound(kind.entity, ("id",))
        required = frozenset(name for name in kind.fields if name not in nullable)
        try:
            patch = patch_of(data, converters, required)
        except InvalidInput as error:  # the GraphQL names of therapy_class and procedure_type
            raise InvalidInput(
                [replace(p, field=GRAPHQL_FIELDS.get(p.field, p.field)) for p in error.problems]
            ) from None
        return await records.amend_record(uow, kind, decoded[1], patch, data.reason)

    return await run_use_case(info, use_case, present)


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
        return await amend_record(info, records.THERAPY, input, AMEND_THERAPY, THERAPY_NULLABLE, _therapy)

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
        return await amend_record(info, records.PROCEDURE, input, AMEND_PROCEDURE, PROCEDURE_NULLABLE, _procedure)
