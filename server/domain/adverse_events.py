"""Adverse events: the safety outcome (DOMAIN.md, "Safety workflow")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from .ctcae import GradingScale, Term
from .validation import MAX_REASON, Problem, ProblemCode, check_not_future, check_text

SAE_REPORTING_WINDOW = timedelta(hours=24)


class Attribution(str, Enum):
    """NCI five-point attribution scale."""

    UNRELATED = "unrelated"
    UNLIKELY = "unlikely"
    POSSIBLE = "possible"
    PROBABLE = "probable"
    DEFINITE = "definite"


class SeriousCriterion(str, Enum):
    """ICH E2A seriousness criteria."""

    DEATH = "death"
    LIFE_THREATENING = "life_threatening"
    HOSPITALIZATION = "hospitalization"
    DISABILITY = "disability"
    CONGENITAL_ANOMALY = "congenital_anomaly"
    OTHER_IMPORTANT_MEDICAL_EVENT = "other_important_medical_event"


class Outcome(str, Enum):
    """CDISC OUT codelist."""

    RECOVERED_RESOLVED = "recovered_resolved"
    RECOVERING_RESOLVING = "recovering_resolving"
    NOT_RECOVERED_NOT_RESOLVED = "not_recovered_not_resolved"
    RECOVERED_RESOLVED_WITH_SEQUELAE = "recovered_resolved_with_sequelae"
    FATAL = "fatal"
    UNKNOWN = "unknown"


class ActionTaken(str, Enum):
    NONE = "none"
    MEDICATION = "medication"
    TRANSFUSION = "transfusion"
    PROCEDURE = "procedure"
    HOSPITALIZATION = "hospitalization"
    OTHER = "other"


class AdverseEventSource(str, Enum):
    INVESTIGATOR = "investigator"
    PATIENT_REPORT = "patient_report"
    LAB = "lab"


class AdverseEventStatus(str, Enum):
    PENDING_REVIEW = "pending_review"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class ReviewDecision(str, Enum):
    CONFIRM = "confirm"
    REGRADE = "regrade"
    REJECT = "reject"


RESOLVED_OUTCOMES = frozenset({Outcome.RECOVERED_RESOLVED, Outcome.RECOVERED_RESOLVED_WITH_SEQUELAE, Outcome.FATAL})


def sae_deadline(awareness_at: datetime) -> datetime:
    """A serious adverse event reaches the sponsor within 24 h of the site's awareness."""
    return awareness_at + SAE_REPORTING_WINDOW


def sae_overdue(serious: bool, awareness_at: datetime, reported_at: datetime | None, now: datetime) -> bool:
    if not serious:
        return False
    deadline = sae_deadline(awareness_at)
    return reported_at > deadline if reported_at is not None else now > deadline


@dataclass(frozen=True)
class AdverseEventFacts:
    term: Term | None
    grade: int
    scale: GradingScale
    onset_date: date
    resolution_date: date | None
    serious: bool
    serious_criteria: Sequence[SeriousCriterion]
    outcome: Outcome | None
    verbatim: str | None
    awareness_at: datetime


def check_adverse_event(facts: AdverseEventFacts, now: datetime) -> list[Problem]:
    problems: list[Problem] = []
    term = facts.term
    if term is None:
        problems.append(Problem(("meddraCode",), ProblemCode.NOT_ALLOWED, "not a CTCAE v5.0 term of this trial's list"))
    else:
        if facts.scale not in term.allowed_scales():
            scales = ", ".join(sorted(s.value for s in term.allowed_scales()))
            problems.append(Problem(("gradingScale",), ProblemCode.NOT_ALLOWED, f"{term.name} is graded by {scales}"))
        if facts.scale is GradingScale.CTCAE_V5 and facts.grade not in term.grades:
            allowed = ", ".join(str(g) for g in sorted(term.grades))
            problems.append(
                Problem(("grade",), ProblemCode.NOT_ALLOWED, f"{term.name} has grades {allowed} in CTCAE v5.0")
            )
    if not 1 <= facts.grade <= 5:
        problems.append(Problem(("grade",), ProblemCode.OUT_OF_RANGE, "grades run from 1 to 5"))
    if facts.grade == 5 and facts.outcome not in (None, Outcome.FATAL):
        problems.append(Problem(("outcome",), ProblemCode.INVALID_ORDER, "a grade 5 event is fatal"))
    if facts.resolution_date is not None and facts.resolution_date < facts.onset_date:
        problems.append(Problem(("resolutionDate",), ProblemCode.INVALID_ORDER, "resolution cannot come before onset"))
    if facts.serious and not facts.serious_criteria:
        problems.append(
            Problem(("seriousCriteria",), ProblemCode.REQUIRED, "a serious event names at least one ICH E2A criterion")
        )
    if not facts.serious and facts.serious_criteria:
        problems.append(
            Problem(("serious",), ProblemCode.INVALID_ORDER, "seriousness criteria given for a non-serious event")
        )
    if SeriousCriterion.DEATH in facts.serious_criteria and facts.outcome not in (None, Outcome.FATAL):
        problems.append(Problem(("outcome",), ProblemCode.INVALID_ORDER, "the death criterion needs a fatal outcome"))
    problems += check_not_future(facts.onset_date, now, ("onsetDate",))
    problems += check_not_future(facts.resolution_date, now, ("resolutionDate",))
    problems += check_not_future(facts.awareness_at, now, ("awarenessAt",))
    problems += check_text(facts.verbatim, ("verbatim",), MAX_REASON)
    return problems
