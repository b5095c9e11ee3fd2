"""Safety types: patients' bleeding diary reports, adverse events and site alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import strawberry

from ...db import models as m
from ...domain import bleeding as b
from ...domain.adverse_events import sae_deadline, sae_overdue
from ...domain.ctcae import CTCAE_VERSION
from ...services.diary import symptoms_of
from ..common import enums as e
from ..common.context import Info
from ..common.ids import encode_id
from ..common.node import STUDY_DAY, study_day_at
from ..common.paging import NODES, PageInfo
from .loaders import SafetyLoaders


@strawberry.type(description="One symptom as the patient reported it.")
class BleedingSymptom:
    site: e.BleedingSite = strawberry.field(description="Where the bleeding was.")
    duration_minutes: int | None = strawberry.field(description="Total bleeding time that day, in minutes.")
    size_cm: float | None = strawberry.field(description="Bruise size in cm.")
    stopped: bool | None = strawberry.field(
        description="Whether the bleeding stopped; false raises a red flag; null when not answered."
    )
    medical_help_needed: bool = strawberry.field(
        description="Whether it needed medical help (packing, cautery, a clinic visit): proposes CTCAE grade 2."
    )
    black_or_tarry: bool = strawberry.field(description="Stool: black or tarry (a red flag).")
    beyond_spotting: bool = strawberry.field(description="Vaginal: bleeding heavier than spotting (WHO grade 2).")
    deep_swelling: bool = strawberry.field(description="Bruise: a spontaneous deep swelling or hematoma (WHO grade 2).")
    provisional_who_grade: int | None = strawberry.field(
        description=f"This symptom's provisional WHO grade. Rule: {b.WHO_RULE}"
    )


@strawberry.type(description="A staff note on a diary report (the report itself never changes).")
class BleedingReportAnnotation:
    text: str | None = strawberry.field(description="Null for analysts.")
    reason: str | None = strawberry.field(description="Null for analysts.")
    actor_id: str = strawberry.field(description="Who wrote the note (the token's `sub` claim).")
    created_at: dt.datetime = strawberry.field(description="When the note was written (UTC).")


@strawberry.type(description="A patient's bleeding diary report, as submitted; immutable.")
class BleedingReport:
    id: strawberry.ID = strawberry.field(description="Global id of the report.")
    db_id: strawberry.Private[int]
    subject_id: strawberry.Private[int]
    client_report_id: str = strawberry.field(description="The UUID the phone generated; resubmitting it is idempotent.")
    noticed_at: dt.datetime = strawberry.field(description="When the patient noticed the bleeding (UTC).")
    device_entered_at: dt.datetime = strawberry.field(description="When the entry was made on the phone (UTC).")
    device_utc_offset_minutes: int = strawberry.field(description="The phone's UTC offset at entry, in minutes.")
    device_submitted_at: dt.datetime | None = strawberry.field(
        description="When the phone sent it (UTC), as the phone says."
    )
    received_at: dt.datetime = strawberry.field(description="When the server received it (UTC).")
    late: bool = strawberry.field(description="Noticed longer ago than the diary entry window (a protocol parameter).")
    symptoms: list[BleedingSymptom] = strawberry.field(
        description="The symptoms reported; empty for a 'no bleeding today' check-in."
    )
    red_flags: list[e.RedFlag] = strawberry.field(
        description="Red flags raised by this report (each alerts the site at once)."
    )
    provisional_who_grade: int | None = strawberry.field(
        description=f"This report's own provisional WHO grade (its worst symptom). Rule: {b.WHO_RULE}"
    )
    kind: e.BleedingReportKind = strawberry.field(description="A bleeding report, or a 'no bleeding today' check-in.")
    local_date: dt.date = strawberry.field(
        description="The patient's local calendar day of the report (noticedAt at the phone's UTC offset): the day it is graded with."
    )
    changed_at: dt.datetime = strawberry.field(
        description="When this report last changed for the patient (UTC): receipt, a review, regrade or update of a linked adverse event, or a staff annotation."
    )
    note: str | None = strawberry.field(description="The patient's note; null for analysts.")
    pro_ctcae_bruising: bool | None = strawberry.field(description="PRO-CTCAE: any bruising (last 7 days).")
    pro_ctcae_nosebleed_frequency: int | None = strawberry.field(description="PRO-CTCAE 0-4 (last 7 days).")
    pro_ctcae_nosebleed_severity: int | None = strawberry.field(description="PRO-CTCAE 0-4 (last 7 days).")

    @strawberry.field(description=STUDY_DAY + " Of the time noticed.")
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.noticed_at)

    @strawberry.field(description="REVIEWED when every adverse event it supports has been confirmed or rejected.")
    async def review_status(self, info: Info) -> e.AdverseEventStatus | None:
        events = await info.context.loaders.of(SafetyLoaders).review_states.load(self.db_id)
        if not events:
            return None
        statuses = {event.status for event in events}
        if e.AdverseEventStatus.PENDING_REVIEW in statuses:
            return e.AdverseEventStatus.PENDING_REVIEW
        return (
            e.AdverseEventStatus.CONFIRMED
            if e.AdverseEventStatus.CONFIRMED in statuses
            else e.AdverseEventStatus.REJECTED
        )

    @strawberry.field(
        description="The review status the patient sees (the adverse events themselves are the investigators')."
    )
    async def status(self, info: Info) -> e.DiaryReportStatus:
        events = await info.context.loaders.of(SafetyLoaders).review_states.load(self.db_id)
        if not events or any(event.status is e.AdverseEventStatus.PENDING_REVIEW for event in events):
            return e.DiaryReportStatus.RECEIVED
        return e.DiaryReportStatus.REVIEWED

    @strawberry.field(
        description="When the status became REVIEWED: the latest review of its adverse events (UTC); null while RECEIVED."
    )
    async def status_changed_at(self, info: Info) -> dt.datetime | None:
        if await self.status(info) is not e.DiaryReportStatus.REVIEWED:
            return None
        events = await info.context.loaders.of(SafetyLoaders).review_states.load(self.db_id)
        reviewed = [event.reviewed_at for event in events if event.reviewed_at is not None]
        return max(reviewed) if reviewed else None

    @strawberry.field(
        description="Provisional or reviewed adverse events this report supports (site staff, monitors, analysts, admins; always empty for patients, who see the report's status)."
    )
    async def adverse_events(self, info: Info) -> list[AdverseEvent]:
        return [
            AdverseEvent.of(row)
            for row in await info.context.loaders.of(SafetyLoaders).events_of_report.load(self.db_id)
        ]

    @strawberry.field(description="Site staff's notes on this report.")
    async def annotations(self, info: Info) -> list[BleedingReportAnnotation]:
        rows = await info.context.loaders.of(SafetyLoaders).annotations.load(self.db_id)
        return [
            BleedingReportAnnotation(text=r.text, reason=r.reason, actor_id=r.actor_id, created_at=r.created_at)
            for r in rows
        ]

    @classmethod
    def of(cls, row: m.BleedingReport) -> BleedingReport:
        symptoms = []
        for s in row.symptoms:
            symptom = b.Symptom(**{**s, "site": b.BleedingSite(s["site"])})
            symptoms.append(
                BleedingSymptom(**{**s, "site": symptom.site, "provisional_who_grade": b.who_grade(symptom)})
            )
        pro = row.pro_ctcae or {}
        return cls(
            id=encode_id("BleedingReport", row.id),
            db_id=row.id,
            subject_id=row.subject_id,
            client_report_id=row.client_report_id,
            noticed_at=row.noticed_at,
            device_entered_at=row.device_entered_at,
            device_utc_offset_minutes=row.device_utc_offset_minutes,
            device_submitted_at=row.device_submitted_at,
            received_at=row.received_at,
            late=row.late,
            symptoms=symptoms,
            red_flags=[e.RedFlag(f) for f in row.red_flags],
            provisional_who_grade=row.who_grade,
            kind=row.kind,
            local_date=row.local_date,
            changed_at=row.changed_at,
            note=row.note,
            pro_ctcae_bruising=pro.get("bruising"),
            pro_ctcae_nosebleed_frequency=pro.get("nosebleedFrequency"),
            pro_ctcae_nosebleed_severity=pro.get("nosebleedSeverity"),
        )


@strawberry.type(description="Attribution on the NCI five-point scale to each product and procedure.")
class AttributionSet:
    cd19_car_t: e.Attribution | None = strawberry.field(
        description="Attribution to the CD19 CAR-T product; null when not assessed."
    )
    bcma_car_t: e.Attribution | None = strawberry.field(
        description="Attribution to the BCMA CAR-T product; null when not assessed."
    )
    lymphodepletion: e.Attribution | None = strawberry.field(
        description="Attribution to lymphodepletion; null when not assessed."
    )
    platelet_transfusion: e.Attribution | None = strawberry.field(
        description="Attribution to platelet transfusion; null when not assessed."
    )


@strawberry.type(description="An adverse event: CTCAE v5.0 term and grade (ASTCT 2019 for CRS/ICANS).")
class AdverseEvent:
    id: strawberry.ID = strawberry.field(description="Global id of the adverse event.")
    db_id: strawberry.Private[int]
    subject_id: strawberry.Private[int]
    meddra_code: int = strawberry.field(description="MedDRA code of the CTCAE v5.0 term.")
    term: str = strawberry.field(description="CTCAE v5.0 term (e.g. Epistaxis).")
    verbatim: str | None = strawberry.field(description="Verbatim description; null for analysts.")
    grade: int = strawberry.field(description="Grade 1-5 on gradingScale.")
    grading_scale: e.GradingScale = strawberry.field(
        description="The scale that graded it: CTCAE v5.0, or ASTCT 2019 for CRS and ICANS."
    )
    onset_date: dt.date = strawberry.field(description="Date of onset.")
    resolution_date: dt.date | None = strawberry.field(description="Date resolved; null while ongoing.")
    serious: bool = strawberry.field(description="Whether the event is serious (ICH E2A).")
    serious_criteria: list[e.SeriousCriterion] = strawberry.field(
        description="The seriousness criteria met; empty when not serious."
    )
    attribution: AttributionSet = strawberry.field(description="Attribution to each product and procedure.")
    expected: bool | None = strawberry.field(description="Whether the event is expected; null when not assessed.")
    action_taken: e.ActionTaken | None = strawberry.field(description="Action taken; null when not recorded.")
    outcome: e.AdverseEventOutcome | None = strawberry.field(description="Outcome (CDISC OUT); null when not recorded.")
    source: e.AdverseEventSource = strawberry.field(description="Who or what raised the event.")
    status: e.AdverseEventStatus = strawberry.field(description="Where the event is in the investigator's review.")
    awareness_at: dt.datetime = strawberry.field(description="When the site became aware (UTC); starts the SAE clock.")
    sponsor_reported_at: dt.datetime | None = strawberry.field(
        description="When a serious event was reported to the sponsor (UTC)."
    )
    review_reason: str | None = strawberry.field(description="The reviewer's reason; null for analysts.")
    reviewed_by: str | None = strawberry.field(
        description="Who reviewed it (the token's `sub` claim); null before review."
    )
    reviewed_at: dt.datetime | None = strawberry.field(description="When it was reviewed (UTC); null before review.")
    grading_version: str = strawberry.field(
        default=CTCAE_VERSION, description="Version of the grading criteria (CTCAE v5.0)."
    )

    @strawberry.field(description="For a serious event: the sponsor reporting deadline, 24 h after awareness (UTC).")
    def sae_report_deadline(self) -> dt.datetime | None:
        return sae_deadline(self.awareness_at) if self.serious else None

    @strawberry.field(description="A serious event not reported to the sponsor by its deadline (or reported late).")
    def sae_report_overdue(self) -> bool:
        return sae_overdue(self.serious, self.awareness_at, self.sponsor_reported_at, dt.datetime.now(dt.timezone.utc))

    @strawberry.field(description=STUDY_DAY + " Of the onset date.")
    async def onset_study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.onset_date)

    @strawberry.field(description="The diary reports that support this event (patient-reported events).")
    async def bleeding_reports(self, info: Info) -> list[BleedingReport]:
        return [
            BleedingReport.of(row)
            for row in await info.context.loaders.of(SafetyLoaders).reports_of_event.load(self.db_id)
        ]

    @strawberry.field(description="Code of the subject.")
    async def subject_code(self, info: Info) -> str:
        subject = await info.context.loaders.subject.load(self.subject_id)
        assert subject is not None
        return subject.code

    @classmethod
    def of(cls, row: m.AdverseEvent) -> AdverseEvent:
        return cls(
            id=encode_id("AdverseEvent", row.id),
            db_id=row.id,
            subject_id=row.subject_id,
            meddra_code=row.meddra_code,
            term=row.term,
            verbatim=row.verbatim,
            grade=row.grade,
            grading_scale=row.grading_scale,
            onset_date=row.onset_date,
            resolution_date=row.resolution_date,
            serious=row.serious,
            serious_criteria=[e.SeriousCriterion(c) for c in row.serious_criteria],
            attribution=AttributionSet(
                cd19_car_t=row.attribution_cd19,
                bcma_car_t=row.attribution_bcma,
                lymphodepletion=row.attribution_lymphodepletion,
                platelet_transfusion=row.attribution_platelet_transfusion,
            ),
            expected=row.expected,
            action_taken=row.action_taken,
            outcome=row.outcome,
            source=row.source,
            status=row.status,
            awareness_at=row.awareness_at,
            sponsor_reported_at=row.sponsor_reported_at,
            review_reason=row.review_reason,
            reviewed_by=row.reviewed_by,
            reviewed_at=row.reviewed_at,
        )


@strawberry.type(description="An adverse event in a page, with its cursor.")
class AdverseEventEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge: pass it as `after` for the next page.")
    node: AdverseEvent = strawberry.field(description="The adverse event.")


@strawberry.type(description="A page of adverse events, in the order they were recorded.")
class AdverseEventConnection:
    edges: list[AdverseEventEdge] = strawberry.field(description="The page's adverse events, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more pages follow, and the cursor to get the next one.")
    total_count: int = strawberry.field(description="Adverse events matching the filters, over all pages.")

    @strawberry.field(description=NODES)
    def nodes(self) -> list[AdverseEvent]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A diary report in a page, with its cursor.")
class BleedingReportEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge: pass it as `after` for the next page.")
    node: BleedingReport = strawberry.field(description="The diary report.")


@strawberry.type(description="A page of diary reports in receipt order; keep endCursor to sync the next time.")
class BleedingReportConnection:
    edges: list[BleedingReportEdge] = strawberry.field(description="The page's reports, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more pages follow, and the cursor to get the next one.")
    synced_at: dt.datetime = strawberry.field(
        description="Pass this as changedSince on the next sync to receive every report changed since (UTC). It is "
        "the read's start time minus a 60 s overlap, so a change committed just after this read is not missed; "
        "reports may therefore come again: de-duplicate by id, keeping the newest."
    )

    @strawberry.field(description=NODES)
    def nodes(self) -> list[BleedingReport]:
        return [edge.node for edge in self.edges]


@strawberry.type(
    description="One local calendar day of a patient's diary: its reports and check-ins, graded together (minutes of the same kind of bleeding added across the day's reports; the worst site decides)."
)
class BleedingDay:
    local_date: dt.date = strawberry.field(description="The patient's local calendar day.")
    observed: bool = strawberry.field(description="At least one report or 'no bleeding today' check-in that day.")
    day_who_grade: int | None = strawberry.field(
        description="The day's provisional WHO grade; null when nothing gradable was reported (a check-in only)."
    )
    red_flags: list[e.RedFlag] = strawberry.field(description="The day's red flags (minutes added across the day).")
    report_count: int = strawberry.field(description="Reports and check-ins that day.")
    reports: list[BleedingReport] = strawberry.field(description="That day's reports, in receipt order.")
    rule: str = strawberry.field(description="The rule (and version) that graded the day.")


@strawberry.type(description="An alert to a site: a red flag or a provisional grade >= 2 in a diary report.")
class Alert:
    id: strawberry.ID = strawberry.field(description="Global id of the alert.")
    site_code: str = strawberry.field(description="Code of the site alerted.")
    subject_code: str = strawberry.field(description="Code of the subject concerned.")
    bleeding_report_id: strawberry.ID | None = strawberry.field(
        description="Global id of the diary report that raised it; null when no diary report raised it."
    )
    red_flags: list[e.RedFlag] = strawberry.field(
        description="The red flags reported; empty when the alert is for a grade."
    )
    provisional_who_grade: int | None = strawberry.field(
        description="Provisional WHO bleeding grade (0-4) behind the alert; null when none."
    )
    message: str = strawberry.field(description="What to look at, in words.")
    created_at: dt.datetime = strawberry.field(description="When the alert was raised (UTC).")
    acknowledged_at: dt.datetime | None = strawberry.field(
        description="When site staff acknowledged it (UTC); null while open."
    )
    acknowledged_by: str | None = strawberry.field(
        description="Who acknowledged it (the token's `sub` claim); null while open."
    )

    @classmethod
    def of(cls, row: m.Alert, site_code: str, subject_code: str) -> Alert:
        return cls(
            id=encode_id("Alert", row.id),
            site_code=site_code,
            subject_code=subject_code,
            bleeding_report_id=encode_id("BleedingReport", row.bleeding_report_id) if row.bleeding_report_id else None,
            red_flags=[e.RedFlag(f) for f in row.red_flags],
            provisional_who_grade=row.who_grade,
            message=row.message,
            created_at=row.created_at,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
        )

    @classmethod
    def of_payload(cls, payload: dict[str, Any]) -> Alert:
        report = payload.get("bleedingReportId")
        return cls(
            id=encode_id("Alert", payload["id"]),
            site_code=payload["siteCode"],
            subject_code=payload["subjectCode"],
            bleeding_report_id=encode_id("BleedingReport", report) if report else None,
            red_flags=[e.RedFlag(f) for f in payload["redFlags"]],
            provisional_who_grade=payload["whoGrade"],
            message=payload["message"],
            created_at=dt.datetime.fromisoformat(payload["createdAt"]),
            acknowledged_at=None,
            acknowledged_by=None,
        )


@strawberry.type(description="An alert in a page, with its cursor.")
class AlertEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge: pass it as `after` for the next page.")
    node: Alert = strawberry.field(description="The alert.")


@strawberry.type(description="The site's alert inbox, oldest first.")
class AlertConnection:
    edges: list[AlertEdge] = strawberry.field(description="The page's alerts, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more pages follow, and the cursor to get the next one.")

    @strawberry.field(description=NODES)
    def nodes(self) -> list[Alert]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="Adverse events of one term: the usual safety table row.")
class SafetyTableRow:
    meddra_code: int = strawberry.field(description="MedDRA code of the term.")
    term: str = strawberry.field(description="CTCAE v5.0 term.")
    soc: str = strawberry.field(description="MedDRA system organ class.")
    events: int = strawberry.field(
        description="Adverse events of this term matching the filters (rejected and voided ones excluded)."
    )
    subjects: int = strawberry.field(description="Subjects with at least one event of this term.")
    subjects_by_worst_grade: list[int] = strawberry.field(
        description="Subjects whose worst grade of this term is 1, 2, 3, 4, 5 (five counts)."
    )
    serious_events: int = strawberry.field(description="Serious adverse events of this term.")


def bleeding_days_of(rows: Sequence[Any]) -> list[BleedingDay]:
    """One BleedingDay per local date that has reports (rows of one subject, ordered by local date
    and receipt), graded together by the domain's daily rule."""
    by_day: dict[dt.date, list[Any]] = {}
    for row in rows:
        by_day.setdefault(row.local_date, []).append(row)
    days = []
    for local_date, day_rows in sorted(by_day.items()):
        graded = b.assess_day(
            [b.DayEntry(symptoms_of(r), b.NeurologicalSigns(**r.neurological_signs)) for r in day_rows]
        )
        days.append(
            BleedingDay(
                local_date=local_date,
                observed=graded.observed,
                day_who_grade=graded.who_grade,
                red_flags=[e.RedFlag(f.value) for f in graded.red_flags],
                report_count=len(day_rows),
                reports=[BleedingReport.of(r) for r in day_rows],
                rule=b.DAY_RULE,
            )
        )
    return days
