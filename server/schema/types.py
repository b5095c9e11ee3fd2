"""Output types. Each wraps a stored row; relations resolve through the request's dataloaders.
Every field with a unit names it in its description; every dated record gives its study day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from ..db import models as m
from ..db import planned_reads as sql
from ..domain.response import CCI_RULE, PPR_RULE, RESPONSE_RULE, not_evaluable_reasons, response_reason
from ..domain.study_time import STUDY_DAY_RULE, study_day
from ..domain.units import PER_UL_PER_E9_PER_L, platelets_per_ul
from ..services.response import TRANSFUSION_RESPONSE_COLUMNS, ResponseReading
from . import enums as e
from .context import Info
from .ids import encode_id
from .paging import MAX_WINDOW, NODES, Counter, ListWindow, PageInfo
from .sql_mapping import declare

MAX_DIARY_DAYS = 400  # one bleedingDays range: a baseline and a year of follow-up

if TYPE_CHECKING:
    from .before_after import BeforeAfter
    from .device_types import DeviceActivation, PatientDevice
    from .outcome_types import AntibodyClearance, AntibodyTest, BCells, CarTKinetics, IgGValue, LabResult
    from .response_types import AttributedCount, BodySurfaceArea, PlateletResponse, TransfusionResponse
    from .safety_types import AdverseEvent, BleedingDay, BleedingReport
    from .therapy_types import Procedure, Therapy, TimelineEntry

STUDY_DAY = (
    f"Days from the subject's first CAR-T infusion (day 0), by rule '{STUDY_DAY_RULE}'; null before any infusion."
)


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id (opaque): fetch the object again with `node(id:)`.")


async def _study_day(info: Info, subject_id: int, moment: dt.datetime | dt.date) -> int | None:
    return study_day(moment, await info.context.loaders.first_infusion_at.load(subject_id))


@strawberry.type(description="A trial site. Its staff see only its subjects.")
class Site(Node):
    code: str = strawberry.field(description="Unique site code.")
    name: str = strawberry.field(description="Site name.")
    phone: str | None = strawberry.field(
        description="The site's telephone number for patients (the diary app's 'call your site now')."
    )

    @classmethod
    def of(cls, row: m.Site) -> Site:
        return cls(id=encode_id("Site", row.id), code=row.code, name=row.name, phone=row.phone)


declare(
    sql.ObjectSql(
        "Site",
        {
            "id": sql.GlobalId("Site", m.Site.id),
            "code": sql.Column(m.Site.code),
            "name": sql.Column(m.Site.name),
            "phone": sql.Column(m.Site.phone),
        },
    )
)


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
        from ..domain.protocol import ProtocolParameters as Domain

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
        return await _study_day(info, self.subject_id, self.measured_at)

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
        return await _study_day(info, self.subject_id, self.start_date)

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
        return await _study_day(info, self.subject_id, self.infused_at)

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


@strawberry.type(description="One platelet unit given in a transfusion.")
class PlateletUnit:
    kind: e.PlateletUnitKind = strawberry.field(description="How the unit was collected.")
    content_e11: float | None = strawberry.field(description="Platelet content in x10^11 platelets; null when unknown.")
    content_basis: e.DoseBasis = strawberry.field(
        description="Whether contentE11 was measured or is the nominal figure."
    )


@strawberry.type(description="A platelet count (a subject-level lab value).")
class PlateletCount(Node):
    subject_id: strawberry.Private[int]
    drawn_at: dt.datetime = strawberry.field(description="When the sample was drawn (UTC).")
    value_e9_per_l: float = strawberry.field(description="Platelet count in x10^9/L, as the lab reports it.")

    @strawberry.field(description=f"Platelet count per uL (x10^9/L x {PER_UL_PER_E9_PER_L}).")
    def value_per_ul(self) -> float:
        return platelets_per_ul(self.value_e9_per_l)

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await _study_day(info, self.subject_id, self.drawn_at)

    @classmethod
    def of(cls, row: m.PlateletCount) -> PlateletCount:
        return cls(
            id=encode_id("PlateletCount", row.id),
            subject_id=row.subject_id,
            drawn_at=row.drawn_at,
            value_e9_per_l=row.value_e9_per_l,
        )


def view_of(cls: type[Any], attributes: dict[str, Any]) -> Any:
    """An instance of a view type from its attribute values, without the dataclass __init__: a site
    view builds some 40,000 of these, and keyword processing was a measurable share of it."""
    view = object.__new__(cls)
    view.__dict__ = attributes
    return view


# The columns _derived unpacks, in order; checked against the stored table when this module loads,
# so a column added or moved there cannot silently shift every value here.
_DERIVED_COLUMNS = (
    "transfusion_id", "subject_id", "parameter_version", "started_at", "ended_at", "abo_compatible", "dose_e11",
    "bsa_m2", "bsa_formula", "bsa_height_cm", "bsa_weight_kg", "bsa_height_measured_at", "bsa_weight_measured_at",
    "pre_count_id", "pre_drawn_at", "pre_value_e9_per_l", "pre_after_end_s",
    "early_count_id", "early_drawn_at", "early_value_e9_per_l", "early_after_end_s",
    "late_count_id", "late_drawn_at", "late_value_e9_per_l", "late_after_end_s",
    "early_confounded", "late_confounded", "cci_early", "cci_late", "ppr_early", "category", "reasons",
    "refractory_exclusion", "confounding_therapy_id", "confounding_class", "endpoint_exclusion",
)  # fmt: skip
if _DERIVED_COLUMNS != TRANSFUSION_RESPONSE_COLUMNS:
    raise RuntimeError("transfusion_response columns changed: update _DERIVED_COLUMNS and _derived")


def _derived(record: Any) -> dict[str, Any]:
    """The transfusion's derived fields from its flat derived record (a stored
    `transfusion_response` row or a live TransfusionResponseRecord; services.response), unpacked
    by position: a site view does this 2,000 times."""
    from .response_types import AttributedCount, BodySurfaceArea, TransfusionResponse
    from .therapy_types import confounding_of

    (
        _transfusion_id, subject_id, version, _started_at, _ended_at, _abo_compatible, dose_e11,
        bsa_m2, bsa_formula, height_cm, weight_kg, height_measured_at, weight_measured_at,
        pre_id, pre_drawn_at, pre_value, pre_after_s,
        early_id, early_drawn_at, early_value, early_after_s,
        late_id, late_drawn_at, late_value, late_after_s,
        _early_confounded, _late_confounded, cci_early, cci_late, ppr_early, category, joined_reasons,
        _refractory_exclusion, confounding_therapy_id, confounding_class, endpoint_exclusion,
    ) = record  # fmt: skip
    reasons = not_evaluable_reasons(joined_reasons)
    bsa = None
    if bsa_m2 is not None:
        bsa = BodySurfaceArea.flat(bsa_m2, bsa_formula, height_cm, weight_kg, height_measured_at, weight_measured_at)
    return {
        "dose_e11": dose_e11,
        "bsa": bsa,
        "pre_count": AttributedCount.flat(pre_id, pre_drawn_at, pre_value, pre_after_s, subject_id),
        "early_count": AttributedCount.flat(early_id, early_drawn_at, early_value, early_after_s, subject_id),
        "late_count": AttributedCount.flat(late_id, late_drawn_at, late_value, late_after_s, subject_id),
        "cci_early": cci_early,
        "cci_late": cci_late,
        "ppr_early": ppr_early,
        "response": view_of(
            TransfusionResponse,
            {
                "category": category,
                "reason": response_reason(category, reasons),
                "not_evaluable_reasons": list(reasons),
                "parameter_version": version,
                "rule": RESPONSE_RULE,
                "confounded_by_therapy": confounding_of(confounding_therapy_id, confounding_class),
                "counted_for_endpoint": endpoint_exclusion is None,
                "excluded_reason": endpoint_exclusion,
            },
        ),
    }


@strawberry.type(description="A platelet transfusion. Its counts are the subject's counts, attributed by time.")
class PlateletTransfusion(Node):
    db_id: strawberry.Private[int]
    subject_id: strawberry.Private[int]
    started_at: dt.datetime = strawberry.field(description="Start of the transfusion (UTC).")
    ended_at: dt.datetime = strawberry.field(
        description="End of the transfusion (UTC); response windows are timed from it."
    )
    stored_units: strawberry.Private[list[dict[str, Any]]]
    abo_compatibility: e.AboCompatibility = strawberry.field(
        description="ABO match to the recipient; UNKNOWN when not recorded."
    )
    hla_selected: bool = strawberry.field(description="Whether the platelets were HLA-selected.")
    crossmatched: bool = strawberry.field(description="Whether the platelets were crossmatched.")
    storage_age_days: int | None = strawberry.field(description="Age of the platelets at transfusion, in days.")
    note: str | None = strawberry.field(description="Free-text note; null for analysts.")

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await _study_day(info, self.subject_id, self.started_at)

    @strawberry.field(description="The units given; their contents add up to the dose (x10^11).")
    def units(self) -> list[PlateletUnit]:
        return [
            PlateletUnit(
                kind=e.PlateletUnitKind(u["kind"]),
                content_e11=u.get("content_e11"),
                content_basis=e.DoseBasis(u["content_basis"]),
            )
            for u in self.stored_units
        ]

    dose_e11: float | None = strawberry.field(
        description="Total platelet dose in x10^11 platelets; null when any unit's content is unknown."
    )

    @strawberry.field(description="MEASURED when every unit's content was measured, else NOMINAL.")
    def dose_basis(self) -> e.DoseBasis:
        measured = all(u["content_basis"] == e.DoseBasis.MEASURED.value for u in self.stored_units)
        return e.DoseBasis.MEASURED if measured else e.DoseBasis.NOMINAL

    # Derived values are plain attributes computed at construction from the subject's evaluation
    # (one per subject): a site view has thousands of transfusions, and a resolver per field of
    # each would dominate the response time.
    bsa: Annotated[BodySurfaceArea, strawberry.lazy(".response_types")] | None = strawberry.field(
        description="Body surface area used for the CCI; null when no height or weight was measured on or before the start."
    )
    pre_count: Annotated[AttributedCount, strawberry.lazy(".response_types")] | None = strawberry.field(
        description="The pre-transfusion count used: the last drawn before the start, within the look-back."
    )
    early_count: Annotated[AttributedCount, strawberry.lazy(".response_types")] | None = strawberry.field(
        description="The early count used: the earliest in the early window after the end (default 10-60 min)."
    )
    late_count: Annotated[AttributedCount, strawberry.lazy(".response_types")] | None = strawberry.field(
        description="The late count used: the earliest in the late window after the end (default 18-24 h)."
    )
    cci_early: float | None = strawberry.field(
        description=f"Early corrected count increment, per uL (unrounded); null when not evaluable. Rule: {CCI_RULE}"
    )
    cci_late: float | None = strawberry.field(
        description=f"Late corrected count increment, per uL (unrounded); null when not evaluable. Rule: {CCI_RULE}"
    )
    ppr_early: float | None = strawberry.field(
        description=f"Early percent platelet recovery, in % (unrounded). Rule: {PPR_RULE}"
    )
    response: Annotated[TransfusionResponse, strawberry.lazy(".response_types")] = strawberry.field(
        description="Responsive, non-responsive or not evaluable, with the reason and parameter version."
    )

    @classmethod
    async def load(cls, info: Info, rows: Sequence[m.PlateletTransfusion]) -> list[PlateletTransfusion]:
        """Views of stored transfusions with their derived values (from their subjects' evaluations)."""
        evaluations = await info.context.loaders.evaluation.load_many([r.subject_id for r in rows])
        return [cls.of(row, evaluation) for row, evaluation in zip(rows, evaluations, strict=True)]

    @classmethod
    def of(cls, row: m.PlateletTransfusion, evaluation: ResponseReading) -> PlateletTransfusion:
        return view_of(
            cls,
            {
                "id": encode_id("PlateletTransfusion", row.id),
                "db_id": row.id,
                "subject_id": row.subject_id,
                "started_at": row.started_at,
                "ended_at": row.ended_at,
                "stored_units": row.units,
                "abo_compatibility": row.abo_compatibility,
                "hla_selected": row.hla_selected,
                "crossmatched": row.crossmatched,
                "storage_age_days": row.storage_age_days,
                "note": row.note,
                **_derived(evaluation.by_transfusion[row.id]),
            },
        )


# What one SQL statement can read of a transfusion: its own row and its stored result
# (transfusion_response, joined by the Subject.transfusions mapping below).
_stored = m.StoredTransfusionResponse
declare(
    sql.ObjectSql(
        "PlateletTransfusion",
        {
            "id": sql.GlobalId("PlateletTransfusion", m.PlateletTransfusion.id),
            "startedAt": sql.Timestamp(m.PlateletTransfusion.started_at),
            "endedAt": sql.Timestamp(m.PlateletTransfusion.ended_at),
            "aboCompatibility": sql.EnumName(m.PlateletTransfusion.abo_compatibility, e.AboCompatibility),
            "hlaSelected": sql.Column(m.PlateletTransfusion.hla_selected),
            "crossmatched": sql.Column(m.PlateletTransfusion.crossmatched),
            "storageAgeDays": sql.Column(m.PlateletTransfusion.storage_age_days),
            "note": sql.FreeText(m.PlateletTransfusion.note),
            "doseE11": sql.Column(_stored.dose_e11),
            "cciEarly": sql.Column(_stored.cci_early),
            "cciLate": sql.Column(_stored.cci_late),
            "pprEarly": sql.Column(_stored.ppr_early),
            "response": sql.Embedded(),
        },
        reads_stored_responses=frozenset({"doseE11", "cciEarly", "cciLate", "pprEarly", "response"}),
    )
)


@strawberry.type(description="A pseudonymous trial subject. No names, contacts or record numbers are held.")
class Subject(Node):
    db_id: strawberry.Private[int]
    site_id: strawberry.Private[int]
    code: str = strawberry.field(description="Pseudonymous subject code; the key to identity stays at the site.")
    sex: e.Sex = strawberry.field(description="Sex.")
    year_of_birth: int = strawberry.field(description="Year of birth.")
    age_at_consent: int = strawberry.field(description="Age in whole years at consent.")
    diagnosis: e.Diagnosis = strawberry.field(description="Acute leukemia diagnosis.")
    remission_status: e.RemissionStatus = strawberry.field(description="Remission status at enrolment.")
    remission_date: dt.date | None = strawberry.field(
        description="Date the current remission was reached; null when unknown."
    )
    abo_group: e.AboGroup | None = strawberry.field(description="ABO blood group; null when unknown.")
    rhd: e.RhD | None = strawberry.field(description="Rh(D) group; null when unknown.")
    consent_date: dt.date = strawberry.field(description="Date informed consent was signed.")
    status: e.SubjectStatus = strawberry.field(description="Current status on the trial's path.")

    @classmethod
    def of(cls, row: m.Subject) -> Subject:
        return cls(
            id=encode_id("Subject", row.id),
            db_id=row.id,
            site_id=row.site_id,
            code=row.code,
            sex=row.sex,
            year_of_birth=row.year_of_birth,
            age_at_consent=row.age_at_consent,
            diagnosis=row.diagnosis,
            remission_status=row.remission_status,
            remission_date=row.remission_date,
            abo_group=row.abo_group,
            rhd=row.rhd,
            consent_date=row.consent_date,
            status=row.status,
        )

    @strawberry.field(description="The site the subject is enrolled at.")
    async def site(self, info: Info) -> Site:
        row = await info.context.loaders.site.load(self.site_id)
        assert row is not None  # a visible subject's site is visible
        return Site.of(row)

    @strawberry.field(description="Every status the subject has had, oldest first.")
    async def status_history(self, info: Info) -> list[StatusChange]:
        rows = await info.context.loaders.status_history.load(self.db_id)
        return [
            StatusChange(
                from_status=r.from_status,
                to_status=r.to_status,
                effective_date=r.effective_date,
                changed_at=r.changed_at,
                reason=r.reason,
            )
            for r in rows
        ]

    @strawberry.field(description="Time of the first CAR-T infusion (UTC): study day 0.")
    async def first_infusion_at(self, info: Info) -> dt.datetime | None:
        return await info.context.loaders.first_infusion_at.load(self.db_id)

    @strawberry.field(description="Body measurements, oldest first (voided ones omitted).")
    async def measurements(self, info: Info) -> list[BodyMeasurement]:
        return [BodyMeasurement.of(r) for r in await info.context.loaders.measurements.load(self.db_id)]

    @strawberry.field(description="Lymphodepletion courses, oldest first.")
    async def lymphodepletions(self, info: Info) -> list[LymphodepletionCourse]:
        return [LymphodepletionCourse.of(r) for r in await info.context.loaders.lymphodepletions.load(self.db_id)]

    @strawberry.field(description="CAR-T infusions, oldest first.")
    async def infusions(self, info: Info) -> list[CarTInfusion]:
        return [CarTInfusion.of(r) for r in await info.context.loaders.infusions.load(self.db_id)]

    @strawberry.field(
        description="Platelet transfusions (voided ones omitted), oldest first. Narrow the list with `since`, `after`/`before` (a transfusion's id) and then `first`/`last`: a phone asks for `last: 10`."
    )
    async def transfusions(
        self,
        info: Info,
        first: Annotated[
            int | None, strawberry.argument(description=f"Only the first n (0-{MAX_WINDOW}) of the narrowed list.")
        ] = None,
        last: Annotated[
            int | None, strawberry.argument(description=f"Only the last n (0-{MAX_WINDOW}) of the narrowed list.")
        ] = None,
        after: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only transfusions after this one (its id), in start order."),
        ] = None,
        before: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only transfusions before this one (its id), in start order."),
        ] = None,
        since: Annotated[
            dt.datetime | None,
            strawberry.argument(description="Only transfusions started at or after this UTC time (with its offset)."),
        ] = None,
    ) -> list[PlateletTransfusion]:
        window = ListWindow.of(
            first=first, last=last, after=after, before=before, since=since, type_name="PlateletTransfusion"
        )
        rows = window.apply(await info.context.loaders.transfusions.load(self.db_id), moment=lambda r: r.started_at)
        evaluation = await info.context.loaders.evaluation.load(self.db_id)
        return [PlateletTransfusion.of(r, evaluation) for r in rows]

    @strawberry.field(
        description="Baseline refractoriness, sustained response (the primary endpoint), first and lost response."
    )
    async def platelet_response(self, info: Info) -> Annotated[PlateletResponse, strawberry.lazy(".response_types")]:
        from .response_types import PlateletResponse

        evaluation = await info.context.loaders.evaluation.load(self.db_id)
        return PlateletResponse.of(evaluation.subject, evaluation.parameter_version, evaluation.by_transfusion.values())

    @strawberry.field(
        description="The patient's registered phones, oldest first, revoked ones included (site staff, monitors, admins and the patient; empty for analysts)."
    )
    async def devices(self, info: Info) -> list[Annotated[PatientDevice, strawberry.lazy(".device_types")]]:
        from .device_types import PatientDevice

        return [PatientDevice.of(r) for r in await info.context.loaders.devices.load(self.db_id)]

    @strawberry.field(
        description="Activation codes issued for the subject's phones, oldest first (never the codes themselves; empty for analysts)."
    )
    async def activations(self, info: Info) -> list[Annotated[DeviceActivation, strawberry.lazy(".device_types")]]:
        from .device_types import DeviceActivation

        return [DeviceActivation.of(r) for r in await info.context.loaders.activations.load(self.db_id)]

    @strawberry.field(description="The patient's bleeding diary reports, in receipt order.")
    async def bleeding_reports(self, info: Info) -> list[Annotated[BleedingReport, strawberry.lazy(".safety_types")]]:
        from .safety_types import BleedingReport

        return [BleedingReport.of(r) for r in await info.context.loaders.bleeding_reports.load(self.db_id)]

    @strawberry.field(
        description="The diary by the patient's local calendar day, from..to inclusive (at most 400 days): only days with at least one report or check-in, each graded from all its reports."
    )
    async def bleeding_days(
        self,
        info: Info,
        from_: Annotated[dt.date, strawberry.argument(name="from", description="First local day.")],
        to: Annotated[dt.date, strawberry.argument(description="Last local day (inclusive).")],
    ) -> list[Annotated[BleedingDay, strawberry.lazy(".safety_types")]]:
        from .safety_types import bleeding_days_of

        if to < from_ or (to - from_).days > MAX_DIARY_DAYS:
            raise GraphQLError(
                f"to must be on or after from, at most {MAX_DIARY_DAYS} days later",
                extensions={"code": "BAD_USER_INPUT", "field": ["to"]},
            )
        return bleeding_days_of(await info.context.loaders.bleeding_days.load((self.db_id, from_, to)))

    @strawberry.field(description="Adverse events (not voided), by onset.")
    async def adverse_events(self, info: Info) -> list[Annotated[AdverseEvent, strawberry.lazy(".safety_types")]]:
        from .safety_types import AdverseEvent

        return [AdverseEvent.of(r) for r in await info.context.loaders.adverse_events.load(self.db_id)]

    @strawberry.field(
        description="Lab results, oldest first (platelet counts included); optionally only some analytes."
    )
    async def lab_results(
        self, info: Info, analytes: Annotated[list[e.Analyte] | None, strawberry.argument(description="Only these analytes; null or omitted: all.")] = None
    ) -> list[Annotated[LabResult, strawberry.lazy(".outcome_types")]]:
        from .outcomes import subject_lab_results

        return await subject_lab_results(info, self.db_id, analytes)

    @strawberry.field(
        description="B-cell aplasia over time, by both rules, with time to aplasia and recovery after CD19."
    )
    async def b_cells(self, info: Info) -> Annotated[BCells, strawberry.lazy(".outcome_types")]:
        from .outcomes import subject_b_cells

        return await subject_b_cells(info, self.db_id)

    @strawberry.field(description="IgG over time with its status (low, severe).")
    async def igg(self, info: Info) -> list[Annotated[IgGValue, strawberry.lazy(".outcome_types")]]:
        from .outcomes import subject_igg

        return await subject_igg(info, self.db_id)

    @strawberry.field(description="Marrow CD138+ plasma cells (% of nucleated cells), oldest first.")
    async def marrow_plasma_cells(self, info: Info) -> list[Annotated[LabResult, strawberry.lazy(".outcome_types")]]:
        from .outcomes import subject_lab_results

        return await subject_lab_results(info, self.db_id, [e.Analyte.MARROW_CD138_PERCENT])

    @strawberry.field(
        description="CAR-T kinetics of one product (day 0 = its infusion); null before that product is given."
    )
    async def car_t_kinetics(
        self, info: Info, product: Annotated[e.CarTProduct, strawberry.argument(description="The CAR-T product whose cells are measured (day 0 = its infusion).")], measure: Annotated[e.KineticsMeasure, strawberry.argument(description="QPCR (copies/ug DNA, default) or FLOW (CAR+ cells/uL).")] = e.KineticsMeasure.QPCR
    ) -> Annotated[CarTKinetics, strawberry.lazy(".outcome_types")] | None:
        from .outcomes import subject_kinetics

        return await subject_kinetics(info, self.db_id, product, measure)

    @strawberry.field(description="HLA and HPA antibody tests, oldest first.")
    async def antibody_tests(self, info: Info) -> list[Annotated[AntibodyTest, strawberry.lazy(".outcome_types")]]:
        from .outcomes import subject_antibody_tests

        return await subject_antibody_tests(info, self.db_id)

    @strawberry.field(
        description="Clearance of HLA (class I and II) antibodies positive at baseline; null without tests."
    )
    async def hla_clearance(self, info: Info) -> Annotated[AntibodyClearance, strawberry.lazy(".outcome_types")] | None:
        from .outcomes import HLA, subject_clearance

        return await subject_clearance(info, self.db_id, HLA)

    @strawberry.field(description="Clearance of HPA antibodies positive at baseline; null without tests.")
    async def hpa_clearance(self, info: Info) -> Annotated[AntibodyClearance, strawberry.lazy(".outcome_types")] | None:
        from ..domain.outcomes import AntibodyClass
        from .outcomes import subject_clearance

        return await subject_clearance(info, self.db_id, {AntibodyClass.HPA})

    @strawberry.field(description="Platelet counts, oldest first.")
    async def platelet_counts(self, info: Info) -> list[PlateletCount]:
        return [PlateletCount.of(r) for r in await info.context.loaders.platelet_counts.load(self.db_id)]

    @strawberry.field(
        description="Before vs after CAR-T: platelet increment, transfusion burden and bleeding in the baseline and follow-up periods; null without a CAR-T infusion."
    )
    async def before_after(self, info: Info) -> Annotated[BeforeAfter, strawberry.lazy(".before_after")] | None:
        from .before_after import subject_before_after

        return await subject_before_after(info, self.db_id)

    @strawberry.field(description="Prior and concomitant therapies (voided ones omitted), by start date.")
    async def therapies(self, info: Info) -> list[Annotated[Therapy, strawberry.lazy(".therapy_types")]]:
        from .therapy_types import Therapy

        return [Therapy.of(r) for r in await info.context.loaders.therapies.load(self.db_id)]

    @strawberry.field(description="Splenectomy and stem cell transplants (voided ones omitted), by date.")
    async def procedures(self, info: Info) -> list[Annotated[Procedure, strawberry.lazy(".therapy_types")]]:
        from .therapy_types import Procedure

        return [Procedure.of(r) for r in await info.context.loaders.procedures.load(self.db_id)]

    @strawberry.field(
        description="Therapies, procedures and (unless includeInfusions is false) CAR-T infusions by date, each with its study day."
    )
    async def timeline(
        self, info: Info, include_infusions: Annotated[bool, strawberry.argument(description="Whether CAR-T infusions are listed among the entries (default true).")] = True
    ) -> list[Annotated[TimelineEntry, strawberry.lazy(".therapy_types")]]:
        from .therapy_types import timeline_of

        return await timeline_of(info, self.db_id, include_infusions)


declare(
    sql.ObjectSql(
        "Subject",
        {
            "id": sql.GlobalId("Subject", m.Subject.id),
            "code": sql.Column(m.Subject.code),
            "sex": sql.EnumName(m.Subject.sex, e.Sex),
            "yearOfBirth": sql.Column(m.Subject.year_of_birth),
            "ageAtConsent": sql.Column(m.Subject.age_at_consent),
            "diagnosis": sql.EnumName(m.Subject.diagnosis, e.Diagnosis),
            "remissionStatus": sql.EnumName(m.Subject.remission_status, e.RemissionStatus),
            "remissionDate": sql.Column(m.Subject.remission_date),
            "aboGroup": sql.EnumName(m.Subject.abo_group, e.AboGroup),
            "rhd": sql.EnumName(m.Subject.rhd, e.RhD),
            "consentDate": sql.Column(m.Subject.consent_date),
            "status": sql.EnumName(m.Subject.status, e.SubjectStatus),
            # A visible subject's site is visible (server.db.queries.site_visible_to).
            "site": sql.ToOne(m.Site, where=lambda: m.Site.id == m.Subject.site_id),
            "transfusions": sql.ToMany(
                source=lambda: m.PlateletTransfusion.__table__.outerjoin(
                    _stored, _stored.transfusion_id == m.PlateletTransfusion.id
                ),
                where=lambda: (
                    m.PlateletTransfusion.subject_id == m.Subject.id,
                    m.PlateletTransfusion.voided_at.is_(None),
                ),
                order=lambda: (m.PlateletTransfusion.started_at, m.PlateletTransfusion.id),
                moment=lambda: m.PlateletTransfusion.started_at,
            ),
        },
    )
)


@strawberry.type(description="A subject in a page of subjects, with its cursor.")
class SubjectEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge: pass it as `after` for the next page.")
    node: Subject = strawberry.field(description="The subject.")


@strawberry.type(description="A page of subjects in enrolment order (Relay cursor connection).")
class SubjectConnection:
    edges: list[SubjectEdge] = strawberry.field(description="The page's subjects, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more pages follow, and the cursor to get the next one.")
    count: strawberry.Private[Counter]

    @strawberry.field(description=NODES)
    def nodes(self) -> list[Subject]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="Subjects matching the filters, over all pages.")
    async def total_count(self) -> int:
        return await self.count()


# A connection's fields in SQL: the page is the root field's (server.db.planned_reads.Page).
declare(
    sql.ObjectSql(
        "SubjectConnection",
        {"edges": sql.Edges(), "nodes": sql.Nodes(), "pageInfo": sql.PageInfo(), "totalCount": sql.TotalCount()},
    )
)
declare(sql.ObjectSql("SubjectEdge", {"cursor": sql.Cursor(), "node": sql.Node()}))
# The planner reads forward pages only (server.schema.planner._subject_page): no previous page.
declare(
    sql.ObjectSql(
        "PageInfo",
        {
            "hasNextPage": sql.HasNextPage(),
            "endCursor": sql.EndCursor(),
            "hasPreviousPage": sql.NoPreviousPage(),
            "startCursor": sql.StartCursor(),
        },
    )
)


@strawberry.type(description="One append-only audit record: who changed what, when and why.")
class AuditEvent:
    id: strawberry.ID = strawberry.field(description="Id of the audit record.")
    occurred_at: dt.datetime = strawberry.field(description="UTC time of the change.")
    actor_id: str = strawberry.field(description="Who made the change: the token's `sub` claim.")
    actor_role: e.Role = strawberry.field(description="The role the change was made with.")
    entity: str = strawberry.field(description="GraphQL type name of the changed record.")
    entity_id: strawberry.ID = strawberry.field(description="Global id of the changed record.")
    subject_code: str | None = strawberry.field(
        description="Code of the subject the record belongs to; null for records of no subject (e.g. a site)."
    )
    action: e.AuditAction = strawberry.field(description="What the change did.")
    changes: JSON = strawberry.field(description='Per field: {"old": value, "new": value}.')
    reason: str | None = strawberry.field(
        description="Reason given for the change; null when none was needed (e.g. a creation)."
    )
    request_id: str | None = strawberry.field(
        description="X-Request-ID of the request that made the change, to match the logs."
    )

    @classmethod
    def of(cls, row: m.AuditEvent, subject_code: str | None) -> AuditEvent:
        return cls(
            id=encode_id("AuditEvent", row.id),
            occurred_at=row.occurred_at,
            actor_id=row.actor_id,
            actor_role=row.actor_role,
            entity=row.entity,
            entity_id=encode_id(row.entity, row.entity_id),
            subject_code=subject_code,
            action=row.action,
            changes=row.changes,
            reason=row.reason,
            request_id=row.request_id,
        )


@strawberry.type(description="An audit event in a page, with its cursor.")
class AuditEventEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge: pass it as `after` for the next page.")
    node: AuditEvent = strawberry.field(description="The audit event.")


@strawberry.type(description="A page of audit events, oldest first.")
class AuditEventConnection:
    edges: list[AuditEventEdge] = strawberry.field(description="The page's audit events, each with its cursor.")
    page_info: PageInfo = strawberry.field(description="Whether more pages follow, and the cursor to get the next one.")

    @strawberry.field(description=NODES)
    def nodes(self) -> list[AuditEvent]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="Who is calling, as the token says.")
class Viewer:
    actor_id: str = strawberry.field(description="The caller's id: the token's `sub` claim.")
    role: e.Role = strawberry.field(description="The caller's role.")
    sites: list[str] = strawberry.field(description="Site codes the token grants (empty for all-site roles).")
    subject_code: str | None = strawberry.field(description="The patient's own subject code.")


NODE_TYPES: dict[str, tuple[type[Any], Any]] = {
    "BodyMeasurement": (m.BodyMeasurement, BodyMeasurement),
    "LymphodepletionCourse": (m.LymphodepletionCourse, LymphodepletionCourse),
    "CarTInfusion": (m.CarTInfusion, CarTInfusion),
    "PlateletTransfusion": (m.PlateletTransfusion, PlateletTransfusion),
    "PlateletCount": (m.PlateletCount, PlateletCount),
}
