"""Access reads: the caller, the sites they may see, the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from graphql import GraphQLError

from ...db import queries as q
from ..common.context import Info
from ..common.ids import decode_id, encode_cursor
from ..common.paging import PageAfter, PageBefore, PageFirst, PageLast, keyset_of, page_info
from ..common.permissions import ReadsAuditTrail
from .types import AuditEvent, AuditEventConnection, AuditEventEdge, Site, Viewer


def _aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """Times must carry their UTC offset, as in mutation inputs; a naive one is refused, not guessed."""
    if value is not None and value.utcoffset() is None:
        raise GraphQLError(
            f"{field} must include the UTC offset, e.g. 2026-03-01T08:30:00Z",
            extensions={"code": "BAD_USER_INPUT", "field": [field]},
        )
    return value


@strawberry.type
class AccessQuery:
    @strawberry.field(description="Who is calling.")
    def viewer(self, info: Info) -> Viewer:
        actor = info.context.actor
        return Viewer(
            actor_id=actor.actor_id, role=actor.role, sites=sorted(actor.site_codes), subject_code=actor.subject_code
        )

    @strawberry.field(description="Sites you may see, by code.")
    async def sites(self, info: Info) -> list[Site]:
        return [Site.of(row) for row in await info.context.read(q.visible_sites)]

    @strawberry.field(
        description="The audit trail (monitors: their sites; admins: all), oldest first.",
        permission_classes=[ReadsAuditTrail],
    )
    async def audit_events(
        self,
        info: Info,
        first: PageFirst = None,
        after: PageAfter = None,
        subject_code: Annotated[
            str | None, strawberry.argument(description="Only changes to this subject's records.")
        ] = None,
        entity: Annotated[str | None, strawberry.argument(description="A type name, e.g. PlateletTransfusion.")] = None,
        record_id: Annotated[strawberry.ID | None, strawberry.argument(description="Global id of one record.")] = None,
        actor_id: Annotated[
            str | None, strawberry.argument(description="Only changes made by this actor (the token's `sub` claim).")
        ] = None,
        since: Annotated[dt.datetime | None, strawberry.argument(description="From this UTC time (inclusive).")] = None,
        until: Annotated[
            dt.datetime | None, strawberry.argument(description="Up to this UTC time (inclusive).")
        ] = None,
        last: PageLast = None,
        before: PageBefore = None,
    ) -> AuditEventConnection:
        entity_id = None
        if record_id is not None:
            decoded = decode_id(record_id)
            if decoded is None:
                raise GraphQLError(
                    "not an id of this API", extensions={"code": "BAD_USER_INPUT", "field": ["recordId"]}
                )
            entity, entity_id = decoded
        where = q.AuditFilter(
            subject_code=subject_code,
            entity=entity,
            entity_id=entity_id,
            actor_id=actor_id,
            since=_aware(since, "since"),
            until=_aware(until, "until"),
        )
        page = await info.context.read(
            q.page_of_audit_events, where, page=keyset_of(info, first=first, after=after, last=last, before=before)
        )
        rows = page.rows
        subject_ids = sorted({r.subject_id for r in rows if r.subject_id is not None})
        codes = await info.context.read(lambda session, _actor: q.subject_codes_by_ids(session, subject_ids))
        edges = [
            AuditEventEdge(
                cursor=encode_cursor(r.id), node=AuditEvent.of(r, codes.get(r.subject_id) if r.subject_id else None)
            )
            for r in rows
        ]
        return AuditEventConnection(edges=edges, page_info=page_info([edge.cursor for edge in edges], page))
