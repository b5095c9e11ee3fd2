"""Therapies, procedures, the subject's timeline, and what the response engine says about them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry

from ...domain import therapies as th
from ...domain.response import SENSITIVITY_RULE
from ...domain.study_time import study_day
from ..access.types import Site
from ..common import enums as e
from ..common.context import Info
from ..common.ids import encode_id
from ..common.node import STUDY_DAY, Node, study_day_at
from ..common.paging import NODES, Counter, PageInfo
from ..records.types import CarTInfusion
from .loaders import TherapiesLoaders


@strawberry.type(
    description="A prior or concomitant therapy (SDTM CM). PRIOR or CONCOMITANT is derived from its dates and the subject's consent date."
)
class Therapy(Node):
    subject_id: strawberry.Private[int]
    name: str | None = strawberry.field(description="The treatment's name (required when class is OTHER).")
    therapy_class: e.TherapyClass = strawberry.field(name="class", description="Therapy class; OTHER needs a name.")
    dose: float | None = strawberry.field(description="Dose per administration, in `doseUnit`.")
    dose_unit: e.TherapyDoseUnit | None = strawberry.field(description="Unit of dose; null when no dose is recorded.")
    route: e.TherapyRoute | None = strawberry.field(description="Route of administration; null when not recorded.")
    frequency: e.DoseFrequency | None = strawberry.field(description="Dosing frequency; null when not recorded.")
    start_date: dt.date = strawberry.field(description="First day given.")
    end_date: dt.date | None = strawberry.field(description="Last day given; null while ongoing.")
    ongoing: bool = strawberry.field(description="Whether still given (then endDate is null).")
    indication: str | None = strawberry.field(description="Why it was given (free text); null for analysts.")

    @strawberry.field(description=STUDY_DAY + " Of the start date.")
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.start_date)

    @strawberry.field(description=f"Of the end date; null while ongoing. {STUDY_DAY}")
    async def end_study_day(self, info: Info) -> int | None:
        return None if self.end_date is None else await study_day_at(info, self.subject_id, self.end_date)

    @strawberry.field(description=f"Derived from the dates, never entered. Rule: {th.TIMING_RULE}")
    async def timing(self, info: Info) -> e.TherapyTiming:
        subject = await info.context.loaders.subject.load(self.subject_id)
        assert subject is not None  # a visible therapy's subject is visible
        return th.therapy_timing(self.end_date, self.ongoing, subject.consent_date)

    @classmethod
    def of(cls, row: Any) -> Therapy:
        return cls(
            id=encode_id("Therapy", row.id),
            subject_id=row.subject_id,
            name=row.name,
            therapy_class=row.therapy_class,
            dose=row.dose,
            dose_unit=row.dose_unit,
            route=row.route,
            frequency=row.frequency,
            start_date=row.start_date,
            end_date=row.end_date,
            ongoing=row.ongoing,
            indication=row.indication,
        )

    def label(self) -> str:
        return self.name or th.TherapyClass(self.therapy_class).label


@strawberry.type(description="A splenectomy or a haematopoietic stem cell transplant (SDTM PR).")
class Procedure(Node):
    subject_id: strawberry.Private[int]
    procedure_type: e.ProcedureType = strawberry.field(name="type", description="SPLENECTOMY or HSCT.")
    hsct_type: e.HsctType | None = strawberry.field(description="ALLOGENEIC or AUTOLOGOUS for an HSCT; else null.")
    performed_on: dt.date = strawberry.field(description="Date of the procedure.")
    notes: str | None = strawberry.field(description="Free text; null for analysts.")

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.performed_on)

    @classmethod
    def of(cls, row: Any) -> Procedure:
        return cls(
            id=encode_id("Procedure", row.id),
            subject_id=row.subject_id,
            procedure_type=row.procedure_type,
            hsct_type=row.hsct_type,
            performed_on=row.performed_on,
            notes=row.notes,
        )

    def label(self) -> str:
        kind = th.ProcedureType(self.procedure_type).value.upper()
        return f"{kind} ({th.HsctType(self.hsct_type).value.upper()})" if self.hsct_type else kind


TimelineRecord = Annotated[
    Therapy | Procedure | CarTInfusion,
    strawberry.union("TimelineRecord", description="The record a timeline entry stands for."),
]


@strawberry.type(description="One dated entry of a subject's timeline.")
class TimelineEntry:
    kind: e.TimelineKind = strawberry.field(description="What the entry is.")
    date: dt.date = strawberry.field(description="Start date (UTC date of an infusion).")
    end_date: dt.date | None = strawberry.field(description="A therapy's end date; null while ongoing or for others.")
    study_day: int | None = strawberry.field(description=STUDY_DAY)
    label: str = strawberry.field(description="Therapy name (or class), procedure type, or CAR-T product.")
    record: TimelineRecord = strawberry.field(description="The therapy, procedure or CAR-T infusion itself.")


async def timeline_of(info: Info, subject_id: int, include_infusions: bool) -> list[TimelineEntry]:
    """Therapies, procedures and (optionally) CAR-T infusions by date, then kind, then record."""
    loaders = info.context.loaders
    first = await loaders.first_infusion_at.load(subject_id)
    entries: list[tuple[tuple[dt.date, int, str], TimelineEntry]] = []
    for row in await loaders.of(TherapiesLoaders).therapies.load(subject_id):
        therapy = Therapy.of(row)
        entry = TimelineEntry(
            kind=e.TimelineKind.THERAPY,
            date=row.start_date,
            end_date=row.end_date,
            study_day=study_day(row.start_date, first),
            label=therapy.label(),
            record=therapy,
        )
        entries.append(((row.start_date, 1, f"{row.id:012d}"), entry))
    for row in await loaders.of(TherapiesLoaders).procedures.load(subject_id):
        procedure = Procedure.of(row)
        entry = TimelineEntry(
            kind=e.TimelineKind.PROCEDURE,
            date=row.performed_on,
            end_date=None,
            study_day=study_day(row.performed_on, first),
            label=procedure.label(),
            record=procedure,
        )
        entries.append(((row.performed_on, 2, f"{row.id:012d}"), entry))
    if include_infusions:
        for row in await loaders.infusions.load(subject_id):
            day = row.infused_at.astimezone(dt.timezone.utc).date()
            entry = TimelineEntry(
                kind=e.TimelineKind.CAR_T_INFUSION,
                date=day,
                end_date=None,
                study_day=study_day(row.infused_at, first),
                label=f"{row.product.value.upper()} CAR-T",
                record=CarTInfusion.of(row),
            )
            entries.append(((day, 0, row.infused_at.isoformat()), entry))
    return [entry for _key, entry in sorted(entries, key=lambda pair: pair[0])]


# --- the response engine's view ------------------------------------------------------------------


@strawberry.type(description="The therapy that flags a transfusion as confounded, and by which rule.")
class TherapyConfounding:
    therapy_id: strawberry.ID = strawberry.field(description="The Therapy's global id.")
    therapy_class: e.TherapyClass = strawberry.field(
        name="class", description="Class of that therapy (IVIG or TPO_RA)."
    )
    rule: str = strawberry.field(description="The confounding rule, with its version and parameters.")


def confounding_of(therapy_id: int | None, therapy_class: th.TherapyClass | None) -> TherapyConfounding | None:
    if therapy_id is None or therapy_class is None:
        return None
    return TherapyConfounding(
        therapy_id=strawberry.ID(encode_id("Therapy", therapy_id)),
        therapy_class=therapy_class,
        rule=th.confounding_rule(therapy_class),
    )


@strawberry.type(
    description="SENSITIVITY ANALYSIS: the sustained response again, with every counted transfusion flagged confounded by therapy (IVIG, TPO-RA) left out as if not given. The primary analysis is plateletResponse itself."
)
class SensitivityAnalysis:
    label: str = strawberry.field(
        default="sensitivity analysis: without transfusions confounded by therapy",
        description="Says this is a sensitivity analysis, and what it leaves out.",
    )
    sustained: bool = strawberry.field(description="Sustained responder without the confounded transfusions.")
    first_response_at: dt.datetime | None = strawberry.field(
        description="First responsive transfusion after the first infusion, without the confounded ones (UTC); null when none.",
    )
    days_to_response: int | None = strawberry.field(
        description="UTC calendar days from the first CAR-T infusion to the first response."
    )
    longest_responsive_run: int = strawberry.field(
        description="Longest run of consecutive responsive transfusions (NE skipped), without the confounded ones."
    )
    lost_response: bool = strawberry.field(
        description="Whether the response was lost, without the confounded transfusions."
    )
    lost_response_at: dt.datetime | None = strawberry.field(description="When it was lost (UTC); null when not lost.")
    evaluable_transfusions: int = strawberry.field(
        description="Evaluable transfusions counted (R or N), without the confounded ones."
    )
    responsive_transfusions: int = strawberry.field(
        description="Responsive transfusions counted, without the confounded ones."
    )
    excluded_transfusions: int = strawberry.field(
        description="Counted transfusions left out because they are confounded by therapy."
    )
    rule: str = strawberry.field(default=SENSITIVITY_RULE, description="The sensitivity rule, with its version.")

    @classmethod
    def of(cls, s: Any) -> SensitivityAnalysis:
        """From a stored subject_response row or a domain SubjectResponse (the same names)."""
        return cls(
            sustained=s.sensitivity_sustained,
            first_response_at=s.sensitivity_first_response_at,
            days_to_response=s.sensitivity_days_to_response,
            longest_responsive_run=s.sensitivity_longest_responsive_run,
            lost_response=s.sensitivity_lost_response,
            lost_response_at=s.sensitivity_lost_response_at,
            evaluable_transfusions=s.sensitivity_evaluable_transfusions,
            responsive_transfusions=s.sensitivity_responsive_transfusions,
            excluded_transfusions=s.confounded_transfusions,
        )


# --- cohort reads ----------------------------------------------------------------------------------


@strawberry.type(description="A therapy in a page, with its cursor.")
class TherapyEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge: pass it as `after` for the next page.")
    node: Therapy = strawberry.field(description="The therapy.")


@strawberry.type(description="A page of therapies in record order (Relay cursor connection).")
class TherapyConnection:
    edges: list[TherapyEdge] = strawberry.field(description="The page's therapies, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more pages follow, and the cursor to get the next one.")
    count: strawberry.Private[Counter]

    @strawberry.field(description=NODES)
    def nodes(self) -> list[Therapy]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Therapies matching the filters, over all pages.")
    async def total_count(self) -> int:
        return await self.count()


@strawberry.type(description="A protocol deviation for the monitor.")
class ProtocolDeviation:
    subject_code: str = strawberry.field(description="Code of the subject.")
    therapy: Therapy = strawberry.field(
        description="The therapy that is the deviation (e.g. rituximab after the first CAR-T infusion)."
    )
    start_date: dt.date = strawberry.field(description="Start date of that therapy.")
    study_day: int | None = strawberry.field(description=STUDY_DAY)
    rule: str = strawberry.field(default=th.DEVIATION_RULE, description="The deviation rule, with its version.")


@strawberry.type(description="The protocol deviations of one site.")
class SiteDeviations:
    site: Site = strawberry.field(description="The site.")
    deviations: list[ProtocolDeviation] = strawberry.field(description="Its subjects' protocol deviations.")
