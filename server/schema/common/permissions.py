"""Who may call a field at all, as strawberry permission classes (`permission_classes=[...]`).

These are the coarse role checks that hold for a whole field, before its resolver runs. What a
caller may see within a field (their sites, their own subject) stays in the read queries and
use cases (server.db.queries, server.services), which every path goes through. A refusal is a
GraphQL error with extensions.code PERMISSION_DENIED and no data for the field."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from ...domain.enums import Role

DENIED = {"code": "PERMISSION_DENIED"}
CLINICAL_STAFF = frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.ADMIN})


class ReadsAuditTrail(BasePermission):
    message = "only monitors and admins read the audit trail"
    error_extensions = DENIED

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.actor.may_read_audit_trail)


class IsPatient(BasePermission):
    message = "myBleedingReports is the patient's own list"
    error_extensions = DENIED

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.actor.role is Role.PATIENT)


class ReceivesSiteAlerts(BasePermission):
    """Checked before the subscription's stream exists, so a refusal is the protocol's `error`
    message (the operation never starts) rather than a `next` carrying errors."""

    message = "site alerts go to the site's clinical staff"
    error_extensions = DENIED

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.actor.role in CLINICAL_STAFF)
