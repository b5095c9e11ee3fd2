"""Inputs of enrolment, subject amendment and status change."""

from __future__ import annotations

import datetime as dt

import strawberry

from ..common import enums as e
from ..common.inputs import Converter, as_is


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


AMEND_SUBJECT: dict[str, tuple[str, Converter]] = {
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
