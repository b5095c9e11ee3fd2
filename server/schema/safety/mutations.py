"""Safety mutations: the patient's bleeding reports, adverse events and their review, alerts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeAlias

import strawberry

from ...domain import bleeding as b
from ...services import adverse_events as ae
from ...services import diary
from ...services.errors import NotFound
from ...services.unit_of_work import UnitOfWork
from ..common import enums as e
from ..common.context import Info
from ..common.errors import UserErrors, run_use_case
from ..common.ids import decode_id
from ..common.inputs import patch_of
from .inputs import (
    REQUIRED_AE,
    UPDATE_FIELDS,
    AcknowledgeAlertInput,
    AnnotateBleedingReportInput,
    ReportAdverseEventInput,
    ResolveAdverseEventInput,
    ReviewAdverseEventInput,
    SubmitBleedingReportInput,
    UpdateAdverseEventInput,
    adverse_event_details,
    diary_submission,
)
from .loaders import SafetyLoaders
from .types import (
    AdverseEvent,
    Alert,
    BleedingReport,
)


def _pk(global_id: str, type_name: str) -> int:
    decoded = decode_id(global_id)
    if decoded is None or decoded[0] != type_name:
        raise NotFound(type_name, ("id",))
    return decoded[1]


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


SubmitBleedingReportResult: TypeAlias = Annotated[
    BleedingReportAccepted | UserErrors,
    strawberry.union("SubmitBleedingReportResult", description="BleedingReportAccepted or a typed error."),
]


AdverseEventResult: TypeAlias = Annotated[
    AdverseEventSuccess | UserErrors,
    strawberry.union("AdverseEventResult", description="AdverseEventSuccess or a typed error."),
]


AnnotateBleedingReportResult: TypeAlias = Annotated[
    AnnotationSuccess | UserErrors,
    strawberry.union("AnnotateBleedingReportResult", description="AnnotationSuccess or a typed error."),
]


AcknowledgeAlertResult: TypeAlias = Annotated[
    AlertSuccess | UserErrors, strawberry.union("AcknowledgeAlertResult", description="AlertSuccess or a typed error.")
]


def _accepted(info: Info, outcome: diary.DiaryOutcome) -> BleedingReportAccepted:
    assessment = outcome.assessment
    # The report's review status (which the phone asks for) as the use case left it: no read
    # session, no statement, for the answer.
    info.context.loaders.of(SafetyLoaders).review_states.prime(outcome.report.id, list(outcome.review_states))
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
            return await diary.submit_bleeding_report(uow, diary_submission(input), input.subject_code)

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
            return await ae.report_adverse_event(
                uow, subject_code=input.subject_code, details=adverse_event_details(input)
            )

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
