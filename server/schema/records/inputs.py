"""Inputs of the clinical record mutations (measurements, lymphodepletion, infusions, voids,
protocol parameters)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry

from ..common import enums as e
from ..common.inputs import Converter, Path, as_is, aware


@strawberry.input(description="A height and/or weight measurement (used for body surface area and weight-based doses).")
class RecordBodyMeasurementInput:
    subject_code: str = strawberry.field(description="Code of the subject (e.g. from Subject.code).")
    measured_at: dt.datetime = strawberry.field(description="When measured, with UTC offset.")
    height_cm: float | None = strawberry.field(default=None, description="Height in cm (100-250).")
    weight_kg: float | None = strawberry.field(default=None, description="Weight in kg (25-300).")


@strawberry.input(description="Correct a body measurement, with a reason (audited). Omitted fields stay.")
class AmendBodyMeasurementInput:
    id: strawberry.ID = strawberry.field(description="Global id of the record to correct.")
    reason: str = strawberry.field(description="Why the record is corrected (required, audited).")
    measured_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When measured, with UTC offset. Omitted: unchanged."
    )
    height_cm: float | None = strawberry.field(default=strawberry.UNSET, description="Height in cm.")
    weight_kg: float | None = strawberry.field(default=strawberry.UNSET, description="Weight in kg.")


@strawberry.input(description="One agent of a lymphodepletion course.")
class LymphodepletionDoseInput:
    agent: e.LymphodepletionAgent = strawberry.field(description="The agent; OTHER needs otherName.")
    dose_per_day: float = strawberry.field(description="Dose per day, in doseUnit.")
    dose_unit: e.DoseUnit = strawberry.field(description="Unit of dosePerDay.")
    days: int = strawberry.field(description="Number of days given (1-14).")
    other_name: str | None = strawberry.field(default=None, description="Required when agent is OTHER.")


@strawberry.input(description="A lymphodepletion course given before CAR-T.")
class RecordLymphodepletionInput:
    subject_code: str = strawberry.field(description="Code of the subject (e.g. from Subject.code).")
    start_date: dt.date = strawberry.field(description="First day of the course.")
    end_date: dt.date = strawberry.field(description="Last day of the course (not before startDate).")
    agents: list[LymphodepletionDoseInput] = strawberry.field(description="The agents given, at least one.")


@strawberry.input(description="Correct a lymphodepletion course, with a reason (audited). Omitted fields stay.")
class AmendLymphodepletionInput:
    id: strawberry.ID = strawberry.field(description="Global id of the record to correct.")
    reason: str = strawberry.field(description="Why the record is corrected (required, audited).")
    start_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="First day of the course. Omitted: unchanged."
    )
    end_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Last day of the course. Omitted: unchanged."
    )
    agents: list[LymphodepletionDoseInput] | None = strawberry.field(
        default=strawberry.UNSET, description="The agents given; replaces the whole list. Omitted: unchanged."
    )


@strawberry.input(description="A CAR-T infusion. BCMA follows CD19 unless the protocol allows otherwise.")
class RecordCarTInfusionInput:
    subject_code: str = strawberry.field(description="Code of the subject (e.g. from Subject.code).")
    product: e.CarTProduct = strawberry.field(description="The CAR-T product infused.")
    infused_at: dt.datetime = strawberry.field(description="When infused, with UTC offset.")
    lot_number: str = strawberry.field(description="Lot number of the product.")
    car_positive_cells_per_kg: float | None = strawberry.field(default=None, description="CAR+ cells per kg.")
    total_car_positive_cells: float | None = strawberry.field(default=None, description="Total CAR+ cells.")


@strawberry.input(description="Correct a CAR-T infusion, with a reason (audited). Omitted fields stay.")
class AmendCarTInfusionInput:
    id: strawberry.ID = strawberry.field(description="Global id of the record to correct.")
    reason: str = strawberry.field(description="Why the record is corrected (required, audited).")
    product: e.CarTProduct | None = strawberry.field(
        default=strawberry.UNSET, description="The CAR-T product. Omitted: unchanged."
    )
    infused_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When infused, with UTC offset. Omitted: unchanged."
    )
    lot_number: str | None = strawberry.field(default=strawberry.UNSET, description="Lot number. Omitted: unchanged.")
    car_positive_cells_per_kg: float | None = strawberry.field(
        default=strawberry.UNSET, description="CAR+ cells per kg."
    )
    total_car_positive_cells: float | None = strawberry.field(default=strawberry.UNSET, description="Total CAR+ cells.")


@strawberry.input(description="Void a record entered in error: it is kept for the audit trail but no longer counted.")
class VoidRecordInput:
    id: strawberry.ID = strawberry.field(
        description="Global id of a measurement, lymphodepletion course, infusion, transfusion, count, therapy or procedure."
    )
    reason: str = strawberry.field(description="Why the record is voided (required, audited).")


def agents_value(agents: list[LymphodepletionDoseInput], _path: Path = ()) -> list[dict[str, Any]]:
    return [
        {
            "agent": a.agent.value,
            "other_name": a.other_name,
            "dose_per_day": a.dose_per_day,
            "dose_unit": a.dose_unit.value,
            "days": a.days,
        }
        for a in agents
    ]


AMEND_MEASUREMENT: dict[str, tuple[str, Converter]] = {
    "measured_at": ("measured_at", aware),
    "height_cm": ("height_cm", as_is),
    "weight_kg": ("weight_kg", as_is),
}


AMEND_LYMPHODEPLETION: dict[str, tuple[str, Converter]] = {
    "start_date": ("start_date", as_is),
    "end_date": ("end_date", as_is),
    "agents": ("agents", agents_value),
}


AMEND_INFUSION: dict[str, tuple[str, Converter]] = {
    "product": ("product", as_is),
    "infused_at": ("infused_at", aware),
    "lot_number": ("lot_number", as_is),
    "car_positive_cells_per_kg": ("car_positive_cells_per_kg", as_is),
    "total_car_positive_cells": ("total_car_positive_cells", as_is),
}


@strawberry.input(
    description="A protocol amendment: the parameters given change, the others carry over from the latest version."
)
class AmendProtocolParametersInput:
    effective_from: dt.date = strawberry.field(description="Date the new version takes effect.")
    reason: str = strawberry.field(description="Why the protocol changes (audited).")
    cci_early_threshold_per_ul: float | None = strawberry.field(default=strawberry.UNSET, description="per uL")
    cci_late_threshold_per_ul: float | None = strawberry.field(default=strawberry.UNSET, description="per uL")
    early_window_min_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="minutes after the end"
    )
    early_window_max_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="minutes after the end"
    )
    late_window_min_hours: int | None = strawberry.field(default=strawberry.UNSET, description="hours after the end")
    late_window_max_hours: int | None = strawberry.field(default=strawberry.UNSET, description="hours after the end")
    pre_count_lookback_hours: int | None = strawberry.field(
        default=strawberry.UNSET, description="hours before the start"
    )
    refractory_consecutive_transfusions: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Baseline refractoriness: consecutive ABO-compatible transfusions with a low early CCI needed (count).",
    )
    refractory_cci_threshold_per_ul: float | None = strawberry.field(default=strawberry.UNSET, description="per uL")
    sustained_consecutive_responses: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Sustained responsiveness: consecutive responsive transfusions needed, NE skipped (count).",
    )
    assessment_window_months: int | None = strawberry.field(default=strawberry.UNSET, description="months")
    loss_of_response_consecutive_failures: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Loss of response: consecutive non-responsive transfusions after a response (count).",
    )
    bsa_formula: e.BsaFormula | None = strawberry.field(
        default=strawberry.UNSET, description="Body surface area formula."
    )
    blood_volume_ml_per_kg: float | None = strawberry.field(default=strawberry.UNSET, description="mL/kg")
    allow_bcma_before_cd19: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether a BCMA infusion may be recorded before the CD19 one."
    )
    diary_entry_window_days: int | None = strawberry.field(default=strawberry.UNSET, description="days")
    bleeding_episode_gap_hours: int | None = strawberry.field(default=strawberry.UNSET, description="hours")
    lab_event_min_grade: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="A lab value reaching this CTCAE grade proposes an adverse event (grade 1-4).",
    )
    lab_event_worsening_grades: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="A lab grade worsening by this many grades proposes an adverse event (grades).",
    )
    b_cell_aplasia_percent: float | None = strawberry.field(default=strawberry.UNSET, description="% of lymphocytes")
    b_cell_aplasia_per_ul: float | None = strawberry.field(default=strawberry.UNSET, description="cells/uL")
    b_cell_aplasia_rule: str | None = strawberry.field(
        default=strawberry.UNSET, description="percent_of_lymphocytes or absolute_per_ul"
    )
    igg_low_below_mg_dl: float | None = strawberry.field(default=strawberry.UNSET, description="mg/dL")
    igg_severe_at_or_below_mg_dl: float | None = strawberry.field(default=strawberry.UNSET, description="mg/dL")
    hla_mfi_cutoff: float | None = strawberry.field(default=strawberry.UNSET, description="MFI")
    activation_code_ttl_hours: int | None = strawberry.field(default=strawberry.UNSET, description="hours (1-720)")
    baseline_days: int | None = strawberry.field(default=strawberry.UNSET, description="days before the first infusion")
    follow_up_from_day: int | None = strawberry.field(default=strawberry.UNSET, description="study day (>= 1)")
    follow_up_to_day: int | None = strawberry.field(
        default=strawberry.UNSET, description="study day (>= followUpFromDay)"
    )
    ivig_confounding_days: int | None = strawberry.field(default=strawberry.UNSET, description="days (0-365)")
    tpo_ra_confounds: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Whether a transfusion while a TPO-RA is ongoing is flagged confounded by therapy.",
    )
    hsct_ends_follow_up: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Whether an allogeneic HSCT ends the evaluable follow-up for the primary endpoint.",
    )


PROTOCOL_PARAMETER_FIELDS = {
    name: (name, as_is)
    for name in AmendProtocolParametersInput.__annotations__
    if name not in ("effective_from", "reason")
}
