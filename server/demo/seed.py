"""Writes the demo trial through the services layer (one transaction per subject, idempotent)."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db import repositories as repo
from ..domain import bleeding as b
from ..domain import ctcae
from ..domain.adverse_events import ActionTaken, Attribution, SeriousCriterion
from ..domain.adverse_events import Outcome as AEOutcome
from ..domain.auth import Actor
from ..domain.enums import (
    Role,
)
from ..services import adverse_events, diary, subjects
from ..services.errors import Conflict, ErrorCode
from ..services.unit_of_work import UnitOfWork, utc_now
from .labs import plan_labs
from .scenario import (
    ACTOR,
    COHORT,
    CONSENT_INTERVAL_DAYS,
    FIRST_CONSENT_DAYS_AGO,
    SEED,
    SITES,
    Course,
    SubjectPlan,
    at_hour,
    plan_infused,
    plan_screen_failure,
    subject_details,
)
from .therapies import plan_therapies


def plan_subject(index: int, code: str, course: Course, anchor: date) -> SubjectPlan:
    """Everything one subject's transaction writes, in time order. Pure: no I/O, no clock."""
    rng = random.Random(f"{SEED}:{code}")
    consent = (
        anchor - timedelta(days=FIRST_CONSENT_DAYS_AGO) + timedelta(days=index * CONSENT_INTERVAL_DAYS)
    ) + timedelta(days=rng.randint(-3, 3))
    plan = SubjectPlan(code=code, course=course, details=subject_details(rng, consent))
    if course is Course.SCREEN_FAILED:
        plan_screen_failure(plan, rng, consent)
    else:
        plan_infused(plan, rng, index, consent, anchor)
    plan_labs(plan, consent, anchor)
    plan_therapies(plan, consent, anchor)
    plan.steps.sort(key=lambda step: step[0])
    return plan


@dataclass
class SeedReport:
    anchor: date
    sites_created: list[str] = field(default_factory=list)
    sites_present: list[str] = field(default_factory=list)
    subjects_created: list[str] = field(default_factory=list)
    subjects_present: list[str] = field(default_factory=list)
    records: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        if not self.sites_created and not self.subjects_created:
            return (
                f"seed-demo: nothing new created; already present: {len(self.sites_present)} sites, "
                f"{len(self.subjects_present)} subjects"
            )
        lines = [
            f"seed-demo: demo trial anchored on {self.anchor.isoformat()} (UTC)",
            f"  sites: {len(self.sites_created)} created {self.sites_created}, "
            f"{len(self.sites_present)} already present",
            f"  subjects: {len(self.subjects_created)} created, {len(self.subjects_present)} already present",
        ]
        lines += [f"  {what}: {n} created" for what, n in sorted(self.records.items())]
        return "\n".join(lines)


async def _ensure_site(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Callable[[], datetime], code: str, name: str, phone: str
) -> bool:
    async with UnitOfWork(sessionmaker, ACTOR, request_id="seed-demo", clock=clock) as uow:
        if await repo.site_by_code(uow.session, code) is not None:
            return False
        await subjects.create_site(uow, code=code, name=name, phone=phone)
        await uow.commit()
        return True


async def _ensure_subject(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Callable[[], datetime], plan: SubjectPlan
) -> bool:
    """The subject and all its records in one transaction: it exists fully or not at all."""
    async with UnitOfWork(sessionmaker, ACTOR, request_id="seed-demo", clock=clock) as uow:
        if await repo.subject_by_code(uow.session, plan.code) is not None:
            return False
        try:
            await subjects.enroll_subject(uow, code=plan.code, site_code=plan.code[:3], details=plan.details)
        except Conflict as error:  # another seed enrolled it meanwhile
            if error.code is ErrorCode.DUPLICATE:
                return False
            raise
        for _when, step in plan.steps:
            await step(uow)
        await uow.commit()
        return True


# --- safety data: diary reports from a few patients and investigator-reported events -------------

NO_BLEEDING: list[b.Symptom] = []  # a "no bleeding today" check-in
NOSE_20 = b.Symptom(b.BleedingSite.NOSE, duration_minutes=20, stopped=True)
DIARY_PATIENTS = {
    # subject code: (days ago the bleeding was noticed, UTC hour, symptoms) per report, in sending order
    "S01-001": [
        (9, 7, [b.Symptom(b.BleedingSite.SKIN_SPOTS)]),
        (8, 19, NO_BLEEDING),
        (7, 19, NO_BLEEDING),
        # two 20-minute nosebleeds in one day: 40 minutes, the day is WHO grade 2 (one alert)
        (6, 7, [NOSE_20]),
        (6, 13, [NOSE_20]),
        (5, 19, NO_BLEEDING),
        (4, 7, [NOSE_20]),
        (3, 7, [b.Symptom(b.BleedingSite.NOSE, duration_minutes=45, stopped=True, medical_help_needed=True)]),
    ],
    "S01-002": [
        (3, 19, NO_BLEEDING),
        (
            2,
            7,
            [b.Symptom(b.BleedingSite.BRUISE, size_cm=4.0), b.Symptom(b.BleedingSite.GUMS_MOUTH, duration_minutes=10)],
        ),
    ],
    "S02-001": [(1, 7, [b.Symptom(b.BleedingSite.STOOL, black_or_tarry=True)])],
    "S02-004": [(6, 7, [b.Symptom(b.BleedingSite.URINE)])],  # not S02-003: withdrawn, the diary refuses
}
DEVICE_OFFSET = timedelta(hours=1)  # the demo phones are on UTC+01:00


def _diary_submissions(code: str, now: datetime) -> list[diary.DiarySubmission]:
    submissions = []
    for n, (days_ago, hour, symptoms) in enumerate(DIARY_PATIENTS.get(code, [])):
        noticed = (now - timedelta(days=days_ago)).replace(hour=hour, minute=30, second=0, microsecond=0)
        local = timezone(DEVICE_OFFSET)
        submissions.append(
            diary.DiarySubmission(
                client_report_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SEED}:{code}:diary:{n}")),
                noticed_at=noticed.astimezone(local),
                device_entered_at=(noticed + timedelta(minutes=40)).astimezone(local),
                device_utc_offset_minutes=int(DEVICE_OFFSET.total_seconds() // 60),
                symptoms=tuple(symptoms),
                device_submitted_at=noticed + timedelta(minutes=41),
                kind=b.BleedingReportKind.SYMPTOMS if symptoms else b.BleedingReportKind.NO_BLEEDING,
            )
        )
    return submissions


async def _seed_safety(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Callable[[], datetime], plan: SubjectPlan, report: SeedReport
) -> None:
    """Diary reports through the patient's own path (idempotent by their client ids), and for
    infused subjects a CRS after CD19 reported by the investigator (ASTCT 2019 grade)."""
    patient = Actor(actor_id=f"patient-{plan.code}", role=Role.PATIENT, subject_code=plan.code)
    for submission in _diary_submissions(plan.code, clock()):
        async with UnitOfWork(sessionmaker, patient, request_id="seed-demo", clock=clock) as uow:
            outcome = await diary.submit_bleeding_report(uow, submission)
            await uow.commit()
        if not outcome.duplicate:
            report.records["bleeding reports"] += 1
    day0 = plan.day0
    if day0 is None or plan.code not in ("S01-001", "S01-003", "S02-002"):
        return
    async with UnitOfWork(sessionmaker, ACTOR, request_id="seed-demo", clock=clock) as uow:
        await adverse_events.report_adverse_event(
            uow,
            subject_code=plan.code,
            details=adverse_events.AdverseEventDetails(
                meddra_code=ctcae.CYTOKINE_RELEASE_SYNDROME,
                grade=1 if plan.code != "S02-002" else 2,
                grading_scale=ctcae.GradingScale.ASTCT_2019,
                onset_date=day0 + timedelta(days=2),
                awareness_at=at_hour(day0 + timedelta(days=2), 10),
                resolution_date=day0 + timedelta(days=5),
                attribution_cd19=Attribution.DEFINITE,
                attribution_lymphodepletion=Attribution.UNLIKELY,
                expected=True,
                action_taken=ActionTaken.MEDICATION,
                outcome=AEOutcome.RECOVERED_RESOLVED,
                serious=plan.code == "S02-002",
                serious_criteria=(SeriousCriterion.HOSPITALIZATION,) if plan.code == "S02-002" else (),
                sponsor_reported_at=at_hour(day0 + timedelta(days=2), 20) if plan.code == "S02-002" else None,
            ),
        )
        await uow.commit()
    report.records["adverse events (investigator)"] += 1


async def seed_demo_trial(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    """Create the demo trial's sites, subjects and records that do not exist yet; return a report."""
    now = utc_now()

    def clock() -> datetime:  # one time for every transaction of the run
        return now

    report = SeedReport(anchor=now.date())
    for code, name, phone in SITES:
        created = await _ensure_site(sessionmaker, clock, code, name, phone)
        (report.sites_created if created else report.sites_present).append(code)
    for index, (code, course) in enumerate(COHORT):
        plan = plan_subject(index, code, course, report.anchor)
        if await _ensure_subject(sessionmaker, clock, plan):
            report.subjects_created.append(code)
            report.records.update(plan.tally)
            await _seed_safety(sessionmaker, clock, plan, report)
        else:
            report.subjects_present.append(code)
    return str(report)
