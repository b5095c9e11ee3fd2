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
    subject_code: str
    therapy_class: e.TherapyClass = strawberry.field(name="class")
    start_date: dt.date
    name: str | None = strawberry.field(default=None, description="The treatment's name; required for OTHER.")
    dose: float | None = strawberry.field(default=None, description="Dose per administration, in doseUnit.")
    dose_unit: e.TherapyDoseUnit | None = None
    route: e.TherapyRoute | None = None
    frequency: e.DoseFrequency | None = None
    end_date: dt.date | None = strawberry.field(default=None, description="Last day given; omit when ongoing.")
    ongoing: bool = False
    indication: str | None = strawberry.field(default=None, description="Why it was given (free text).")


@strawberry.input(description="Correct a therapy, with a reason. Fields left out keep their value.")
class AmendTherapyInput:
    id: strawberry.ID
    reason: str
    therapy_class: e.TherapyClass | None = strawberry.field(default=strawberry.UNSET, name="class")
    name: str | None = strawberry.UNSET
    dose: float | None = strawberry.UNSET
    dose_unit: e.TherapyDoseUnit | None = strawberry.UNSET
    route: e.TherapyRoute | None = strawberry.UNSET
    frequency: e.DoseFrequency | None = strawberry.UNSET
    start_date: dt.date | None = strawberry.UNSET
    end_date: dt.date | None = strawberry.UNSET
    ongoing: bool | None = strawberry.UNSET
    indication: str | None = strawberry.UNSET


@strawberry.input(description="A splenectomy or an HSCT (hsctType required for an HSCT).")
class RecordProcedureInput:
    subject_code: str
    procedure_type: e.ProcedureType = strawberry.field(name="type")
    performed_on: dt.date
    hsct_type: e.HsctType | None = None
    notes: str | None = None


@strawberry.input(description="Correct a procedure, with a reason. Fields left out keep their value.")
class AmendProcedureInput:
    id: strawberry.ID
    reason: str
    procedure_type: e.ProcedureType | None = strawberry.field(default=strawberry.UNSET, name="type")
    performed_on: dt.date | None = strawberry.UNSET
    hsct_type: e.HsctType | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET


AMEND_THERAPY = {name: (name, i.as_is) for name in records.THERAPY.fields}
AMEND_PROCEDURE = {name: (name, i.as_is) for name in records.PROCEDURE.fields}
GRAPHQL_FIELDS = {("therapyClass",): ("class",), ("procedureType",): ("type",)}
THERAPY_NULLABLE = ("name", "dose", "dose_unit", "route", "frequency", "end_date", "indication")
PROCEDURE_NULLABLE = ("hsct_type", "notes")


@strawberry.type
class TherapySuccess:
    therapy: Therapy


@strawberry.type
class ProcedureSuccess:
    procedure: Procedure


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
    async def record_therapy(self, info: Info, input: RecordTherapyInput) -> TherapyResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {name: getattr(input, name) for name in records.THERAPY.fields}
            return await records.create_record(uow, records.THERAPY, input.subject_code, values)

        return await run_use_case(info, use_case, _therapy)

    @strawberry.mutation(description="Correct a therapy, with a reason.")
    async def amend_therapy(self, info: Info, input: AmendTherapyInput) -> TherapyResult:
        return await amend_record(info, records.THERAPY, input, AMEND_THERAPY, THERAPY_NULLABLE, _therapy)

    @strawberry.mutation(
        description="Record a splenectomy or an HSCT. An allogeneic HSCT ends the evaluable follow-up on its date (hsctEndsFollowUp)."
    )
    async def record_procedure(self, info: Info, input: RecordProcedureInput) -> ProcedureResult:
        async def use_case(uow: UnitOfWork) -> Any:
            values = {name: getattr(input, name) for name in records.PROCEDURE.fields}
            return await records.create_record(uow, records.PROCEDURE, input.subject_code, values)

        return await run_use_case(info, use_case, _procedure)

    @strawberry.mutation(description="Correct a procedure, with a reason.")
    async def amend_procedure(self, info: Info, input: AmendProcedureInput) -> ProcedureResult:
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
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
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
