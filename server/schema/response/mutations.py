"""Transfusion and platelet count mutations; their derived values are recomputed in the same
transaction (server.services.response)."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

import strawberry

from ...domain.validation import Problem, ProblemCode
from ...services import records
from ...services.errors import InvalidInput
from ...services.unit_of_work import UnitOfWork
from ..common.amend import amend_fields
from ..common.context import Info
from ..common.errors import UserErrors, run_use_case
from ..common.inputs import aware
from .inputs import (
    AMEND_COUNT,
    AMEND_TRANSFUSION,
    AmendPlateletCountInput,
    AmendPlateletTransfusionInput,
    RecordPlateletCountInput,
    RecordPlateletTransfusionInput,
    count_value,
    units_value,
)
from .types import PlateletCount, PlateletTransfusion


@strawberry.type(description="The platelet transfusion (and any counts given with it) was written.")
class PlateletTransfusionSuccess:
    row: strawberry.Private[Any]
    count_rows: strawberry.Private[list[Any]]

    @strawberry.field(description="The transfusion as stored, with its response.")
    async def transfusion(self, info: Info) -> PlateletTransfusion:
        return (await PlateletTransfusion.load(info, [self.row]))[0]

    @strawberry.field(description="Counts recorded with it, in the order given (pre-count first).")
    def counts(self) -> list[PlateletCount]:
        return [PlateletCount.of(c) for c in self.count_rows]


@strawberry.type(description="The platelet count was written.")
class PlateletCountSuccess:
    platelet_count: PlateletCount = strawberry.field(description="The count as stored.")


PlateletTransfusionResult: TypeAlias = Annotated[
    PlateletTransfusionSuccess | UserErrors,
    strawberry.union("PlateletTransfusionResult", description="PlateletTransfusionSuccess or a typed error."),
]


PlateletCountResult: TypeAlias = Annotated[
    PlateletCountSuccess | UserErrors,
    strawberry.union("PlateletCountResult", description="PlateletCountSuccess or a typed error."),
]


def _count(row: Any) -> PlateletCountSuccess:
    return PlateletCountSuccess(platelet_count=PlateletCount.of(row))


def _transfusion(saved: Any) -> PlateletTransfusionSuccess:
    transfusion, counts = saved if isinstance(saved, tuple) else (saved, [])
    return PlateletTransfusionSuccess(row=transfusion, count_rows=list(counts))


@strawberry.type
class ResponseMutation:
    @strawberry.mutation(
        description="Record a platelet transfusion, optionally with its pre- and post-transfusion counts (one transaction)."
    )
    async def record_platelet_transfusion(
        self,
        info: Info,
        input: Annotated[
            RecordPlateletTransfusionInput,
            strawberry.argument(description="The transfusion, its units and any counts drawn around it."),
        ],
    ) -> PlateletTransfusionResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {
                "started_at": aware(input.started_at, ("startedAt",)),
                "ended_at": aware(input.ended_at, ("endedAt",)),
                "units": units_value(input.units),
                "abo_compatibility": input.abo_compatibility,
                "hla_selected": input.hla_selected,
                "crossmatched": input.crossmatched,
                "storage_age_days": input.storage_age_days,
                "note": input.note,
            }
            pre = count_value(input.pre_count, ("preCount",)) if input.pre_count else None
            if len(input.post_counts) > 10:
                raise InvalidInput(
                    [Problem(("postCounts",), ProblemCode.OUT_OF_RANGE, "at most 10 post-transfusion counts")]
                )
            post = [count_value(c, ("postCounts", str(n))) for n, c in enumerate(input.post_counts)]
            return await records.record_platelet_transfusion(uow, input.subject_code, values, pre, post)

        return await run_use_case(info, use_case, _transfusion)

    @strawberry.mutation(description="Correct a platelet transfusion, with a reason.")
    async def amend_platelet_transfusion(
        self,
        info: Info,
        input: Annotated[
            AmendPlateletTransfusionInput, strawberry.argument(description="The transfusion's corrections.")
        ],
    ) -> PlateletTransfusionResult:
        return await amend_fields(
            info, records.PLATELET_TRANSFUSION, input, AMEND_TRANSFUSION, ("storage_age_days", "note"), _transfusion
        )

    @strawberry.mutation(description="Record a platelet count (x10^9/L).")
    async def record_platelet_count(
        self,
        info: Info,
        input: Annotated[RecordPlateletCountInput, strawberry.argument(description="The count.")],
    ) -> PlateletCountResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {"value_e9_per_l": input.value_e9_per_l, "drawn_at": aware(input.drawn_at, ("drawnAt",))}
            return await records.create_record(uow, records.PLATELET_COUNT, input.subject_code, values)

        return await run_use_case(info, use_case, _count)

    @strawberry.mutation(description="Correct a platelet count, with a reason.")
    async def amend_platelet_count(
        self,
        info: Info,
        input: Annotated[AmendPlateletCountInput, strawberry.argument(description="The count's corrections.")],
    ) -> PlateletCountResult:
        return await amend_fields(info, records.PLATELET_COUNT, input, AMEND_COUNT, (), _count)
