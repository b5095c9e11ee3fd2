"""The demo trial behind `ptr-trial seed-demo`: realistic data for client teams and analysts.

Scenario design
---------------
Two sites (S01, S02), six subjects each, consented about every two weeks starting about eleven
months before the day the seed runs (the timeline is anchored on the run's UTC date, so every
record lies in the past; given the same anchor date the data is the same, because each subject
draws from its own `random.Random` seeded with a fixed string and its code).

Each subject takes a *course* through the trial, chosen in `COHORT`:

- responder: refractory at baseline, a sustained response from a few weeks after CD19 CAR-T;
- late responder: responds only after the BCMA infusion;
- non-responder: stays refractory after both infusions (one isolated response at most);
- lost response: responds for a while, then the last transfusions fail again;
- withdrawn: CD19 CAR-T, then withdraws before BCMA, still refractory;
- screen failure: baseline transfusions respond, refractoriness is not confirmed, no CAR-T.

An infused subject has consent (day about -65), 2-4 body measurements, lymphodepletion
(fludarabine 30 mg/m2 and cyclophosphamide 500 mg/m2 on days -5..-3), CD19 CAR-T on day 0,
BCMA CAR-T on day 14-28, and 15-25 platelet transfusions from day -60 to several months after
day 0. Each transfusion carries its counts (x10^9/L): a pre-count 1-6 h before the start, an
early count 15-50 min and a late count 18.5-23.5 h after the end. Their values are engineered
with DOMAIN.md's corrected count increment, CCI = (post - pre) x 1000 x BSA / dose_e11, BSA by
Mosteller from the latest measurement, to the transfusion's intended category: responsive
(early CCI > 7500 and late CCI > 5000, with margin), non-responsive (early below 7500, or now and
then a good early but failed late count), or not evaluable through one of the faults in
`Fault`. The intended category is never stored: the response engine must find it from the
records alone.

Each subject also has lab series for the secondary outcomes (see `plan_labs`): blood counts
with B cells, IgG, marrow plasma cells, CAR transgene kinetics of both products and HLA/HPA
antibody panels, engineered per subject in `LAB_PROFILES` (when B cells go, whether they come
back, which HLA antibodies clear). The cytopenias after lymphodepletion propose lab-sourced
adverse events, pending review, as real lab data would.

Everything is written through the services layer by an admin actor "seed-demo", so the demo
has a real audit trail. Each subject is written with all its records in one transaction, and
subjects or sites whose code exists are skipped, so seeding again creates nothing new.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db import repositories as repo
from ..domain import bleeding as b
from ..domain import ctcae
from ..domain.adverse_events import ActionTaken, Attribution, SeriousCriterion
from ..domain.adverse_events import Outcome as AEOutcome
from ..domain.auth import Actor
from ..domain.enums import (
    AboCompatibility,
    AboGroup,
    CarTProduct,
    Diagnosis,
    DoseBasis,
    DoseUnit,
    LymphodepletionAgent,
    PlateletUnitKind,
    RemissionStatus,
    RhD,
    Role,
    Sex,
    SubjectStatus,
)
from ..domain.labs import SPECS, Analyte, Unit, to_canonical
from ..domain.outcomes import AntibodyClass, AntibodyMethod
from ..domain.response import add_months
from ..domain.therapies import (
    DoseFrequency,
    HsctType,
    ProcedureType,
    TherapyClass,
    TherapyDoseUnit,
    TherapyRoute,
)
from . import adverse_events, antibodies, diary, labs, records, subjects
from .errors import Conflict, ErrorCode
from .labs import LabRow
from .unit_of_work import UnitOfWork, utc_now

SEED = "ptr-trial-demo-v1"
ACTOR = Actor(actor_id="seed-demo", role=Role.ADMIN)

SITES = (  # code, name, the phone the diary app's "call your site now" dials (fictional numbers)
    ("S01", "Site 01 - University Hospital (demo)", "+44 20 7946 0101"),
    ("S02", "Site 02 - Regional Cancer Centre (demo)", "+44 161 496 0202"),
)

FIRST_CONSENT_DAYS_AGO = 335  # about eleven months before the run
CONSENT_INTERVAL_DAYS = 15
MIN_TRANSFUSION_GAP_DAYS = 3  # keeps one transfusion's counts out of the next one's windows


class Course(str, Enum):
    RESPONDER = "responder"
    LATE_RESPONDER = "late responder"
    NON_RESPONDER = "non-responder"
    LOST_RESPONSE = "lost response"
    WITHDRAWN = "withdrawn before BCMA"
    SCREEN_FAILED = "screen failure"


# In enrolment order: the n-th subject is consented about n x 15 days after the first.
COHORT: tuple[tuple[str, Course], ...] = (
    ("S01-001", Course.RESPONDER),
    ("S02-001", Course.LATE_RESPONDER),
    ("S01-002", Course.NON_RESPONDER),
    ("S02-002", Course.RESPONDER),
    ("S01-003", Course.RESPONDER),
    ("S02-003", Course.WITHDRAWN),
    ("S01-004", Course.LOST_RESPONSE),
    ("S02-004", Course.RESPONDER),
    ("S01-005", Course.SCREEN_FAILED),
    ("S02-005", Course.NON_RESPONDER),
    ("S01-006", Course.RESPONDER),
    ("S02-006", Course.LOST_RESPONSE),
)


class Outcome(str, Enum):
    """The category a transfusion's counts are engineered for (kept in the plan, never stored)."""

    RESPONSIVE = "R"
    NON_RESPONSIVE = "N"
    EARLY_ONLY = "N: good early, failed late count"


class Fault(str, Enum):
    """Why a transfusion is meant to be not evaluable. The first two make it not evaluable
    whatever the counts; the others only while the remaining count passes, so they go on
    transfusions meant to be responsive."""

    NO_PRE_COUNT = "no pre-count"
    NO_CONTENT = "unit content unknown"
    EARLY_OUT_OF_WINDOW = "early count drawn at 85-120 min"
    NO_LATE_COUNT = "late count missing"
    CONFOUNDED = "late count drawn after a second transfusion started"


ALWAYS_NOT_EVALUABLE = (Fault.NO_PRE_COUNT, Fault.NO_CONTENT)


@dataclass
class TransfusionPlan:
    start: datetime
    outcome: Outcome
    fault: Fault | None = None
    abo: AboCompatibility = AboCompatibility.IDENTICAL
    follow_up_of: TransfusionPlan | None = None  # the first of a confounded pair


@dataclass
class SubjectPlan:
    code: str
    course: Course
    details: subjects.SubjectDetails
    # (when, write step) in time order; each step takes the open unit of work.
    steps: list[tuple[datetime, Callable[[UnitOfWork], Awaitable[Any]]]] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)
    day0: date | None = None  # the CD19 infusion day, for infused subjects
    infused_at: dict[CarTProduct, datetime] = field(default_factory=dict)
    withdrawn_on: date | None = None
    lab_events: set[int] = field(default_factory=set)  # lab-sourced adverse events proposed while writing
    transfusions: list[TransfusionPlan] = field(default_factory=list)  # as planned (infused subjects)
    measurements: list[tuple[datetime, float, float]] = field(default_factory=list)

    def add(self, when: datetime, what: str, step: Callable[[UnitOfWork], Awaitable[Any]], n: int = 1) -> None:
        self.steps.append((when, step))
        self.tally[what] += n


# --- the timeline ------------------------------------------------------------------------------


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)


def _spaced_days(rng: random.Random, n: int, first: int, last: int, gap: int = MIN_TRANSFUSION_GAP_DAYS) -> list[int]:
    """n days in [first, last], at least `gap` apart (stars and bars: uniform over such sets)."""
    slack = (last - first) - gap * (n - 1)
    if n <= 0 or slack < 0:
        return []
    picks = sorted(rng.sample(range(slack + n), n))
    return [first + pick + (gap - 1) * i for i, pick in enumerate(picks)]


def _mosteller(height_cm: float, weight_kg: float) -> float:
    return math.sqrt(height_cm * weight_kg / 3600)


# --- demographics and measurements -------------------------------------------------------------


def _details(rng: random.Random, consent: date) -> subjects.SubjectDetails:
    age = rng.randint(16, 65)
    diagnosis = rng.choices([Diagnosis.AML, Diagnosis.ALL, Diagnosis.MPAL], weights=[6, 4, 1])[0]
    remission = rng.choices([RemissionStatus.CR1, RemissionStatus.CR2, RemissionStatus.CRI], weights=[6, 3, 1])[0]
    return subjects.SubjectDetails(
        sex=rng.choice([Sex.FEMALE, Sex.MALE]),
        year_of_birth=consent.year - age - rng.randint(0, 1),
        age_at_consent=age,
        diagnosis=diagnosis,
        remission_status=remission,
        remission_date=consent - timedelta(days=rng.randint(40, 200)),
        abo_group=rng.choices([AboGroup.O, AboGroup.A, AboGroup.B, AboGroup.AB], weights=[45, 40, 11, 4])[0],
        rhd=RhD.POSITIVE if rng.random() < 0.85 else RhD.NEGATIVE,
        consent_date=consent,
    )


def _measurements(
    rng: random.Random, sex: Sex, days: list[date], weight_drift: list[float]
) -> list[tuple[datetime, float, float]]:
    """(measured at, height cm, weight kg): height stays, weight drifts (lower after CAR-T)."""
    height = round(rng.uniform(150, 178) if sex is Sex.FEMALE else rng.uniform(160, 195), 1)
    weight = rng.uniform(55, 104)
    return [(_at(day, 9, 0), height, round(weight + drift, 1)) for day, drift in zip(days, weight_drift, strict=False)]


def _bsa_at(moment: datetime, measurements: list[tuple[datetime, float, float]]) -> float:
    latest = max((m for m in measurements if m[0] <= moment), key=lambda m: m[0])
    return _mosteller(latest[1], latest[2])


# --- transfusion outcomes ----------------------------------------------------------------------


def _post_outcomes(rng: random.Random, course: Course, days: list[int], bcma_day: int) -> list[Outcome]:
    """The intended category of each transfusion after CD19 CAR-T, by the subject's course."""
    onset = rng.randint(5, 14)  # days from CD19 to the first response
    if course is Course.LATE_RESPONDER:
        onset = bcma_day + rng.randint(4, 8)
    if course in (Course.NON_RESPONDER, Course.WITHDRAWN):
        outcomes = [Outcome.NON_RESPONSIVE] * len(days)
        if course is Course.NON_RESPONDER:  # one isolated response: [N, R, N] is no sustained response
            outcomes[rng.randrange(1, len(days) - 1)] = Outcome.RESPONSIVE
        return outcomes
    outcomes = [Outcome.RESPONSIVE if day >= onset else Outcome.NON_RESPONSIVE for day in days]
    if course is Course.LOST_RESPONSE:  # the last 3-4 fail again: loss of response
        lost = rng.randint(3, 4)
        outcomes[-lost:] = [Outcome.NON_RESPONSIVE] * lost
    elif rng.random() < 0.5:  # a febrile episode: a good early count that does not last
        responsive = [i for i, o in enumerate(outcomes) if o is Outcome.RESPONSIVE and i > 2]
        if responsive:
            outcomes[rng.choice(responsive)] = Outcome.EARLY_ONLY
    return outcomes


def _assign_faults(rng: random.Random, plans: list[TransfusionPlan], index: int) -> None:
    """2-3 not-evaluable transfusions per subject, never the two baseline ones that document
    refractoriness. The kinds rotate with the subject's index so the cohort shows every kind."""
    kinds = list(Fault)
    wanted = [kinds[(index + j) % len(kinds)] for j in range(rng.randint(2, 3))]
    for fault in wanted:
        free = [p for p in plans[2:] if p.fault is None and p.follow_up_of is None]
        eligible = [p for p in free if fault in ALWAYS_NOT_EVALUABLE or p.outcome is Outcome.RESPONSIVE]
        if not eligible:  # nothing responsive to spoil: use a fault that spoils anything
            fault, eligible = Fault.NO_PRE_COUNT, free
        if eligible:
            rng.choice(eligible).fault = fault


def _abo(rng: random.Random) -> AboCompatibility:
    return rng.choices(
        [AboCompatibility.IDENTICAL, AboCompatibility.MINOR_INCOMPATIBLE, AboCompatibility.MAJOR_INCOMPATIBLE],
        weights=[85, 10, 5],
    )[0]


def _transfusion_plans(
    rng: random.Random, index: int, day0: date, pre_days: list[int], post_days: list[int], post: list[Outcome]
) -> list[TransfusionPlan]:
    def start(day: int) -> datetime:
        return _at(day0 + timedelta(days=day), rng.randint(8, 15), rng.choice([0, 15, 30, 45]))

    # Before CAR-T: refractory. The first two are ABO-identical: the eligibility evidence.
    plans = [
        TransfusionPlan(start(day), Outcome.NON_RESPONSIVE, abo=AboCompatibility.IDENTICAL if i < 2 else _abo(rng))
        for i, day in enumerate(pre_days)
    ]
    plans += [TransfusionPlan(start(day), outcome, abo=_abo(rng)) for day, outcome in zip(post_days, post, strict=True)]
    _assign_faults(rng, plans, index)
    return plans


# --- one transfusion's record ------------------------------------------------------------------


def _units(rng: random.Random, fault: Fault | None) -> list[dict[str, Any]]:
    apheresis = PlateletUnitKind.APHERESIS.value
    if fault is Fault.NO_CONTENT:
        return [{"kind": apheresis, "content_e11": None, "content_basis": DoseBasis.NOMINAL.value}]
    roll = rng.random()
    if roll < 0.1:  # content not counted: the blood service's nominal figure
        return [{"kind": apheresis, "content_e11": 3.0, "content_basis": DoseBasis.NOMINAL.value}]
    n = 2 if roll > 0.9 else 1  # two units now and then (bleeding, a large patient)
    return [
        {"kind": apheresis, "content_e11": round(rng.uniform(2.9, 4.4), 1), "content_basis": DoseBasis.MEASURED.value}
        for _ in range(n)
    ]


def _target_ccis(rng: random.Random, outcome: Outcome) -> tuple[float, float]:
    """(early, late) CCI per uL, well clear of the 7500/5000 thresholds so lab rounding of the
    counts cannot move a transfusion across them."""
    if outcome is Outcome.RESPONSIVE:
        early = rng.uniform(10000, 20000)
        return early, rng.uniform(6500, min(early - 1000, 12000))
    if outcome is Outcome.EARLY_ONLY:
        return rng.uniform(9000, 13000), rng.uniform(500, 3500)
    early = rng.uniform(-800, 5000)
    return early, early * rng.uniform(0.2, 0.7) - rng.uniform(0, 800)


def _count_after(pre: int, cci: float, bsa: float, dose_e11: float) -> float:
    """The post count (x10^9/L, whole number as labs report it) that gives this CCI."""
    return float(max(0, round(pre + cci * dose_e11 / (1000 * bsa))))


def _count(at: datetime, value: float) -> dict[str, Any]:
    return {"drawn_at": at, "value_e9_per_l": value}


def _transfusion_record(
    rng: random.Random, plan: TransfusionPlan, bsa: float, note: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
    """(transfusion values, pre-count, post counts) for record_platelet_transfusion."""
    units = _units(rng, plan.fault)
    minutes = rng.randint(30, 60) * len(units)
    end = plan.start + timedelta(minutes=minutes)
    hla_selected = rng.random() < 0.3
    values = {
        "started_at": plan.start,
        "ended_at": end,
        "units": units,
        "abo_compatibility": plan.abo,
        "hla_selected": hla_selected,
        "crossmatched": hla_selected and rng.random() < 0.5,
        "storage_age_days": rng.randint(1, 5),
        "note": note,
    }
    # A unit of unknown content still has counts: the CCI is computed on a nominal 3.0.
    dose = sum(u["content_e11"] or 3.0 for u in units)
    early_cci, late_cci = _target_ccis(rng, plan.outcome)
    pre_value = rng.randint(8, 25) if plan.outcome is Outcome.RESPONSIVE else rng.randint(3, 15)
    # A second unit's pre-count must stay clear of the first unit's early window.
    pre_at = plan.start - timedelta(minutes=rng.randint(60, 120 if plan.follow_up_of else 360))
    pre = None if plan.fault is Fault.NO_PRE_COUNT else _count(pre_at, float(pre_value))
    early_minutes = rng.randint(85, 120) if plan.fault is Fault.EARLY_OUT_OF_WINDOW else rng.randint(15, 50)
    late_minutes = 20 * 60 if plan.fault is Fault.CONFOUNDED else rng.randint(18 * 60 + 30, 23 * 60 + 30)
    posts = [_count(end + timedelta(minutes=early_minutes), _count_after(pre_value, early_cci, bsa, dose))]
    if plan.fault is not Fault.NO_LATE_COUNT:
        posts.append(_count(end + timedelta(minutes=late_minutes), _count_after(pre_value, late_cci, bsa, dose)))
    return values, pre, posts


def _second_unit_for(rng: random.Random, first: TransfusionPlan, first_end: datetime) -> TransfusionPlan:
    """A second transfusion 4-7 h after the first ended (bleeding): the first one's 20-h count is
    drawn after it started, so that count cannot be attributed to the first transfusion."""
    start = first_end + timedelta(hours=rng.randint(4, 7))
    return TransfusionPlan(start, Outcome.RESPONSIVE, abo=first.abo, follow_up_of=first)


# --- the subject's plan ------------------------------------------------------------------------


def _steps_for_transfusions(
    plan: SubjectPlan, rng: random.Random, plans: list[TransfusionPlan], measurements: list[Any]
) -> None:
    queue = list(plans)
    while queue:
        tplan = queue.pop(0)
        note = "second unit for ongoing epistaxis" if tplan.follow_up_of else None
        values, pre, posts = _transfusion_record(rng, tplan, _bsa_at(tplan.start, measurements), note)
        if tplan.fault is Fault.CONFOUNDED:
            queue.insert(0, _second_unit_for(rng, tplan, values["ended_at"]))
        plan.add(
            tplan.start,
            "platelet transfusions",
            _transfusion_step(plan.code, values, pre, posts),
        )
        plan.tally["platelet counts"] += len(posts) + (1 if pre else 0)


def _transfusion_step(
    code: str, values: dict[str, Any], pre: dict[str, Any] | None, posts: list[dict[str, Any]]
) -> Callable[[UnitOfWork], Awaitable[Any]]:
    return lambda uow: records.record_platelet_transfusion(uow, code, values, pre, posts)


def _record_step(kind: records.RecordKind, code: str, values: dict[str, Any]) -> Callable[[UnitOfWork], Awaitable[Any]]:
    return lambda uow: records.create_record(uow, kind, code, values)


def _status_step(code: str, status: SubjectStatus, on: date, reason: str) -> Callable[[UnitOfWork], Awaitable[Any]]:
    return lambda uow: subjects.change_subject_status(uow, code=code, status=status, effective_date=on, reason=reason)


def _add_status(plan: SubjectPlan, status: SubjectStatus, on: date, reason: str) -> None:
    plan.add(_at(on, 17), "status changes", _status_step(plan.code, status, on, reason))


def _add_measurements(plan: SubjectPlan, measurements: list[tuple[datetime, float, float]]) -> None:
    for measured_at, height, weight in measurements:
        values = {"measured_at": measured_at, "height_cm": height, "weight_kg": weight}
        plan.add(measured_at, "body measurements", _record_step(records.BODY_MEASUREMENT, plan.code, values))


def _add_lymphodepletion(plan: SubjectPlan, day0: date) -> None:
    def agent(name: LymphodepletionAgent, dose: float) -> dict[str, Any]:
        return {
            "agent": name.value,
            "other_name": None,
            "dose_per_day": dose,
            "dose_unit": DoseUnit.MG_PER_M2.value,
            "days": 3,
        }

    start, end = day0 - timedelta(days=5), day0 - timedelta(days=3)
    values = {
        "start_date": start,
        "end_date": end,
        "agents": [agent(LymphodepletionAgent.FLUDARABINE, 30), agent(LymphodepletionAgent.CYCLOPHOSPHAMIDE, 500)],
    }
    plan.add(_at(start, 8), "lymphodepletion courses", _record_step(records.LYMPHODEPLETION, plan.code, values))


def _add_infusion(
    plan: SubjectPlan, rng: random.Random, product: CarTProduct, day: date, weight_kg: float, lot_serial: int
) -> None:
    per_kg = round(rng.uniform(0.8e6, 1.2e6), -4)
    infused_at = _at(day, rng.randint(10, 13), rng.choice([0, 20, 40]))
    values = {
        "product": product,
        "infused_at": infused_at,
        "car_positive_cells_per_kg": per_kg,
        "total_car_positive_cells": round(per_kg * weight_kg, -5),
        "lot_number": f"{product.value.upper()}-{day.year % 100:02d}-{lot_serial:04d}",
    }
    plan.add(infused_at, "CAR-T infusions", _record_step(records.CAR_T_INFUSION, plan.code, values))
    plan.infused_at[product] = infused_at


def plan_screen_failure(plan: SubjectPlan, rng: random.Random, consent: date) -> None:
    """Baseline transfusions respond (R, N, R): no two consecutive failures, not refractory."""
    measurements = _measurements(rng, plan.details.sex, [consent, consent + timedelta(days=14)], [0, -0.5])
    _add_measurements(plan, measurements)
    outcomes = [Outcome.RESPONSIVE, Outcome.NON_RESPONSIVE, Outcome.RESPONSIVE]
    plans = [
        TransfusionPlan(_at(consent + timedelta(days=day), rng.randint(8, 15)), outcome)
        for day, outcome in zip((2, 7, 12), outcomes, strict=True)
    ]
    _steps_for_transfusions(plan, rng, plans, measurements)
    _add_status(
        plan,
        SubjectStatus.SCREEN_FAILED,
        consent + timedelta(days=20),
        "eligibility not met: baseline transfusions responsive, alloimmune refractoriness not confirmed",
    )


def plan_infused(plan: SubjectPlan, rng: random.Random, index: int, consent: date, anchor: date) -> None:
    """Consent, baseline refractory transfusions, lymphodepletion, CD19 (day 0), BCMA, follow-up."""
    course = plan.course
    day0 = consent + timedelta(days=rng.randint(62, 70))
    plan.day0 = day0
    bcma_day = rng.randint(14, 28)
    withdrawn_day = rng.randint(22, 25) if course is Course.WITHDRAWN else None
    last_post_day = min(200, (anchor - day0).days - 3) if withdrawn_day is None else withdrawn_day - 1

    # Transfusion days relative to day 0.
    n_pre = rng.randint(9, 10) if course is Course.WITHDRAWN else rng.randint(5, 8)
    if course is Course.WITHDRAWN:
        n_post = min(rng.randint(6, 7), (last_post_day - 1) // MIN_TRANSFUSION_GAP_DAYS + 1)
    else:
        # Courses whose story needs a long post-infusion series get at least 18 transfusions.
        at_least = 18 if course in (Course.LOST_RESPONSE, Course.LATE_RESPONDER) else 15
        n_post = rng.randint(at_least - n_pre, 24 - n_pre)
    pre_days = _spaced_days(rng, n_pre, -60, -1)
    if withdrawn_day is None:  # denser in the cytopenic first five weeks, sparser later
        post_days = _spaced_days(rng, n_post // 2, 1, 35) + _spaced_days(rng, n_post - n_post // 2, 38, last_post_day)
    else:
        post_days = _spaced_days(rng, n_post, 1, last_post_day)

    # 2-4 measurements: consent, before lymphodepletion, then day 28 and day 90 of follow-up.
    measure_days = [-(day0 - consent).days, -6, 28, 90]
    n_measurements = 2 if withdrawn_day is not None else rng.randint(2, 4)
    drifts = [0.0, rng.uniform(-2, 1), -rng.uniform(1, 4), -rng.uniform(0, 3)]
    measurements = _measurements(
        rng, plan.details.sex, [day0 + timedelta(days=d) for d in measure_days[:n_measurements]], drifts
    )
    _add_measurements(plan, measurements)

    post = _post_outcomes(rng, course, post_days, bcma_day)
    transfusions = _transfusion_plans(rng, index, day0, pre_days, post_days, post)
    _steps_for_transfusions(plan, rng, transfusions, measurements)
    plan.transfusions, plan.measurements = transfusions, measurements

    _add_status(
        plan,
        SubjectStatus.ENROLLED,
        day0 + timedelta(days=pre_days[1] + 1),
        "eligible: refractory (2 consecutive ABO-identical transfusions with a 1-hour CCI below 7500)",
    )
    _add_lymphodepletion(plan, day0)
    _add_status(plan, SubjectStatus.LYMPHODEPLETED, day0 - timedelta(days=3), "fludarabine/cyclophosphamide given")
    weight = measurements[1][2]  # measured on day -6, before the infusions
    _add_infusion(plan, rng, CarTProduct.CD19, day0, weight, 100 + index)
    _add_status(plan, SubjectStatus.INFUSED, day0, "CD19 CAR-T infused")
    if withdrawn_day is not None:
        plan.withdrawn_on = day0 + timedelta(days=withdrawn_day)
        _add_status(
            plan, SubjectStatus.WITHDRAWN, day0 + timedelta(days=withdrawn_day), "withdrew consent before BCMA CAR-T"
        )
        return
    bcma = day0 + timedelta(days=bcma_day)
    _add_infusion(plan, rng, CarTProduct.BCMA, bcma, weight, 200 + index)
    _add_status(plan, SubjectStatus.FOLLOW_UP, bcma + timedelta(days=1), "BCMA CAR-T infused; follow-up begins")


# --- secondary outcomes: lab series and antibody panels ----------------------------------------
#
# Infused subjects get blood counts with B cells (screening, days 7-180 after CD19), IgG, marrow
# CD138+ plasma cells, CAR transgene copies for each product (days 0-90 after its infusion) with
# flow CAR+ counts on three days, and HLA class I/II single-antigen bead panels at baseline and
# months 1, 3 and 6 after CD19 (HPA by MAIPA for two subjects). Only draws before the run's date
# (and before a withdrawal) are written. Site S01's lab reports cell counts in x10^9/L and
# hemoglobin and IgG in g/L, S02's in cells/uL, g/dL and mg/dL: the service converts them.
# Platelets are left out: the transfusions' counts are the platelet series.
# The values come from their own random stream (seeded with the code), so the records above
# stay exactly as they were before labs were added.

BLOOD_DAYS = (7, 14, 28, 90, 180)  # blood counts and B cells, days from the CD19 infusion
IGG_DAYS = (28, 90, 180)
MARROW_DAYS = (-10, 28, 90)
KINETIC_DAYS = (0, 1, 4, 7, 10, 14, 21, 28, 60, 90)  # days from that product's infusion
FLOW_DAYS = (7, 14, 28)
ANTIBODY_MONTHS = (1, 3, 6)
CAR_LLOQ = 50.0  # copies/ug genomic DNA
MARROW_LOD = 0.01  # % CD138+ of nucleated cells
HLA_CUTOFF = 1000.0  # the HLA lab's MFI cut-off (positive at or above)

HLA_CLASS_I = (
    "A*01:01", "A*02:01", "A*03:01", "A*11:01", "A*24:02", "B*07:02",
    "B*08:01", "B*15:01", "B*35:01", "B*44:02", "B*51:01", "C*07:02",
)  # fmt: skip
HLA_CLASS_II = ("DRB1*04:01", "DRB1*07:01", "DRB1*11:01", "DRB1*15:01", "DQB1*03:02", "DQB1*06:02", "DPB1*04:01")
HPA_PANEL = ("HPA-1a", "HPA-1b", "HPA-3a", "HPA-5b", "HPA-15a")


class HlaCourse(str, Enum):
    FAST = "every baseline specificity negative from month 1"
    STEADY = "negative from month 3"
    PERSISTENT = "the strongest specificity stays positive"


@dataclass(frozen=True)
class LabProfile:
    aplasia_day: int  # first draw (of BLOOD_DAYS) with CD19+ below 1% of lymphocytes
    hla: HlaCourse
    recovery_day: int | None = None  # B cells back (CD19 CAR-T lost)
    disagree_day: int | None = None  # a draw where the percent and absolute rules disagree
    igg_severe: bool = False
    hpa: bool = False  # HPA-1a by MAIPA, positive at baseline only
    cd19_blq_from: int | None = None  # CD19 CAR transgene below the LLOQ from this day on
    blq_gap: bool = False  # one BLQ sample between quantifiable ones (BCMA day 21)


LAB_PROFILES: dict[str, LabProfile] = {
    "S01-001": LabProfile(7, HlaCourse.STEADY, recovery_day=180, igg_severe=True, hpa=True, cd19_blq_from=60),
    "S02-001": LabProfile(14, HlaCourse.STEADY),
    "S01-002": LabProfile(28, HlaCourse.PERSISTENT, disagree_day=14, blq_gap=True),
    "S02-002": LabProfile(7, HlaCourse.FAST, igg_severe=True),
    "S01-003": LabProfile(7, HlaCourse.STEADY),
    "S02-003": LabProfile(14, HlaCourse.STEADY),  # withdrawn before month 1: baseline panel only
    "S01-004": LabProfile(14, HlaCourse.FAST, igg_severe=True),
    "S02-004": LabProfile(7, HlaCourse.FAST, hpa=True),
    "S01-005": LabProfile(7, HlaCourse.STEADY),  # screen failure: screening labs only
    "S02-005": LabProfile(7, HlaCourse.PERSISTENT, recovery_day=90, cd19_blq_from=60),
    "S01-006": LabProfile(28, HlaCourse.FAST),
    "S02-006": LabProfile(7, HlaCourse.PERSISTENT),
}


@dataclass(frozen=True)
class SiteLab:
    name: str
    count_unit: Unit  # neutrophils, lymphocytes, white cells
    hemoglobin_unit: Unit
    igg_unit: Unit


SITE_LABS = {
    "S01": SiteLab("S01 central laboratory (demo)", Unit.E9_PER_L, Unit.G_PER_L, Unit.G_PER_L),
    "S02": SiteLab("S02 haematology laboratory (demo)", Unit.PER_UL, Unit.G_PER_DL, Unit.MG_PER_DL),
}
# Digits a lab reports in each unit (negative: rounded to tens).
REPORT_DIGITS = {Unit.E9_PER_L: 2, Unit.PER_UL: -1, Unit.G_PER_DL: 1, Unit.MG_PER_DL: 0}


@dataclass
class LabPlan:
    """The subject's lab rows grouped by collection date, and its antibody tests."""

    code: str
    site: SiteLab
    last_day: date  # nothing is drawn after this day
    rows: dict[date, list[LabRow]] = field(default_factory=dict)
    antibody_tests: list[antibodies.NewAntibodyTest] = field(default_factory=list)
    cd3_times: set[datetime] = field(default_factory=set)

    def add(self, analyte: Analyte, unit: Unit, at: datetime, value: float | None, **extra: Any) -> bool:
        if at.date() > self.last_day:
            return False
        self.rows.setdefault(at.date(), []).append(
            LabRow(self.code, analyte, unit, at, value, lab_name=self.site.name, **extra)
        )
        return True


def _reported(analyte: Analyte, canonical: float, unit: Unit, digits: int | None = None) -> float:
    """A canonical value as the lab reports it in `unit` (rounded the way that lab rounds)."""
    places = REPORT_DIGITS[unit] if digits is None else digits
    return float(round(canonical / SPECS[analyte].accepted[unit], places))


def _sig(value: float, figures: int = 3) -> float:
    return float(round(value, figures - 1 - math.floor(math.log10(value))))


def _blood_counts(
    lp: LabPlan, rng: random.Random, at: datetime, day: int | None, sex: Sex, lymphocytes: float | None = None
) -> float:
    """Neutrophils, lymphocytes (unless given), white cells and hemoglobin with the lab's limits;
    returns the lymphocyte count (cells/uL) as reported, for the B-cell tube of the same draw."""
    # (neutrophils, lymphocytes /uL, hemoglobin g/dL) by day: cytopenic after fludarabine/cyclophosphamide.
    ranges = {
        None: ((1500, 4000), (800, 2000), (9.0, 12.5)),
        7: ((100, 600), (250, 900), (7.4, 9.5)),
        14: ((600, 1400), (500, 1500), (8.0, 10.0)),
        28: ((1200, 2500), (700, 1600), (9.0, 11.5)),
        90: ((1800, 3500), (900, 1800), (10.5, 13.0)),
        180: ((2000, 4000), (1000, 2000), (11.5, 14.0)),
    }
    (n_lo, n_hi), (l_lo, l_hi), (h_lo, h_hi) = ranges[day]
    neutrophils, drawn = rng.uniform(n_lo, n_hi), rng.uniform(l_lo, l_hi)
    lymphocytes = drawn if lymphocytes is None else lymphocytes
    white_cells = neutrophils + lymphocytes + rng.uniform(150, 700)
    count_unit = lp.site.count_unit
    limits = {Analyte.NEUTROPHILS: (1800, 7500), Analyte.LYMPHOCYTES: (1000, 4000), Analyte.WHITE_CELLS: (4000, 11000)}
    values = {Analyte.NEUTROPHILS: neutrophils, Analyte.LYMPHOCYTES: lymphocytes, Analyte.WHITE_CELLS: white_cells}
    for analyte, canonical in values.items():
        lln, uln = limits[analyte]
        lp.add(
            analyte,
            count_unit,
            at,
            _reported(analyte, canonical, count_unit),
            lln=_reported(analyte, lln, count_unit),
            uln=_reported(analyte, uln, count_unit),
            assay="automated blood count",
        )
    hgb_lln, hgb_uln = (12.0, 16.0) if sex is Sex.FEMALE else (13.0, 17.5)
    unit = lp.site.hemoglobin_unit
    digits = 0 if unit is Unit.G_PER_L else 1
    lp.add(
        Analyte.HEMOGLOBIN,
        unit,
        at,
        _reported(Analyte.HEMOGLOBIN, rng.uniform(h_lo, h_hi), unit, digits),
        lln=_reported(Analyte.HEMOGLOBIN, hgb_lln, unit, digits),
        uln=_reported(Analyte.HEMOGLOBIN, hgb_uln, unit, digits),
        assay="automated blood count",
    )
    return to_canonical(Analyte.LYMPHOCYTES, _reported(Analyte.LYMPHOCYTES, lymphocytes, count_unit), count_unit)


def _cd19_percent(rng: random.Random, profile: LabProfile, day: int | None, lymphocytes: float) -> float:
    """%CD19+ of lymphocytes. Outside the engineered disagreement both rules agree: aplastic
    draws are below 1% (and so below 20/uL at these lymphocyte counts), others above 20/uL."""
    if day is None:  # screening
        return round(rng.uniform(4.0, 14.0), 1)
    if day == profile.disagree_day:  # 500/uL at 3%: 15/uL, aplastic by count but not by percent
        return 3.0
    recovered = profile.recovery_day is not None and day >= profile.recovery_day
    if day >= profile.aplasia_day and not recovered:
        return round(rng.uniform(0.02, 0.6), 2)
    return round(max(rng.uniform(25, 60) / lymphocytes * 100, 1.5), 1)  # 25-60 CD19+ cells/uL


def _b_cell_draw(lp: LabPlan, rng: random.Random, profile: LabProfile, at: datetime, day: int | None, sex: Sex) -> None:
    """A blood count with the B-cell tube of the same draw."""
    disagree = day is not None and day == profile.disagree_day
    lymphocytes = _blood_counts(lp, rng, at, day, sex, lymphocytes=500.0 if disagree else None)
    lp.add(
        Analyte.CD19_PERCENT_LYMPHOCYTES,
        Unit.PERCENT,
        at,
        _cd19_percent(rng, profile, day, lymphocytes),
        assay="flow cytometry CD19/CD45",
    )


def _igg(lp: LabPlan, rng: random.Random, profile: LabProfile, moments: list[tuple[datetime, int | None]]) -> None:
    baseline = rng.uniform(750, 1300)
    factors = {None: 1.0, 28: rng.uniform(0.8, 0.95), 90: rng.uniform(0.65, 0.85), 180: rng.uniform(0.6, 0.8)}
    if profile.igg_severe:
        factors |= {90: rng.uniform(0.45, 0.52), 180: rng.uniform(300, 390) / baseline}
    unit = lp.site.igg_unit
    digits = 1 if unit is Unit.G_PER_L else 0
    for at, day in moments:
        lp.add(
            Analyte.IGG,
            unit,
            at,
            _reported(Analyte.IGG, baseline * factors[day], unit, digits),
            lln=_reported(Analyte.IGG, 700, unit, digits),
            uln=_reported(Analyte.IGG, 1600, unit, digits),
            assay="nephelometry",
        )


def _marrow(lp: LabPlan, rng: random.Random, day0: date, bcma_day: int | None) -> None:
    for day in MARROW_DAYS:
        if day < 0:
            value: float | None = round(rng.uniform(0.8, 3.5), 2)
        elif bcma_day is not None and bcma_day < day:  # BCMA CAR-T depletes plasma cells
            value = round(rng.uniform(0.02, 0.3), 2) if day == 28 else rng.choice([None, None, 0.02, 0.05])
        else:
            value = round(rng.uniform(0.5, 2.0), 2)
        lp.add(
            Analyte.MARROW_CD138_PERCENT,
            Unit.PERCENT,
            _at(day0 + timedelta(days=day), 9, 30),
            value,
            lloq=MARROW_LOD,
            below_limit=value is None,
            assay="marrow flow cytometry CD138/CD38",
        )


def _kinetics(lp: LabPlan, rng: random.Random, profile: LabProfile, product: CarTProduct, infused_at: datetime) -> None:
    """CAR transgene copies/ug DNA: BLQ at day 0, expansion to a peak on day 7 or 10, then decline;
    CAR+ % of CD3+ with CD3+/uL by flow on FLOW_DAYS."""
    cd19 = product is CarTProduct.CD19
    peak = 10 ** rng.uniform(4.3, 5.2) if cd19 else 10 ** rng.uniform(4.0, 4.9)
    peak_day = rng.choice([7, 10])
    ratios = {
        0: 0.0,
        1: rng.uniform(0.0005, 0.02),
        4: rng.uniform(0.05, 0.25),
        7: 1.0 if peak_day == 7 else rng.uniform(0.4, 0.8),
        10: 1.0 if peak_day == 10 else rng.uniform(0.5, 0.8),
        14: rng.uniform(0.2, 0.45),
        21: rng.uniform(0.06, 0.15),
        28: rng.uniform(0.02, 0.06),
        60: rng.uniform(0.003, 0.012),
        90: rng.uniform(0.0002, 0.004),
    }
    analyte = Analyte.CAR_CD19_COPIES if cd19 else Analyte.CAR_BCMA_COPIES
    flow = Analyte.CAR_CD19_PERCENT_CD3 if cd19 else Analyte.CAR_BCMA_PERCENT_CD3
    for day in KINETIC_DAYS:
        hours = 6 if day == 0 else rng.choice([-3, 0]) if day == 28 else rng.choice([-3, 0, 0, 3])
        at = infused_at + timedelta(days=day, hours=hours)
        copies = peak * ratios[day]
        lost = cd19 and profile.cd19_blq_from is not None and day >= profile.cd19_blq_from
        gap = not cd19 and profile.blq_gap and day == 21
        blq = copies < CAR_LLOQ or lost or gap
        written = lp.add(
            analyte,
            Unit.COPIES_PER_UG_DNA,
            at,
            None if blq else _sig(copies),
            lloq=CAR_LLOQ,
            below_limit=blq,
            assay="qPCR CAR transgene",
        )
        if written and day in FLOW_DAYS and not blq:
            lp.add(flow, Unit.PERCENT, at, round(max(0.1, rng.uniform(15, 35) * ratios[day]), 1), assay="flow CAR")
            if at not in lp.cd3_times:  # one CD3+ count per draw, whatever the product
                lp.cd3_times.add(at)
                lp.add(Analyte.CD3_PER_UL, Unit.PER_UL, at, float(round(rng.uniform(300, 1200), -1)), assay="flow")


def _hla_panels(lp: LabPlan, rng: random.Random, profile: LabProfile, moments: list[datetime], kit_lot: str) -> None:
    """Single-antigen bead panels (class I and II at each draw): 3-6 specificities positive at
    baseline, falling after CAR-T as `profile.hla` says; the other beads stay negative."""
    n_class_ii = rng.randint(0, 2)
    positive = rng.sample(HLA_CLASS_I, rng.randint(3, 6) - n_class_ii) + rng.sample(HLA_CLASS_II, n_class_ii)
    baseline = {s: float(round(rng.uniform(2500, 16000))) for s in positive}
    strongest = max(baseline, key=lambda s: baseline[s])
    if profile.hla is HlaCourse.PERSISTENT:
        baseline[strongest] = max(baseline[strongest], float(round(rng.uniform(9000, 16000))))

    def mfi(specificity: str, visit: int) -> float:
        if specificity not in baseline:
            return float(round(rng.uniform(40, 700)))
        base = baseline[specificity]
        if visit == 0:
            return base
        if profile.hla is HlaCourse.PERSISTENT and specificity == strongest:
            return float(round(base * {1: 0.8, 2: 0.6, 3: 0.45}[visit]))
        if visit == 1 and profile.hla is not HlaCourse.FAST:
            return float(round(max(base * rng.uniform(0.3, 0.6), 1100)))
        return float(round(rng.uniform(60, 900) / visit))

    for visit, at in enumerate(moments):
        for antibody_class, panel, kit in (
            (AntibodyClass.HLA_CLASS_I, HLA_CLASS_I, "LABScreen Single Antigen HLA Class I"),
            (AntibodyClass.HLA_CLASS_II, HLA_CLASS_II, "LABScreen Single Antigen HLA Class II"),
        ):
            results = tuple(antibodies.AntibodyResultRow(s, mfi(s, visit)) for s in panel)
            n_positive = sum(r.mfi is not None and r.mfi >= HLA_CUTOFF for r in results)
            lp.antibody_tests.append(
                antibodies.NewAntibodyTest(
                    subject_code=lp.code,
                    collected_at=at,
                    antibody_class=antibody_class,
                    method=AntibodyMethod.SINGLE_ANTIGEN_BEADS,
                    results=results,
                    kit=kit,
                    lot=kit_lot,
                    cutoff_mfi=HLA_CUTOFF,
                    cpra_percent=float(min(99, 18 * n_positive + rng.randint(0, 9))) if n_positive else 0.0,
                    lab_name=f"{lp.code[:3]} HLA laboratory (demo)",
                )
            )
    if profile.hpa:
        for visit, at in enumerate(moments):
            results = tuple(antibodies.AntibodyResultRow(s, positive=s == "HPA-1a" and visit == 0) for s in HPA_PANEL)
            lp.antibody_tests.append(
                antibodies.NewAntibodyTest(
                    subject_code=lp.code,
                    collected_at=at,
                    antibody_class=AntibodyClass.HPA,
                    method=AntibodyMethod.MAIPA,
                    results=results,
                    lab_name="Platelet immunology laboratory (demo)",
                )
            )


def _lab_step(plan: SubjectPlan, rows: list[LabRow]) -> Callable[[UnitOfWork], Awaitable[Any]]:
    async def step(uow: UnitOfWork) -> None:
        outcome = await labs.record_lab_results(uow, rows)
        new_events = set(outcome.proposed_event_ids) - plan.lab_events
        plan.lab_events |= new_events
        plan.tally["lab-sourced adverse events (pending review)"] += len(new_events)

    return step


def _antibody_step(test: antibodies.NewAntibodyTest) -> Callable[[UnitOfWork], Awaitable[Any]]:
    return lambda uow: antibodies.record_antibody_test(uow, test, HLA_CUTOFF)


def plan_labs(plan: SubjectPlan, consent: date, anchor: date) -> None:
    """The subject's lab series and antibody panels as steps, one lab batch per collection date."""
    rng = random.Random(f"{SEED}:{plan.code}:labs")
    profile = LAB_PROFILES[plan.code]
    last_day = anchor - timedelta(days=1)
    if plan.withdrawn_on is not None:
        last_day = min(last_day, plan.withdrawn_on - timedelta(days=1))
    lp = LabPlan(plan.code, SITE_LABS[plan.code[:3]], last_day)
    sex = plan.details.sex
    screening = _at(consent + timedelta(days=rng.randint(1, 4)), 7, 30)
    kit_lot = f"LS-{rng.randint(10, 19):03d}"
    _b_cell_draw(lp, rng, profile, screening, None, sex)
    day0 = plan.day0
    if day0 is None:  # screen failure: screening labs only
        _igg(lp, rng, profile, [(screening, None)])
        _hla_panels(lp, rng, profile, [screening], kit_lot)
    else:
        draws = [(_at(day0 + timedelta(days=day), 7, 30), day) for day in BLOOD_DAYS]
        for at, day in draws:
            _b_cell_draw(lp, rng, profile, at, day, sex)
        _igg(lp, rng, profile, [(screening, None)] + [(at, day) for at, day in draws if day in IGG_DAYS])
        bcma_at = plan.infused_at.get(CarTProduct.BCMA)
        _marrow(lp, rng, day0, None if bcma_at is None else (bcma_at.date() - day0).days)
        for product, infused_at in sorted(plan.infused_at.items(), key=lambda item: item[1]):
            _kinetics(lp, rng, profile, product, infused_at)
        baseline = _at(day0 - timedelta(days=7), 8, 15)
        follow_up = [add_months(_at(day0, 8, 15), m) for m in ANTIBODY_MONTHS]
        moments = [baseline] + [at for at in follow_up if at.date() <= lp.last_day]
        _hla_panels(lp, rng, profile, moments, kit_lot)
    # One batch, as a lab system's export arrives (the service writes it in collection order).
    rows = [row for _day, day_rows in sorted(lp.rows.items()) for row in day_rows]
    plan.add(rows[-1].collected_at, "lab results", _lab_step(plan, rows), n=len(rows))
    for test in lp.antibody_tests:
        plan.add(test.collected_at, "antibody tests", _antibody_step(test))


def plan_subject(index: int, code: str, course: Course, anchor: date) -> SubjectPlan:
    """Everything one subject's transaction writes, in time order. Pure: no I/O, no clock."""
    rng = random.Random(f"{SEED}:{code}")
    consent = (
        anchor - timedelta(days=FIRST_CONSENT_DAYS_AGO) + timedelta(days=index * CONSENT_INTERVAL_DAYS)
    ) + timedelta(days=rng.randint(-3, 3))
    plan = SubjectPlan(code=code, course=course, details=_details(rng, consent))
    if course is Course.SCREEN_FAILED:
        plan_screen_failure(plan, rng, consent)
    else:
        plan_infused(plan, rng, index, consent, anchor)
    plan_labs(plan, consent, anchor)
    plan_therapies(plan, consent, anchor)
    plan.steps.sort(key=lambda step: step[0])
    return plan


# --- therapies and transplant ----------------------------------------------------------------------
#
# DOMAIN.md "Prior and concomitant therapies, transplant", one story each (their own random stream,
# so every record above stays as it was):
# - S01-001, S02-002, S01-003: IVIG before consent (prior therapy, PTR management before referral);
# - S01-003: an IVIG dose during follow-up, 6 days before a responsive transfusion (flagged);
# - S02-004: eltrombopag from day 45 to day 110 (the follow-up transfusions in that span are flagged);
# - S01-001: an allogeneic HSCT at month 8 (follow-up ends; two later transfusions listed, not counted);
# - S02-005: rituximab weekly from day 100 (a protocol deviation for the monitor);
# - S02-002: tocilizumab for its grade 2 CRS; S01-001: a splenectomy years before the trial.

PRIOR_IVIG = ("S01-001", "S02-002", "S01-003")


def _therapy_step(plan: SubjectPlan, when: date, **values: Any) -> None:
    record = {
        "name": None,
        "dose": None,
        "dose_unit": None,
        "route": None,
        "frequency": None,
        "end_date": None,
        "ongoing": False,
        "indication": None,
        "start_date": when,
        **values,
    }
    plan.add(_at(when, 7), "therapies", _record_step(records.THERAPY, plan.code, record))


def _ivig(plan: SubjectPlan, start: date, days: int, indication: str) -> None:
    _therapy_step(
        plan,
        start,
        name="IVIG",
        therapy_class=TherapyClass.IVIG,
        dose=0.4 if days > 1 else 1.0,
        dose_unit=TherapyDoseUnit.G_PER_KG,
        route=TherapyRoute.INTRAVENOUS,
        frequency=DoseFrequency.QD,
        end_date=start + timedelta(days=days - 1),
        indication=indication,
    )


def plan_therapies(plan: SubjectPlan, consent: date, anchor: date) -> None:
    rng = random.Random(f"{SEED}:{plan.code}:therapies")
    if plan.code in PRIOR_IVIG:
        _ivig(plan, consent - timedelta(days=rng.randint(35, 60)), 5, "refractory thrombocytopenia before referral")
    day0 = plan.day0
    if day0 is None:
        return
    yesterday = anchor - timedelta(days=1)
    if plan.code == "S01-001":
        plan.add(
            _at(date(2019, 6, 3), 9),
            "procedures",
            _record_step(
                records.PROCEDURE,
                plan.code,
                {
                    "procedure_type": ProcedureType.SPLENECTOMY,
                    "hsct_type": None,
                    "performed_on": date(2019, 6, 3),
                    "notes": None,
                },
            ),
        )
        hsct_on = add_months(_at(day0, 9), 8).date()
        values = {
            "procedure_type": ProcedureType.HSCT,
            "hsct_type": HsctType.ALLOGENEIC,
            "performed_on": hsct_on,
            "notes": "matched unrelated donor, reduced-intensity conditioning",
        }
        plan.add(_at(hsct_on, 9), "procedures", _record_step(records.PROCEDURE, plan.code, values))
        later = [
            TransfusionPlan(_at(hsct_on + timedelta(days=d), rng.randint(9, 14)), Outcome.RESPONSIVE)
            for d in (6, 12)
            if hsct_on + timedelta(days=d + 2) < anchor
        ]
        _steps_for_transfusions(plan, rng, later, plan.measurements)
    if plan.code == "S01-003":
        day0_at = plan.infused_at[CarTProduct.CD19]
        responsive = [
            t
            for t in plan.transfusions
            if t.start > day0_at + timedelta(days=30) and t.outcome is Outcome.RESPONSIVE and t.fault is None
        ]
        if responsive:
            dose_day = responsive[-1].start.date() - timedelta(days=6)
            _ivig(plan, dose_day, 1, "bleeding with thrombocytopenia")
    if plan.code == "S02-004":
        end = day0 + timedelta(days=110)
        _therapy_step(
            plan,
            day0 + timedelta(days=45),
            name="eltrombopag",
            therapy_class=TherapyClass.TPO_RA,
            dose=50.0,
            dose_unit=TherapyDoseUnit.MG,
            route=TherapyRoute.ORAL,
            frequency=DoseFrequency.QD,
            end_date=end if end <= yesterday else None,
            ongoing=end > yesterday,
            indication="persistent thrombocytopenia",
        )
    if plan.code == "S02-005":
        start = day0 + timedelta(days=100)
        end = start + timedelta(days=21)
        _therapy_step(
            plan,
            start,
            name="rituximab",
            therapy_class=TherapyClass.ANTI_CD20,
            dose=375.0,
            dose_unit=TherapyDoseUnit.MG_PER_M2,
            route=TherapyRoute.INTRAVENOUS,
            frequency=DoseFrequency.QW,
            end_date=end if end <= yesterday else None,
            ongoing=end > yesterday,
            indication="persistent refractoriness",
        )
    if plan.code == "S02-002":
        crs_day = day0 + timedelta(days=2)
        _therapy_step(
            plan,
            crs_day,
            name="tocilizumab",
            therapy_class=TherapyClass.IL6_BLOCKADE,
            dose=8.0,
            dose_unit=TherapyDoseUnit.MG_PER_KG,
            route=TherapyRoute.INTRAVENOUS,
            frequency=DoseFrequency.ONCE,
            end_date=crs_day,
            indication="cytokine release syndrome grade 2",
        )


# --- writing -----------------------------------------------------------------------------------


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
                awareness_at=_at(day0 + timedelta(days=2), 10),
                resolution_date=day0 + timedelta(days=5),
                attribution_cd19=Attribution.DEFINITE,
                attribution_lymphodepletion=Attribution.UNLIKELY,
                expected=True,
                action_taken=ActionTaken.MEDICATION,
                outcome=AEOutcome.RECOVERED_RESOLVED,
                serious=plan.code == "S02-002",
                serious_criteria=(SeriousCriterion.HOSPITALIZATION,) if plan.code == "S02-002" else (),
                sponsor_reported_at=_at(day0 + timedelta(days=2), 20) if plan.code == "S02-002" else None,
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
