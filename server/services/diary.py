"""Patients' bleeding diary: exactly-once submission, provisional grading, provisional adverse
events and site alerts, all in the transaction that stores the report."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from ..db import repositories as repo
from ..db.audit import audit_value, field_changes
from ..db.models import AdverseEvent, AdverseEventReport, Alert, BleedingReport, BleedingReportAnnotation, Site, Subject
from ..domain import bleeding as b
from ..domain import validation as v
from ..domain.adverse_events import AdverseEventSource
from ..domain.auth import Actor
from ..domain.enums import AuditAction, Role
from ..domain.protocol import ProtocolParameters
from .access import RECORD, require_clinical_writer, require_taking_part, writable_subject_by_id
from .adverse_events import audit_new_event, continue_with_grade, new_provisional_event
from .errors import Conflict, ErrorCode, NotFound, PermissionDenied, raise_if
from .unit_of_work import UnitOfWork

MAX_UTC_OFFSET_MINUTES = 14 * 60


@dataclass(frozen=True)
class DiarySubmission:
    client_report_id: str
    noticed_at: datetime
    device_entered_at: datetime
    device_utc_offset_minutes: int
    symptoms: tuple[b.Symptom, ...]
    signs: b.NeurologicalSigns = field(default_factory=b.NeurologicalSigns)
    pro_ctcae: dict[str, int | bool | None] = field(default_factory=dict)
    note: str | None = None
    device_submitted_at: datetime | None = None  # changes on every retry: not part of the content
    kind: b.BleedingReportKind = b.BleedingReportKind.SYMPTOMS

    @property
    def local_date(self) -> date:
        return b.local_date(self.noticed_at, self.device_utc_offset_minutes)

    def content_hash(self) -> str:
        content: dict[str, Any] = {
            "noticed_at": self.noticed_at.isoformat(),
            "device_entered_at": self.device_entered_at.isoformat(),
            "device_utc_offset_minutes": self.device_utc_offset_minutes,
            "symptoms": [audit_value(asdict(s)) for s in self.symptoms],
            "signs": asdict(self.signs),
            "pro_ctcae": {k: v for k, v in sorted(self.pro_ctcae.items()) if v is not None},
            "note": self.note,
        }
        if self.kind is not b.BleedingReportKind.SYMPTOMS:  # reports stored before kinds keep their hash
            content["kind"] = self.kind.value
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class DiaryOutcome:
    report: BleedingReport
    assessment: b.DiaryAssessment
    duplicate: bool  # True when this was a resubmission of a report already received
    alert_raised: bool
    adverse_event_ids: tuple[int, ...]
    day_who_grade: int | None = None  # the local day's grade so far, this report included
    # (status, reviewed_at) of the live adverse events the report supports, as the transaction
    # left them: the answer's review status needs no read of its own
    review_states: tuple[Any, ...] = ()

    @property
    def advice(self) -> str:
        if self.report.kind is b.BleedingReportKind.NO_BLEEDING and not self.assessment.red_flags:
            return "Thank you. No bleeding today is recorded."
        day = b.DiaryAssessment(self.day_who_grade, (), self.assessment.red_flags)
        return day.advice


def _check(uow: UnitOfWork, s: DiarySubmission) -> None:
    problems: list[v.Problem] = v.check_client_report_id(s.client_report_id)
    problems += v.check_not_future(s.noticed_at, uow.now, ("noticedAt",))
    problems += v.check_not_future(s.device_entered_at, uow.now, ("deviceEnteredAt",))
    if s.noticed_at > s.device_entered_at + v.MAX_CLOCK_SKEW:
        problems.append(v.Problem(("noticedAt",), v.ProblemCode.INVALID_ORDER, "noticed after the entry was made"))
    problems += v.check_range(
        s.device_utc_offset_minutes,
        -MAX_UTC_OFFSET_MINUTES,
        MAX_UTC_OFFSET_MINUTES,
        ("deviceUtcOffsetMinutes",),
        "UTC offset (minutes)",
    )
    problems += b.check_kind(s.kind, s.symptoms, s.signs)
    problems += b.check_pro_ctcae(s.pro_ctcae)
    problems += b.check_note(s.note)
    raise_if(problems)


async def _own_subject(uow: UnitOfWork, subject_code: str | None) -> tuple[Subject, Site, ProtocolParameters]:
    """The patient's own subject, locked, with its site and today's protocol parameters."""
    actor = uow.actor
    if actor.role is not Role.PATIENT:
        raise PermissionDenied("diary reports come from patients; site staff annotate them")
    if subject_code is not None and subject_code != actor.subject_code:
        raise PermissionDenied("you can report only for yourself")
    # Locking the subject serializes one patient's submissions: duplicates and episode merging
    # then see each other's effects.
    found = await repo.lock_subject_with_site(uow.session, actor.subject_code or "", uow.now.date())
    if found is None:
        raise NotFound("subject", ("subjectCode",))
    return found


async def submit_bleeding_report(
    uow: UnitOfWork, submission: DiarySubmission, subject_code: str | None = None
) -> DiaryOutcome:
    """Stores the report once, grades its local day with every report of that day (read under the
    subject's lock, so two reports of one day see each other), and raises an alert on a red flag
    or when the day's grade first reaches 2."""
    subject, site, parameters = await _own_subject(uow, subject_code)
    require_taking_part(subject, "the diary no longer sends reports; please contact your study team")
    _check(uow, submission)
    raise_if(b.check_noticed_after_consent(submission.local_date, subject.consent_date))
    client_report_id = v.canonical_client_report_id(submission.client_report_id)
    digest = submission.content_hash()
    day = submission.local_date
    # Read under the subject's lock, in one statement: the day's earlier reports, and a report
    # already stored under this clientReportId (a retry, or another report reusing the id).
    reports = await repo.reports_of_day_and_client_id(uow.session, subject.id, day, client_report_id)
    if any(r.client_report_id == client_report_id for r in reports):
        return await _resubmission(uow, subject, reports, client_report_id, digest)
    own = b.assess_report(submission.symptoms, submission.signs)
    earlier = [_day_entry(r) for r in reports]
    before = b.assess_day(earlier)
    after = b.assess_day([*earlier, b.DayEntry(submission.symptoms, submission.signs)])
    assessment = b.DiaryAssessment(
        who_grade=own.who_grade, proposals=own.proposals, red_flags=b.new_red_flags(own.red_flags, before, after)
    )
    values = {
        "subject_id": subject.id,
        "client_report_id": client_report_id,
        "content_hash": digest,
        "kind": submission.kind,
        "noticed_at": submission.noticed_at,
        "local_date": day,
        "device_entered_at": submission.device_entered_at,
        "device_utc_offset_minutes": submission.device_utc_offset_minutes,
        "device_submitted_at": submission.device_submitted_at,
        "received_at": uow.now,
        "changed_at": uow.now,
        "late": b.is_late(submission.noticed_at, uow.now, parameters.diary_entry_window_days),
        "symptoms": [audit_value(asdict(s)) for s in submission.symptoms],
        "neurological_signs": asdict(submission.signs),
        "pro_ctcae": submission.pro_ctcae,
        "note": submission.note,
        "who_grade": assessment.who_grade,
        "day_who_grade": after.who_grade,
        "red_flags": [f.value for f in assessment.red_flags],
        "submitted_by": uow.actor.actor_id,
    }
    # The unique constraint still settles a race the lock cannot see: the same id sent at the same
    # moment for another subject (whose lock is another row).
    report = await repo.insert_row_if_absent(uow.session, BleedingReport, values, "client_report_id")
    if report is None:
        raise _idempotency_conflict()
    uow.audit(
        entity="BleedingReport",
        entity_id=report.id,
        action=AuditAction.CREATE,
        changes=field_changes(
            {}, {k: val for k, val in values.items() if k not in ("subject_id", "content_hash", "changed_at")}
        ),
        subject_id=subject.id,
        site_id=site.id,
    )
    events, reopened = await _provisional_events(
        uow, subject, site, report, assessment, submission, parameters.bleeding_episode_gap_hours
    )
    alerts = []
    if assessment.red_flags or b.day_alert_due(before, after):
        alerts.append(_alert(uow, subject, site, report, assessment, after))
    for event, previous_grade in reopened:
        message = (
            f"{subject.code}: diary report continues confirmed adverse event {event.term} (grade {previous_grade}) "
            f"with provisional grade {event.grade}; back to investigator review"
        )
        alerts.append(_alert(uow, subject, site, report, assessment, after, message=message[:300], red_flags=False))
    await _raise_alerts(uow, subject, site, alerts)
    return DiaryOutcome(
        report,
        assessment,
        duplicate=False,
        alert_raised=bool(alerts),
        adverse_event_ids=tuple(e.id for e in events),
        day_who_grade=after.who_grade,
        review_states=tuple(events),
    )


def _day_entry(report: BleedingReport) -> b.DayEntry:
    return b.DayEntry(symptoms_of(report), b.NeurologicalSigns(**report.neurological_signs))


def symptoms_of(report: Any) -> tuple[b.Symptom, ...]:
    """The stored symptoms of a report row (ORM or plain row) as domain values."""
    return tuple(b.Symptom(**{**s, "site": b.BleedingSite(s["site"])}) for s in report.symptoms)


def _idempotency_conflict() -> Conflict:
    return Conflict(
        ErrorCode.IDEMPOTENCY_CONFLICT,
        "this clientReportId was already used for a different report; generate a new id for a new report",
        ("clientReportId",),
    )


async def _resubmission(
    uow: UnitOfWork, subject: Subject, reports: list[BleedingReport], client_report_id: str, digest: str
) -> DiaryOutcome:
    """The same id again: the original result when the content is the same, else a conflict."""
    [report] = [r for r in reports if r.client_report_id == client_report_id]
    if report.subject_id != subject.id or report.content_hash != digest:
        raise _idempotency_conflict()
    assessment = b.DiaryAssessment(
        who_grade=report.who_grade, proposals=(), red_flags=tuple(b.RedFlag(f) for f in report.red_flags)
    )
    alert_raised, events = await repo.report_outcome(uow.session, report.id)
    return DiaryOutcome(
        report,
        assessment,
        duplicate=True,
        alert_raised=alert_raised,
        adverse_event_ids=tuple(e.id for e in events),
        day_who_grade=report.day_who_grade,
        review_states=tuple(e for e in events if e.voided_at is None),
    )


def _verbatim(symptom_sites: list[b.BleedingSite]) -> str:
    return "Patient diary: " + ", ".join(site.value.replace("_", "/") for site in symptom_sites)


async def _provisional_events(
    uow: UnitOfWork,
    subject: Subject,
    site: Site,
    report: BleedingReport,
    assessment: b.DiaryAssessment,
    submission: DiarySubmission,
    gap_hours: int,
) -> tuple[list[AdverseEvent], list[tuple[AdverseEvent, int]]]:
    """Each proposed term continues an open patient-reported episode of that term, or starts one
    (source: patient report, status: pending review). Returns the events, and the confirmed
    events a higher grade sent back to review, each with its grade before. The new events are
    inserted together (one flush); the links to the report are written with the next flush."""
    codes = [p.meddra_code for p in assessment.proposals]
    if not codes:
        return [], []
    open_events = await repo.open_patient_reported_events(uow.session, subject.id, codes)
    episodes = [b.OpenEpisode(e.id, e.meddra_code, last) for e, last in open_events]
    by_id = {e.id: e for e, _ in open_events}
    onset = b.local_date(submission.noticed_at, submission.device_utc_offset_minutes)
    continued = [
        b.continuing_episode(episodes, p.meddra_code, submission.noticed_at, gap_hours) for p in assessment.proposals
    ]
    new_events = {
        n: new_provisional_event(
            uow,
            subject_id=subject.id,
            meddra_code=proposal.meddra_code,
            grade=proposal.grade,
            onset=onset,
            source=AdverseEventSource.PATIENT_REPORT,
            verbatim=_verbatim([proposal.site]),
        )
        for n, (proposal, episode) in enumerate(zip(assessment.proposals, continued, strict=True))
        if episode is None
    }
    if new_events:
        await uow.flush()  # their ids
    events: list[AdverseEvent] = []
    reopened: list[tuple[AdverseEvent, int]] = []
    for n, (proposal, episode) in enumerate(zip(assessment.proposals, continued, strict=True)):
        if episode is not None:
            event = by_id[episode.event_id]
            grade_before, status_before = event.grade, event.status
            if continue_with_grade(uow, event, proposal.grade, site_id=site.id, report_id=report.id):
                reopened.append((event, grade_before))
            if (event.grade, event.status) != (grade_before, status_before):
                # the reports this event links change for the phone too (grade or review status)
                await repo.touch_reports_of_event(uow.session, event.id, uow.now)
        else:
            event = new_events[n]
            audit_new_event(uow, event, site_id=site.id)
        uow.session.add(AdverseEventReport(adverse_event_id=event.id, bleeding_report_id=report.id))
        events.append(event)
    return events, reopened


def alert_message(subject_code: str, assessment: b.DiaryAssessment, day: b.DayAssessment, local_day: date) -> str:
    if assessment.red_flags:
        flags = ", ".join(f.value.replace("_", " ") for f in assessment.red_flags)
        return f"{subject_code}: red flag in a bleeding diary report ({flags}); contact the patient now"
    reports = len(day.entry_grades)
    added = (
        f"minutes of the same kind of bleeding added across the day's {reports} reports"
        if reports > 1
        else "one report that day"
    )
    return (
        f"{subject_code}: bleeding diary day {local_day.isoformat()} reached provisional WHO grade "
        f"{day.who_grade} ({added}); this report alone is grade {assessment.who_grade}"
    )


def _alert(
    uow: UnitOfWork,
    subject: Subject,
    site: Site,
    report: BleedingReport,
    assessment: b.DiaryAssessment,
    day: b.DayAssessment,
    *,
    message: str | None = None,
    red_flags: bool = True,
) -> Alert:
    """An alert about the report: its red flags or the day's grade, or `message` (then without
    the red flags when `red_flags` is False: they have their own alert)."""
    return Alert(
        site_id=site.id,
        subject_id=subject.id,
        bleeding_report_id=report.id,
        red_flags=[f.value for f in assessment.red_flags] if red_flags else [],
        who_grade=day.who_grade,
        message=message or alert_message(subject.code, assessment, day, report.local_date),
        created_at=uow.now,
    )


async def _raise_alerts(uow: UnitOfWork, subject: Subject, site: Site, alerts: list[Alert]) -> None:
    """Stores the alerts (one flush: their ids), audits them and queues them for live delivery."""
    if not alerts:
        return
    uow.session.add_all(alerts)
    await uow.flush()
    for alert in alerts:
        uow.audit(
            entity="Alert",
            entity_id=alert.id,
            action=AuditAction.CREATE,
            changes=field_changes(
                {}, {"message": alert.message, "red_flags": alert.red_flags, "who_grade": alert.who_grade}
            ),
            subject_id=subject.id,
            site_id=site.id,
        )
        uow.push_alert(alert_payload(alert, site.code, subject.code))


def alert_payload(alert: Alert, site_code: str, subject_code: str) -> dict[str, Any]:
    """What a live subscriber receives (pseudonymous: codes only)."""
    return {
        "id": alert.id,
        "siteCode": site_code,
        "subjectCode": subject_code,
        "bleedingReportId": alert.bleeding_report_id,
        "redFlags": alert.red_flags,
        "whoGrade": alert.who_grade,
        "message": alert.message,
        "createdAt": alert.created_at.isoformat(),
    }


async def annotate_bleeding_report(uow: UnitOfWork, *, report_id: int, text: str, reason: str) -> BleedingReport:
    """Site staff's note or correction; the patient's entry itself stays as submitted."""
    require_clinical_writer(uow.actor)
    raise_if(v.check_reason(reason) + v.check_reason(text, ("text",)))
    report = await repo.record_by_id(uow.session, BleedingReport, report_id)
    if report is None:
        raise NotFound(RECORD, ("id",))
    _subject, site = await writable_subject_by_id(uow.session, uow.actor, report.subject_id, field=("id",))
    annotation = BleedingReportAnnotation(
        bleeding_report_id=report.id, text=text, reason=reason, actor_id=uow.actor.actor_id, created_at=uow.now
    )
    uow.session.add(annotation)
    await uow.flush()
    report.changed_at = uow.now  # the patient's phone syncs the annotated report again
    uow.audit(
        entity="BleedingReport",
        entity_id=report.id,
        action=AuditAction.UPDATE,
        changes=field_changes({}, {"annotation": text}),
        subject_id=report.subject_id,
        site_id=site.id,
        reason=reason,
    )
    return report


async def acknowledge_alert(uow: UnitOfWork, *, alert_id: int) -> tuple[Alert, str, str]:
    """The acknowledged alert, with its site and subject codes."""
    actor: Actor = uow.actor
    require_clinical_writer(actor)
    alert = await repo.record_by_id(uow.session, Alert, alert_id)
    if alert is None:
        raise NotFound(RECORD, ("id",))
    site = await repo.site_by_id(uow.session, alert.site_id)
    if not actor.may_write_site(site.code):
        raise NotFound(RECORD, ("id",))
    if alert.acknowledged_at is not None:
        raise Conflict(ErrorCode.NO_CHANGE, "already acknowledged", ("id",))
    alert.acknowledged_at = uow.now
    alert.acknowledged_by = actor.actor_id
    uow.audit(
        entity="Alert",
        entity_id=alert.id,
        action=AuditAction.UPDATE,
        changes=field_changes({"acknowledged_at": None}, {"acknowledged_at": uow.now}),
        subject_id=alert.subject_id,
        site_id=site.id,
        reason=f"acknowledged by {actor.role.value}",  # the audit row says what happened and by whom
    )
    subject = await repo.subject_by_id(uow.session, alert.subject_id)
    return alert, site.code, subject.code
