"""Inputs of the access mutations: sites and patients' phones."""

from __future__ import annotations

import strawberry


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


@strawberry.input(description="The subject whose phone is to be activated.")
class IssueDeviceActivationInput:
    subject_code: str = strawberry.field(description="Code of the subject.")


@strawberry.input(description="Cancel a subject's unused activation codes.")
class RevokeDeviceActivationsInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    reason: str = strawberry.field(description="Why they are cancelled (required, audited).")


@strawberry.input(description="Revoke an activated phone: its token stops working.")
class RevokeDeviceInput:
    id: strawberry.ID = strawberry.field(description="PatientDevice.id")
    reason: str = strawberry.field(description="Why it is revoked (required, audited), e.g. a lost phone.")
