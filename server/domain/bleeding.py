"""Bleeding reported by patients (DOMAIN.md, "Bleeding reported by patients").

A diary proposes grades; an investigator confirms. The diary supports WHO grades 1-2 only (grade 3
needs a red-cell transfusion for the bleed, which site staff record). Red flags raise an urgent
alert whatever the grade."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum

from . import ctcae
from .validation import Problem, ProblemCode, check_range, check_text

WHO_RULE = "who-diary-v1: DOMAIN.md table; the day's grade is the worst site's"
CTCAE_PROPOSAL_RULE = "ctcae-diary-v1: site -> term; grade 1, grade 2 when medical help was needed"
BRUISE_GRADE_2_CM = 2.54  # one inch
LONG_BLEED_MINUTES = 30  # nose or mouth bleeding over 30 min a day is WHO grade 2
RED_FLAG_MINUTES = 60  # bleeding from any site over 60 min, or not stopping, is a red flag
DAY_RULE = (
    "who-diary-day-v1: the patient's local day; minutes of nose and of gum/mouth bleeding added across "
    "the day's reports (> 30 min = grade 2); the worst site decides; a site's minutes over 60 in the "
    "day are a red flag"
)


class BleedingSite(str, Enum):
    NOSE = "nose"
    GUMS_MOUTH = "gums_mouth"
    SKIN_SPOTS = "skin_spots"
    BRUISE = "bruise"
    URINE = "urine"
    STOOL = "stool"
    VOMIT = "vomit"
    SPUTUM = "sputum"
    VAGINAL = "vaginal"
    EYE = "eye"
    HEAD = "head"


class BleedingReportKind(str, Enum):
    SYMPTOMS = "symptoms"
    NO_BLEEDING = "no_bleeding"  # the daily check-in "no bleeding today": makes the day observed


class RedFlag(str, Enum):
    PROLONGED_OR_NOT_STOPPING = "prolonged_or_not_stopping"
    VOMITING_BLOOD = "vomiting_blood"
    BLACK_STOOL = "black_stool"
    SUDDEN_SEVERE_HEADACHE = "sudden_severe_headache"
    NEW_CONFUSION = "new_confusion"
    VISION_CHANGE = "vision_change"
    NEW_WEAKNESS = "new_weakness"


@dataclass(frozen=True)
class Symptom:
    site: BleedingSite
    duration_minutes: int | None = None  # total over the day
    size_cm: float | None = None  # bruise size
    stopped: bool | None = None
    medical_help_needed: bool = False  # packing, cautery, a clinic visit
    black_or_tarry: bool = False  # stool
    beyond_spotting: bool = False  # vaginal bleeding heavier than spotting
    deep_swelling: bool = False  # a spontaneous deep swelling / hematoma


@dataclass(frozen=True)
class NeurologicalSigns:
    """Signs of a possible intracranial bleed; any of them is a red flag."""

    sudden_severe_headache: bool = False
    new_confusion: bool = False
    vision_change: bool = False
    new_weakness: bool = False


MINUTES_SITES = frozenset({BleedingSite.NOSE, BleedingSite.GUMS_MOUTH})  # graded by the day's total minutes

SITE_TERMS: dict[BleedingSite, int] = {
    BleedingSite.NOSE: ctcae.EPISTAXIS,
    BleedingSite.GUMS_MOUTH: ctcae.ORAL_HEMORRHAGE,
    BleedingSite.URINE: ctcae.HEMATURIA,
    BleedingSite.STOOL: ctcae.LOWER_GI_HEMORRHAGE,
    BleedingSite.VOMIT: ctcae.UPPER_GI_HEMORRHAGE,
    BleedingSite.SPUTUM: ctcae.BRONCHOPULMONARY_HEMORRHAGE,
    BleedingSite.VAGINAL: ctcae.VAGINAL_HEMORRHAGE,
    BleedingSite.SKIN_SPOTS: ctcae.PURPURA,
    BleedingSite.BRUISE: ctcae.BRUISING,
    BleedingSite.EYE: ctcae.EYE_DISORDERS_OTHER,
    # HEAD: a headache or head symptom cannot be graded from a diary; it is a red flag for the
    # site to assess (possible intracranial bleeding), not a proposed term.
}


def who_grade(symptom: Symptom) -> int | None:
    """Provisional WHO bleeding grade of one reported symptom (None: not gradable from a diary)."""
    site = symptom.site
    if site in (BleedingSite.NOSE, BleedingSite.GUMS_MOUTH):
        return 2 if (symptom.duration_minutes or 0) > LONG_BLEED_MINUTES else 1
    if site is BleedingSite.SKIN_SPOTS:
        return 1
    if site is BleedingSite.BRUISE:
        return 2 if symptom.deep_swelling or (symptom.size_cm or 0) > BRUISE_GRADE_2_CM else 1
    if site is BleedingSite.VAGINAL:
        return 2 if symptom.beyond_spotting else 1
    if site in (BleedingSite.URINE, BleedingSite.STOOL, BleedingSite.VOMIT, BleedingSite.SPUTUM):
        return 2
    if site is BleedingSite.EYE:
        return 1
    return None


def day_who_grade(symptoms: Sequence[Symptom]) -> int | None:
    """One report's own grade: its worst symptom's (each symptom graded on its own). The grade of a
    whole local day, which adds minutes across the day's reports, is `assess_day`'s."""
    grades = [g for g in (who_grade(s) for s in symptoms) if g is not None]
    return max(grades) if grades else None


@dataclass(frozen=True)
class TermProposal:
    meddra_code: int
    grade: int
    site: BleedingSite


def ctcae_proposal(symptom: Symptom) -> TermProposal | None:
    code = SITE_TERMS.get(symptom.site)
    if code is None:
        return None
    return TermProposal(code, 2 if symptom.medical_help_needed else 1, symptom.site)


def red_flags(symptoms: Sequence[Symptom], signs: NeurologicalSigns) -> list[RedFlag]:
    flags: list[RedFlag] = []
    for s in symptoms:
        if (s.duration_minutes or 0) > RED_FLAG_MINUTES or s.stopped is False:
            flags.append(RedFlag.PROLONGED_OR_NOT_STOPPING)
        if s.site is BleedingSite.VOMIT:
            flags.append(RedFlag.VOMITING_BLOOD)
        if s.site is BleedingSite.STOOL and s.black_or_tarry:
            flags.append(RedFlag.BLACK_STOOL)
        if s.site is BleedingSite.HEAD:
            flags.append(RedFlag.SUDDEN_SEVERE_HEADACHE)
    for flag, present in (
        (RedFlag.SUDDEN_SEVERE_HEADACHE, signs.sudden_severe_headache),
        (RedFlag.NEW_CONFUSION, signs.new_confusion),
        (RedFlag.VISION_CHANGE, signs.vision_change),
        (RedFlag.NEW_WEAKNESS, signs.new_weakness),
    ):
        if present:
            flags.append(flag)
    return sorted(set(flags), key=lambda f: list(RedFlag).index(f))


@dataclass(frozen=True)
class DiaryAssessment:
    who_grade: int | None
    proposals: tuple[TermProposal, ...]
    red_flags: tuple[RedFlag, ...]

    @property
    def raises_alert(self) -> bool:
        return bool(self.red_flags) or (self.who_grade or 0) >= 2

    @property
    def advice(self) -> str:
        if self.red_flags:
            return "Call your study site now. If you cannot reach them, go to the emergency department."
        if (self.who_grade or 0) >= 2:
            return "Your study team has been told and will contact you. Call the site if the bleeding gets worse."
        return "Thank you. Your study team will review this report."


def assess_report(symptoms: Sequence[Symptom], signs: NeurologicalSigns) -> DiaryAssessment:
    """Several symptoms at one site propose one term at the worst grade."""
    best: dict[int, TermProposal] = {}
    for symptom in symptoms:
        proposal = ctcae_proposal(symptom)
        if proposal and (proposal.meddra_code not in best or proposal.grade > best[proposal.meddra_code].grade):
            best[proposal.meddra_code] = proposal
    return DiaryAssessment(
        who_grade=day_who_grade(symptoms),
        proposals=tuple(best[code] for code in sorted(best)),
        red_flags=tuple(red_flags(symptoms, signs)),
    )


def check_symptoms(symptoms: Sequence[Symptom], signs: NeurologicalSigns) -> list[Problem]:
    problems: list[Problem] = []
    if not symptoms and not any(vars(signs).values()):
        problems.append(Problem(("symptoms",), ProblemCode.REQUIRED, "report at least one symptom"))
    if len(symptoms) > 20:
        problems.append(Problem(("symptoms",), ProblemCode.OUT_OF_RANGE, "at most 20 symptoms in one report"))
    for i, s in enumerate(symptoms):
        path = ("symptoms", str(i))
        problems += check_range(s.duration_minutes, 0, 24 * 60, (*path, "durationMinutes"), "duration (minutes)")
        problems += check_range(s.size_cm, 0, 100, (*path, "sizeCm"), "size (cm)")
    return problems


def check_pro_ctcae(items: dict[str, int | bool | None]) -> list[Problem]:
    """PRO-CTCAE 0-4 scales (nosebleed frequency and severity); bruising is yes/no."""
    problems: list[Problem] = []
    for name in ("nosebleedFrequency", "nosebleedSeverity"):
        value = items.get(name)
        if value is not None and not (isinstance(value, int) and 0 <= value <= 4):
            problems.append(Problem(("proCtcae", name), ProblemCode.OUT_OF_RANGE, "a PRO-CTCAE item is scored 0-4"))
    return problems


def check_note(note: str | None) -> list[Problem]:
    return check_text(note, ("note",), 2000)


def check_noticed_after_consent(noticed_local_date: date, consent_date: date) -> list[Problem]:
    """A diary entry describes bleeding while in the study: noticed (on the phone's local date) no
    earlier than the day the subject consented."""
    if noticed_local_date >= consent_date:
        return []
    message = f"this date is before you joined the study ({consent_date.isoformat()}): please check the date"
    return [Problem(("noticedAt",), ProblemCode.OUT_OF_RANGE, message)]


def is_late(noticed_at: datetime, received_at: datetime, entry_window_days: int) -> bool:
    """Entries older than the entry window are accepted but flagged late."""
    return received_at - noticed_at > timedelta(days=entry_window_days)


@dataclass(frozen=True)
class OpenEpisode:
    event_id: int
    meddra_code: int
    last_noticed_at: datetime


def continuing_episode(
    episodes: Sequence[OpenEpisode], meddra_code: int, noticed_at: datetime, gap_hours: int
) -> OpenEpisode | None:
    """A report continues an open patient-reported event of the same term when it comes within
    the episode gap of that event's latest supporting report (a nosebleed over several days is one
    event, not one per report)."""
    gap = timedelta(hours=gap_hours)
    candidates = [e for e in episodes if e.meddra_code == meddra_code and abs(noticed_at - e.last_noticed_at) <= gap]
    return max(candidates, key=lambda e: e.last_noticed_at) if candidates else None


def local_date(noticed_at: datetime, utc_offset_minutes: int) -> date:
    """The patient's own calendar day of a report (the day a daily WHO grade belongs to).

    The offset applies to the UTC time: an aware moment written in another zone is converted
    first (else its own offset would be counted twice); a naive moment is taken as UTC."""
    if noticed_at.utcoffset() is not None:
        noticed_at = noticed_at.astimezone(timezone.utc)
    return (noticed_at + timedelta(minutes=utc_offset_minutes)).date()


# --- the daily grade: every report of the patient's local day together ---------------------------


@dataclass(frozen=True)
class DayEntry:
    """One report of a local day as the daily grade sees it (a "no bleeding today" check-in has no
    symptoms and no signs)."""

    symptoms: tuple[Symptom, ...] = ()
    signs: NeurologicalSigns = NeurologicalSigns()


@dataclass(frozen=True)
class DayAssessment:
    observed: bool  # any report or check-in that day
    who_grade: int | None  # None: nothing gradable that day (a check-in only, a head symptom only)
    entry_grades: tuple[int | None, ...]  # each report's own grade, in the order given
    red_flags: tuple[RedFlag, ...]
    minutes_by_site: tuple[tuple[BleedingSite, int], ...]  # the day's total minutes per site


def _day_minutes(entries: Sequence[DayEntry]) -> dict[BleedingSite, int]:
    totals: dict[BleedingSite, int] = {}
    for entry in entries:
        for s in entry.symptoms:
            if s.duration_minutes is not None:
                totals[s.site] = totals.get(s.site, 0) + s.duration_minutes
    return totals


def assess_day(entries: Sequence[DayEntry]) -> DayAssessment:
    """The WHO grade of one local day from all its reports (DOMAIN.md: PLADO/SToP/TOPPS grade
    bleeding daily, the day's grade being the worst site's).

    - Nose and gum/mouth bleeding are graded by the day's total: the minutes of every symptom of
      that site, in every report of the day, are added (two 20-minute nosebleeds = 40 min > 30 =
      grade 2; 30 min in total is still grade 1). Nose and mouth are added separately.
    - Every other site is graded symptom by symptom and the worst counts (the largest bruise, any
      bleeding beyond vaginal spotting, ...).
    - The day's grade is the worst site's; None when nothing that day is gradable from a diary.
    - Red flags: each report's own, plus PROLONGED_OR_NOT_STOPPING when one site's minutes added
      over the day exceed 60. This is the safer reading for the patient: two 35-minute nosebleeds
      in a day (70 min) are a red flag, although neither was one alone.

    Adding a report never lowers the grade, the order of the reports does not matter, and the
    day's grade is at least each report's own grade."""
    minutes = _day_minutes(entries)
    grades: list[int] = []
    for entry in entries:
        for s in entry.symptoms:
            grade = who_grade(s)
            if s.site in MINUTES_SITES:
                grade = 2 if minutes.get(s.site, 0) > LONG_BLEED_MINUTES else 1
            if grade is not None:
                grades.append(grade)
    flags: set[RedFlag] = set()
    for entry in entries:
        flags.update(red_flags(entry.symptoms, entry.signs))
    if any(total > RED_FLAG_MINUTES for total in minutes.values()):
        flags.add(RedFlag.PROLONGED_OR_NOT_STOPPING)
    return DayAssessment(
        observed=bool(entries),
        who_grade=max(grades) if grades else None,
        entry_grades=tuple(day_who_grade(entry.symptoms) for entry in entries),
        red_flags=tuple(f for f in RedFlag if f in flags),
        minutes_by_site=tuple(sorted(minutes.items(), key=lambda item: list(BleedingSite).index(item[0]))),
    )


def day_alert_due(before: DayAssessment, after: DayAssessment) -> bool:
    """A grade alert is raised when the day's grade first reaches 2 (red flags alert separately)."""
    return (before.who_grade or 0) < 2 <= (after.who_grade or 0)


def new_red_flags(report_flags: Sequence[RedFlag], before: DayAssessment, after: DayAssessment) -> tuple[RedFlag, ...]:
    """A report's red flags: its own, plus the day's that this report brought (the 60 minutes
    crossed by adding its minutes to the day's)."""
    flags = set(report_flags) | (set(after.red_flags) - set(before.red_flags))
    return tuple(f for f in RedFlag if f in flags)


def check_kind(kind: BleedingReportKind, symptoms: Sequence[Symptom], signs: NeurologicalSigns) -> list[Problem]:
    """A "no bleeding today" check-in carries no symptom and no neurological sign."""
    if kind is BleedingReportKind.SYMPTOMS:
        return check_symptoms(symptoms, signs)
    problems: list[Problem] = []
    if symptoms:
        problems.append(Problem(("symptoms",), ProblemCode.NOT_ALLOWED, "a no-bleeding check-in has no symptoms"))
    if any(vars(signs).values()):
        problems.append(Problem(("kind",), ProblemCode.NOT_ALLOWED, "a no-bleeding check-in has no neurological signs"))
    return problems
