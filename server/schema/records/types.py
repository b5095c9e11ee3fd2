"""A subject's clinical records: protocol parameters, status changes, body measurements,
lymphodepletion, CAR-T infusions."""

from __future__ import annotations

import datetime as dt

import strawberry

from ...db import models as m
from ..common import enums as e
from ..common.context import Info
from ..common.ids import encode_id
from ..common.node import STUDY_DAY, Node, study_day_at


@strawberry.type(description="One version of the protocol parameters; the newest effective version is applied.")
class ProtocolParameters:
    version: int = strawberry.field(description="Version number, from 1, increasing with each amendment.")
    effective_from: dt.date = strawberry.field(description="Date from which this version applies.")
    reason: str | None = strawberry.field(description="Why this version was made; null for analysts.")
    cci_early_threshold_per_ul: float = strawberry.field(
        description="Early CCI must be strictly greater than this (per uL)."
    )
    cci_late_threshold_per_ul: float = strawberry.field(
        description="Late CCI must be strictly greater than this (per uL)."
    )
    early_window_min_minutes: int = strawberry.field(
        description="Early window start, minutes after the transfusion ends (inclusive)."
    )
    early_window_max_minutes: int = strawberry.field(
        description="Early window end, minutes after the transfusion ends (inclusive)."
    )
    late_window_min_hours: int = strawberry.field(
        description="Late window start, hours after the transfusion ends (inclusive)."
    )
    late_window_max_hours: int = strawberry.field(
        description="Late window end, hours after the transfusion ends (inclusive)."
    )
    pre_count_lookback_hours: int = strawberry.field(
        description="A pre-count is at most this many hours before the transfusion starts."
    )
    refractory_consecutive_transfusions: int = strawberry.field(
        description="Consecutive ABO-compatible transfusions with a low early CCI that show refractoriness."
    )
    refractory_cci_threshold_per_ul: float = strawberry.field(
        description="Early CCI below this (per uL) counts towards refractoriness."
    )
    sustained_consecutive_responses: int = strawberry.field(
        description="Consecutive responsive transfusions (not-evaluable skipped) that make a sustained response."
    )
    assessment_window_months: int = strawberry.field(
        description="Months after the first CAR-T infusion in which response is assessed."
    )
    loss_of_response_consecutive_failures: int = strawberry.field(
        description="Consecutive non-responsive transfusions that mark a loss of response."
    )
    bsa_formula: e.BsaFormula = strawberry.field(description="Body surface area formula used for CCI and PPR.")
    blood_volume_ml_per_kg: float = strawberry.field(
        description="Blood volume per kg body weight (mL/kg) for percent platelet recovery."
    )
    allow_bcma_before_cd19: bool = strawberry.field(
        description="Whether a BCMA infusion may precede the subject's CD19 infusion."
    )
    diary_entry_window_days: int = strawberry.field(
        description="Diary reports noticed more than this many days before receipt are flagged late (days)."
    )
    bleeding_episode_gap_hours: int = strawberry.field(
        description="A diary report within this many hours of an open patient-reported event of the same term continues it (hours)."
    )
    lab_event_min_grade: int = strawberry.field(
        description="A new CTCAE lab grade at or above this proposes a lab-sourced adverse event."
    )
    lab_event_worsening_grades: int = strawberry.field(
        description="A worsening by this many grades from an abnormal grade proposes one too."
    )
    b_cell_aplasia_percent: float = strawberry.field(description="B-cell aplasia: CD19+ below this % of lymphocytes.")
    b_cell_aplasia_per_ul: float = strawberry.field(description="B-cell aplasia: CD19+ below this many cells/uL.")
    b_cell_aplasia_rule: str = strawberry.field(
        description="Which rule decides aplasia: percent_of_lymphocytes or absolute_per_ul."
    )
    igg_low_below_mg_dl: float = strawberry.field(description="IgG below this (mg/dL) is low.")
    igg_severe_at_or_below_mg_dl: float = strawberry.field(description="IgG at or below this (mg/dL) is severely low.")
    hla_mfi_cutoff: float = strawberry.field(
        description="Default MFI cut-off of single-antigen bead positivity (the lab's own applies when given)."
    )
    activation_code_ttl_hours: int = strawberry.field(
        description="How long a patient's phone activation code stays valid after it is issued (hours)."
    )
    baseline_days: int = strawberry.field(
        description="Before vs after CAR-T: the baseline period is study days -baselineDays..-1 (days before the first infusion)."
    )
    follow_up_from_day: int = strawberry.field(
        description="Before vs after CAR-T: the follow-up period starts on this study day (inclusive; day 0 = first infusion)."
    )
    follow_up_to_day: int = strawberry.field(
        description="Before vs after CAR-T: the follow-up period ends on this study day (inclusive)."
    )
    ivig_confounding_days: int = strawberry.field(
        description="A transfusion started up to this many days after an IVIG dose is flagged confounded by therapy (days)."
    )
    tpo_ra_confounds: bool = strawberry.field(
        description="Whether a transfusion given while a TPO-receptor agonist is given is flagged confounded by therapy."
    )
    hsct_ends_follow_up: bool = strawberry.field(
        description="Whether an allogeneic HSCT ends the evaluable follow-up of the primary endpoint on its date."
    )

    @classmethod
    def of(cls, row: m.ProtocolParameterSet, sees_free_text: bool) -> ProtocolParameters:
        from ...domain.protocol import ProtocolParameters as Domain

        values = Domain.from_dict(row.parameters)
        return cls(
            version=row.version,
            effective_from=row.effective_from,
            reason=row.reason if sees_free_text else None,
            **vars(values),
        )


@strawberry.type(description="A subject's status and when it took effect.")
class StatusChange:
    from_status: e.SubjectStatus | None = strawberry.field(
        description="Status before the change; null for the first status."
    )
    to_status: e.SubjectStatus = strawberry.field(description="Status after the change.")
    effective_date: dt.date = strawberry.field(description="Date the change took effect.")
    changed_at: dt.datetime = strawberry.field(description="When it was recorded (UTC).")
    reason: str | None = strawberry.field(description="Reason given; null for analysts.")


@strawberry.type(
    description="Height and weight; the body surface area of a transfusion uses the latest on or before it."
)
class BodyMeasurement(Node):
    subject_id: strawberry.Private[int]
    measured_at: dt.datetime = strawberry.field(description="When measured (UTC).")
    height_cm: float | None = strawberry.field(description="Height in cm.")
    weight_kg: float | None = strawberry.field(description="Weight in kg.")

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.measured_at)

    @classmethod
    def of(cls, row: m.BodyMeasurement) -> BodyMeasurement:
        return cls(
            id=encode_id("BodyMeasurement", row.id),
            subject_id=row.subject_id,
            measured_at=row.measured_at,
            height_cm=row.height_cm,
            weight_kg=row.weight_kg,
        )


@strawberry.type(description="One agent of a lymphodepletion course.")
class LymphodepletionDose:
    agent: e.LymphodepletionAgent = strawberry.field(description="The agent given.")
    other_name: str | None = strawberry.field(description="The agent's name when agent is OTHER.")
    dose_per_day: float = strawberry.field(description="Dose per day, in `doseUnit`.")
    dose_unit: e.DoseUnit = strawberry.field(description="Unit of dosePerDay.")
    days: int = strawberry.field(description="Number of days given.")


@strawberry.type(
    description="A lymphodepleting chemotherapy course before CAR-T (typically fludarabine + cyclophosphamide)."
)
class LymphodepletionCourse(Node):
    subject_id: strawberry.Private[int]
    start_date: dt.date = strawberry.field(description="First day of the course.")
    end_date: dt.date = strawberry.field(description="Last day of the course (inclusive).")
    agents: list[LymphodepletionDose] = strawberry.field(description="The agents given, each with its dose.")

    @strawberry.field(description=STUDY_DAY + " Of the start date.")
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.start_date)

    @classmethod
    def of(cls, row: m.LymphodepletionCourse) -> LymphodepletionCourse:
        agents = [
            LymphodepletionDose(
                agent=e.LymphodepletionAgent(a["agent"]),
                other_name=a.get("other_name"),
                dose_per_day=a["dose_per_day"],
                dose_unit=e.DoseUnit(a["dose_unit"]),
                days=a["days"],
            )
            for a in row.agents
        ]
        return cls(
            id=encode_id("LymphodepletionCourse", row.id),
            subject_id=row.subject_id,
            start_date=row.start_date,
            end_date=row.end_date,
            agents=agents,
        )


@strawberry.type(description="A CAR-T cell infusion.")
class CarTInfusion(Node):
    subject_id: strawberry.Private[int]
    product: e.CarTProduct = strawberry.field(description="The CAR-T product infused.")
    infused_at: dt.datetime = strawberry.field(description="When infused (UTC).")
    car_positive_cells_per_kg: float | None = strawberry.field(description="Dose in CAR+ cells per kg body weight.")
    total_car_positive_cells: float | None = strawberry.field(description="Total CAR+ cells infused (cells).")
    lot_number: str = strawberry.field(description="Lot number of the product.")

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.infused_at)

    @classmethod
    def of(cls, row: m.CarTInfusion) -> CarTInfusion:
        return cls(
            id=encode_id("CarTInfusion", row.id),
            subject_id=row.subject_id,
            product=row.product,
            infused_at=row.infused_at,
            car_positive_cells_per_kg=row.car_positive_cells_per_kg,
            total_car_positive_cells=row.total_car_positive_cells,
            lot_number=row.lot_number,
        )
