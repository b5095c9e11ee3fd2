"""The Subject type: a subject's own fields and, from each domain, what it holds of that subject.

It sits above the domain packages (records, response, safety, outcomes, therapies, access) so
that none of them imports it: the schema's one hub, with no import circle."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from graphql import GraphQLError

from ...db import models as m
from ...db import planned_reads as sql
from ..access.loaders import AccessLoaders
from ..access.types import DeviceActivation, PatientDevice, Site
from ..common import enums as e
from ..common.context import Info
from ..common.ids import encode_id
from ..common.node import Node
from ..common.paging import MAX_WINDOW, NODES, Counter, ListWindow, PageInfo
from ..common.sql_mapping import declare
from ..outcomes.queries import (
    HLA,
    subject_antibody_tests,
    subject_b_cells,
    subject_clearance,
    subject_igg,
    subject_kinetics,
    subject_lab_results,
)
from ..outcomes.types import AntibodyClearance, AntibodyTest, BCells, CarTKinetics, IgGValue, LabResult
from ..records.loaders import RecordsLoaders
from ..records.types import BodyMeasurement, CarTInfusion, LymphodepletionCourse, StatusChange
from ..response.before_after import BeforeAfter, subject_before_after
from ..response.loaders import ResponseLoaders
from ..response.types import PlateletCount, PlateletResponse, PlateletTransfusion
from ..safety.loaders import SafetyLoaders
from ..safety.types import AdverseEvent, BleedingDay, BleedingReport, bleeding_days_of
from ..therapies.loaders import TherapiesLoaders
from ..therapies.types import Procedure, Therapy, TimelineEntry, timeline_of

MAX_DIARY_DAYS = 400  # one bleedingDays range: a baseline and a year of follow-up


@strawberry.type(description="A pseudonymous trial subject. No names, contacts or record numbers are held.")
class Subject(Node):
    db_id: strawberry.Private[int]
    site_id: strawberry.Private[int]
    code: str = strawberry.field(description="Pseudonymous subject code; the key to identity stays at the site.")
    sex: e.Sex = strawberry.field(description="Sex.")
    year_of_birth: int = strawberry.field(description="Year of birth.")
    age_at_consent: int = strawberry.field(description="Age in whole years at consent.")
    diagnosis: e.Diagnosis = strawberry.field(description="Acute leukemia diagnosis.")
    remission_status: e.RemissionStatus = strawberry.field(description="Remission status at enrolment.")
    remission_date: dt.date | None = strawberry.field(
        description="Date the current remission was reached; null when unknown."
    )
    abo_group: e.AboGroup | None = strawberry.field(description="ABO blood group; null when unknown.")
    rhd: e.RhD | None = strawberry.field(description="Rh(D) group; null when unknown.")
    consent_date: dt.date = strawberry.field(description="Date informed consent was signed.")
    status: e.SubjectStatus = strawberry.field(description="Current status on the trial's path.")

    @classmethod
    def of(cls, row: m.Subject) -> Subject:
        return cls(
            id=encode_id("Subject", row.id),
            db_id=row.id,
            site_id=row.site_id,
            code=row.code,
            sex=row.sex,
            year_of_birth=row.year_of_birth,
            age_at_consent=row.age_at_consent,
            diagnosis=row.diagnosis,
            remission_status=row.remission_status,
            remission_date=row.remission_date,
            abo_group=row.abo_group,
            rhd=row.rhd,
            consent_date=row.consent_date,
            status=row.status,
        )

    @strawberry.field(description="The site the subject is enrolled at.")
    async def site(self, info: Info) -> Site:
        row = await info.context.loaders.site.load(self.site_id)
        assert row is not None  # a visible subject's site is visible
        return Site.of(row)

    @strawberry.field(description="Every status the subject has had, oldest first.")
    async def status_history(self, info: Info) -> list[StatusChange]:
        rows = await info.context.loaders.of(RecordsLoaders).status_history.load(self.db_id)
        return [
            StatusChange(
                from_status=r.from_status,
                to_status=r.to_status,
                effective_date=r.effective_date,
                changed_at=r.changed_at,
                reason=r.reason,
            )
            for r in rows
        ]

    @strawberry.field(description="Time of the first CAR-T infusion (UTC): study day 0.")
    async def first_infusion_at(self, info: Info) -> dt.datetime | None:
        return await info.context.loaders.first_infusion_at.load(self.db_id)

    @strawberry.field(description="Body measurements, oldest first (voided ones omitted).")
    async def measurements(self, info: Info) -> list[BodyMeasurement]:
        return [
            BodyMeasurement.of(r) for r in await info.context.loaders.of(RecordsLoaders).measurements.load(self.db_id)
        ]

    @strawberry.field(description="Lymphodepletion courses, oldest first.")
    async def lymphodepletions(self, info: Info) -> list[LymphodepletionCourse]:
        return [
            LymphodepletionCourse.of(r)
            for r in await info.context.loaders.of(RecordsLoaders).lymphodepletions.load(self.db_id)
        ]

    @strawberry.field(description="CAR-T infusions, oldest first.")
    async def infusions(self, info: Info) -> list[CarTInfusion]:
        return [CarTInfusion.of(r) for r in await info.context.loaders.infusions.load(self.db_id)]

    @strawberry.field(
        description="Platelet transfusions (voided ones omitted), oldest first. Narrow the list with `since`, `after`/`before` (a transfusion's id) and then `first`/`last`: a phone asks for `last: 10`."
    )
    async def transfusions(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description=f"Only the first n (0-{MAX_WINDOW}) of the narrowed list.")
        ] = None,
        last: Annotated[
            int | None, strawberry.argument(description=f"Only the last n (0-{MAX_WINDOW}) of the narrowed list.")
        ] = None,
        after: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only transfusions after this one (its id), in start order."),
        ] = None,
        before: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only transfusions before this one (its id), in start order."),
        ] = None,
        since: Annotated[
            dt.datetime | None,
            strawberry.argument(description="Only transfusions started at or after this UTC time (with its offset)."),
        ] = None,
    ) -> list[PlateletTransfusion]:
        window = ListWindow.of(
            first=first, last=last, after=after, before=before, since=since, type_name="PlateletTransfusion"
        )
        rows = window.apply(
            await info.context.loaders.of(ResponseLoaders).transfusions.load(self.db_id), moment=lambda r: r.started_at
        )
        evaluation = await info.context.loaders.of(ResponseLoaders).evaluation.load(self.db_id)
        return [PlateletTransfusion.of(r, evaluation) for r in rows]

    @strawberry.field(
        description="Baseline refractoriness, sustained response (the primary endpoint), first and lost response."
    )
    async def platelet_response(self, info: Info) -> PlateletResponse:

        evaluation = await info.context.loaders.of(ResponseLoaders).evaluation.load(self.db_id)
        return PlateletResponse.of(evaluation.subject, evaluation.parameter_version, evaluation.by_transfusion.values())

    @strawberry.field(
        description="The patient's registered phones, oldest first, revoked ones included (site staff, monitors, admins and the patient; empty for analysts)."
    )
    async def devices(self, info: Info) -> list[PatientDevice]:

        return [PatientDevice.of(r) for r in await info.context.loaders.of(AccessLoaders).devices.load(self.db_id)]

    @strawberry.field(
        description="Activation codes issued for the subject's phones, oldest first (never the codes themselves; empty for analysts)."
    )
    async def activations(self, info: Info) -> list[DeviceActivation]:

        return [
            DeviceActivation.of(r) for r in await info.context.loaders.of(AccessLoaders).activations.load(self.db_id)
        ]

    @strawberry.field(description="The patient's bleeding diary reports, in receipt order.")
    async def bleeding_reports(self, info: Info) -> list[BleedingReport]:

        return [
            BleedingReport.of(r) for r in await info.context.loaders.of(SafetyLoaders).bleeding_reports.load(self.db_id)
        ]

    @strawberry.field(
        description="The diary by the patient's local calendar day, from..to inclusive (at most 400 days): only days with at least one report or check-in, each graded from all its reports."
    )
    async def bleeding_days(
        self,
        info: Info,
        from_: Annotated[dt.date, strawberry.argument(name="from", description="First local day.")],
        to: Annotated[dt.date, strawberry.argument(description="Last local day (inclusive).")],
    ) -> list[BleedingDay]:

        if to < from_ or (to - from_).days > MAX_DIARY_DAYS:
            raise GraphQLError(
                f"to must be on or after from, at most {MAX_DIARY_DAYS} days later",
                extensions={"code": "BAD_USER_INPUT", "field": ["to"]},
            )
        return bleeding_days_of(
            await info.context.loaders.of(SafetyLoaders).bleeding_days.load((self.db_id, from_, to))
        )

    @strawberry.field(description="Adverse events (not voided), by onset.")
    async def adverse_events(self, info: Info) -> list[AdverseEvent]:

        return [
            AdverseEvent.of(r) for r in await info.context.loaders.of(SafetyLoaders).adverse_events.load(self.db_id)
        ]

    @strawberry.field(
        description="Lab results, oldest first (platelet counts included); optionally only some analytes."
    )
    async def lab_results(
        self,
        info: Info,
        analytes: Annotated[
            list[e.Analyte] | None, strawberry.argument(description="Only these analytes; null or omitted: all.")
        ] = None,
    ) -> list[LabResult]:

        return await subject_lab_results(info, self.db_id, analytes)

    @strawberry.field(
        description="B-cell aplasia over time, by both rules, with time to aplasia and recovery after CD19."
    )
    async def b_cells(self, info: Info) -> BCells:

        return await subject_b_cells(info, self.db_id)

    @strawberry.field(description="IgG over time with its status (low, severe).")
    async def igg(self, info: Info) -> list[IgGValue]:

        return await subject_igg(info, self.db_id)

    @strawberry.field(description="Marrow CD138+ plasma cells (% of nucleated cells), oldest first.")
    async def marrow_plasma_cells(self, info: Info) -> list[LabResult]:

        return await subject_lab_results(info, self.db_id, [e.Analyte.MARROW_CD138_PERCENT])

    @strawberry.field(
        description="CAR-T kinetics of one product (day 0 = its infusion); null before that product is given."
    )
    async def car_t_kinetics(
        self,
        info: Info,
        product: Annotated[
            e.CarTProduct,
            strawberry.argument(description="The CAR-T product whose cells are measured (day 0 = its infusion)."),
        ],
        measure: Annotated[
            e.KineticsMeasure, strawberry.argument(description="QPCR (copies/ug DNA, default) or FLOW (CAR+ cells/uL).")
        ] = e.KineticsMeasure.QPCR,
    ) -> CarTKinetics | None:

        return await subject_kinetics(info, self.db_id, product, measure)

    @strawberry.field(description="HLA and HPA antibody tests, oldest first.")
    async def antibody_tests(self, info: Info) -> list[AntibodyTest]:

        return await subject_antibody_tests(info, self.db_id)

    @strawberry.field(
        description="Clearance of HLA (class I and II) antibodies positive at baseline; null without tests."
    )
    async def hla_clearance(self, info: Info) -> AntibodyClearance | None:

        return await subject_clearance(info, self.db_id, HLA)

    @strawberry.field(description="Clearance of HPA antibodies positive at baseline; null without tests.")
    async def hpa_clearance(self, info: Info) -> AntibodyClearance | None:
        from ...domain.outcomes import AntibodyClass

        return await subject_clearance(info, self.db_id, {AntibodyClass.HPA})

    @strawberry.field(description="Platelet counts, oldest first.")
    async def platelet_counts(self, info: Info) -> list[PlateletCount]:
        return [PlateletCount.of(r) for r in await info.context.loaders.platelet_counts.load(self.db_id)]

    @strawberry.field(
        description="Before vs after CAR-T: platelet increment, transfusion burden and bleeding in the baseline and follow-up periods; null without a CAR-T infusion."
    )
    async def before_after(self, info: Info) -> BeforeAfter | None:

        return await subject_before_after(info, self.db_id)

    @strawberry.field(description="Prior and concomitant therapies (voided ones omitted), by start date.")
    async def therapies(self, info: Info) -> list[Therapy]:

        return [Therapy.of(r) for r in await info.context.loaders.of(TherapiesLoaders).therapies.load(self.db_id)]

    @strawberry.field(description="Splenectomy and stem cell transplants (voided ones omitted), by date.")
    async def procedures(self, info: Info) -> list[Procedure]:

        return [Procedure.of(r) for r in await info.context.loaders.of(TherapiesLoaders).procedures.load(self.db_id)]

    @strawberry.field(
        description="Therapies, procedures and (unless includeInfusions is false) CAR-T infusions by date, each with its study day."
    )
    async def timeline(
        self,
        info: Info,
        include_infusions: Annotated[
            bool,
            strawberry.argument(description="Whether CAR-T infusions are listed among the entries (default true)."),
        ] = True,
    ) -> list[TimelineEntry]:

        return await timeline_of(info, self.db_id, include_infusions)


declare(
    sql.ObjectSql(
        "Subject",
        {
            "id": sql.GlobalId("Subject", m.Subject.id),
            "code": sql.Column(m.Subject.code),
            "sex": sql.EnumName(m.Subject.sex, e.Sex),
            "yearOfBirth": sql.Column(m.Subject.year_of_birth),
            "ageAtConsent": sql.Column(m.Subject.age_at_consent),
            "diagnosis": sql.EnumName(m.Subject.diagnosis, e.Diagnosis),
            "remissionStatus": sql.EnumName(m.Subject.remission_status, e.RemissionStatus),
            "remissionDate": sql.Column(m.Subject.remission_date),
            "aboGroup": sql.EnumName(m.Subject.abo_group, e.AboGroup),
            "rhd": sql.EnumName(m.Subject.rhd, e.RhD),
            "consentDate": sql.Column(m.Subject.consent_date),
            "status": sql.EnumName(m.Subject.status, e.SubjectStatus),
            # A visible subject's site is visible (server.db.queries.site_visible_to).
            "site": sql.ToOne(m.Site, where=lambda: m.Site.id == m.Subject.site_id),
            "transfusions": sql.ToMany(
                source=lambda: m.PlateletTransfusion.__table__.outerjoin(
                    m.StoredTransfusionResponse, m.StoredTransfusionResponse.transfusion_id == m.PlateletTransfusion.id
                ),
                where=lambda: (
                    m.PlateletTransfusion.subject_id == m.Subject.id,
                    m.PlateletTransfusion.voided_at.is_(None),
                ),
                order=lambda: (m.PlateletTransfusion.started_at, m.PlateletTransfusion.id),
                moment=lambda: m.PlateletTransfusion.started_at,
            ),
        },
    )
)


@strawberry.type(description="A subject in a page of subjects, with its cursor.")
class SubjectEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge: pass it as `after` for the next page.")
    node: Subject = strawberry.field(description="The subject.")


@strawberry.type(description="A page of subjects in enrolment order (Relay cursor connection).")
class SubjectConnection:
    edges: list[SubjectEdge] = strawberry.field(description="The page's subjects, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more pages follow, and the cursor to get the next one.")
    count: strawberry.Private[Counter]

    @strawberry.field(description=NODES)
    def nodes(self) -> list[Subject]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Subjects matching the filters, over all pages.")
    async def total_count(self) -> int:
        return await self.count()


# A connection's fields in SQL: the page is the root field's (server.db.planned_reads.Page).
declare(
    sql.ObjectSql(
        "SubjectConnection",
        {"edges": sql.Edges(), "nodes": sql.Nodes(), "pageInfo": sql.PageInfo(), "totalCount": sql.TotalCount()},
    )
)


declare(sql.ObjectSql("SubjectEdge", {"cursor": sql.Cursor(), "node": sql.Node()}))


# The planner reads forward pages only (server.schema.execution.planner._subject_page): no previous page.
declare(
    sql.ObjectSql(
        "PageInfo",
        {
            "hasNextPage": sql.HasNextPage(),
            "endCursor": sql.EndCursor(),
            "hasPreviousPage": sql.NoPreviousPage(),
            "startCursor": sql.StartCursor(),
        },
    )
)
