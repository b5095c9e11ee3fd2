"""Clinical record mutations: record, amend and void a subject's records; amend the protocol
parameters."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeAlias

import strawberry

from ...services import protocol, records
from ...services.errors import NotFound
from ...services.unit_of_work import UnitOfWork
from ..common.amend import amend_fields
from ..common.context import Info
from ..common.errors import UserErrors, run_use_case
from ..common.ids import decode_id
from ..common.inputs import aware, patch_of
from .inputs import (
    AMEND_INFUSION,
    AMEND_LYMPHODEPLETION,
    AMEND_MEASUREMENT,
    PROTOCOL_PARAMETER_FIELDS,
    AmendBodyMeasurementInput,
    AmendCarTInfusionInput,
    AmendLymphodepletionInput,
    AmendProtocolParametersInput,
    RecordBodyMeasurementInput,
    RecordCarTInfusionInput,
    RecordLymphodepletionInput,
    VoidRecordInput,
    agents_value,
)
from .types import BodyMeasurement, CarTInfusion, LymphodepletionCourse, ProtocolParameters


@strawberry.type(description="The body measurement was written.")
class BodyMeasurementSuccess:
    body_measurement: BodyMeasurement = strawberry.field(description="The measurement as stored.")


@strawberry.type(description="The lymphodepletion course was written.")
class LymphodepletionSuccess:
    lymphodepletion_course: LymphodepletionCourse = strawberry.field(description="The course as stored.")


@strawberry.type(description="The CAR-T infusion was written.")
class CarTInfusionSuccess:
    infusion: CarTInfusion = strawberry.field(description="The infusion as stored.")


@strawberry.type(description="The record was voided.")
class VoidRecordSuccess:
    id: strawberry.ID = strawberry.field(description="Global id of the voided record.")
    voided_at: dt.datetime = strawberry.field(description="UTC time of the void.")


@strawberry.type(description="A new version of the protocol parameters was written.")
class ProtocolParametersSuccess:
    protocol_parameters: ProtocolParameters = strawberry.field(description="The new version.")


BodyMeasurementResult: TypeAlias = Annotated[
    BodyMeasurementSuccess | UserErrors,
    strawberry.union("BodyMeasurementResult", description="BodyMeasurementSuccess or a typed error."),
]


LymphodepletionResult: TypeAlias = Annotated[
    LymphodepletionSuccess | UserErrors,
    strawberry.union("LymphodepletionResult", description="LymphodepletionSuccess or a typed error."),
]


CarTInfusionResult: TypeAlias = Annotated[
    CarTInfusionSuccess | UserErrors,
    strawberry.union("CarTInfusionResult", description="CarTInfusionSuccess or a typed error."),
]


VoidRecordResult: TypeAlias = Annotated[
    VoidRecordSuccess | UserErrors,
    strawberry.union("VoidRecordResult", description="VoidRecordSuccess or a typed error."),
]


AmendProtocolParametersResult: TypeAlias = Annotated[
    ProtocolParametersSuccess | UserErrors,
    strawberry.union("AmendProtocolParametersResult", description="ProtocolParametersSuccess or a typed error."),
]


def _measurement(row: Any) -> BodyMeasurementSuccess:
    return BodyMeasurementSuccess(body_measurement=BodyMeasurement.of(row))


def _lymphodepletion(row: Any) -> LymphodepletionSuccess:
    return LymphodepletionSuccess(lymphodepletion_course=LymphodepletionCourse.of(row))


def _infusion(row: Any) -> CarTInfusionSuccess:
    return CarTInfusionSuccess(infusion=CarTInfusion.of(row))


@strawberry.type
class RecordsMutation:
    @strawberry.mutation(
        description="Amend the protocol parameters (admins): makes a new version; derived values follow it from its effective date."
    )
    async def amend_protocol_parameters(
        self,
        info: Info,
        input: Annotated[
            AmendProtocolParametersInput,
            strawberry.argument(description="The parameters that change, and from when."),
        ],
    ) -> AmendProtocolParametersResult:
        async def use_case(uow: UnitOfWork) -> Any:
            required = frozenset(name for name, _ in PROTOCOL_PARAMETER_FIELDS.values())
            changes = patch_of(input, PROTOCOL_PARAMETER_FIELDS, required)
            return await protocol.amend_protocol_parameters(
                uow, changes=changes, effective_from=input.effective_from, reason=input.reason
            )

        result = await run_use_case(
            info,
            use_case,
            lambda row: ProtocolParametersSuccess(protocol_parameters=ProtocolParameters.of(row, True)),
        )
        if isinstance(result, ProtocolParametersSuccess):
            # Committed: this process's next read has the new version at once; the others drop
            # their copy on the trigger's NOTIFY (server.db.protocol_cache).
            info.context.protocol_cache.drop()
        return result

    @strawberry.mutation(description="Record height and/or weight.")
    async def record_body_measurement(
        self,
        info: Info,
        input: Annotated[RecordBodyMeasurementInput, strawberry.argument(description="The measurement.")],
    ) -> BodyMeasurementResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {
                "measured_at": aware(input.measured_at, ("measuredAt",)),
                "height_cm": input.height_cm,
                "weight_kg": input.weight_kg,
            }
            return await records.create_record(uow, records.BODY_MEASUREMENT, input.subject_code, values)

        return await run_use_case(info, use_case, _measurement)

    @strawberry.mutation(description="Correct a body measurement, with a reason.")
    async def amend_body_measurement(
        self,
        info: Info,
        input: Annotated[AmendBodyMeasurementInput, strawberry.argument(description="The measurement's corrections.")],
    ) -> BodyMeasurementResult:
        return await amend_fields(
            info, records.BODY_MEASUREMENT, input, AMEND_MEASUREMENT, ("height_cm", "weight_kg"), _measurement
        )

    @strawberry.mutation(description="Record a lymphodepletion course.")
    async def record_lymphodepletion(
        self,
        info: Info,
        input: Annotated[RecordLymphodepletionInput, strawberry.argument(description="The course.")],
    ) -> LymphodepletionResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {
                "start_date": input.start_date,
                "end_date": input.end_date,
                "agents": agents_value(input.agents),
            }
            return await records.create_record(uow, records.LYMPHODEPLETION, input.subject_code, values)

        return await run_use_case(info, use_case, _lymphodepletion)

    @strawberry.mutation(description="Correct a lymphodepletion course, with a reason.")
    async def amend_lymphodepletion(
        self,
        info: Info,
        input: Annotated[AmendLymphodepletionInput, strawberry.argument(description="The course's corrections.")],
    ) -> LymphodepletionResult:
        return await amend_fields(info, records.LYMPHODEPLETION, input, AMEND_LYMPHODEPLETION, (), _lymphodepletion)

    @strawberry.mutation(
        description="Record a CAR-T infusion. BCMA before the subject's CD19 infusion is refused unless the protocol parameters allow it."
    )
    async def record_car_t_infusion(
        self,
        info: Info,
        input: Annotated[RecordCarTInfusionInput, strawberry.argument(description="The infusion.")],
    ) -> CarTInfusionResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {
                "product": input.product,
                "infused_at": aware(input.infused_at, ("infusedAt",)),
                "lot_number": input.lot_number,
                "car_positive_cells_per_kg": input.car_positive_cells_per_kg,
                "total_car_positive_cells": input.total_car_positive_cells,
            }
            return await records.create_record(uow, records.CAR_T_INFUSION, input.subject_code, values)

        return await run_use_case(info, use_case, _infusion)

    @strawberry.mutation(description="Correct a CAR-T infusion, with a reason.")
    async def amend_car_t_infusion(
        self,
        info: Info,
        input: Annotated[AmendCarTInfusionInput, strawberry.argument(description="The infusion's corrections.")],
    ) -> CarTInfusionResult:
        nullable = ("car_positive_cells_per_kg", "total_car_positive_cells")
        return await amend_fields(info, records.CAR_T_INFUSION, input, AMEND_INFUSION, nullable, _infusion)

    @strawberry.mutation(
        description="Void a measurement, lymphodepletion course, infusion, transfusion, count, therapy or procedure, with a reason. Voided records are kept and audited, never deleted."
    )
    async def void_record(
        self,
        info: Info,
        input: Annotated[VoidRecordInput, strawberry.argument(description="The record to void, and why.")],
    ) -> VoidRecordResult:
        async def use_case(uow: UnitOfWork) -> Any:
            decoded = decode_id(input.id)
            kind = records.KINDS.get(decoded[0]) if decoded else None
            if decoded is None or kind is None:
                raise NotFound("record", ("id",))
            return await records.void_record(uow, kind, decoded[1], input.reason)

        return await run_use_case(info, use_case, lambda row: VoidRecordSuccess(id=input.id, voided_at=row.voided_at))
