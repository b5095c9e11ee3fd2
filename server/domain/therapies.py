"""Prior and concomitant therapies, splenectomy and transplant (DOMAIN.md, "Prior and concomitant
therapies, transplant"): the controlled vocabularies, the plausibility checks of the records, and
the rules that read them: which platelet transfusions a therapy confounds, when an allogeneic
HSCT ends the evaluable follow-up, and which therapies are protocol deviations.

Dates only: a therapy course and a procedure are recorded by calendar date (the site's date); a
transfusion is placed on the UTC calendar date of its start, as study days are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum

from .validation import MAX_REASON, Problem, ProblemCode, check_not_future, check_range, check_text

IVIG_CONFOUNDING_RULE = (
    "ivig-confounding-v1: a transfusion started (UTC date) on or after an IVIG course's start and at most "
    "ivigConfoundingDays after its last dose (its end date; an ongoing course has no last dose yet)"
)
TPO_RA_CONFOUNDING_RULE = (
    "tpo-ra-confounding-v1: a transfusion started (UTC date) from a TPO-receptor agonist's start to its end date "
    "inclusive, or any time after the start while it is ongoing (when tpoRaConfounds)"
)
HSCT_FOLLOW_UP_RULE = (
    "hsct-follow-up-v1: an allogeneic HSCT ends the evaluable follow-up on its date (when hsctEndsFollowUp); "
    "transfusions started on or after that UTC date are listed, not counted for the endpoint"
)
DEVIATION_RULE = (
    "deviation-anti-b-cell-v1: an anti-CD20 or anti-plasma-cell therapy started on or after the UTC date of the "
    "first CAR-T infusion (study day >= 0)"
)
TIMING_RULE = "therapy-timing-v1: PRIOR when the therapy ended before the consent date, else CONCOMITANT"

MAX_THERAPY_NAME = 120


class TherapyClass(str, Enum):
    IVIG = "ivig"
    ANTI_CD20 = "anti_cd20"  # rituximab
    TPO_RA = "tpo_ra"  # eltrombopag, romiplostim, avatrombopag, hetrombopag
    ANTI_PLASMA_CELL = "anti_plasma_cell"  # proteasome inhibitors (bortezomib), daratumumab
    IL6_BLOCKADE = "il6_blockade"  # tocilizumab, siltuximab
    CORTICOSTEROID = "corticosteroid"
    G_CSF = "g_csf"
    ANTI_INFECTIVE = "anti_infective"
    OTHER = "other"

    @property
    def label(self) -> str:
        return CLASS_LABELS[self]


CLASS_LABELS = {
    TherapyClass.IVIG: "IMMUNOGLOBULINS, INTRAVENOUS",
    TherapyClass.ANTI_CD20: "ANTI-CD20 MONOCLONAL ANTIBODY",
    TherapyClass.TPO_RA: "THROMBOPOIETIN RECEPTOR AGONIST",
    TherapyClass.ANTI_PLASMA_CELL: "ANTI-PLASMA-CELL THERAPY",
    TherapyClass.IL6_BLOCKADE: "INTERLEUKIN-6 BLOCKADE",
    TherapyClass.CORTICOSTEROID: "CORTICOSTEROID",
    TherapyClass.G_CSF: "GRANULOCYTE COLONY-STIMULATING FACTOR",
    TherapyClass.ANTI_INFECTIVE: "ANTI-INFECTIVE",
    TherapyClass.OTHER: "OTHER",
}
DEVIATION_CLASSES = frozenset({TherapyClass.ANTI_CD20, TherapyClass.ANTI_PLASMA_CELL})


class TherapyDoseUnit(str, Enum):
    MG = "mg"
    G = "g"
    UG = "ug"
    MG_PER_KG = "mg_per_kg"
    G_PER_KG = "g_per_kg"
    UG_PER_KG = "ug_per_kg"
    MG_PER_M2 = "mg_per_m2"
    IU = "iu"


class TherapyRoute(str, Enum):
    ORAL = "oral"
    INTRAVENOUS = "intravenous"
    SUBCUTANEOUS = "subcutaneous"
    INTRAMUSCULAR = "intramuscular"
    TOPICAL = "topical"
    INHALATION = "inhalation"
    OTHER = "other"


class DoseFrequency(str, Enum):
    """CDISC FREQ terms (C71113)."""

    ONCE = "once"
    QD = "qd"
    BID = "bid"
    TID = "tid"
    QID = "qid"
    QW = "qw"
    Q2W = "q2w"
    Q4W = "q4w"
    PRN = "prn"


class TherapyTiming(str, Enum):
    PRIOR = "prior"  # ended before consent
    CONCOMITANT = "concomitant"


class ProcedureType(str, Enum):
    SPLENECTOMY = "splenectomy"
    HSCT = "hsct"


class HsctType(str, Enum):
    ALLOGENEIC = "allogeneic"
    AUTOLOGOUS = "autologous"


class EndpointExclusion(str, Enum):
    """Why a transfusion is not counted for the primary endpoint (sustained response)."""

    BEFORE_CAR_T = "before_car_t"  # before the first CAR-T infusion (or none given)
    AFTER_ASSESSMENT_WINDOW = "after_assessment_window"
    AFTER_HSCT = "after_hsct"  # on or after an allogeneic HSCT: follow-up ended


def therapy_timing(end_date: date | None, ongoing: bool, consent_date: date) -> TherapyTiming:
    """Derived, never asked: PRIOR when the therapy ended before the consent date; an ongoing one
    or one ending on or after consent is CONCOMITANT (TIMING_RULE)."""
    if not ongoing and end_date is not None and end_date < consent_date:
        return TherapyTiming.PRIOR
    return TherapyTiming.CONCOMITANT


# --- plausibility of the records ----------------------------------------------------------------


def check_therapy(
    *,
    name: str | None,
    therapy_class: TherapyClass,
    dose: float | None,
    dose_unit: TherapyDoseUnit | None,
    start_date: date,
    end_date: date | None,
    ongoing: bool,
    indication: str | None,
    now: datetime,
) -> list[Problem]:
    problems: list[Problem] = []
    if therapy_class is TherapyClass.OTHER and not (name or "").strip():
        problems.append(Problem(("name",), ProblemCode.REQUIRED, "name the therapy when its class is OTHER"))
    problems += check_text(name, ("name",), MAX_THERAPY_NAME)
    if dose is not None:
        if dose_unit is None:
            problems.append(Problem(("doseUnit",), ProblemCode.REQUIRED, "a dose needs its unit"))
        if not dose > 0:  # NaN fails too
            problems.append(Problem(("dose",), ProblemCode.OUT_OF_RANGE, "a dose must be positive"))
        else:
            problems += check_range(dose, 0, 1e6, ("dose",), "dose")
    problems += check_not_future(start_date, now, ("startDate",))
    if ongoing and end_date is not None:
        problems.append(Problem(("ongoing",), ProblemCode.NOT_ALLOWED, "an ongoing therapy has no end date"))
    if not ongoing and end_date is None:
        problems.append(Problem(("endDate",), ProblemCode.REQUIRED, "give the end date, or mark the therapy ongoing"))
    if end_date is not None:
        if end_date < start_date:
            problems.append(Problem(("endDate",), ProblemCode.INVALID_ORDER, "a therapy cannot end before it starts"))
        problems += check_not_future(end_date, now, ("endDate",))
    problems += check_text(indication, ("indication",), MAX_REASON)
    return problems


def check_procedure(
    *,
    procedure_type: ProcedureType,
    hsct_type: HsctType | None,
    performed_on: date,
    consent_date: date,
    notes: str | None,
    now: datetime,
) -> list[Problem]:
    problems = check_not_future(performed_on, now, ("performedOn",))
    if procedure_type is ProcedureType.HSCT:
        if hsct_type is None:
            problems.append(Problem(("hsctType",), ProblemCode.REQUIRED, "an HSCT is ALLOGENEIC or AUTOLOGOUS"))
        if performed_on < consent_date:
            problems.append(
                Problem(("performedOn",), ProblemCode.INVALID_ORDER, "an HSCT in the trial is on or after consent")
            )
    elif hsct_type is not None:
        problems.append(Problem(("hsctType",), ProblemCode.NOT_ALLOWED, "only an HSCT has a transplant type"))
    return problems + check_text(notes, ("notes",), MAX_REASON)


# --- the response engine's view of therapies and transplants -----------------------------------


@dataclass(frozen=True)
class TherapyCourse:
    therapy_id: int
    therapy_class: TherapyClass
    start_date: date
    end_date: date | None  # None while ongoing


@dataclass(frozen=True)
class Confounding:
    """The therapy that flags a transfusion as confounded, and the rule that did."""

    therapy_id: int
    therapy_class: TherapyClass
    rule: str


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()


def confounding_therapy(
    transfusion_started_at: datetime,
    therapies: Sequence[TherapyCourse],
    ivig_confounding_days: int,
    tpo_ra_confounds: bool,
) -> Confounding | None:
    """The first therapy (by start date, then id) that confounds a transfusion started then:
    - IVIG: start <= day <= end + ivig_confounding_days (ongoing: any day from the start);
    - TPO-RA (when tpo_ra_confounds): start <= day <= end (ongoing: any day from the start).
    None when no therapy confounds it."""
    day = _utc_date(transfusion_started_at)
    for course in sorted(therapies, key=lambda c: (c.start_date, c.therapy_id)):
        if day < course.start_date:
            continue
        if course.therapy_class is TherapyClass.IVIG:
            last_day = None if course.end_date is None else course.end_date + timedelta(days=ivig_confounding_days)
            rule = IVIG_CONFOUNDING_RULE
        elif course.therapy_class is TherapyClass.TPO_RA and tpo_ra_confounds:
            last_day, rule = course.end_date, TPO_RA_CONFOUNDING_RULE
        else:
            continue
        if last_day is None or day <= last_day:
            return Confounding(course.therapy_id, course.therapy_class, rule)
    return None


def confounding_rule(therapy_class: TherapyClass) -> str:
    return IVIG_CONFOUNDING_RULE if therapy_class is TherapyClass.IVIG else TPO_RA_CONFOUNDING_RULE


@dataclass(frozen=True)
class ProcedureEvent:
    procedure_type: ProcedureType
    hsct_type: HsctType | None
    performed_on: date


def follow_up_end(procedures: Sequence[ProcedureEvent], hsct_ends_follow_up: bool) -> date | None:
    """The date the evaluable follow-up ends: the first allogeneic HSCT (HSCT_FOLLOW_UP_RULE)."""
    if not hsct_ends_follow_up:
        return None
    return min(
        (
            p.performed_on
            for p in procedures
            if p.procedure_type is ProcedureType.HSCT and p.hsct_type is HsctType.ALLOGENEIC
        ),
        default=None,
    )


def is_protocol_deviation(therapy_class: TherapyClass, start_date: date, first_infusion_at: datetime | None) -> bool:
    """DEVIATION_RULE: anti-CD20 or anti-plasma-cell therapy started on or after the day of the
    first CAR-T infusion."""
    return (
        therapy_class in DEVIATION_CLASSES
        and first_infusion_at is not None
        and start_date >= _utc_date(first_infusion_at)
    )
