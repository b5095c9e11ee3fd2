"""The demo's prior and concomitant therapies and transplant stories (pure: no I/O)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from ..domain.enums import (
    CarTProduct,
)
from ..domain.response import add_months
from ..domain.therapies import (
    DoseFrequency,
    HsctType,
    ProcedureType,
    TherapyClass,
    TherapyDoseUnit,
    TherapyRoute,
)
from ..services import records
from .scenario import SEED, Outcome, SubjectPlan, TransfusionPlan, at_hour, record_step, steps_for_transfusions

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
    plan.add(at_hour(when, 7), "therapies", record_step(records.THERAPY, plan.code, record))


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
            at_hour(date(2019, 6, 3), 9),
            "procedures",
            record_step(
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
        hsct_on = add_months(at_hour(day0, 9), 8).date()
        values = {
            "procedure_type": ProcedureType.HSCT,
            "hsct_type": HsctType.ALLOGENEIC,
            "performed_on": hsct_on,
            "notes": "matched unrelated donor, reduced-intensity conditioning",
        }
        plan.add(at_hour(hsct_on, 9), "procedures", record_step(records.PROCEDURE, plan.code, values))
        later = [
            TransfusionPlan(at_hour(hsct_on + timedelta(days=d), rng.randint(9, 14)), Outcome.RESPONSIVE)
            for d in (6, 12)
            if hsct_on + timedelta(days=d + 2) < anchor
        ]
        steps_for_transfusions(plan, rng, later, plan.measurements)
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
