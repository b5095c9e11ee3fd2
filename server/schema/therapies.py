"""Therapies and procedures: their mutations (record, amend with a reason; void through
voidRecord) and the cohort reads (analysts' therapies connection, monitors' deviations)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError

from ..db import therapies as qt
from ..domain.study_time import study_day
from ..services import records
from ..services.errors import InvalidInput, NotFound
from ..services.unit_of_work import UnitOfWork
from . import enums as e
from . import inputs as i
from .context import Info
from .errors import result_union, run_use_case
from .ids import decode_id, encode_cursor
from .paging import keyset_of, page_info
from .therapy_types import (
    Procedure,
    ProtocolDeviation,
    SiteDeviations,
    Therapy,
    TherapyConnection,
    TherapyEdge,
)
from .types import Site


@strawberry.input(description="A therapy. A dose needs its unit; give the end date or mark it ongoing.")
class RecordTherapyInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    therapy_class: e.TherapyClass = strawberry.field(name="class", description="Therapy class; OTHER needs a name.")
    start_date: dt.date = strawberry.field(description="First day given.")
    name: str | None = strawberry.field(default=None, description="The treatment's name; required for OTHER.")
    dose: float | None = strawberry.field(default=None, description="Dose per administration, in doseUnit.")
    dose_unit: e.TherapyDoseUnit | None = strawberry.field(
        default=None, description="Unit of dose; required with a dose."
    )
    route: e.TherapyRoute | None = strawberry.field(default=None, description="Route of administration, optional.")
    frequency: e.DoseFrequency | None = strawberry.field(default=None, description="Dosing frequency, optional.")
    end_date: dt.date | None = strawberry.field(default=None, description="Last day given; omit when ongoing.")
    ongoing: bool = strawberry.field(default=False, description="Still given (then no endDate); default false.")
    indication: str | None = strawberry.field(default=None, description="Why it was given (free text).")


@strawberry.input(description="Correct a therapy, with a reason. Fields left out keep their value.")
class AmendTherapyInput:
    id: strawberry.ID = strawberry.field(description="Global id of the therapy.")
    reason: str = strawberry.field(description="Why it is corrected (required, audited).")
    therapy_class: e.TherapyClass | None = strawberry.field(
        default=strawberry.UNSET, name="class", description="Therapy class. Omitted: unchanged."
    )
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="Name; null clears it. Omitted: unchanged."
    )
    dose: float | None = strawberry.field(
        default=strawberry.UNSET,
        description="Dose per administration, in doseUnit; null clears it. Omitted: unchanged.",
    )
    dose_unit: e.TherapyDoseUnit | None = strawberry.field(
        default=strawberry.UNSET, description="Unit of dose; null clears it. Omitted: unchanged."
    )
    route: e.TherapyRoute | None = strawberry.field(
        default=strawberry.UNSET, description="Route; null clears it. Omitted: unchanged."
    )
    frequency: e.DoseFrequency | None = strawberry.field(
        default=strawberry.UNSET, description="Frequency; null clears it. Omitted: unchanged."
    )
    start_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="First day given. Omitted: unchanged."
    )
    end_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Last day given; null clears it. Omitted: unchanged."
    )
    ongoing: bool | None = strawberry.field(default=strawberry.UNSET, description="Still given. Omitted: unchanged.")
    indication: str | None = strawberry.field(
        default=strawberry.UNSET, description="Why it was given; null clears it. Omitted: unchanged."
    )


@strawberry.input(description="A splenectomy or an HSCT (hsctType required for an HSCT).")
class RecordProcedureInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    procedure_type: e.ProcedureType = strawberry.field(name="type", description="SPLENECTOMY or HSCT.")
    performed_on: dt.date = strawberry.field(description="Date of the procedure.")
    hsct_type: e.HsctType | None = strawberry.field(
        default=None, description="ALLOGENEIC or AUTOLOGOUS; required for an HSCT."
    )
    notes: str | None = strawberry.field(default=None, description="Free text, optional.")


@strawberry.input(description="Correct a procedure, with a reason. Fields left out keep their value.")
class AmendProcedureInput:
    id: strawberry.ID = strawberry.field(description="Global id of the procedure.")
    reason: str = strawberry.field(description="Why it is corrected (required, audited).")
    procedure_type: e.ProcedureType | None = strawberry.field(
        default=strawberry.UNSET, name="type", description="SPLENECTOMY or HSCT. Omitted: unchanged."
    )
    performed_on: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Date of the procedure. Omitted: unchanged."
    )
    hsct_type: e.HsctType | None = strawberry.field(
        default=strawberry.UNSET, description="HSCT donor type; null clears it. Omitted: unchanged."
    )
    notes: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free text; null clears it. Omitted: unchanged."
    )


AMEND_THERAPY = {name: (name, i.as_is) for name in records.THERAPY.fields}
AMEND_PROCEDURE = {name: (name, i.as_is) for name in records.PROCEDURE.fields}
GRAPHQL_FIELDS = {("therapyClass",): ("class",), ("procedureType",): ("type",)}
THERAPY_NULLABLE = ("name", "dose", "dose_unit", "route", "frequency", "end_date", "indication")
PROCEDURE_NULLABLE = ("hsct_type", "notes")


@strawberry.type(description="The therapy was written.")
class TherapySuccess:
    therapy: Therapy = strawberry.field(description="The therapy as stored.")


@strawberry.type(description="The procedure was written.")
class ProcedureSuccess:
    procedure: Procedure = strawberry.field(description="The procedure as stored.")


TherapyResult = result_union("TherapyResult", TherapySuccess)
ProcedureResult = result_union("ProcedureResult", ProcedureSuccess)


def _therapy(row: Any) -> TherapySuccess:
    return TherapySuccess(therapy=Therapy.of(row))


def _procedure(row: Any) -> ProcedureSuccess:
    return ProcedureSuccess(procedure=Procedure.of(row))


async def amend_record(
    info: Info, kind: records.RecordKind, data: Any, converters: dict[str, Any], nullable: tuple[str, ...], present: Any
) -> Any:
    """As mutation._amend: the patch of the given fields, amended with the reason."""

    async def use_case(uow: UnitOfWork) -> Any:
        decoded = decode_id(data.id)
        if decoded is None or decoded[0] != kind.entity:
            raise NotFound(kind.entity, ("id",))
        required = frozenset(name for name in kind.fields if name not in nullable)
        try:
            patch = i.patch_of(data, converters, required)
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


@strawberry.type
class TherapiesQuery:
    @strawberry.field(
        description="Therapies of the subjects you may see, in record order, filtered in the database (analysts: the cohort, without indications)."
    )
    async def therapies(
        self,
        info: Info,
        classes: Annotated[list[e.TherapyClass] | None, strawberry.argument(description="Only these classes.")] = None,
        ongoing_at: Annotated[
            dt.date | None, strawberry.argument(description="Only therapies given on this date (started, not ended).")
        ] = None,
        started_after_first_infusion: Annotated[
            bool | None,
            strawberry.argument(
                description="true: started on or after the date of the subject's first CAR-T infusion (study day >= 0); false: before it, or no infusion."
            ),
        ] = None,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites.")] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (default and maximum are settings).")
        ] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor of the previous page.")] = None,
        last: Annotated[
            int | None,
            strawberry.argument(description="Page size counted from the end (Relay): the last n items, or the n just before `before`."),
        ] = None,
        before: Annotated[
            str | None, strawberry.argument(description="startCursor of the following page, to page backwards.")
        ] = None,
    ) -> TherapyConnection:
        where = qt.TherapyFilter(
            classes=classes,
            ongoing_at=ongoing_at,
            started_after_first_infusion=started_after_first_infusion,
            site_codes=site_codes,
        )
        keyset = keyset_of(info, first=first, after=after, last=last, before=before)
        page = await info.context.read(qt.page_of_therapies, where, page=keyset)
        edges = [TherapyEdge(cursor=encode_cursor(r.id), node=Therapy.of(r)) for r in page.rows]
        return TherapyConnection(
            edges=edges,
            page_info=page_info([edge.cursor for edge in edges], page),
            count=partial(info.context.read, qt.count_therapies, where),
        )

    @strawberry.field(
        description="Protocol deviations per site: anti-CD20 or anti-plasma-cell therapy started on or after the first CAR-T infusion (monitors and investigators: their sites; admins: all)."
    )
    async def protocol_deviations(
        self,
        info: Info,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites.")] = None,
    ) -> list[SiteDeviations]:
        if info.context.actor.role not in qt.DEVIATION_READERS:
            raise GraphQLError(
                "only monitors, investigators and admins read protocol deviations",
                extensions={"code": "PERMISSION_DENIED"},
            )
        rows = await info.context.read(qt.protocol_deviations, site_codes)
        by_site: dict[int, list[ProtocolDeviation]] = defaultdict(list)
        for row in rows:
            by_site[row.site_id].append(
                ProtocolDeviation(
                    subject_code=row.subject_code,
                    therapy=Therapy.of(row),
                    start_date=row.start_date,
                    study_day=study_day(row.start_date, row.first_infusion_at),
                )
            )
        sites = [s for s in await info.context.loaders.site.load_many(sorted(by_site)) if s is not None]
        return [
            SiteDeviations(site=Site.of(site), deviations=by_site[site.id])
            for site in sorted(sites, key=lambda s: s.code)
        ]
