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


@strawberry.input
class EnrollSubjectInput:
    code: str = strawberry.field(description="Pseudonymous code: 3-20 capital letters, digits or '-'.")
    site_code: str
    sex: e.Sex
    year_of_birth: int
    age_at_consent: int = strawberry.field(description="Age in whole years at consent (16-65).")
    diagnosis: e.Diagnosis
    remission_status: e.RemissionStatus
    consent_date: dt.date
    remission_date: dt.date | None = None
    abo_group: e.AboGroup | None = None
    rhd: e.RhD | None = None
    status: e.SubjectStatus = strawberry.field(default=e.SubjectStatus.SCREENING, description="SCREENING or ENROLLED.")


@strawberry.input
class AmendSubjectInput:
    code: str = strawberry.field(description="The subject to correct (the code itself cannot change).")
    reason: str = strawberry.field(description="Why the record is corrected (required).")
    sex: e.Sex | None = strawberry.UNSET
    year_of_birth: int | None = strawberry.UNSET
    age_at_consent: int | None = strawberry.UNSET
    diagnosis: e.Diagnosis | None = strawberry.UNSET
    remission_status: e.RemissionStatus | None = strawberry.UNSET
    remission_date: dt.date | None = strawberry.UNSET
    abo_group: e.AboGroup | None = strawberry.UNSET
    rhd: e.RhD | None = strawberry.UNSET
    consent_date: dt.date | None = strawberry.UNSET


@strawberry.input
class ChangeSubjectStatusInput:
    code: str
    status: e.SubjectStatus
    effective_date: dt.date
    reason: str


@strawberry.input
class RecordBodyMeasurementInput:
    subject_code: str
    measured_at: dt.datetime = strawberry.field(description="When measured, with UTC offset.")
    height_cm: float | None = strawberry.field(default=None, description="Height in cm (100-250).")
    weight_kg: float | None = strawberry.field(default=None, description="Weight in kg (25-300).")


@strawberry.input
class AmendBodyMeasurementInput:
    id: strawberry.ID
    reason: str
    measured_at: dt.datetime | None = strawberry.UNSET
    height_cm: float | None = strawberry.field(default=strawberry.UNSET, description="Height in cm.")
    weight_kg: float | None = strawberry.field(default=strawberry.UNSET, description="Weight in kg.")


@strawberry.input
class LymphodepletionDoseInput:
    agent: e.LymphodepletionAgent
    dose_per_day: float = strawberry.field(description="Dose per day, in doseUnit.")
    dose_unit: e.DoseUnit
    days: int = strawberry.field(description="Number of days given (1-14).")
    other_name: str | None = strawberry.field(default=None, description="Required when agent is OTHER.")


@strawberry.input
class RecordLymphodepletionInput:
    subject_code: str
    start_date: dt.date
    end_date: dt.date
    agents: list[LymphodepletionDoseInput]


@strawberry.input
class AmendLymphodepletionInput:
    id: strawberry.ID
    reason: str
    start_date: dt.date | None = strawberry.UNSET
    end_date: dt.date | None = strawberry.UNSET
    agents: list[LymphodepletionDoseInput] | None = strawberry.UNSET


@strawberry.input
class RecordCarTInfusionInput:
    subject_code: str
    product: e.CarTProduct
    infused_at: dt.datetime = strawberry.field(description="When infused, with UTC offset.")
    lot_number: str
    car_positive_cells_per_kg: float | None = strawberry.field(default=None, description="CAR+ cells per kg.")
    total_car_positive_cells: float | None = strawberry.field(default=None, description="Total CAR+ cells.")


@strawberry.input
class AmendCarTInfusionInput:
    id: strawberry.ID
    reason: str
    product: e.CarTProduct | None = strawberry.UNSET
    infused_at: dt.datetime | None = strawberry.UNSET
    lot_number: str | None = strawberry.UNSET
    car_positive_cells_per_kg: float | None = strawberry.field(
        default=strawberry.UNSET, description="CAR+ cells per kg."
    )
    total_car_positive_cells: float | None = strawberry.field(default=strawberry.UNSET, description="Total CAR+ cells.")


@strawberry.input
class PlateletUnitInput:
    kind: e.PlateletUnitKind = e.PlateletUnitKind.APHERESIS
    content_e11: float | None = strawberry.field(
        default=None, description="Platelet content in x10^11 (an apheresis unit: about 3-4.4)."
    )
    content_basis: e.DoseBasis = e.DoseBasis.MEASURED


@strawberry.input
class PlateletCountValueInput:
    value_e9_per_l: float = strawberry.field(description="Platelet count in x10^9/L (not per uL).")
    drawn_at: dt.datetime = strawberry.field(description="When drawn, with UTC offset.")


@strawberry.input
class RecordPlateletTransfusionInput:
    subject_code: str
    started_at: dt.datetime = strawberry.field(description="Start, with UTC offset.")
    ended_at: dt.datetime = strawberry.field(description="End, with UTC offset.")
    units: list[PlateletUnitInput]
    abo_compatibility: e.AboCompatibility = e.AboCompatibility.UNKNOWN
    hla_selected: bool = False
    crossmatched: bool = False
    storage_age_days: int | None = strawberry.field(default=None, description="Age of the platelets in days.")
    note: str | None = None
    pre_count: PlateletCountValueInput | None = strawberry.field(
        default=None, description="The count drawn before the transfusion, if the form carries it."
    )
    post_counts: list[PlateletCountValueInput] = strawberry.field(
        default_factory=list, description="Counts drawn after it (e.g. at 1 h and 24 h)."
    )


@strawberry.input
class AmendPlateletTransfusionInput:
    id: strawberry.ID
    reason: str
    started_at: dt.datetime | None = strawberry.UNSET
    ended_at: dt.datetime | None = strawberry.UNSET
    units: list[PlateletUnitInput] | None = strawberry.UNSET
    abo_compatibility: e.AboCompatibility | None = strawberry.UNSET
    hla_selected: bool | None = strawberry.UNSET
    crossmatched: bool | None = strawberry.UNSET
    storage_age_days: int | None = strawberry.UNSET
    note: str | None = strawberry.UNSET


@strawberry.input
class RecordPlateletCountInput:
    subject_code: str
    value_e9_per_l: float = strawberry.field(description="Platelet count in x10^9/L (not per uL).")
    drawn_at: dt.datetime = strawberry.field(description="When drawn, with UTC offset.")


@strawberry.input
class AmendPlateletCountInput:
    id: strawberry.ID
    reason: str
    value_e9_per_l: float | None = strawberry.field(default=strawberry.UNSET, description="Platelet count in x10^9/L.")
    drawn_at: dt.datetime | None = strawberry.UNSET


@strawberry.input
class VoidRecordInput:
    id: strawberry.ID = strawberry.field(
        description="Global id of a measurement, lymphodepletion course, infusion, transfusion, count, therapy or procedure."
    )
    reason: str


@strawberry.input
class CreateSiteInput:
    code: str
    name: str
    phone: str | None = strawberry.field(
        default=None,
        description="Telephone for patients: optional '+', digits, spaces, '-', '(' or ')'; 6-20 characters.",
    )


@strawberry.input(description="Change a site's name or phone number, with a reason (audited). Omitted fields stay.")
class UpdateSiteInput:
    code: str
    name: str | None = None
    phone: str | None = strawberry.field(
        default=None,
        description="Telephone for patients: optional '+', digits, spaces, '-', '(' or ')'; 6-20 characters.",
    )
    reason: str


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
    effective_from: dt.date
    reason: str
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
    refractory_consecutive_transfusions: int | None = strawberry.UNSET
    refractory_cci_threshold_per_ul: float | None = strawberry.field(default=strawberry.UNSET, description="per uL")
    sustained_consecutive_responses: int | None = strawberry.UNSET
    assessment_window_months: int | None = strawberry.field(default=strawberry.UNSET, description="months")
    loss_of_response_consecutive_failures: int | None = strawberry.UNSET
    bsa_formula: e.BsaFormula | None = strawberry.UNSET
    blood_volume_ml_per_kg: float | None = strawberry.field(default=strawberry.UNSET, description="mL/kg")
    allow_bcma_before_cd19: bool | None = strawberry.UNSET
    diary_entry_window_days: int | None = strawberry.field(default=strawberry.UNSET, description="days")
    bleeding_episode_gap_hours: int | None = strawberry.field(default=strawberry.UNSET, description="hours")
    lab_event_min_grade: int | None = strawberry.UNSET
    lab_event_worsening_grades: int | None = strawberry.UNSET
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
    tpo_ra_confounds: bool | None = strawberry.UNSET
    hsct_ends_follow_up: bool | None = strawberry.UNSET


PROTOCOL_PARAMETER_FIELDS = {
    name: (name, as_is)
    for name in AmendProtocolParametersInput.__annotations__
    if name not in ("effective_from", "reason")
}
