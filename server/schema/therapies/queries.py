"""Therapy reads across subjects and the protocol deviations they raise."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from functools import partial
from typing import Annotated

import strawberry
from graphql import GraphQLError

from ...db import therapies as qt
from ...domain.study_time import study_day
from ..access.types import Site
from ..common import enums as e
from ..common.context import Info
from ..common.ids import encode_cursor
from ..common.paging import PageAfter, PageBefore, PageFirst, PageLast, keyset_of, page_info
from .types import (
    ProtocolDeviation,
    SiteDeviations,
    Therapy,
    TherapyConnection,
    TherapyEdge,
)


@strawberry.type
class TherapiesQuery:
    @strawberry.field(
        description="Therapies of the subjects you may see, in record order, filtered in the database (analysts: the cohort, without indications)."
    )
    async def therapies(
        self,
        info: Info,
        classes: Annotated[list[e.TherapyClass] | None, strawberry.argument(description="Only these classes.")] = None,
        ongoing_at: Annotated[
            dt.date | None, strawberry.argument(description="Only therapies given on this date (started, not ended).")
        ] = None,
        started_after_first_infusion: Annotated[
            bool | None,
            strawberry.argument(
                description="true: started on or after the date of the subject's first CAR-T infusion (study day >= 0); false: before it, or no infusion."
            ),
        ] = None,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites.")] = None,
        first: PageFirst = None,
        after: PageAfter = None,
        last: PageLast = None,
        before: PageBefore = None,
    ) -> TherapyConnection:
        where = qt.TherapyFilter(
            classes=classes,
            ongoing_at=ongoing_at,
            started_after_first_infusion=started_after_first_infusion,
            site_codes=site_codes,
        )
        keyset = keyset_of(info, first=first, after=after, last=last, before=before)
        page = await info.context.read(qt.page_of_therapies, where, page=keyset)
        edges = [TherapyEdge(cursor=encode_cursor(r.id), node=Therapy.of(r)) for r in page.rows]
        return TherapyConnection(
            edges=edges,
            page_info=page_info([edge.cursor for edge in edges], page),
            count=partial(info.context.read, qt.count_therapies, where),
        )

    @strawberry.field(
        description="Protocol deviations per site: anti-CD20 or anti-plasma-cell therapy started on or after the first CAR-T infusion (monitors and investigators: their sites; admins: all)."
    )
    async def protocol_deviations(
        self,
        info: Info,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites.")] = None,
    ) -> list[SiteDeviations]:
        if info.context.actor.role not in qt.DEVIATION_READERS:
            raise GraphQLError(
                "only monitors, investigators and admins read protocol deviations",
                extensions={"code": "PERMISSION_DENIED"},
            )
        rows = await info.context.read(qt.protocol_deviations, site_codes)
        by_site: dict[int, list[ProtocolDeviation]] = defaultdict(list)
        for row in rows:
            by_site[row.site_id].append(
                ProtocolDeviation(
                    subject_code=row.subject_code,
                    therapy=Therapy.of(row),
                    start_date=row.start_date,
                    study_day=study_day(row.start_date, row.first_infusion_at),
                )
            )
        sites = [s for s in await info.context.loaders.site.load_many(sorted(by_site)) if s is not None]
        return [
            SiteDeviations(site=Site.of(site), deviations=by_site[site.id])
            for site in sorted(sites, key=lambda s: s.code)
        ]
