"""Inputs of the therapy and procedure mutations."""

from __future__ import annotations

import datetime as dt

import strawberry

from ...services import records
from ..common import enums as e
from ..common.inputs import Converter, as_is


@strawberry.input(description="A therapy. A dose needs its unit; give the end date or mark it ongoing.")
class RecordTherapyInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    therapy_class: e.TherapyClass = strawberry.field(name="class", description="Therapy class; OTHER needs a name.")
    start_date: dt.date = strawberry.field(description="First day given.")
    name: str | None = strawberry.field(default=None, description="The treatment's name; required for OTHER.")
    dose: float | None = strawberry.field(default=None, description="Dose per administration, in doseUnit.")
    dose_unit: e.TherapyDoseUnit | None = strawberry.field(
        default=None, description="Unit of dose; required with a dose."
    )
    route: e.TherapyRoute | None = strawberry.field(default=None, description="Route of administration, optional.")
    frequency: e.DoseFrequency | None = strawberry.field(default=None, description="Dosing frequency, optional.")
    end_date: dt.date | None = strawberry.field(default=None, description="Last day given; omit when ongoing.")
    ongoing: bool = strawberry.field(default=False, description="Still given (then no endDate); default false.")
    indication: str | None = strawberry.field(default=None, description="Why it was given (free text).")


@strawberry.input(description="Correct a therapy, with a reason. Fields left out keep their value.")
class AmendTherapyInput:
    id: strawberry.ID = strawberry.field(description="Global id of the therapy.")
    reason: str = strawberry.field(description="Why it is corrected (required, audited).")
    therapy_class: e.TherapyClass | None = strawberry.field(
        default=strawberry.UNSET, name="class", description="Therapy class. Omitted: unchanged."
    )
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="Name; null clears it. Omitted: unchanged."
    )
    dose: float | None = strawberry.field(
        default=strawberry.UNSET,
        description="Dose per administration, in doseUnit; null clears it. Omitted: unchanged.",
    )
    dose_unit: e.TherapyDoseUnit | None = strawberry.field(
        default=strawberry.UNSET, description="Unit of dose; null clears it. Omitted: unchanged."
    )
    route: e.TherapyRoute | None = strawberry.field(
        default=strawberry.UNSET, description="Route; null clears it. Omitted: unchanged."
    )
    frequency: e.DoseFrequency | None = strawberry.field(
        default=strawberry.UNSET, description="Frequency; null clears it. Omitted: unchanged."
    )
    start_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="First day given. Omitted: unchanged."
    )
    end_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Last day given; null clears it. Omitted: unchanged."
    )
    ongoing: bool | None = strawberry.field(default=strawberry.UNSET, description="Still given. Omitted: unchanged.")
    indication: str | None = strawberry.field(
        default=strawberry.UNSET, description="Why it was given; null clears it. Omitted: unchanged."
    )


@strawberry.input(description="A splenectomy or an HSCT (hsctType required for an HSCT).")
class RecordProcedureInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    procedure_type: e.ProcedureType = strawberry.field(name="type", description="SPLENECTOMY or HSCT.")
    performed_on: dt.date = strawberry.field(description="Date of the procedure.")
    hsct_type: e.HsctType | None = strawberry.field(
        default=None, description="ALLOGENEIC or AUTOLOGOUS; required for an HSCT."
    )
    notes: str | None = strawberry.field(default=None, description="Free text, optional.")


@strawberry.input(description="Correct a procedure, with a reason. Fields left out keep their value.")
class AmendProcedureInput:
    id: strawberry.ID = strawberry.field(description="Global id of the procedure.")
    reason: str = strawberry.field(description="Why it is corrected (required, audited).")
    procedure_type: e.ProcedureType | None = strawberry.field(
        default=strawberry.UNSET, name="type", description="SPLENECTOMY or HSCT. Omitted: unchanged."
    )
    performed_on: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Date of the procedure. Omitted: unchanged."
    )
    hsct_type: e.HsctType | None = strawberry.field(
        default=strawberry.UNSET, description="HSCT donor type; null clears it. Omitted: unchanged."
    )
    notes: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free text; null clears it. Omitted: unchanged."
    )


AMEND_THERAPY: dict[str, tuple[str, Converter]] = {name: (name, as_is) for name in records.THERAPY.fields}


AMEND_PROCEDURE: dict[str, tuple[str, Converter]] = {name: (name, as_is) for name in records.PROCEDURE.fields}


GRAPHQL_FIELDS: dict[tuple[str, ...], tuple[str, ...]] = {("therapyClass",): ("class",), ("procedureType",): ("type",)}


THERAPY_NULLABLE = ("name", "dose", "dose_unit", "route", "frequency", "end_date", "indication")


PROCEDURE_NULLABLE = ("hsct_type", "notes")
