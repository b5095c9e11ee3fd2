"""Tables of the trial's records. Created only by alembic migrations (migrations/versions).

Clinical records are never deleted: they carry voided_at/void_reason instead. Every change is
also written to audit_event, which migrations protect against UPDATE and DELETE.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..domain.adverse_events import ActionTaken, AdverseEventSource, AdverseEventStatus, Attribution, Outcome
from ..domain.bleeding import BleedingReportKind
from ..domain.ctcae import GradingScale
from ..domain.enums import (
    AboCompatibility,
    AboGroup,
    AuditAction,
    CarTProduct,
    Diagnosis,
    RemissionStatus,
    RhD,
    Role,
    Sex,
    SubjectStatus,
)
from ..domain.labs import Analyte, Specimen, Unit
from ..domain.outcomes import AntibodyClass, AntibodyMethod, CutoffOperator
from ..domain.protocol import BsaFormula
from ..domain.response import RefractoryExclusion, ResponseCategory
from ..domain.therapies import (
    DoseFrequency,
    EndpointExclusion,
    HsctType,
    ProcedureType,
    TherapyClass,
    TherapyDoseUnit,
    TherapyRoute,
)
from .types import JSONType, UTCDateTime, enum_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class VoidableMixin:
    """A clinical record: created, maybe amended, never deleted, only voided with a reason."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Trial(Base):
    __tablename__ = "trial"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProtocolParameterSet(Base):
    """One version of the trial's protocol parameters; the newest effective version applies."""

    __tablename__ = "protocol_parameter_set"
    __table_args__ = (UniqueConstraint("trial_id", "version", name="uq_protocol_parameter_set_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class Site(Base):
    __tablename__ = "site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)  # the "call your site now" number
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Subject(Base):
    """A pseudonymous subject: no names, contacts or record numbers; year of birth only."""

    __tablename__ = "subject"
    __table_args__ = (Index("ix_subject_site_id_id", "site_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    sex: Mapped[Sex] = mapped_column(enum_column(Sex, "sex"))
    year_of_birth: Mapped[int] = mapped_column(Integer)
    age_at_consent: Mapped[int] = mapped_column(Integer)
    diagnosis: Mapped[Diagnosis] = mapped_column(enum_column(Diagnosis, "diagnosis"))
    remission_status: Mapped[RemissionStatus] = mapped_column(enum_column(RemissionStatus, "remission_status"))
    remission_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    abo_group: Mapped[AboGroup | None] = mapped_column(enum_column(AboGroup, "abo_group"), nullable=True)
    rhd: Mapped[RhD | None] = mapped_column(enum_column(RhD, "rhd"), nullable=True)
    consent_date: Mapped[date] = mapped_column(Date)
    status: Mapped[SubjectStatus] = mapped_column(enum_column(SubjectStatus, "subject_status"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SubjectStatusChange(Base):
    __tablename__ = "subject_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"), index=True)
    from_status: Mapped[SubjectStatus | None] = mapped_column(enum_column(SubjectStatus, "from_status"), nullable=True)
    to_status: Mapped[SubjectStatus] = mapped_column(enum_column(SubjectStatus, "to_status"))
    effective_date: Mapped[date] = mapped_column(Date)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor_id: Mapped[str] = mapped_column(String(128))


class BodyMeasurement(VoidableMixin, Base):
    __tablename__ = "body_measurement"
    __table_args__ = (Index("ix_body_measurement_subject_time", "subject_id", "measured_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    height_cm: Mapped[float | None] = mapped_column(Float, nullable=True)
    weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)


class LymphodepletionCourse(VoidableMixin, Base):
    """agents: [{"agent": "fludarabine", "other_name": null, "dose_per_day": 30,
    "dose_unit": "mg_per_m2", "days": 3}]"""

    __tablename__ = "lymphodepletion_course"
    __table_args__ = (Index("ix_lymphodepletion_course_subject_start", "subject_id", "start_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    agents: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)


class CarTInfusion(VoidableMixin, Base):
    __tablename__ = "car_t_infusion"
    __table_args__ = (Index("ix_car_t_infusion_subject_time", "subject_id", "infused_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    product: Mapped[CarTProduct] = mapped_column(enum_column(CarTProduct, "car_t_product"))
    infused_at: Mapped[datetime] = mapped_column(UTCDateTime())
    car_positive_cells_per_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    total_car_positive_cells: Mapped[float | None] = mapped_column(Float, nullable=True)
    lot_number: Mapped[str] = mapped_column(String(64))


class PlateletTransfusion(VoidableMixin, Base):
    """units: [{"kind": "apheresis", "content_e11": 3.4, "content_basis": "measured"}]; the
    platelet content of each unit is x10^11 platelets."""

    __tablename__ = "platelet_transfusion"
    __table_args__ = (Index("ix_platelet_transfusion_subject_time", "subject_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    units: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    abo_compatibility: Mapped[AboCompatibility] = mapped_column(enum_column(AboCompatibility, "abo_compatibility"))
    hla_selected: Mapped[bool] = mapped_column(Boolean)
    crossmatched: Mapped[bool] = mapped_column(Boolean)
    storage_age_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class PlateletCount(VoidableMixin, Base):
    """A subject-level platelet count in x10^9/L. The response engine attributes counts to
    transfusions by time; transfusion_id only records which form carried the count in."""

    __tablename__ = "platelet_count"
    __table_args__ = (Index("ix_platelet_count_subject_time", "subject_id", "drawn_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    value_e9_per_l: Mapped[float] = mapped_column(Float)
    entered_with_transfusion_id: Mapped[int | None] = mapped_column(
        ForeignKey("platelet_transfusion.id"), nullable=True
    )
    # Lab metadata when the count came through recordLabResults or a lab import.
    lln_e9_per_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    uln_e9_per_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    lab_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assay: Mapped[str | None] = mapped_column(String(64), nullable=True)
    value_reported: Mapped[float | None] = mapped_column(Float, nullable=True)  # as the lab sent it
    # A plain string (a Unit value): a CHECK constraint here would stop SQLite's batch migrations.
    unit_reported: Mapped[str | None] = mapped_column(String(32), nullable=True)
    result_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)


class Therapy(VoidableMixin, Base):
    """A prior or concomitant therapy (SDTM CM). Prior or concomitant is derived from the dates
    (domain.therapies.therapy_timing), never stored. An ongoing therapy has no end date."""

    __tablename__ = "therapy"
    __table_args__ = (Index("ix_therapy_subject_start", "subject_id", "start_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    name: Mapped[str | None] = mapped_column(String(120), nullable=True)  # the treatment (CMTRT)
    therapy_class: Mapped[TherapyClass] = mapped_column(enum_column(TherapyClass, "therapy_class"), index=True)
    dose: Mapped[float | None] = mapped_column(Float, nullable=True)
    dose_unit: Mapped[TherapyDoseUnit | None] = mapped_column(
        enum_column(TherapyDoseUnit, "therapy_dose_unit"), nullable=True
    )
    route: Mapped[TherapyRoute | None] = mapped_column(enum_column(TherapyRoute, "therapy_route"), nullable=True)
    frequency: Mapped[DoseFrequency | None] = mapped_column(enum_column(DoseFrequency, "dose_frequency"), nullable=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    ongoing: Mapped[bool] = mapped_column(Boolean)
    indication: Mapped[str | None] = mapped_column(Text, nullable=True)  # free text: never for analysts


class Procedure(VoidableMixin, Base):
    """A splenectomy or a haematopoietic stem cell transplant (SDTM PR)."""

    __tablename__ = "subject_procedure"
    __table_args__ = (Index("ix_subject_procedure_subject_date", "subject_id", "performed_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    procedure_type: Mapped[ProcedureType] = mapped_column(enum_column(ProcedureType, "procedure_type"))
    hsct_type: Mapped[HsctType | None] = mapped_column(enum_column(HsctType, "hsct_type"), nullable=True)
    performed_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)  # free text: never for analysts


class AuditEvent(Base):
    """Append-only: triggers created by the migration refuse UPDATE and DELETE."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_subject_time", "subject_id", "occurred_at"),
        Index("ix_audit_event_entity", "entity", "entity_id"),
        Index("ix_audit_event_site_time", "site_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[str] = mapped_column(String(128), index=True)
    actor_role: Mapped[Role] = mapped_column(enum_column(Role, "actor_role"))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int] = mapped_column(Integer)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subject.id"), nullable=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"), nullable=True)
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction, "audit_action"))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AdverseEvent(VoidableMixin, Base):
    """An adverse event graded by CTCAE v5.0 (or ASTCT 2019 for CRS and ICANS)."""

    __tablename__ = "adverse_event"
    __table_args__ = (
        Index("ix_adverse_event_subject_onset", "subject_id", "onset_date"),
        Index("ix_adverse_event_status", "status"),
        Index("ix_adverse_event_meddra_code", "meddra_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    meddra_code: Mapped[int] = mapped_column(Integer)
    term: Mapped[str] = mapped_column(String(120))
    verbatim: Mapped[str | None] = mapped_column(Text, nullable=True)
    grade: Mapped[int] = mapped_column(Integer)
    grading_scale: Mapped[GradingScale] = mapped_column(enum_column(GradingScale, "grading_scale"))
    onset_date: Mapped[date] = mapped_column(Date)
    resolution_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    serious: Mapped[bool] = mapped_column(Boolean)
    serious_criteria: Mapped[list[str]] = mapped_column(JSONType)
    attribution_cd19: Mapped[Attribution | None] = mapped_column(
        enum_column(Attribution, "attribution_cd19"), nullable=True
    )
    attribution_bcma: Mapped[Attribution | None] = mapped_column(
        enum_column(Attribution, "attribution_bcma"), nullable=True
    )
    attribution_lymphodepletion: Mapped[Attribution | None] = mapped_column(
        enum_column(Attribution, "attribution_lymphodepletion"), nullable=True
    )
    attribution_platelet_transfusion: Mapped[Attribution | None] = mapped_column(
        enum_column(Attribution, "attribution_platelet_transfusion"), nullable=True
    )
    expected: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    action_taken: Mapped[ActionTaken | None] = mapped_column(enum_column(ActionTaken, "action_taken"), nullable=True)
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, "outcome"), nullable=True)
    source: Mapped[AdverseEventSource] = mapped_column(enum_column(AdverseEventSource, "ae_source"))
    status: Mapped[AdverseEventStatus] = mapped_column(enum_column(AdverseEventStatus, "ae_status"))
    awareness_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sponsor_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BleedingReport(Base):
    """A patient's diary entry: immutable once submitted (staff annotate it, with a reason).
    client_report_id, generated on the phone, makes resubmission idempotent."""

    __tablename__ = "bleeding_report"
    __table_args__ = (
        Index("ix_bleeding_report_subject_id", "subject_id", "id"),
        Index("ix_bleeding_report_subject_local_date", "subject_id", "local_date"),
        Index("ix_bleeding_report_subject_changed_at", "subject_id", "changed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    client_report_id: Mapped[str] = mapped_column(String(36), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    noticed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    device_entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    device_utc_offset_minutes: Mapped[int] = mapped_column(Integer)
    device_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    late: Mapped[bool] = mapped_column(Boolean)
    symptoms: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    neurological_signs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    pro_ctcae: Mapped[dict[str, Any]] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    who_grade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    red_flags: Mapped[list[str]] = mapped_column(JSONType)
    submitted_by: Mapped[str] = mapped_column(String(128))
    kind: Mapped[BleedingReportKind] = mapped_column(
        enum_column(BleedingReportKind, "bleeding_report_kind"), server_default=BleedingReportKind.SYMPTOMS.value
    )
    local_date: Mapped[date] = mapped_column(Date)  # the patient's calendar day (device offset at entry)
    day_who_grade: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the day's grade as of this report
    # Last change a patient's phone should sync: insert, a linked event's review/regrade, an annotation.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BleedingReportAnnotation(Base):
    """Site staff's note or correction on a diary entry (the entry itself never changes)."""

    __tablename__ = "bleeding_report_annotation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bleeding_report_id: Mapped[int] = mapped_column(ForeignKey("bleeding_report.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AdverseEventReport(Base):
    """Which diary reports support which (provisional) adverse event."""

    __tablename__ = "adverse_event_report"

    adverse_event_id: Mapped[int] = mapped_column(ForeignKey("adverse_event.id"), primary_key=True)
    bleeding_report_id: Mapped[int] = mapped_column(ForeignKey("bleeding_report.id"), primary_key=True, index=True)


class Alert(Base):
    """An alert to a subject's site: stored first (an inbox), pushed live to connected staff."""

    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_site_id", "site_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    bleeding_report_id: Mapped[int | None] = mapped_column(ForeignKey("bleeding_report.id"), nullable=True)
    red_flags: Mapped[list[str]] = mapped_column(JSONType)
    who_grade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class LabResult(VoidableMixin, Base):
    """A laboratory value other than platelets (platelet counts live in platelet_count, the one
    table the response engine reads). `value` is in the analyte's canonical unit; what the lab
    sent is kept beside it."""

    __tablename__ = "lab_result"
    __table_args__ = (Index("ix_lab_result_subject_analyte_time", "subject_id", "analyte", "collected_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    analyte: Mapped[Analyte] = mapped_column(enum_column(Analyte, "analyte"))
    specimen: Mapped[Specimen] = mapped_column(enum_column(Specimen, "specimen"))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # None when below the limit
    value_reported: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit_reported: Mapped[Unit] = mapped_column(enum_column(Unit, "unit_reported"))
    lln: Mapped[float | None] = mapped_column(Float, nullable=True)
    uln: Mapped[float | None] = mapped_column(Float, nullable=True)
    lloq: Mapped[float | None] = mapped_column(Float, nullable=True)
    below_limit: Mapped[bool] = mapped_column(Boolean)
    lab_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assay: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # One result per subject, analyte, specimen and collection time: re-imports are no-ops.
    result_key: Mapped[str] = mapped_column(String(64), unique=True)


class AntibodyTest(VoidableMixin, Base):
    """An HLA class I / class II or HPA antibody test with its kit, lot and positivity rule."""

    __tablename__ = "antibody_test"
    __table_args__ = (Index("ix_antibody_test_subject_time", "subject_id", "collected_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    antibody_class: Mapped[AntibodyClass] = mapped_column(enum_column(AntibodyClass, "antibody_class"))
    method: Mapped[AntibodyMethod] = mapped_column(enum_column(AntibodyMethod, "antibody_method"))
    kit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lot: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cutoff_mfi: Mapped[float | None] = mapped_column(Float, nullable=True)
    cutoff_operator: Mapped[CutoffOperator] = mapped_column(enum_column(CutoffOperator, "cutoff_operator"))
    cpra_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    lab_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)  # [{"specificity", "mfi", "positive"}]


# --- derived values, kept in step with their inputs ----------------------------------------------


class StoredTransfusionResponse(Base):
    """The response engine's result for one live platelet transfusion, rewritten in the same
    transaction as any change to the subject's transfusions, counts, measurements or infusions
    (services.response.refresh_stored_responses). Derived data: not audited, never edited by hand.
    Holds everything the domain's TransfusionResponse carries, so a read needs no counts or
    measurements. Times after the end are in seconds (negative for the pre-count: before the start)."""

    __tablename__ = "transfusion_response"

    transfusion_id: Mapped[int] = mapped_column(ForeignKey("platelet_transfusion.id"), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"), index=True)
    parameter_version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    abo_compatible: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # null: ABO unknown
    dose_e11: Mapped[float | None] = mapped_column(Float, nullable=True)
    bsa_m2: Mapped[float | None] = mapped_column(Float, nullable=True)
    bsa_formula: Mapped[BsaFormula | None] = mapped_column(enum_column(BsaFormula, "bsa_formula"), nullable=True)
    bsa_height_cm: Mapped[float | None] = mapped_column(Float, nullable=True)
    bsa_weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    bsa_height_measured_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    bsa_weight_measured_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pre_count_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pre_drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pre_value_e9_per_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    pre_after_end_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    early_count_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    early_drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    early_value_e9_per_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    early_after_end_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    late_count_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    late_drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    late_value_e9_per_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    late_after_end_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    early_confounded: Mapped[bool] = mapped_column(Boolean)
    late_confounded: Mapped[bool] = mapped_column(Boolean)
    cci_early: Mapped[float | None] = mapped_column(Float, nullable=True)
    cci_late: Mapped[float | None] = mapped_column(Float, nullable=True)
    ppr_early: Mapped[float | None] = mapped_column(Float, nullable=True)
    category: Mapped[ResponseCategory] = mapped_column(enum_column(ResponseCategory, "response_category"))
    # NotEvaluableReason values in order, comma-joined ("" when none): cheaper to read back than JSON.
    reasons: Mapped[str] = mapped_column(String(200))
    # Why it does not count towards baseline refractoriness; null when it counts.
    refractory_exclusion: Mapped[RefractoryExclusion | None] = mapped_column(
        enum_column(RefractoryExclusion, "refractory_exclusion"), nullable=True
    )
    # The therapy that confounds it (still classified; null: none), and why it is not counted for
    # the primary endpoint (null: counted). Migration 0009.
    confounding_therapy_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confounding_class: Mapped[TherapyClass | None] = mapped_column(
        enum_column(TherapyClass, "confounding_class"), nullable=True
    )
    endpoint_exclusion: Mapped[EndpointExclusion | None] = mapped_column(
        enum_column(EndpointExclusion, "endpoint_exclusion"), nullable=True
    )


class StoredSubjectResponse(Base):
    """The response engine's per-subject result (domain SubjectResponse) plus what the primary
    endpoint's populations need, kept in step like StoredTransfusionResponse."""

    __tablename__ = "subject_response"

    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"), primary_key=True)
    parameter_version: Mapped[int] = mapped_column(Integer)
    first_infusion_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    baseline_refractory: Mapped[bool] = mapped_column(Boolean)
    sustained: Mapped[bool] = mapped_column(Boolean)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    days_to_response: Mapped[int | None] = mapped_column(Integer, nullable=True)
    longest_responsive_run: Mapped[int] = mapped_column(Integer)
    lost_response: Mapped[bool] = mapped_column(Boolean)
    lost_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    evaluable_transfusions: Mapped[int] = mapped_column(Integer)
    responsive_transfusions: Mapped[int] = mapped_column(Integer)
    infused: Mapped[bool] = mapped_column(Boolean)  # at least one live CAR-T infusion
    per_protocol: Mapped[bool] = mapped_column(Boolean)  # both CD19 and BCMA given
    # Migration 0009: the end of the evaluable follow-up (an allogeneic HSCT), the counted
    # transfusions confounded by therapy, and the sensitivity analysis without them.
    follow_up_ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    confounded_transfusions: Mapped[int] = mapped_column(Integer)
    sensitivity_sustained: Mapped[bool] = mapped_column(Boolean)
    sensitivity_first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sensitivity_days_to_response: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sensitivity_longest_responsive_run: Mapped[int] = mapped_column(Integer)
    sensitivity_lost_response: Mapped[bool] = mapped_column(Boolean)
    sensitivity_lost_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sensitivity_evaluable_transfusions: Mapped[int] = mapped_column(Integer)
    sensitivity_responsive_transfusions: Mapped[int] = mapped_column(Integer)


class DeviceActivation(Base):
    """A one-time code that lets a patient's phone register as a device of their subject. Only
    the code's keyed digest (HMAC-SHA256) is stored; the code itself is shown once to the staff member."""

    __tablename__ = "device_activation"
    __table_args__ = (Index("ix_device_activation_subject_id_created_at", "subject_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    redeemed_device_id: Mapped[int | None] = mapped_column(ForeignKey("patient_device.id"), nullable=True)
    # Staff cancel unused codes (a code given out by mistake or lost), as does a subject's withdrawal.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class PatientDevice(Base):
    """A patient's phone: holds a rotating refresh token (stored as its keyed digest, with the
    previous one kept for a lost answer's retry and the last superseded one to detect reuse; see
    services.devices.refresh_device) and may be revoked by site staff. Never deleted."""

    __tablename__ = "patient_device"
    __table_args__ = (Index("ix_patient_device_subject_id_created_at", "subject_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    label: Mapped[str | None] = mapped_column(String(80), nullable=True)
    refresh_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    previous_refresh_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    superseded_refresh_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
