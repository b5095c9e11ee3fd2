"""Write operations. Each runs one use case of server.services in one transaction and returns
its success type or a typed error (never a partial write)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry

from ..domain.validation import Problem, ProblemCode
from ..services import protocol, records, subjects
from ..services.errors import InvalidInput, NotFound
from ..services.unit_of_work import UnitOfWork
from . import inputs as i
from . import types as t
from .context import Info
from .devices import DevicesMutation
from .errors import result_union, run_use_case
from .ids import decode_id
from .outcomes import OutcomesMutation
from .safety import SafetyMutation
from .therapies import TherapiesMutation


@strawberry.type(description="The subject was written.")
class SubjectSuccess:
    subject: t.Subject = strawberry.field(description="The subject as stored.")


@strawberry.type(description="The site was written.")
class SiteSuccess:
    site: t.Site = strawberry.field(description="The site as stored.")


@strawberry.type(description="The body measurement was written.")
class BodyMeasurementSuccess:
    body_measurement: t.BodyMeasurement = strawberry.field(description="The measurement as stored.")


@strawberry.type(description="The lymphodepletion course was written.")
class LymphodepletionSuccess:
    lymphodepletion_course: t.LymphodepletionCourse = strawberry.field(description="The course as stored.")


@strawberry.type(description="The CAR-T infusion was written.")
class CarTInfusionSuccess:
    infusion: t.CarTInfusion = strawberry.field(description="The infusion as stored.")


@strawberry.type(description="The platelet transfusion (and any counts given with it) was written.")
class PlateletTransfusionSuccess:
    row: strawberry.Private[Any]
    count_rows: strawberry.Private[list[Any]]

    @strawberry.field(description="The transfusion as stored, with its response.")
    async def transfusion(self, info: Info) -> t.PlateletTransfusion:
        return (await t.PlateletTransfusion.load(info, [self.row]))[0]

    @strawberry.field(description="Counts recorded with it, in the order given (pre-count first).")
    def counts(self) -> list[t.PlateletCount]:
        return [t.PlateletCount.of(c) for c in self.count_rows]


@strawberry.type(description="The platelet count was written.")
class PlateletCountSuccess:
    platelet_count: t.PlateletCount = strawberry.field(description="The count as stored.")


@strawberry.type(description="The record was voided.")
class VoidRecordSuccess:
    id: strawberry.ID = strawberry.field(description="Global id of the voided record.")
    voided_at: dt.datetime = strawberry.field(description="UTC time of the void.")


@strawberry.type(description="A new version of the protocol parameters was written.")
class ProtocolParametersSuccess:
    protocol_parameters: t.ProtocolParameters = strawberry.field(description="The new version.")


EnrollSubjectResult = result_union("EnrollSubjectResult", SubjectSuccess)
AmendSubjectResult = result_union("AmendSubjectResult", SubjectSuccess)
ChangeSubjectStatusResult = result_union("ChangeSubjectStatusResult", SubjectSuccess)
CreateSiteResult = result_union("CreateSiteResult", SiteSuccess)
UpdateSiteResult = result_union("UpdateSiteResult", SiteSuccess)
BodyMeasurementResult = result_union("BodyMeasurementResult", BodyMeasurementSuccess)
LymphodepletionResult = result_union("LymphodepletionResult", LymphodepletionSuccess)
CarTInfusionResult = result_union("CarTInfusionResult", CarTInfusionSuccess)
PlateletTransfusionResult = result_union("PlateletTransfusionResult", PlateletTransfusionSuccess)
PlateletCountResult = result_union("PlateletCountResult", PlateletCountSuccess)
VoidRecordResult = result_union("VoidRecordResult", VoidRecordSuccess)
AmendProtocolParametersResult = result_union("AmendProtocolParametersResult", ProtocolParametersSuccess)

REQUIRED_SUBJECT = frozenset(
    {"sex", "year_of_birth", "age_at_consent", "diagnosis", "remission_status", "consent_date"}
)


def _record_pk(global_id: str, kind: records.RecordKind) -> int:
    decoded = decode_id(global_id)
    if decoded is None or decoded[0] != kind.entity:
        raise NotFound(kind.entity, ("id",))
    return decoded[1]


def _required(kind: records.RecordKind, nullable: tuple[str, ...] = ()) -> frozenset[str]:
    return frozenset(name for name in kind.fields if name not in nullable)


async def _amend(
    info: Info, kind: records.RecordKind, data: Any, converters: dict[str, Any], nullable: tuple[str, ...], present: Any
) -> Any:
    async def use_case(uow: UnitOfWork) -> Any:
        patch = i.patch_of(data, converters, _required(kind, nullable))
        return await records.amend_record(uow, kind, _record_pk(data.id, kind), patch, data.reason)

    return await run_use_case(info, use_case, present)


def _subject_details(data: i.EnrollSubjectInput) -> subjects.SubjectDetails:
    return subjects.SubjectDetails(
        sex=data.sex,
        year_of_birth=data.year_of_birth,
        age_at_consent=data.age_at_consent,
        diagnosis=data.diagnosis,
        remission_status=data.remission_status,
        remission_date=data.remission_date,
        abo_group=data.abo_group,
        rhd=data.rhd,
        consent_date=data.consent_date,
    )


def _subject(row: Any) -> SubjectSuccess:
    return SubjectSuccess(subject=t.Subject.of(row))


def _measurement(row: Any) -> BodyMeasurementSuccess:
    return BodyMeasurementSuccess(body_measurement=t.BodyMeasurement.of(row))


def _lymphodepletion(row: Any) -> LymphodepletionSuccess:
    return LymphodepletionSuccess(lymphodepletion_course=t.LymphodepletionCourse.of(row))


def _infusion(row: Any) -> CarTInfusionSuccess:
    return CarTInfusionSuccess(infusion=t.CarTInfusion.of(row))


def _count(row: Any) -> PlateletCountSuccess:
    return PlateletCountSuccess(platelet_count=t.PlateletCount.of(row))


def _transfusion(saved: Any) -> PlateletTransfusionSuccess:
    transfusion, counts = saved if isinstance(saved, tuple) else (saved, [])
    return PlateletTransfusionSuccess(row=transfusion, count_rows=list(counts))


@strawberry.type(
    description="Every write. Each is one transaction, audited; expected failures come back as a UserError member of the result union.",
)
class Mutation(SafetyMutation, OutcomesMutation, DevicesMutation, TherapiesMutation):
    @strawberry.mutation(description="Register a subject at a site (coordinators, investigators, admins).")
    async def enroll_subject(
        self,
        info: Info,
        input: Annotated[i.EnrollSubjectInput, strawberry.argument(description="The subject to enroll.")],
    ) -> EnrollSubjectResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await subjects.enroll_subject(
                uow, code=input.code, site_code=input.site_code, details=_subject_details(input), status=input.status
            )

        return await run_use_case(info, use_case, _subject)

    @strawberry.mutation(description="Correct a subject's details, with a reason (audited).")
    async def amend_subject(
        self,
        info: Info,
        input: Annotated[i.AmendSubjectInput, strawberry.argument(description="The subject's corrections.")],
    ) -> AmendSubjectResult:
        async def use_case(uow: UnitOfWork) -> Any:
            patch = i.patch_of(input, i.AMEND_SUBJECT, REQUIRED_SUBJECT)
            return await subjects.amend_subject(uow, code=input.code, patch=patch, reason=input.reason)

        return await run_use_case(info, use_case, _subject)

    @strawberry.mutation(description="Move a subject along the trial's path, with a reason.")
    async def change_subject_status(
        self,
        info: Info,
        input: Annotated[
            i.ChangeSubjectStatusInput, strawberry.argument(description="The subject and its new status.")
        ],
    ) -> ChangeSubjectStatusResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await subjects.change_subject_status(
                uow, code=input.code, status=input.status, effective_date=input.effective_date, reason=input.reason
            )

        return await run_use_case(info, use_case, _subject)

    @strawberry.mutation(description="Open a site (admins).")
    async def create_site(
        self,
        info: Info,
        input: Annotated[i.CreateSiteInput, strawberry.argument(description="The new site.")],
    ) -> CreateSiteResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await subjects.create_site(uow, code=input.code, name=input.name, phone=input.phone)

        return await run_use_case(info, use_case, lambda row: SiteSuccess(site=t.Site.of(row)))

    @strawberry.mutation(
        description="Change a site's name or phone number, with a reason (admins, and the site's coordinators and investigators)."
    )
    async def update_site(
        self,
        info: Info,
        input: Annotated[i.UpdateSiteInput, strawberry.argument(description="The site's changes.")],
    ) -> UpdateSiteResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await subjects.update_site(
                uow, code=input.code, name=input.name, phone=input.phone, reason=input.reason
            )

        return await run_use_case(info, use_case, lambda row: SiteSuccess(site=t.Site.of(row)))

    @strawberry.mutation(
        description="Amend the protocol parameters (admins): makes a new version; derived values follow it from its effective date."
    )
    async def amend_protocol_parameters(
        self,
        info: Info,
        input: Annotated[
            i.AmendProtocolParametersInput,
            strawberry.argument(description="The parameters that change, and from when."),
        ],
    ) -> AmendProtocolParametersResult:
        async def use_case(uow: UnitOfWork) -> Any:
            required = frozenset(name for name, _ in i.PROTOCOL_PARAMETER_FIELDS.values())
            changes = i.patch_of(input, i.PROTOCOL_PARAMETER_FIELDS, required)
            return await protocol.amend_protocol_parameters(
                uow, changes=changes, effective_from=input.effective_from, reason=input.reason
            )

        result = await run_use_case(
            info,
            use_case,
            lambda row: ProtocolParametersSuccess(protocol_parameters=t.ProtocolParameters.of(row, True)),
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
        input: Annotated[i.RecordBodyMeasurementInput, strawberry.argument(description="The measurement.")],
    ) -> BodyMeasurementResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {
                "measured_at": i.aware(input.measured_at, ("measuredAt",)),
                "height_cm": input.height_cm,
                "weight_kg": input.weight_kg,
            }
            return await records.create_record(uow, records.BODY_MEASUREMENT, input.subject_code, values)

        return await run_use_case(info, use_case, _measurement)

    @strawberry.mutation(description="Correct a body measurement, with a reason.")
    async def amend_body_measurement(
        self,
        info: Info,
        input: Annotated[
            i.AmendBodyMeasurementInput, strawberry.argument(description="The measurement's corrections.")
        ],
    ) -> BodyMeasurementResult:
        return await _amend(
            info, records.BODY_MEASUREMENT, input, i.AMEND_MEASUREMENT, ("height_cm", "weight_kg"), _measurement
        )

    @strawberry.mutation(description="Record a lymphodepletion course.")
    async def record_lymphodepletion(
        self,
        info: Info,
        input: Annotated[i.RecordLymphodepletionInput, strawberry.argument(description="The course.")],
    ) -> LymphodepletionResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {
                "start_date": input.start_date,
                "end_date": input.end_date,
                "agents": i.agents_value(input.agents),
            }
            return await records.create_record(uow, records.LYMPHODEPLETION, input.subject_code, values)

        return await run_use_case(info, use_case, _lymphodepletion)

    @strawberry.mutation(description="Correct a lymphodepletion course, with a reason.")
    async def amend_lymphodepletion(
        self,
        info: Info,
        input: Annotated[i.AmendLymphodepletionInput, strawberry.argument(description="The course's corrections.")],
    ) -> LymphodepletionResult:
        return await _amend(info, records.LYMPHODEPLETION, input, i.AMEND_LYMPHODEPLETION, (), _lymphodepletion)

    @strawberry.mutation(
        description="Record a CAR-T infusion. BCMA before the subject's CD19 infusion is refused unless the protocol parameters allow it."
    )
    async def record_car_t_infusion(
        self,
        info: Info,
        input: Annotated[i.RecordCarTInfusionInput, strawberry.argument(description="The infusion.")],
    ) -> CarTInfusionResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {
                "product": input.product,
                "infused_at": i.aware(input.infused_at, ("infusedAt",)),
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
        input: Annotated[i.AmendCarTInfusionInput, strawberry.argument(description="The infusion's corrections.")],
    ) -> CarTInfusionResult:
        nullable = ("car_positive_cells_per_kg", "total_car_positive_cells")
        return await _amend(info, records.CAR_T_INFUSION, input, i.AMEND_INFUSION, nullable, _infusion)

    @strawberry.mutation(
        description="Record a platelet transfusion, optionally with its pre- and post-transfusion counts (one transaction)."
    )
    async def record_platelet_transfusion(
        self,
        info: Info,
        input: Annotated[
            i.RecordPlateletTransfusionInput,
            strawberry.argument(description="The transfusion, its units and any counts drawn around it."),
        ],
    ) -> PlateletTransfusionResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {
                "started_at": i.aware(input.started_at, ("startedAt",)),
                "ended_at": i.aware(input.ended_at, ("endedAt",)),
                "units": i.units_value(input.units),
                "abo_compatibility": input.abo_compatibility,
                "hla_selected": input.hla_selected,
                "crossmatched": input.crossmatched,
                "storage_age_days": input.storage_age_days,
                "note": input.note,
            }
            pre = i.count_value(input.pre_count, ("preCount",)) if input.pre_count else None
            if len(input.post_counts) > 10:
                raise InvalidInput(
                    [Problem(("postCounts",), ProblemCode.OUT_OF_RANGE, "at most 10 post-transfusion counts")]
                )
            post = [i.count_value(c, ("postCounts", str(n))) for n, c in enumerate(input.post_counts)]
            return await records.record_platelet_transfusion(uow, input.subject_code, values, pre, post)

        return await run_use_case(info, use_case, _transfusion)

    @strawberry.mutation(description="Correct a platelet transfusion, with a reason.")
    async def amend_platelet_transfusion(
        self,
        info: Info,
        input: Annotated[
            i.AmendPlateletTransfusionInput, strawberry.argument(description="The transfusion's corrections.")
        ],
    ) -> PlateletTransfusionResult:
        return await _amend(
            info, records.PLATELET_TRANSFUSION, input, i.AMEND_TRANSFUSION, ("storage_age_days", "note"), _transfusion
        )

    @strawberry.mutation(description="Record a platelet count (x10^9/L).")
    async def record_platelet_count(
        self,
        info: Info,
        input: Annotated[i.RecordPlateletCountInput, strawberry.argument(description="The count.")],
    ) -> PlateletCountResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {"value_e9_per_l": input.value_e9_per_l, "drawn_at": i.aware(input.drawn_at, ("drawnAt",))}
            return await records.create_record(uow, records.PLATELET_COUNT, input.subject_code, values)

        return await run_use_case(info, use_case, _count)

    @strawberry.mutation(description="Correct a platelet count, with a reason.")
    async def amend_platelet_count(
        self,
        info: Info,
        input: Annotated[i.AmendPlateletCountInput, strawberry.argument(description="The count's corrections.")],
    ) -> PlateletCountResult:
        return await _amend(info, records.PLATELET_COUNT, input, i.AMEND_COUNT, (), _count)

    @strawberry.mutation(
        description="Void a measurement, lymphodepletion course, infusion, transfusion, count, therapy or procedure, with a reason. Voided records are kept and audited, never deleted."
    )
    async def void_record(
        self,
        info: Info,
        input: Annotated[i.VoidRecordInput, strawberry.argument(description="The record to void, and why.")],
    ) -> VoidRecordResult:
        async def use_case(uow: UnitOfWork) -> Any:
            decoded = decode_id(input.id)
            kind = records.KINDS.get(decoded[0]) if decoded else None
            if decoded is None or kind is None:
                raise NotFound("record", ("id",))
            return await records.void_record(uow, kind, decoded[1], input.reason)

        return await run_use_case(info, use_case, lambda row: VoidRecordSuccess(id=input.id, voided_at=row.voided_at))
