"""Adverse events reported and reviewed by site staff (DOMAIN.md, "Safety workflow")."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from ..db import repositories as repo
from ..db.audit import field_changes
from ..db.models import AdverseEvent
from ..domain import validation as v
from ..domain.adverse_events import (
    RESOLVED_OUTCOMES,
    ActionTaken,
    AdverseEventFacts,
    AdverseEventSource,
    AdverseEventStatus,
    Attribution,
    Outcome,
    ReviewDecision,
    SeriousCriterion,
    check_adverse_event,
)
from ..domain.ctcae import GradingScale
from ..domain.enums import AuditAction, Role
from .access import RECORD, writable_subject, writable_subject_by_id
from .errors import Conflict, ErrorCode, NotFound, PermissionDenied, raise_if
from .terms import trial_terms
from .unit_of_work import UnitOfWork

ENTITY = "AdverseEvent"
# Who confirms, regrades and rejects events (an admin acts with an investigator's authority here,
# as an admin's newly reported event is confirmed on entry).
REVIEWERS = frozenset({Role.INVESTIGATOR, Role.ADMIN})
# A confirmed event whose term, grade or seriousness anyone else changes goes back to review.
REVIEWED_FIELDS = ("meddra_code", "grade", "grading_scale", "serious", "serious_criteria")


@dataclass(frozen=True)
class AdverseEventDetails:
    """The fields site staff set on an adverse event (model attribute names)."""

    meddra_code: int
    grade: int
    grading_scale: GradingScale
    onset_date: date
    awareness_at: datetime
    serious: bool = False
    serious_criteria: tuple[SeriousCriterion, ...] = ()
    verbatim: str | None = None
    resolution_date: date | None = None
    attribution_cd19: Attribution | None = None
    attribution_bcma: Attribution | None = None
    attribution_lymphodepletion: Attribution | None = None
    attribution_platelet_transfusion: Attribution | None = None
    expected: bool | None = None
    action_taken: ActionTaken | None = None
    outcome: Outcome | None = None
    sponsor_reported_at: datetime | None = None


EDITABLE = tuple(f.name for f in fields(AdverseEventDetails))


def _values(event: AdverseEvent) -> dict[str, Any]:
    values = {name: getattr(event, name) for name in EDITABLE}
    values["serious_criteria"] = tuple(SeriousCriterion(c) for c in event.serious_criteria)
    return values


def _check(uow: UnitOfWork, details: AdverseEventDetails) -> None:
    facts = AdverseEventFacts(
        term=trial_terms().get(details.meddra_code),
        grade=details.grade,
        scale=details.grading_scale,
        onset_date=details.onset_date,
        resolution_date=details.resolution_date,
        serious=details.serious,
        serious_criteria=details.serious_criteria,
        outcome=details.outcome,
        verbatim=details.verbatim,
        awareness_at=details.awareness_at,
    )
    problems = check_adverse_event(facts, uow.now)
    problems += v.check_not_future(details.sponsor_reported_at, uow.now, ("sponsorReportedAt",))
    raise_if(problems)


def _stored(details: dict[str, Any]) -> dict[str, Any]:
    stored = dict(details)
    stored["serious_criteria"] = [c.value for c in details["serious_criteria"]]
    stored["term"] = trial_terms()[details["meddra_code"]].name
    return stored


async def report_adverse_event(uow: UnitOfWork, *, subject_code: str, details: AdverseEventDetails) -> AdverseEvent:
    """An investigator-sourced event, confirmed as it is entered by the site."""
    subject, site = await writable_subject(uow.session, uow.actor, subject_code)
    _check(uow, details)
    status = AdverseEventStatus.CONFIRMED if uow.actor.role in REVIEWERS else AdverseEventStatus.PENDING_REVIEW
    values = _stored(_values_of(details))
    event = AdverseEvent(
        subject_id=subject.id,
        source=AdverseEventSource.INVESTIGATOR,
        status=status,
        created_at=uow.now,
        updated_at=uow.now,
        **values,
    )
    uow.session.add(event)
    await uow.flush()
    uow.audit(
        entity=ENTITY,
        entity_id=event.id,
        action=AuditAction.CREATE,
        changes=field_changes({}, {**values, "source": event.source, "status": status}),
        subject_id=subject.id,
        site_id=site.id,
    )
    return event


def _values_of(details: AdverseEventDetails) -> dict[str, Any]:
    return {name: getattr(details, name) for name in EDITABLE}


async def _existing(uow: UnitOfWork, event_id: int) -> tuple[AdverseEvent, int]:
    # Locks the subject, then the event: the diary takes them in this order when a report
    # continues an episode, and the reverse order deadlocks with it on PostgreSQL.
    subject_id = await repo.subject_id_of(uow.session, AdverseEvent, event_id)
    if subject_id is None:
        raise NotFound(RECORD, ("id",))
    _subject, site = await writable_subject_by_id(uow.session, uow.actor, subject_id, field=("id",))
    event = await repo.record_by_id(uow.session, AdverseEvent, event_id)
    assert event is not None  # events are never deleted
    if event.voided_at is not None:
        raise Conflict(ErrorCode.ALREADY_VOIDED, "this adverse event was voided", ("id",))
    return event, site.id


def _apply(
    uow: UnitOfWork,
    event: AdverseEvent,
    site_id: int,
    patch: dict[str, Any],
    reason: str,
    action: AuditAction,
    extra: dict[str, Any] | None = None,
) -> None:
    old = _values(event)
    merged = AdverseEventDetails(**{**old, **patch})
    _check(uow, merged)
    changes = field_changes({k: old[k] for k in patch}, patch)
    extra_old = {k: getattr(event, k) for k in (extra or {})}
    changes.update(field_changes(extra_old, extra or {}))
    if not changes:
        raise Conflict(ErrorCode.NO_CHANGE, "the change changes nothing")
    for name, value in _stored({**_values_of(merged)}).items():
        setattr(event, name, value)
    for name, value in (extra or {}).items():
        setattr(event, name, value)
    event.updated_at = uow.now
    uow.audit(
        entity=ENTITY,
        entity_id=event.id,
        action=action,
        changes=changes,
        subject_id=event.subject_id,
        site_id=site_id,
        reason=reason,
    )


async def update_adverse_event(uow: UnitOfWork, *, event_id: int, patch: dict[str, Any], reason: str) -> AdverseEvent:
    """A correction with a reason. A confirmed event whose term, grade or seriousness is changed by
    anyone but a reviewer (a coordinator, say) goes back to pending review (DOMAIN.md, "Safety
    workflow"), audited with why."""
    raise_if(v.check_reason(reason))
    event, site_id = await _existing(uow, event_id)
    before = _values(event)
    _apply(uow, event, site_id, patch, reason, AuditAction.UPDATE)
    changed = [name for name in REVIEWED_FIELDS if _values(event)[name] != before[name]]
    if changed and event.status is AdverseEventStatus.CONFIRMED and uow.actor.role not in REVIEWERS:
        fields_changed = ", ".join("term" if name == "meddra_code" else name.replace("_", " ") for name in changed)
        _back_to_review(
            uow,
            event,
            site_id,
            {},
            f"{fields_changed} of a confirmed event changed by a {uow.actor.role.value}: back to investigator review",
        )
    await repo.touch_reports_of_event(uow.session, event.id, uow.now)
    return event


def _back_to_review(uow: UnitOfWork, event: AdverseEvent, site_id: int, patch: dict[str, Any], reason: str) -> None:
    """A confirmed event returns to PENDING_REVIEW (with `patch` applied), audited with the reason."""
    changes = field_changes(
        {"status": event.status, **{k: getattr(event, k) for k in patch}},
        {"status": AdverseEventStatus.PENDING_REVIEW, **patch},
    )
    uow.audit(
        entity=ENTITY,
        entity_id=event.id,
        action=AuditAction.UPDATE,
        changes=changes,
        subject_id=event.subject_id,
        site_id=site_id,
        reason=reason,
    )
    for name, value in patch.items():
        setattr(event, name, value)
    event.status = AdverseEventStatus.PENDING_REVIEW
    event.updated_at = uow.now


async def resolve_adverse_event(
    uow: UnitOfWork, *, event_id: int, resolution_date: date, outcome: Outcome, reason: str | None
) -> AdverseEvent:
    event, site_id = await _existing(uow, event_id)
    if outcome not in RESOLVED_OUTCOMES:
        raise_if(
            [
                v.Problem(
                    ("outcome",),
                    v.ProblemCode.NOT_ALLOWED,
                    "a resolved event's outcome is recovered/resolved, with sequelae, or fatal",
                )
            ]
        )
    if event.resolution_date is not None:
        raise Conflict(
            ErrorCode.INVALID_TRANSITION, "the event is already resolved; correct it with updateAdverseEvent", ("id",)
        )
    _apply(
        uow,
        event,
        site_id,
        {"resolution_date": resolution_date, "outcome": outcome},
        reason or "",
        AuditAction.UPDATE,
    )
    # Resolving changes an existing record: the audit trail needs the investigator's own reason
    # (DESIGN.md rule 2), not a placeholder. Checked after the dates, whose problems come first;
    # the transaction rolls back, so nothing of the above is kept.
    raise_if(v.check_reason(reason))
    await repo.touch_reports_of_event(uow.session, event.id, uow.now)
    return event


async def review_adverse_event(
    uow: UnitOfWork, *, event_id: int, decision: ReviewDecision, grade: int | None, reason: str
) -> AdverseEvent:
    """The investigator's medical judgment on a provisional event: confirm, regrade or reject."""
    if uow.actor.role not in REVIEWERS:
        raise PermissionDenied("only an investigator reviews adverse events")
    raise_if(v.check_reason(reason))
    event, site_id = await _existing(uow, event_id)
    if event.status is not AdverseEventStatus.PENDING_REVIEW:
        raise Conflict(ErrorCode.INVALID_TRANSITION, f"the event is already {event.status.value}", ("id",))
    review = {"reviewed_by": uow.actor.actor_id, "reviewed_at": uow.now, "review_reason": reason}
    if decision is ReviewDecision.REJECT:
        _apply(uow, event, site_id, {}, reason, AuditAction.UPDATE, {"status": AdverseEventStatus.REJECTED, **review})
        await repo.touch_reports_of_event(uow.session, event.id, uow.now)
        return event
    patch: dict[str, Any] = {}
    if decision is ReviewDecision.REGRADE:
        if grade is None:
            raise_if([v.Problem(("grade",), v.ProblemCode.REQUIRED, "a regrade names the new grade")])
        patch["grade"] = grade
    elif grade is not None and grade != event.grade:
        raise_if([v.Problem(("grade",), v.ProblemCode.NOT_ALLOWED, "to change the grade, choose REGRADE")])
    _apply(uow, event, site_id, patch, reason, AuditAction.UPDATE, {"status": AdverseEventStatus.CONFIRMED, **review})
    await repo.touch_reports_of_event(uow.session, event.id, uow.now)
    return event


# --- provisional events proposed by diary reports and lab results ----------------------------------


def new_provisional_event(
    uow: UnitOfWork,
    *,
    subject_id: int,
    meddra_code: int,
    grade: int,
    onset: date,
    source: AdverseEventSource,
    verbatim: str | None = None,
) -> AdverseEvent:
    """A new event pending the investigator's review (source: patient report or lab), added to the
    session: it gets its id with the caller's next flush, and then its audit row (audit_new_event).
    A caller proposing several events flushes once: one INSERT for them all."""
    event = AdverseEvent(
        subject_id=subject_id,
        meddra_code=meddra_code,
        term=trial_terms()[meddra_code].name,
        verbatim=verbatim,
        grade=grade,
        grading_scale=GradingScale.CTCAE_V5,
        onset_date=onset,
        serious=False,
        serious_criteria=[],
        source=source,
        status=AdverseEventStatus.PENDING_REVIEW,
        awareness_at=uow.now,
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(event)
    return event


def audit_new_event(uow: UnitOfWork, event: AdverseEvent, *, site_id: int) -> None:
    """The audit row of a provisional event once flushed (it has its id)."""
    uow.audit(
        entity=ENTITY,
        entity_id=event.id,
        action=AuditAction.CREATE,
        changes=field_changes(
            {},
            {
                "term": event.term,
                "meddra_code": event.meddra_code,
                "grade": event.grade,
                "onset_date": event.onset_date,
                "source": event.source,
                "status": event.status,
            },
        ),
        subject_id=event.subject_id,
        site_id=site_id,
    )


def continue_with_grade(uow: UnitOfWork, event: AdverseEvent, grade: int, *, site_id: int, report_id: int) -> bool:
    """A diary report continuing a patient-reported event with a higher provisional grade: a
    pending event takes the grade; a confirmed one takes it too and goes back to pending review
    (DOMAIN.md, "Safety workflow"). True when a confirmed event went back to review (the caller
    alerts the site)."""
    if grade <= event.grade:
        return False
    if event.status is not AdverseEventStatus.CONFIRMED:
        raise_provisional_grade(
            uow, event, grade, site_id=site_id, reason=f"diary report {report_id} proposes a higher grade"
        )
        return False
    _back_to_review(
        uow,
        event,
        site_id,
        {"grade": grade},
        f"diary report {report_id} continues this confirmed event with a higher provisional grade "
        f"({event.grade} -> {grade}): back to investigator review",
    )
    return True


def raise_provisional_grade(uow: UnitOfWork, event: AdverseEvent, grade: int, *, site_id: int, reason: str) -> None:
    """A continuing episode graded higher raises a still-pending event; a reviewed one is left to
    the investigator (lab results; diary reports go through continue_with_grade)."""
    if grade <= event.grade or event.status is not AdverseEventStatus.PENDING_REVIEW:
        return
    uow.audit(
        entity=ENTITY,
        entity_id=event.id,
        action=AuditAction.UPDATE,
        changes=field_changes({"grade": event.grade}, {"grade": grade}),
        subject_id=event.subject_id,
        site_id=site_id,
        reason=reason,
    )
    event.grade = grade
    event.updated_at = uow.now
