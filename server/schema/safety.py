"""Safety operations: the patients' bleeding diary, adverse events, the site alert inbox and the
live `siteAlerts` subscription."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError

from ..db import queries as q
from ..db.notify import AlertBus
from ..domain import bleeding as b
from ..domain.adverse_events import Attribution as DomainAttribution
from ..domain.auth import Actor
from ..domain.enums import Role
from ..domain.validation import Problem, ProblemCode
from ..services import adverse_events as ae
from ..services import diary
from ..services.errors import InvalidInput, NotFound
from ..services.terms import trial_terms
from ..services.unit_of_work import UnitOfWork
from . import enums as e
from .context import Info
from .errors import result_union, run_use_case
from .ids import decode_id, encode_cursor
from .inputs import aware, patch_of
from .paging import PageInfo, keyset_of, page_info, page_size_of, sync_cursor, sync_position
from .safety_types import (
    AdverseEvent,
    AdverseEventConnection,
    AdverseEventEdge,
    Alert,
    AlertConnection,
    AlertEdge,
    BleedingReport,
    BleedingReportConnection,
    BleedingReportEdge,
    SafetyTableRow,
)

# --- inputs ---------------------------------------------------------------------------------------


@strawberry.input(description="One bleeding symptom. Fill what applies to the site.")
class BleedingSymptomInput:
    site: e.BleedingSite = strawberry.field(description="Where the bleeding is.")
    duration_minutes: int | None = strawberry.field(default=None, description="Total bleeding time today, in minutes.")
    size_cm: float | None = strawberry.field(default=None, description="Bruise size in cm (1 inch = 2.54 cm).")
    stopped: bool | None = strawberry.field(default=None, description="Has it stopped? false raises a red flag.")
    medical_help_needed: bool = strawberry.field(
        default=False, description="Needed packing, cautery or a clinic visit."
    )
    black_or_tarry: bool = strawberry.field(default=False, description="Stool: black or tarry.")
    beyond_spotting: bool = strawberry.field(default=False, description="Vaginal: heavier than spotting.")
    deep_swelling: bool = strawberry.field(default=False, description="Bruise: a spontaneous deep swelling.")


@strawberry.input(
    description="A diary report from the patient's phone. Resubmitting the same clientReportId with the same content returns the original result."
)
class SubmitBleedingReportInput:
    client_report_id: str = strawberry.field(description="A UUID generated on the phone when the entry is made.")
    noticed_at: dt.datetime = strawberry.field(
        description="When the bleeding was noticed, with the phone's UTC offset."
    )
    device_entered_at: dt.datetime = strawberry.field(
        description="When the entry was made, with the phone's UTC offset (kept)."
    )
    symptoms: list[BleedingSymptomInput] = strawberry.field(
        default_factory=list, description="At least one for SYMPTOMS; none for a NO_BLEEDING check-in."
    )
    kind: e.BleedingReportKind = strawberry.field(
        default=e.BleedingReportKind.SYMPTOMS,
        description="NO_BLEEDING: the daily check-in 'no bleeding today' (no symptoms, no neurological signs); it makes the day observed.",
    )
    device_submitted_at: dt.datetime | None = strawberry.field(
        default=None, description="When the phone sent it (may change on retries)."
    )
    sudden_severe_headache: bool = strawberry.field(
        default=False, description="Sudden severe headache (a red flag; default false)."
    )
    new_confusion: bool = strawberry.field(default=False, description="New confusion (a red flag; default false).")
    vision_change: bool = strawberry.field(default=False, description="A change in vision (a red flag; default false).")
    new_weakness: bool = strawberry.field(default=False, description="New weakness (a red flag; default false).")
    pro_ctcae_bruising: bool | None = strawberry.field(
        default=None, description="PRO-CTCAE, last 7 days: any bruising."
    )
    pro_ctcae_nosebleed_frequency: int | None = strawberry.field(
        default=None, description="PRO-CTCAE, last 7 days: 0 never - 4 almost constantly."
    )
    pro_ctcae_nosebleed_severity: int | None = strawberry.field(
        default=None, description="PRO-CTCAE, last 7 days: 0 none - 4 very severe."
    )
    note: str | None = strawberry.field(default=None, description="The patient's own words, optional.")
    subject_code: str | None = strawberry.field(default=None, description="Optional; must be your own subject.")


@strawberry.input(
    description="Attribution on the NCI five-point scale to each product and procedure; omitted: not assessed."
)
class AttributionInput:
    cd19_car_t: e.Attribution | None = strawberry.field(
        default=None, description="Attribution to the CD19 CAR-T product."
    )
    bcma_car_t: e.Attribution | None = strawberry.field(
        default=None, description="Attribution to the BCMA CAR-T product."
    )
    lymphodepletion: e.Attribution | None = strawberry.field(
        default=None, description="Attribution to lymphodepletion."
    )
    platelet_transfusion: e.Attribution | None = strawberry.field(
        default=None, description="Attribution to platelet transfusion."
    )


@strawberry.input(description="A new adverse event reported by site staff.")
class ReportAdverseEventInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    meddra_code: int = strawberry.field(description="MedDRA code of a CTCAE v5.0 term in the trial's list.")
    grade: int = strawberry.field(description="Grade 1-5 on gradingScale.")
    onset_date: dt.date = strawberry.field(description="Date of onset (not in the future).")
    awareness_at: dt.datetime = strawberry.field(description="When the site became aware, with UTC offset.")
    grading_scale: e.GradingScale = strawberry.field(
        default=e.GradingScale.CTCAE_V5, description="CTCAE_V5 (default), or ASTCT_2019 for CRS and ICANS."
    )
    serious: bool = strawberry.field(
        default=False, description="Whether the event is serious (default false); then give seriousCriteria."
    )
    serious_criteria: list[e.SeriousCriterion] = strawberry.field(
        default_factory=list, description="The ICH E2A criteria met (default none)."
    )
    verbatim: str | None = strawberry.field(default=None, description="The event in the reporter's words, optional.")
    resolution_date: dt.date | None = strawberry.field(default=None, description="Date resolved; omit while ongoing.")
    attribution: AttributionInput | None = strawberry.field(
        default=None, description="Attribution to each product and procedure; omitted: not assessed."
    )
    expected: bool | None = strawberry.field(
        default=None, description="Whether the event is expected; omitted: not assessed."
    )
    action_taken: e.ActionTaken | None = strawberry.field(default=None, description="Action taken, optional.")
    outcome: e.AdverseEventOutcome | None = strawberry.field(default=None, description="Outcome (CDISC OUT), optional.")
    sponsor_reported_at: dt.datetime | None = strawberry.field(
        default=None, description="When a serious event was reported to the sponsor, with UTC offset."
    )


@strawberry.input(description="Change an adverse event, with a reason; fields left out keep their value.")
class UpdateAdverseEventInput:
    id: strawberry.ID = strawberry.field(description="Global id of the adverse event.")
    reason: str = strawberry.field(description="Why it is changed (required, audited).")
    meddra_code: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="MedDRA code of a CTCAE v5.0 term in the trial's list. Omitted: unchanged.",
    )
    grade: int | None = strawberry.field(default=strawberry.UNSET, description="Grade 1-5. Omitted: unchanged.")
    grading_scale: e.GradingScale | None = strawberry.field(
        default=strawberry.UNSET, description="Grading scale. Omitted: unchanged."
    )
    onset_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Date of onset. Omitted: unchanged."
    )
    awareness_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When the site became aware, with UTC offset. Omitted: unchanged."
    )
    serious: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether serious. Omitted: unchanged."
    )
    serious_criteria: list[e.SeriousCriterion] | None = strawberry.field(
        default=strawberry.UNSET, description="The ICH E2A criteria met; replaces the list. Omitted: unchanged."
    )
    verbatim: str | None = strawberry.field(
        default=strawberry.UNSET, description="Verbatim text; null clears it. Omitted: unchanged."
    )
    resolution_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Date resolved; null clears it. Omitted: unchanged."
    )
    attribution_cd19: e.Attribution | None = strawberry.field(
        default=strawberry.UNSET,
        description="Attribution to the CD19 CAR-T product; null clears it. Omitted: unchanged.",
    )
    attribution_bcma: e.Attribution | None = strawberry.field(
        default=strawberry.UNSET,
        description="Attribution to the BCMA CAR-T product; null clears it. Omitted: unchanged.",
    )
    attribution_lymphodepletion: e.Attribution | None = strawberry.field(
        default=strawberry.UNSET, description="Attribution to lymphodepletion; null clears it. Omitted: unchanged."
    )
    attribution_platelet_transfusion: e.Attribution | None = strawberry.field(
        default=strawberry.UNSET, description="Attribution to platelet transfusion; null clears it. Omitted: unchanged."
    )
    expected: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether expected; null clears it. Omitted: unchanged."
    )
    action_taken: e.ActionTaken | None = strawberry.field(
        default=strawberry.UNSET, description="Action taken; null clears it. Omitted: unchanged."
    )
    outcome: e.AdverseEventOutcome | None = strawberry.field(
        default=strawberry.UNSET, description="Outcome; null clears it. Omitted: unchanged."
    )
    sponsor_reported_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="When reported to the sponsor, with UTC offset; null clears it. Omitted: unchanged.",
    )


@strawberry.input(description="An investigator's decision on a pending adverse event.")
class ReviewAdverseEventInput:
    id: strawberry.ID = strawberry.field(description="Global id of the adverse event.")
    decision: e.ReviewDecision = strawberry.field(description="CONFIRM, REGRADE (give grade) or REJECT.")
    reason: str = strawberry.field(description="Why (required, audited).")
    grade: int | None = strawberry.field(default=None, description="The new grade, with REGRADE.")


@strawberry.input(description="An adverse event's resolution.")
class ResolveAdverseEventInput:
    id: strawberry.ID = strawberry.field(description="Global id of the adverse event.")
    resolution_date: dt.date = strawberry.field(description="Date the event resolved.")
    outcome: e.AdverseEventOutcome = strawberry.field(description="RECOVERED_RESOLVED, RECOVERED_RESOLVED_WITH_SEQUELAE or FATAL.")
    reason: str | None = strawberry.field(default=None, description="Why it is resolved: required (audited), although the type allows null.")


@strawberry.input(description="A staff note on a diary report.")
class AnnotateBleedingReportInput:
    id: strawberry.ID = strawberry.field(description="Global id of the diary report.")
    text: str = strawberry.field(description="The note or correction.")
    reason: str = strawberry.field(description="Why it is added (required, audited).")


@strawberry.input(description="The alert to mark as seen.")
class AcknowledgeAlertInput:
    id: strawberry.ID = strawberry.field(description="Global id of the alert.")


def _as_is(value: Any, _path: tuple[str, ...]) -> Any:
    return value


UPDATE_FIELDS: dict[str, Any] = {
    name: (name, aware if name in ("awareness_at", "sponsor_reported_at") else _as_is)
    for name in UpdateAdverseEventInput.__annotations__
    if name not in ("id", "reason")
}
UPDATE_FIELDS["serious_criteria"] = ("serious_criteria", lambda value, _p: tuple(value))
REQUIRED_AE = frozenset(
    {"meddra_code", "grade", "grading_scale", "onset_date", "awareness_at", "serious", "serious_criteria"}
)


def _pk(global_id: str, type_name: str) -> int:
    decoded = decode_id(global_id)
    if decoded is None or decoded[0] != type_name:
        raise NotFound(type_name, ("id",))
    return decoded[1]


def _submission(data: SubmitBleedingReportInput) -> diary.DiarySubmission:
    entered = aware(data.device_entered_at, ("deviceEnteredAt",))
    offset = data.device_entered_at.utcoffset()
    if len(data.symptoms) > 20:
        raise InvalidInput([Problem(("symptoms",), ProblemCode.OUT_OF_RANGE, "at most 20 symptoms in one report")])
    return diary.DiarySubmission(
        client_report_id=data.client_report_id.strip().lower()[:64],
        noticed_at=aware(data.noticed_at, ("noticedAt",)),
        device_entered_at=entered,
        device_utc_offset_minutes=int(offset.total_seconds() // 60) if offset is not None else 0,
        device_submitted_at=aware(data.device_submitted_at, ("deviceSubmittedAt",))
        if data.device_submitted_at
        else None,
        symptoms=tuple(
            b.Symptom(
                site=s.site,
                duration_minutes=s.duration_minutes,
                size_cm=s.size_cm,
                stopped=s.stopped,
                medical_help_needed=s.medical_help_needed,
                black_or_tarry=s.black_or_tarry,
                beyond_spotting=s.beyond_spotting,
                deep_swelling=s.deep_swelling,
            )
            for s in data.symptoms
        ),
        signs=b.NeurologicalSigns(
            sudden_severe_headache=data.sudden_severe_headache,
            new_confusion=data.new_confusion,
            vision_change=data.vision_change,
            new_weakness=data.new_weakness,
        ),
        pro_ctcae={
            k: v
            for k, v in (
                ("bruising", data.pro_ctcae_bruising),
                ("nosebleedFrequency", data.pro_ctcae_nosebleed_frequency),
                ("nosebleedSeverity", data.pro_ctcae_nosebleed_severity),
            )
            if v is not None
        },
        note=data.note,
        kind=data.kind,
    )


def _details(data: ReportAdverseEventInput) -> ae.AdverseEventDetails:
    attribution = data.attribution or AttributionInput()
    return ae.AdverseEventDetails(
        meddra_code=data.meddra_code,
        grade=data.grade,
        grading_scale=data.grading_scale,
        onset_date=data.onset_date,
        awareness_at=aware(data.awareness_at, ("awarenessAt",)),
        serious=data.serious,
        serious_criteria=tuple(data.serious_criteria),
        verbatim=data.verbatim,
        resolution_date=data.resolution_date,
        attribution_cd19=attribution.cd19_car_t,
        attribution_bcma=attribution.bcma_car_t,
        attribution_lymphodepletion=attribution.lymphodepletion,
        attribution_platelet_transfusion=attribution.platelet_transfusion,
        expected=data.expected,
        action_taken=data.action_taken,
        outcome=data.outcome,
        sponsor_reported_at=aware(data.sponsor_reported_at, ("sponsorReportedAt",))
        if data.sponsor_reported_at
        else None,
    )


# --- results ---------------------------------------------------------------------------------------


@strawberry.type(
    description="What the phone shows after submitting: accepted, the provisional grade, and whether to call the site now."
)
class BleedingReportAccepted:
    report: BleedingReport = strawberry.field(description="The report as stored.")
    duplicate: bool = strawberry.field(
        description="True when this id had already been received: nothing new was created."
    )
    provisional_who_grade: int | None = strawberry.field(description=f"Rule: {b.WHO_RULE}")
    red_flags: list[e.RedFlag] = strawberry.field(description="Red flags in this report.")
    call_site_now: bool = strawberry.field(
        description="A red flag was raised: tell the patient to call the site at once."
    )
    alert_raised: bool = strawberry.field(description="The site has been alerted.")
    advice: str = strawberry.field(description="A sentence to show the patient.")
    late: bool = strawberry.field(description="Noticed longer ago than the diary entry window.")
    day_who_grade: int | None = strawberry.field(
        description=f"The provisional WHO grade of the report's local day so far, this report included (minutes of the same kind of bleeding added across the day's reports; the worst site decides); null when nothing gradable was reported that day. Rule: {b.DAY_RULE}"
    )
    local_date: dt.date = strawberry.field(description="The patient's local calendar day the report belongs to.")


@strawberry.type(description="The adverse event was written.")
class AdverseEventSuccess:
    adverse_event: AdverseEvent = strawberry.field(description="The adverse event as stored.")


@strawberry.type(description="The note was added.")
class AnnotationSuccess:
    report: BleedingReport = strawberry.field(description="The diary report with its notes.")


@strawberry.type(description="The alert was acknowledged.")
class AlertSuccess:
    alert: Alert = strawberry.field(description="The alert as stored.")


SubmitBleedingReportResult = result_union("SubmitBleedingReportResult", BleedingReportAccepted)
AdverseEventResult = result_union("AdverseEventResult", AdverseEventSuccess)
AnnotateBleedingReportResult = result_union("AnnotateBleedingReportResult", AnnotationSuccess)
AcknowledgeAlertResult = result_union("AcknowledgeAlertResult", AlertSuccess)


def _accepted(info: Info, outcome: diary.DiaryOutcome) -> BleedingReportAccepted:
    assessment = outcome.assessment
    # The report's review status (which the phone asks for) as the use case left it: no read
    # session, no statement, for the answer.
    info.context.loaders.review_states.prime(outcome.report.id, list(outcome.review_states))
    return BleedingReportAccepted(
        report=BleedingReport.of(outcome.report),
        duplicate=outcome.duplicate,
        provisional_who_grade=assessment.who_grade,
        red_flags=[e.RedFlag(f.value) for f in assessment.red_flags],
        call_site_now=bool(assessment.red_flags),
        alert_raised=outcome.alert_raised,
        advice=outcome.advice,
        late=outcome.report.late,
        day_who_grade=outcome.day_who_grade,
        local_date=outcome.report.local_date,
    )


def _event(row: Any) -> AdverseEventSuccess:
    return AdverseEventSuccess(adverse_event=AdverseEvent.of(row))


@strawberry.type
class SafetyMutation:
    @strawberry.mutation(
        description="A patient's bleeding diary report (patients only, for themselves). Exactly once per clientReportId."
    )
    async def submit_bleeding_report(
        self,
        info: Info,
        input: Annotated[
            SubmitBleedingReportInput, strawberry.argument(description="The diary report, as entered on the phone.")
        ],
    ) -> SubmitBleedingReportResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await diary.submit_bleeding_report(uow, _submission(input), input.subject_code)

        return await run_use_case(info, use_case, lambda outcome: _accepted(info, outcome))

    @strawberry.mutation(
        description="Site staff's note or correction on a diary report, with a reason (the report itself is never edited)."
    )
    async def annotate_bleeding_report(
        self,
        info: Info,
        input: Annotated[AnnotateBleedingReportInput, strawberry.argument(description="The report and the note.")],
    ) -> AnnotateBleedingReportResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await diary.annotate_bleeding_report(
                uow, report_id=_pk(input.id, "BleedingReport"), text=input.text, reason=input.reason
            )

        return await run_use_case(info, use_case, lambda row: AnnotationSuccess(report=BleedingReport.of(row)))

    @strawberry.mutation(
        description="Report an adverse event (site staff). Entered by an investigator it is confirmed; by a coordinator it awaits review."
    )
    async def report_adverse_event(
        self,
        info: Info,
        input: Annotated[ReportAdverseEventInput, strawberry.argument(description="The adverse event.")],
    ) -> AdverseEventResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await ae.report_adverse_event(uow, subject_code=input.subject_code, details=_details(input))

        return await run_use_case(info, use_case, _event)

    @strawberry.mutation(description="An investigator confirms, regrades or rejects a pending event, with a reason.")
    async def review_adverse_event(
        self,
        info: Info,
        input: Annotated[ReviewAdverseEventInput, strawberry.argument(description="The event and the decision.")],
    ) -> AdverseEventResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await ae.review_adverse_event(
                uow,
                event_id=_pk(input.id, "AdverseEvent"),
                decision=input.decision,
                grade=input.grade,
                reason=input.reason,
            )

        return await run_use_case(info, use_case, _event)

    @strawberry.mutation(description="Change an adverse event, with a reason (audited).")
    async def update_adverse_event(
        self,
        info: Info,
        input: Annotated[UpdateAdverseEventInput, strawberry.argument(description="The event's changes.")],
    ) -> AdverseEventResult:
        async def use_case(uow: UnitOfWork) -> Any:
            patch = patch_of(input, UPDATE_FIELDS, REQUIRED_AE)
            return await ae.update_adverse_event(
                uow, event_id=_pk(input.id, "AdverseEvent"), patch=patch, reason=input.reason
            )

        return await run_use_case(info, use_case, _event)

    @strawberry.mutation(description="Record an adverse event's resolution date and outcome.")
    async def resolve_adverse_event(
        self,
        info: Info,
        input: Annotated[ResolveAdverseEventInput, strawberry.argument(description="The event's resolution.")],
    ) -> AdverseEventResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await ae.resolve_adverse_event(
                uow,
                event_id=_pk(input.id, "AdverseEvent"),
                resolution_date=input.resolution_date,
                outcome=input.outcome,
                reason=input.reason,
            )

        return await run_use_case(info, use_case, _event)

    @strawberry.mutation(description="Mark an alert as seen by the site (its staff).")
    async def acknowledge_alert(
        self,
        info: Info,
        input: Annotated[AcknowledgeAlertInput, strawberry.argument(description="The alert.")],
    ) -> AcknowledgeAlertResult:
        async def use_case(uow: UnitOfWork) -> Any:
            alert, site_code, subject_code = await diary.acknowledge_alert(uow, alert_id=_pk(input.id, "Alert"))
            return Alert.of(alert, site_code, subject_code)

        return await run_use_case(info, use_case, lambda alert: AlertSuccess(alert=alert))


# --- reads ----------------------------------------------------------------------------------------


# A change commits after its changed_at (the writing transaction's start time): a sync that reads
# just before such a commit would miss it if the next sync started at the read time. Syncing from a
# minute earlier covers transactions shorter than that; the phone de-duplicates by id.
SYNC_OVERLAP = dt.timedelta(seconds=60)


def _require_patient(info: Info) -> None:
    if info.context.actor.role is not Role.PATIENT:
        raise GraphQLError("myBleedingReports is the patient's own list", extensions={"code": "PERMISSION_DENIED"})


def _study_day_of(onset: dt.date, first: dt.datetime | None) -> int | None:
    return None if first is None else (onset - first.astimezone(dt.timezone.utc).date()).days


ATTRIBUTION_ORDER = list(DomainAttribution)


@strawberry.type
class SafetyQuery:
    @strawberry.field(
        description="The patient's own diary reports in receipt order, each with its provisional grade and review status; pass the last endCursor to fetch only new ones. With changedSince (a previous syncedAt): the reports new or changed since then (a review, regrade or annotation), in change order, so the phone also receives changes to reports it already has."
    )
    async def my_bleeding_reports(
        self,
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(description="endCursor of the previous page. Omitted: from the first report."),
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (default and maximum are settings).")
        ] = None,
        changed_since: Annotated[
            dt.datetime | None,
            strawberry.argument(description="The syncedAt of the previous sync (with its UTC offset)."),
        ] = None,
        last: Annotated[
            int | None, strawberry.argument(description="The last n reports (not with changedSince).")
        ] = None,
        before: Annotated[
            str | None,
            strawberry.argument(description="Rows before this cursor (a page's startCursor; not with changedSince)."),
        ] = None,
    ) -> BleedingReportConnection:
        _require_patient(info)
        if changed_since is None:
            keyset = keyset_of(info, first=first, after=after, last=last, before=before)
            page = await info.context.read(q.page_of_my_bleeding_reports, page=keyset)
            edges = [BleedingReportEdge(cursor=encode_cursor(r.id), node=BleedingReport.of(r)) for r in page.rows]
            has_previous, has_next = page.has_previous, page.has_next
        else:
            for name, value in (("last", last), ("before", before)):
                if value is not None:
                    # A sync reads forward from the previous sync's position; there is no end to read back from.
                    raise GraphQLError(
                        f"{name} cannot be combined with changedSince",
                        extensions={"code": "BAD_USER_INPUT", "field": [name]},
                    )
            limit = page_size_of(info, first)
            if changed_since.utcoffset() is None:
                raise GraphQLError(
                    "changedSince needs its UTC offset (pass syncedAt as received)",
                    extensions={"code": "BAD_USER_INPUT", "field": ["changedSince"]},
                )
            since = changed_since.astimezone(dt.timezone.utc)
            rows, has_next = await info.context.read(
                q.page_of_my_changed_bleeding_reports, changed_since=since, after=sync_position(after), limit=limit
            )
            edges = [
                BleedingReportEdge(cursor=sync_cursor(r.changed_at, r.id), node=BleedingReport.of(r)) for r in rows
            ]
            has_previous = False
        return BleedingReportConnection(
            edges=edges,
            # An empty page keeps the position it was asked from, so the phone's next sync starts there.
            page_info=PageInfo(
                has_next_page=has_next,
                has_previous_page=has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else after,
            ),
            synced_at=info.context.read_started_at - SYNC_OVERLAP,
        )

    @strawberry.field(description="Adverse events you may see, filtered; analysts get no verbatim text or reasons.")
    async def adverse_events(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (default and maximum are settings).")
        ] = None,
        after: Annotated[str | None, strawberry.argument(description="endCursor of the previous page.")] = None,
        subject_code: Annotated[str | None, strawberry.argument(description="Only this subject's events.")] = None,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites' subjects.")] = None,
        meddra_codes: Annotated[
            list[int] | None, strawberry.argument(description="Only these MedDRA codes (CTCAE terms).")
        ] = None,
        min_grade: Annotated[int | None, strawberry.argument(description="Only grade >= this (1-5).")] = None,
        max_grade: Annotated[int | None, strawberry.argument(description="Only grade <= this (1-5).")] = None,
        serious: Annotated[
            bool | None, strawberry.argument(description="Only serious (true) or non-serious (false) events.")
        ] = None,
        sources: Annotated[
            list[e.AdverseEventSource] | None, strawberry.argument(description="Only these sources.")
        ] = None,
        statuses: Annotated[
            list[e.AdverseEventStatus] | None, strawberry.argument(description="Only these review statuses.")
        ] = None,
        onset_from: Annotated[dt.date | None, strawberry.argument(description="Onset on or after this date.")] = None,
        onset_to: Annotated[dt.date | None, strawberry.argument(description="Onset on or before this date.")] = None,
        attribution_to: Annotated[
            e.AttributionTarget | None,
            strawberry.argument(description="The product or procedure attributionAtLeast applies to."),
        ] = None,
        attribution_at_least: Annotated[
            e.Attribution | None,
            strawberry.argument(
                description="With attributionTo: this level or more related (UNRELATED < UNLIKELY < POSSIBLE < PROBABLE < DEFINITE)."
            ),
        ] = None,
        onset_study_day_from: Annotated[
            int | None,
            strawberry.argument(description="Onset at or after this study day (days from the first CAR-T infusion)."),
        ] = None,
        onset_study_day_to: Annotated[
            int | None,
            strawberry.argument(description="Onset at or before this study day (days from the first CAR-T infusion)."),
        ] = None,
        last: Annotated[
            int | None,
            strawberry.argument(description="Page size counted from the end (Relay): the last n items, or the n just before `before`."),
        ] = None,
        before: Annotated[
            str | None, strawberry.argument(description="startCursor of the following page, to page backwards.")
        ] = None,
    ) -> AdverseEventConnection:
        levels = None
        if attribution_at_least is not None:
            levels = ATTRIBUTION_ORDER[ATTRIBUTION_ORDER.index(DomainAttribution(attribution_at_least.value)) :]
        where = q.AdverseEventFilter(
            subject_code=subject_code,
            site_codes=site_codes,
            meddra_codes=meddra_codes,
            min_grade=min_grade,
            max_grade=max_grade,
            serious=serious,
            sources=sources,
            statuses=statuses,
            onset_from=onset_from,
            onset_to=onset_to,
            attribution_product=attribution_to.value if attribution_to else None,
            attribution_at_least=levels,
        )
        rows = list(await info.context.read(q.adverse_events, where))
        if onset_study_day_from is not None or onset_study_day_to is not None:
            firsts = await info.context.loaders.first_infusion_at.load_many([r.subject_id for r in rows])
            days = [_study_day_of(r.onset_date, first) for r, first in zip(rows, firsts, strict=True)]
            rows = [
                r
                for r, day in zip(rows, days, strict=True)
                if day is not None
                and (onset_study_day_from is None or day >= onset_study_day_from)
                and (onset_study_day_to is None or day <= onset_study_day_to)
            ]
        keyset = keyset_of(info, first=first, after=after, last=last, before=before)
        page = keyset.of_list(rows, key=lambda row: row.id)
        edges = [AdverseEventEdge(cursor=encode_cursor(r.id), node=AdverseEvent.of(r)) for r in page.rows]
        return AdverseEventConnection(
            edges=edges, total_count=len(rows), page_info=page_info([edge.cursor for edge in edges], page)
        )

    @strawberry.field(
        description="The usual safety table: per CTCAE term, events, subjects and subjects by worst grade (rejected and voided events excluded)."
    )
    async def adverse_event_summary(
        self,
        info: Info,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites' subjects.")] = None,
        min_grade: Annotated[int | None, strawberry.argument(description="Only events of grade >= this (1-5).")] = None,
        serious: Annotated[
            bool | None, strawberry.argument(description="Only serious (true) or non-serious (false) events.")
        ] = None,
    ) -> list[SafetyTableRow]:
        statuses = [e.AdverseEventStatus.CONFIRMED, e.AdverseEventStatus.PENDING_REVIEW]
        where = q.AdverseEventFilter(site_codes=site_codes, min_grade=min_grade, serious=serious, statuses=statuses)
        rows = await info.context.read(q.adverse_events, where)
        worst: dict[int, dict[int, int]] = defaultdict(dict)
        events: dict[int, int] = defaultdict(int)
        serious_events: dict[int, int] = defaultdict(int)
        for r in rows:
            events[r.meddra_code] += 1
            serious_events[r.meddra_code] += int(r.serious)
            worst[r.meddra_code][r.subject_id] = max(worst[r.meddra_code].get(r.subject_id, 0), r.grade)
        terms = trial_terms()
        table = []
        for code in sorted(events, key=lambda c: (-len(worst[c]), terms[c].name if c in terms else str(c))):
            by_grade = [sum(1 for g in worst[code].values() if g == grade) for grade in range(1, 6)]
            term = terms.get(code)
            table.append(
                SafetyTableRow(
                    meddra_code=code,
                    term=term.name if term else str(code),
                    soc=term.soc if term else "",
                    events=events[code],
                    subjects=len(worst[code]),
                    subjects_by_worst_grade=by_grade,
                    serious_events=serious_events[code],
                )
            )
        return table

    @strawberry.field(description="The site alert inbox (coordinators and investigators of the site, admins).")
    async def alerts(
        self,
        info: Info,
        unacknowledged_only: Annotated[
            bool, strawberry.argument(description="Only alerts nobody has acknowledged yet (default false).")
        ] = False,
        after: Annotated[str | None, strawberry.argument(description="endCursor of the previous page.")] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (default and maximum are settings).")
        ] = None,
        last: Annotated[
            int | None,
            strawberry.argument(description="Page size counted from the end (Relay): the last n items, or the n just before `before`."),
        ] = None,
        before: Annotated[
            str | None, strawberry.argument(description="startCursor of the following page, to page backwards.")
        ] = None,
    ) -> AlertConnection:
        page = await info.context.read(
            q.page_of_alerts,
            unacknowledged_only=unacknowledged_only,
            page=keyset_of(info, first=first, after=after, last=last, before=before),
        )
        edges = [AlertEdge(cursor=encode_cursor(r[0].id), node=Alert.of(r[0], r[1], r[2])) for r in page.rows]
        return AlertConnection(edges=edges, page_info=page_info([edge.cursor for edge in edges], page))


ALERT_ROLES = frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.ADMIN})


@strawberry.type(description="Live events, over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription(
        description='Alerts of your sites as they are raised (graphql-transport-ws; send {"Authorization": "Bearer <token>"} in connection_init). Missed alerts stay in the `alerts` inbox.'
    )
    async def site_alerts(
        self,
        info: Info,
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only alerts of these sites (of those you may see); null or omitted: all."),
        ] = None,
    ) -> AsyncGenerator[Alert, None]:
        # Checked before the stream exists, so a refusal is the protocol's `error` message (the
        # operation never starts) rather than a `next` carrying errors.
        actor = info.context.actor
        if actor.role not in ALERT_ROLES:
            raise GraphQLError("site alerts go to the site's clinical staff", extensions={"code": "PERMISSION_DENIED"})
        return _alerts_for(actor, info.context.alert_bus, site_codes)


async def _alerts_for(actor: Actor, bus: AlertBus, site_codes: list[str] | None) -> AsyncGenerator[Alert, None]:
    queue = bus.subscribe()
    try:
        while True:
            payload = await queue.get()
            site = payload["siteCode"]
            if (actor.role is Role.ADMIN or site in actor.site_codes) and (site_codes is None or site in site_codes):
                yield Alert.of_payload(payload)
    finally:
        bus.unsubscribe(queue)
