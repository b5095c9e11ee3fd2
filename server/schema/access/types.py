"""Who may see what: sites, the caller (Viewer), the audit trail, patients' phones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.scalars import JSON

from ...db import models as m
from ...db import planned_reads as sql
from ..common import enums as e
from ..common.ids import encode_id
from ..common.node import Node
from ..common.paging import NODES, PageInfo
from ..common.sql_mapping import declare


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
            changes=JSON(row.changes),
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
