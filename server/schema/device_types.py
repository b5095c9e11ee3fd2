"""Output types of patients' phones, read by staff on a subject (Subject.devices, activations)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry


@strawberry.type(description="A patient's phone registered with an activation code. Revoked devices are kept.")
class PatientDevice:
    id: strawberry.ID = strawberry.field(description="The device's opaque id (as the phone knows it).")
    label: str | None = strawberry.field(description="The name the patient gave the phone; null for analysts.")
    created_at: dt.datetime = strawberry.field(description="When the code was redeemed (UTC).")
    last_used_at: dt.datetime | None = strawberry.field(description="Last activation or token refresh (UTC).")
    revoked_at: dt.datetime | None = strawberry.field(description="When revoked (UTC); null while active.")
    revoked_reason: str | None = strawberry.field(description="Why it was revoked; null for analysts.")

    @classmethod
    def of(cls, row: Any) -> PatientDevice:
        return cls(
            id=strawberry.ID(row.public_id),
            label=row.label,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            revoked_reason=row.revoked_reason,
        )


@strawberry.type(description="An activation code issued for the subject (the code itself is never stored).")
class DeviceActivation:
    created_at: dt.datetime = strawberry.field(description="When issued (UTC).")
    expires_at: dt.datetime = strawberry.field(description="When it stops working if unused (UTC).")
    redeemed_at: dt.datetime | None = strawberry.field(description="When a phone used it (UTC); null if unused.")
    revoked_at: dt.datetime | None = strawberry.field(
        description="When staff cancelled it, or the subject left the trial, before it was used (UTC); null otherwise."
    )
    revoked_reason: str | None = strawberry.field(description="Why it was cancelled.")

    @classmethod
    def of(cls, row: Any) -> DeviceActivation:
        return cls(
            created_at=row.created_at,
            expires_at=row.expires_at,
            redeemed_at=row.redeemed_at,
            revoked_at=row.revoked_at,
            revoked_reason=row.revoked_reason,
        )
