"""Input types of the mutations, and their conversion to the services' plain values.

Amend inputs have every field optional: a field left out keeps its value, a field given is
changed (null clears a nullable field). Times must carry their UTC offset."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import strawberry

from ..domain.validation import Problem, ProblemCode
from ..services.errors import InvalidInput
from . import enums as e

Path = tuple[str, ...]


def aware(value: dt.datetime, field: Path) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            [Problem(field, ProblemCode.INVALID_FORMAT, "include the UTC offset, e.g. 2026-03-01T08:30:00Z")]
        )
    return value.astimezone(dt.timezone.utc)


def patch_of(
    data: Any, converters: dict[str, tuple[str, Callable[[Any, Path], Any]]], required: frozenset[str]
) -> dict[str, Any]:
    """{model field: value} for the amend input's given fields. converters: graphql attribute ->
    (model field, convert(value, path)); a required field given as null is refused."""
    patch: dict[str, Any] = {}
    problems: list[Problem] = []
    for attribute, (column, convert) in converters.items():
        value = getattr(data, attribute)
        if value is strawberry.UNSET:
            continue
        path = (_camel(attribute),)
        if value is None:
            if column in required:
                problems.append(Problem(path, ProblemCode.REQUIRED, "cannot be cleared"))
                continue
            patch[column] = None
            continue
        patch[column] = convert(value, path)
    if problems:
        raise InvalidInput(problems)
    return patch


def as_is(value: Any, _path: Path) -> Any:
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@strawberry.input(description="A new subject at a site, in SCREENING (default) or ENROLLED.")
class EnrollSubjectInput:
    code: str = strawberry.field(description="Pseudonymous code: 3-20 capital letters, digits or '-'.")
    site_code: str = strawberry.field(description="Code of the site enrolling the subject (one of the caller's sites).")
    sex: e.Sex = strawberry.field(description="Sex.")
    year_of_birth: int = strawberry.field(
        description="Year of birth (four digits); must fit ageAtConsent and consentDate."
    )
    age_at_consent: int = strawberry.field(description="Age in whole years at consent (16-65).")
    diagnosis: e.Diagnosis = strawberry.field(description="Acute leukemia diagnosis.")
    remission_status: e.RemissionStatus = strawberry.field(description="Remission status at enrolment.")
    consent_date: dt.date = strawberry.field(description="Date informed consent was signed (not in the future).")
    remission_date: dt.date | None = strawberry.field(
        default=None, description="Date the current remission was reached, if known (not before the year of birth)."
    )
    abo_group: e.AboGroup | None = strawberry.field(default=None, description="ABO blood group, if known.")
    rhd: e.RhD | None = strawberry.field(default=None, description="Rh(D) group, if known.")
    status: e.SubjectStatus = strawberry.field(default=e.SubjectStatus.SCREENING, description="SCREENING or ENROLLED.")


@strawberry.input(
    description="Correct a subject's baseline data, with a reason (audited). Omitted fields stay; null clears an optional one.",
)
class AmendSubjectInput:
    code: str = strawberry.field(description="The subject to correct (the code itself cannot change).")
    reason: str = strawberry.field(description="Why the record is corrected (required).")
    sex: e.Sex | None = strawberry.field(default=strawberry.UNSET, description="Sex. Omitted: unchanged.")
    year_of_birth: int | None = strawberry.field(
        default=strawberry.UNSET, description="Year of birth. Omitted: unchanged."
    )
    age_at_consent: int | None = strawberry.field(
        default=strawberry.UNSET, description="Age in whole years at consent (16-65). Omitted: unchanged."
    )
    diagnosis: e.Diagnosis | None = strawberry.field(
        default=strawberry.UNSET, description="Diagnosis. Omitted: unchanged."
    )
    remission_status: e.RemissionStatus | None = strawberry.field(
        default=strawberry.UNSET, description="Remission status. Omitted: unchanged."
    )
    remission_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Date of the current remission; null clears it. Omitted: unchanged."
    )
    abo_group: e.AboGroup | None = strawberry.field(
        default=strawberry.UNSET, description="ABO group; null clears it. Omitted: unchanged."
    )
    rhd: e.RhD | None = strawberry.field(
        default=strawberry.UNSET, description="Rh(D) group; null clears it. Omitted: unchanged."
    )
    consent_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Consent date. Omitted: unchanged."
    )


@strawberry.input(description="Move a subject along the trial's path (allowed transitions only), with a reason.")
class ChangeSubjectStatusInput:
    code: str = strawberry.field(description="Code of the subject.")
    status: e.SubjectStatus = strawberry.field(description="The new status.")
    effective_date: dt.date = strawberry.field(
        description="Date the change took effect (not before consent, not in the future)."
    )
    reason: str = strawberry.field(description="Why the status changes (audited).")


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


@strawberry.input(description="One platelet unit of a transfusion.")
class PlateletUnitInput:
    kind: e.PlateletUnitKind = strawberry.field(
        default=e.PlateletUnitKind.APHERESIS, description="How the unit was collected (default APHERESIS)."
    )
    content_e11: float | None = strawberry.field(
        default=None, description="Platelet content in x10^11 (an apheresis unit: about 3-4.4)."
    )
    content_basis: e.DoseBasis = strawberry.field(
        default=e.DoseBasis.MEASURED, description="Whether contentE11 was measured (default) or is the nominal figure."
    )


@strawberry.input(description="A platelet count drawn around a transfusion.")
class PlateletCountValueInput:
    value_e9_per_l: float = strawberry.field(description="Platelet count in x10^9/L (not per uL).")
    drawn_at: dt.datetime = strawberry.field(description="When drawn, with UTC offset.")


@strawberry.input(description="A platelet transfusion with its units and, optionally, the counts drawn around it.")
class RecordPlateletTransfusionInput:
    subject_code: str = strawberry.field(description="Code of the subject (e.g. from Subject.code).")
    started_at: dt.datetime = strawberry.field(description="Start, with UTC offset.")
    ended_at: dt.datetime = strawberry.field(description="End, with UTC offset.")
    units: list[PlateletUnitInput] = strawberry.field(
        description="The units given, at least one; their contents add up to the dose (x10^11)."
    )
    abo_compatibility: e.AboCompatibility = strawberry.field(
        default=e.AboCompatibility.UNKNOWN,
        description="ABO match to the recipient (default UNKNOWN: not counted for baseline refractoriness).",
    )
    hla_selected: bool = strawberry.field(
        default=False, description="Whether the platelets were HLA-selected (default false)."
    )
    crossmatched: bool = strawberry.field(
        default=False, description="Whether the platelets were crossmatched (default false)."
    )
    storage_age_days: int | None = strawberry.field(default=None, description="Age of the platelets in days.")
    note: str | None = strawberry.field(default=None, description="Free-text note (hidden from analysts).")
    pre_count: PlateletCountValueInput | None = strawberry.field(
        default=None, description="The count drawn before the transfusion, if the form carries it."
    )
    post_counts: list[PlateletCountValueInput] = strawberry.field(
        default_factory=list, description="Counts drawn after it (e.g. at 1 h and 24 h)."
    )


@strawberry.input(description="Correct a platelet transfusion, with a reason (audited). Omitted fields stay.")
class AmendPlateletTransfusionInput:
    id: strawberry.ID = strawberry.field(description="Global id of the record to correct.")
    reason: str = strawberry.field(description="Why the record is corrected (required, audited).")
    started_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="Start, with UTC offset. Omitted: unchanged."
    )
    ended_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="End, with UTC offset. Omitted: unchanged."
    )
    units: list[PlateletUnitInput] | None = strawberry.field(
        default=strawberry.UNSET, description="The units given; replaces the whole list. Omitted: unchanged."
    )
    abo_compatibility: e.AboCompatibility | None = strawberry.field(
        default=strawberry.UNSET, description="ABO match to the recipient. Omitted: unchanged."
    )
    hla_selected: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether HLA-selected. Omitted: unchanged."
    )
    crossmatched: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether crossmatched. Omitted: unchanged."
    )
    storage_age_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Age of the platelets in days; null clears it. Omitted: unchanged."
    )
    note: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free-text note; null clears it. Omitted: unchanged."
    )


@strawberry.input(description="A platelet count not tied to a transfusion form (e.g. from the lab).")
class RecordPlateletCountInput:
    subject_code: str = strawberry.field(description="Code of the subject (e.g. from Subject.code).")
    value_e9_per_l: float = strawberry.field(description="Platelet count in x10^9/L (not per uL).")
    drawn_at: dt.datetime = strawberry.field(description="When drawn, with UTC offset.")


@strawberry.input(description="Correct a platelet count, with a reason (audited). Omitted fields stay.")
class AmendPlateletCountInput:
    id: strawberry.ID = strawberry.field(description="Global id of the record to correct.")
    reason: str = strawberry.field(description="Why the record is corrected (required, audited).")
    value_e9_per_l: float | None = strawberry.field(default=strawberry.UNSET, description="Platelet count in x10^9/L.")
    drawn_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When drawn, with UTC offset. Omitted: unchanged."
    )


@strawberry.input(description="Void a record entered in error: it is kept for the audit trail but no longer counted.")
class VoidRecordInput:
    id: strawberry.ID = strawberry.field(
        description="Global id of a measurement, lymphodepletion course, infusion, transfusion, count, therapy or procedure."
    )
    reason: str = strawberry.field(description="Why the record is voided (required, audited).")


@strawberry.input(description="A new trial site.")
class CreateSiteInput:
    code: str = strawberry.field(description="Unique site code.")
    name: str = strawberry.field(description="Site name.")
    phone: str | None = strawberry.field(
        default=None,
        description="Telephone for patients: optional '+', digits, spaces, '-', '(' or ')'; 6-20 characters.",
    )


@strawberry.input(description="Change a site's name or phone number, with a reason (audited). Omitted fields stay.")
class UpdateSiteInput:
    code: str = strawberry.field(description="Code of the site to change.")
    name: str | None = strawberry.field(default=None, description="New name. Omitted: unchanged.")
    phone: str | None = strawberry.field(
        default=None,
        description="Telephone for patients: optional '+', digits, spaces, '-', '(' or ')'; 6-20 characters.",
    )
    reason: str = strawberry.field(description="Why the site is changed (audited).")


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


def units_value(units: list[PlateletUnitInput], _path: Path = ()) -> list[dict[str, Any]]:
    return [{"kind": u.kind.value, "content_e11": u.content_e11, "content_basis": u.content_basis.value} for u in units]


def count_value(count: PlateletCountValueInput, path: Path) -> dict[str, Any]:
    return {"value_e9_per_l": count.value_e9_per_l, "drawn_at": aware(count.drawn_at, (*path, "drawnAt"))}


AMEND_SUBJECT = {
    name: (name, as_is)
    for name in (
        "sex",
        "year_of_birth",
        "age_at_consent",
        "diagnosis",
        "remission_status",
        "remission_date",
        "abo_group",
        "rhd",
        "consent_date",
    )
}
AMEND_MEASUREMENT = {
    "measured_at": ("measured_at", aware),
    "height_cm": ("height_cm", as_is),
    "weight_kg": ("weight_kg", as_is),
}
AMEND_LYMPHODEPLETION = {
    "start_date": ("start_date", as_is),
    "end_date": ("end_date", as_is),
    "agents": ("agents", agents_value),
}
AMEND_INFUSION = {
    "product": ("product", as_is),
    "infused_at": ("infused_at", aware),
    "lot_number": ("lot_number", as_is),
    "car_positive_cells_per_kg": ("car_positive_cells_per_kg", as_is),
    "total_car_positive_cells": ("total_car_positive_cells", as_is),
}
AMEND_TRANSFUSION = {
    "started_at": ("started_at", aware),
    "ended_at": ("ended_at", aware),
    "units": ("units", units_value),
    "abo_compatibility": ("abo_compatibility", as_is),
    "hla_selected": ("hla_selected", as_is),
    "crossmatched": ("crossmatched", as_is),
    "storage_age_days": ("storage_age_days", as_is),
    "note": ("note", as_is),
}
AMEND_COUNT = {"value_e9_per_l": ("value_e9_per_l", as_is), "drawn_at": ("drawn_at", aware)}


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
