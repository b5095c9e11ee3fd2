"""The demo cohort's courses and the records of each subject's transfusion story (pure: no I/O).

See server/demo/__init__.py for the scenario as a whole."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from typing import Any

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
from ..services import records, subjects
from ..services.unit_of_work import UnitOfWork

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


def at_hour(day: date, hour: int, minute: int = 0) -> datetime:
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


def subject_details(rng: random.Random, consent: date) -> subjects.SubjectDetails:
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
    return [
        (at_hour(day, 9, 0), height, round(weight + drift, 1)) for day, drift in zip(days, weight_drift, strict=False)
    ]


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
        return at_hour(day0 + timedelta(days=day), rng.randint(8, 15), rng.choice([0, 15, 30, 45]))

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


def steps_for_transfusions(
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


def record_step(kind: records.RecordKind, code: str, values: dict[str, Any]) -> Callable[[UnitOfWork], Awaitable[Any]]:
    return lambda uow: records.create_record(uow, kind, code, values)


def _status_step(code: str, status: SubjectStatus, on: date, reason: str) -> Callable[[UnitOfWork], Awaitable[Any]]:
    return lambda uow: subjects.change_subject_status(uow, code=code, status=status, effective_date=on, reason=reason)


def _add_status(plan: SubjectPlan, status: SubjectStatus, on: date, reason: str) -> None:
    plan.add(at_hour(on, 17), "status changes", _status_step(plan.code, status, on, reason))


def _add_measurements(plan: SubjectPlan, measurements: list[tuple[datetime, float, float]]) -> None:
    for measured_at, height, weight in measurements:
        values = {"measured_at": measured_at, "height_cm": height, "weight_kg": weight}
        plan.add(measured_at, "body measurements", record_step(records.BODY_MEASUREMENT, plan.code, values))


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
    plan.add(at_hour(start, 8), "lymphodepletion courses", record_step(records.LYMPHODEPLETION, plan.code, values))


def _add_infusion(
    plan: SubjectPlan, rng: random.Random, product: CarTProduct, day: date, weight_kg: float, lot_serial: int
) -> None:
    per_kg = round(rng.uniform(0.8e6, 1.2e6), -4)
    infused_at = at_hour(day, rng.randint(10, 13), rng.choice([0, 20, 40]))
    values = {
        "product": product,
        "infused_at": infused_at,
        "car_positive_cells_per_kg": per_kg,
        "total_car_positive_cells": round(per_kg * weight_kg, -5),
        "lot_number": f"{product.value.upper()}-{day.year % 100:02d}-{lot_serial:04d}",
    }
    plan.add(infused_at, "CAR-T infusions", record_step(records.CAR_T_INFUSION, plan.code, values))
    plan.infused_at[product] = infused_at


def plan_screen_failure(plan: SubjectPlan, rng: random.Random, consent: date) -> None:
    """Baseline transfusions respond (R, N, R): no two consecutive failures, not refractory."""
    measurements = _measurements(rng, plan.details.sex, [consent, consent + timedelta(days=14)], [0, -0.5])
    _add_measurements(plan, measurements)
    outcomes = [Outcome.RESPONSIVE, Outcome.NON_RESPONSIVE, Outcome.RESPONSIVE]
    plans = [
        TransfusionPlan(at_hour(consent + timedelta(days=day), rng.randint(8, 15)), outcome)
        for day, outcome in zip((2, 7, 12), outcomes, strict=True)
    ]
    steps_for_transfusions(plan, rng, plans, measurements)
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
    steps_for_transfusions(plan, rng, transfusions, measurements)
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
