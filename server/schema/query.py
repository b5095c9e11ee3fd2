"""Read operations. Every one is scoped to the caller by the read queries (server.db.queries)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError

from ..db import queries as q
from ..db.keyset import Keyset, Page
from ..services.response import EndpointSubject, endpoint_sustained, primary_endpoint
from . import before_after, outcomes
from . import types as t
from .context import Info
from .enums import CarTProduct, EndpointPopulation, KineticsMeasure, SubjectStatus
from .ids import decode_id, encode_cursor
from .outcome_types import CohortCount, MedianValue
from .paging import Counter, counted, keyset_of, page_info
from .response_types import PrimaryEndpoint, SiteEndpoint
from .safety import SafetyQuery
from .therapies import TherapiesQuery
from .therapy_types import THERAPY_NODE_TYPES

# The range is enforced at the edge (server.schema.edge.ARGUMENT_RANGES).
Month = Annotated[int, strawberry.argument(description="Months after the first CAR-T infusion, 0-120.")]


async def _subjects_by_response(
    info: Info, where: q.SubjectFilter, sustained: bool, keyset: Keyset
) -> tuple[Page[Any], int]:
    """Read every matching subject's response (in a constant number of statements), keep those
    that match, then page."""
    ids = list(await info.context.read(q.all_subject_ids, where))
    responses = await info.context.loaders.subject_response.load_many(ids)
    matching = [sid for sid, r in zip(ids, responses, strict=True) if r.sustained is sustained]
    page = keyset.of_list(matching, key=lambda sid: sid)
    subjects = await info.context.loaders.subject.load_many(page.rows)
    rows = [s for s in subjects if s is not None]
    return Page(rows, has_previous=page.has_previous, has_next=page.has_next), len(matching)


def _aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """Times must carry their UTC offset, as in mutation inputs; a naive one is refused, not guessed."""
    if value is not None and value.utcoffset() is None:
        raise GraphQLError(
            f"{field} must include the UTC offset, e.g. 2026-03-01T08:30:00Z",
            extensions={"code": "BAD_USER_INPUT", "field": [field]},
        )
    return value


def _require_audit_reader(info: Info) -> None:
    if not info.context.actor.may_read_audit_trail:
        raise GraphQLError("only monitors and admins read the audit trail", extensions={"code": "PERMISSION_DENIED"})


@strawberry.type(description="Every read. Each answers only what the caller's role and sites allow.")
class Query(SafetyQuery, TherapiesQuery):
    @strawberry.field(description="Who is calling.")
    def viewer(self, info: Info) -> t.Viewer:
        actor = info.context.actor
        return t.Viewer(
            actor_id=actor.actor_id, role=actor.role, sites=sorted(actor.site_codes), subject_code=actor.subject_code
        )

    @strawberry.field(description="The trial, with its protocol parameters.")
    async def trial(self, info: Info) -> Trial:
        trial = await info.context.loaders.trial_protocol()
        return Trial(code=trial.code, title=trial.title)

    @strawberry.field(description="Sites you may see, by code.")
    async def sites(self, info: Info) -> list[t.Site]:
        return [t.Site.of(row) for row in await info.context.read(q.visible_sites)]

    @strawberry.field(description="Subjects you may see, in enrolment order, a page at a time.")
    async def subjects(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (default and maximum are settings).")
        ] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor of the previous page.")] = None,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites.")] = None,
        statuses: Annotated[list[SubjectStatus] | None, strawberry.argument(description="Only these statuses.")] = None,
        sustained_response: Annotated[
            bool | None,
            strawberry.argument(
                description="Only subjects whose plateletResponse.sustained is this (derived at read time)."
            ),
        ] = None,
        last: Annotated[
            int | None, strawberry.argument(description="The last n subjects (before `before`, else of the list).")
        ] = None,
        before: Annotated[
            str | None,
            strawberry.argument(description="Rows before this cursor: a page's startCursor gives the page before it."),
        ] = None,
    ) -> t.SubjectConnection:
        where = q.SubjectFilter(site_codes=site_codes, statuses=statuses)
        keyset = keyset_of(info, first=first, after=after, last=last, before=before)
        count: Counter
        if sustained_response is not None:
            page, total = await _subjects_by_response(info, where, sustained_response, keyset)
            count = counted(total)
        else:
            page = await info.context.read(q.page_of_subjects, where, page=keyset)
            count = partial(info.context.read, q.count_subjects, where)
        edges = [t.SubjectEdge(cursor=encode_cursor(r.id), node=t.Subject.of(r)) for r in page.rows]
        return t.SubjectConnection(edges=edges, page_info=page_info([edge.cursor for edge in edges], page), count=count)

    @strawberry.field(description="One subject by its pseudonymous code; null when unknown or not yours to see.")
    async def subject(
        self,
        info: Info,
        code: Annotated[str, strawberry.argument(description="Pseudonymous subject code.")],
    ) -> t.Subject | None:
        row = await info.context.loaders.subject_by_code.load(code)
        return t.Subject.of(row) if row else None

    @strawberry.field(description="Any object by its global id; null when unknown or not yours to see.")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Global id of the object.")],
    ) -> t.Node | None:
        decoded = decode_id(id)
        if decoded is None:
            return None
        type_name, pk = decoded
        loaders = info.context.loaders
        if type_name == "Subject":
            subject = await loaders.subject.load(pk)
            return t.Subject.of(subject) if subject else None
        if type_name == "Site":
            site = await loaders.site.load(pk)
            return t.Site.of(site) if site else None
        node_types = {**t.NODE_TYPES, **THERAPY_NODE_TYPES}
        if type_name in node_types:
            model, graphql_type = node_types[type_name]
            row = await loaders.record_by_id(model).load(pk)
            if row is None:
                return None
            if graphql_type is t.PlateletTransfusion:
                return (await t.PlateletTransfusion.load(info, [row]))[0]
            return graphql_type.of(row)
        return None

    @strawberry.field(description="The audit trail (monitors: their sites; admins: all), oldest first.")
    async def audit_events(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (default and maximum are settings).")
        ] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor of the previous page.")] = None,
        subject_code: Annotated[
            str | None, strawberry.argument(description="Only changes to this subject's records.")
        ] = None,
        entity: Annotated[str | None, strawberry.argument(description="A type name, e.g. PlateletTransfusion.")] = None,
        record_id: Annotated[strawberry.ID | None, strawberry.argument(description="Global id of one record.")] = None,
        actor_id: Annotated[
            str | None, strawberry.argument(description="Only changes made by this actor (the token's `sub` claim).")
        ] = None,
        since: Annotated[dt.datetime | None, strawberry.argument(description="From this UTC time (inclusive).")] = None,
        until: Annotated[
            dt.datetime | None, strawberry.argument(description="Up to this UTC time (inclusive).")
        ] = None,
        last: Annotated[
            int | None,
            strawberry.argument(description="Page size counted from the end (Relay): the last n items, or the n just before `before`."),
        ] = None,
        before: Annotated[
            str | None, strawberry.argument(description="startCursor of the following page, to page backwards.")
        ] = None,
    ) -> t.AuditEventConnection:
        _require_audit_reader(info)
        entity_id = None
        if record_id is not None:
            decoded = decode_id(record_id)
            if decoded is None:
                raise GraphQLError(
                    "not an id of this API", extensions={"code": "BAD_USER_INPUT", "field": ["recordId"]}
                )
            entity, entity_id = decoded
        where = q.AuditFilter(
            subject_code=subject_code,
            entity=entity,
            entity_id=entity_id,
            actor_id=actor_id,
            since=_aware(since, "since"),
            until=_aware(until, "until"),
        )
        page = await info.context.read(
            q.page_of_audit_events, where, page=keyset_of(info, first=first, after=after, last=last, before=before)
        )
        rows = page.rows
        subject_ids = sorted({r.subject_id for r in rows if r.subject_id is not None})
        codes = await info.context.read(lambda session, _actor: q.subject_codes_by_ids(session, subject_ids))
        edges = [
            t.AuditEventEdge(
                cursor=encode_cursor(r.id), node=t.AuditEvent.of(r, codes.get(r.subject_id) if r.subject_id else None)
            )
            for r in rows
        ]
        return t.AuditEventConnection(edges=edges, page_info=page_info([edge.cursor for edge in edges], page))


async def _endpoint_subjects(info: Info, with_sites: bool = False, sensitivity: bool = False) -> Any:
    """Infused subjects with what the endpoint needs; statements do not grow with the cohort."""
    subjects = await info.context.read(q.infused_subjects)
    ids = [s.id for s in subjects]
    infusions = await info.context.loaders.infusions.load_many(ids)
    responses = await info.context.loaders.subject_response.load_many(ids)
    version, _ = await info.context.loaders.protocol()
    rows = [
        EndpointSubject(
            infused=True,
            per_protocol={i.product for i in given} >= {CarTProduct.CD19, CarTProduct.BCMA},
            sustained=endpoint_sustained(response, sensitivity),
        )
        for given, response in zip(infusions, responses, strict=True)
    ]
    if with_sites:
        return version, rows, [s.site_id for s in subjects]
    return version, rows


SENSITIVITY_ARGUMENT = Annotated[
    bool,
    strawberry.argument(
        description="True: the SENSITIVITY ANALYSIS, responders without the transfusions confounded by therapy (IVIG, TPO-RA)."
    ),
]


@strawberry.type(description="The trial this service holds.")
class Trial:
    code: str = strawberry.field(description="The trial's code.")
    title: str = strawberry.field(description="The trial's title.")

    @strawberry.field(
        description="The protocol parameters in force today: the newest version whose effective date has come. Derived values use it."
    )
    async def protocol_parameters(self, info: Info) -> t.ProtocolParameters:
        version, _ = await info.context.loaders.protocol()
        row = (await info.context.loaders.trial_protocol()).version(version)
        return t.ProtocolParameters.of(row, info.context.actor.sees_free_text)

    @strawberry.field(
        description="Sustained responders among infused (>= 1 CAR-T) or per-protocol (both products) subjects you may see, with the exact 95% CI."
    )
    async def primary_endpoint(
        self,
        info: Info,
        population: Annotated[
            EndpointPopulation,
            strawberry.argument(description="Infused (>= 1 CAR-T) or per-protocol (both products) subjects."),
        ],
        sensitivity: SENSITIVITY_ARGUMENT = False,
    ) -> PrimaryEndpoint:
        version, rows = await _endpoint_subjects(info, sensitivity=sensitivity)
        return PrimaryEndpoint.of(
            population, primary_endpoint(rows, population is EndpointPopulation.PER_PROTOCOL), version, sensitivity
        )

    @strawberry.field(description="The primary endpoint per site you may see.")
    async def primary_endpoint_by_site(
        self,
        info: Info,
        population: Annotated[
            EndpointPopulation,
            strawberry.argument(description="Infused (>= 1 CAR-T) or per-protocol (both products) subjects."),
        ],
        sensitivity: SENSITIVITY_ARGUMENT = False,
    ) -> list[SiteEndpoint]:
        version, rows, site_ids = await _endpoint_subjects(info, with_sites=True, sensitivity=sensitivity)
        per_protocol = population is EndpointPopulation.PER_PROTOCOL
        sites = [s for s in await info.context.loaders.site.load_many(sorted(set(site_ids))) if s is not None]
        return [
            SiteEndpoint(
                site=t.Site.of(site),
                endpoint=PrimaryEndpoint.of(
                    population,
                    primary_endpoint(
                        [row for row, sid in zip(rows, site_ids, strict=True) if sid == site.id], per_protocol
                    ),
                    version,
                    sensitivity,
                ),
            )
            for site in sorted(sites, key=lambda s: s.code)
        ]

    @strawberry.field(
        description="Subjects you may see with B-cell aplasia at a month after the CD19 infusion (analysts: the cohort)."
    )
    async def b_cell_aplasia_at(
        self,
        info: Info,
        month: Month,
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
    ) -> CohortCount:
        return await outcomes.b_cell_aplasia_at(info, month, site_codes)

    @strawberry.field(description="Median Cmax of a CAR-T product across the subjects you may see.")
    async def median_cmax(
        self,
        info: Info,
        product: Annotated[CarTProduct, strawberry.argument(description="The CAR-T product.")],
        measure: Annotated[
            KineticsMeasure, strawberry.argument(description="QPCR (copies/ug DNA, default) or FLOW (CAR+ cells/uL).")
        ] = KineticsMeasure.QPCR,
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
    ) -> MedianValue:
        return await outcomes.median_cmax(info, product, measure, site_codes)

    @strawberry.field(
        description="Subjects with HLA antibodies at baseline who cleared them within a number of months of the first CAR-T infusion."
    )
    async def hla_cleared_by(
        self,
        info: Info,
        month: Month,
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
    ) -> CohortCount:
        return await outcomes.hla_cleared_by(info, month, site_codes)

    @strawberry.field(
        description="Before vs after CAR-T across the subjects you may see: paired differences (follow-up minus baseline), median difference, Hodges-Lehmann estimate and exact Wilcoxon signed-rank test. A site you cannot see adds no subject."
    )
    async def before_after_comparison(
        self,
        info: Info,
        measure: Annotated[
            before_after.BeforeAfterMeasure, strawberry.argument(description="The per-subject value to compare.")  # type: ignore[valid-type]
        ],
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
        population: Annotated[
            EndpointPopulation, strawberry.argument(description="INFUSED (default) or PER_PROTOCOL subjects.")
        ] = EndpointPopulation.INFUSED,
    ) -> before_after.BeforeAfterComparison:
        return await before_after.before_after_comparison(info, measure, site_codes, population)

    @strawberry.field(
        description="Kaplan-Meier time to an event after CAR-T across the subjects you may see: median (months) with its 95% CI, numbers at risk at months 1, 3, 6 and 12, and the curve. A site you cannot see adds no subject."
    )
    async def time_to_event(
        self,
        info: Info,
        event: Annotated[
            before_after.TimeToEventKind, strawberry.argument(description="The event whose time is estimated.")  # type: ignore[valid-type]
        ],
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
        population: Annotated[
            EndpointPopulation, strawberry.argument(description="INFUSED (default) or PER_PROTOCOL subjects.")
        ] = EndpointPopulation.INFUSED,
    ) -> before_after.TimeToEventEstimate:
        return await before_after.time_to_event(info, event, site_codes, population)

    @strawberry.field(description="Every version of the protocol parameters, oldest first.")
    async def protocol_parameter_history(self, info: Info) -> list[t.ProtocolParameters]:
        versions = (await info.context.loaders.trial_protocol()).versions
        return [t.ProtocolParameters.of(v, info.context.actor.sees_free_text) for v in versions]
