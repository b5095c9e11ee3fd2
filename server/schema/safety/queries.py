"""Safety reads: the patient's own diary, adverse events, the safety table, the alert inbox."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated

import strawberry
from graphql import GraphQLError

from ...db import queries as q
from ...domain.adverse_events import Attribution as DomainAttribution
from ...services.terms import trial_terms
from ..common import enums as e
from ..common.context import Info
from ..common.ids import encode_cursor
from ..common.paging import (
    PageAfter,
    PageBefore,
    PageFirst,
    PageInfo,
    PageLast,
    keyset_of,
    page_info,
    page_size_of,
    sync_cursor,
    sync_position,
)
from ..common.permissions import IsPatient
from .types import (
    AdverseEvent,
    AdverseEventConnection,
    AdverseEventEdge,
    Alert,
    AlertConnection,
    AlertEdge,
    BleedingReport,
    BleedingReportConnection,
    BleedingReportEdge,
    SafetyTableRow,
)

# A change commits after its changed_at (the writing transaction's start time): a sync that reads
# just before such a commit would miss it if the next sync started at the read time. Syncing from a
# minute earlier covers transactions shorter than that; the phone de-duplicates by id.
SYNC_OVERLAP = dt.timedelta(seconds=60)


def _study_day_of(onset: dt.date, first: dt.datetime | None) -> int | None:
    return None if first is None else (onset - first.astimezone(dt.timezone.utc).date()).days


ATTRIBUTION_ORDER = list(DomainAttribution)


@strawberry.type
class SafetyQuery:
    @strawberry.field(
        permission_classes=[IsPatient],
        description="The patient's own diary reports in receipt order, each with its provisional grade and review status; pass the last endCursor to fetch only new ones. With changedSince (a previous syncedAt): the reports new or changed since then (a review, regrade or annotation), in change order, so the phone also receives changes to reports it already has.",
    )
    async def my_bleeding_reports(
        self,
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(description="endCursor of the previous page. Omitted: from the first report."),
        ] = None,
        first: PageFirst = None,
        changed_since: Annotated[
            dt.datetime | None,
            strawberry.argument(description="The syncedAt of the previous sync (with its UTC offset)."),
        ] = None,
        last: Annotated[
            int | None, strawberry.argument(description="The last n reports (not with changedSince).")
        ] = None,
        before: Annotated[
            str | None,
            strawberry.argument(description="Rows before this cursor (a page's startCursor; not with changedSince)."),
        ] = None,
    ) -> BleedingReportConnection:
        if changed_since is None:
            keyset = keyset_of(info, first=first, after=after, last=last, before=before)
            page = await info.context.read(q.page_of_my_bleeding_reports, page=keyset)
            edges = [BleedingReportEdge(cursor=encode_cursor(r.id), node=BleedingReport.of(r)) for r in page.rows]
            has_previous, has_next = page.has_previous, page.has_next
        else:
            for name, value in (("last", last), ("before", before)):
                if value is not None:
                    # A sync reads forward from the previous sync's position; there is no end to read back from.
                    raise GraphQLError(
                        f"{name} cannot be combined with changedSince",
                        extensions={"code": "BAD_USER_INPUT", "field": [name]},
                    )
            limit = page_size_of(info, first)
            if changed_since.utcoffset() is None:
                raise GraphQLError(
                    "changedSince needs its UTC offset (pass syncedAt as received)",
                    extensions={"code": "BAD_USER_INPUT", "field": ["changedSince"]},
                )
            since = changed_since.astimezone(dt.timezone.utc)
            rows, has_next = await info.context.read(
                q.page_of_my_changed_bleeding_reports, changed_since=since, after=sync_position(after), limit=limit
            )
            edges = [
                BleedingReportEdge(cursor=sync_cursor(r.changed_at, r.id), node=BleedingReport.of(r)) for r in rows
            ]
            has_previous = False
        return BleedingReportConnection(
            edges=edges,
            # An empty page keeps the position it was asked from, so the phone's next sync starts there.
            page_info=PageInfo(
                has_next_page=has_next,
                has_previous_page=has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else after,
            ),
            synced_at=info.context.read_started_at - SYNC_OVERLAP,
        )

    @strawberry.field(description="Adverse events you may see, filtered; analysts get no verbatim text or reasons.")
    async def adverse_events(
        self,
        info: Info,
        first: PageFirst = None,
        after: PageAfter = None,
        subject_code: Annotated[str | None, strawberry.argument(description="Only this subject's events.")] = None,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites' subjects.")] = None,
        meddra_codes: Annotated[
            list[int] | None, strawberry.argument(description="Only these MedDRA codes (CTCAE terms).")
        ] = None,
        min_grade: Annotated[int | None, strawberry.argument(description="Only grade >= this (1-5).")] = None,
        max_grade: Annotated[int | None, strawberry.argument(description="Only grade <= this (1-5).")] = None,
        serious: Annotated[
            bool | None, strawberry.argument(description="Only serious (true) or non-serious (false) events.")
        ] = None,
        sources: Annotated[
            list[e.AdverseEventSource] | None, strawberry.argument(description="Only these sources.")
        ] = None,
        statuses: Annotated[
            list[e.AdverseEventStatus] | None, strawberry.argument(description="Only these review statuses.")
        ] = None,
        onset_from: Annotated[dt.date | None, strawberry.argument(description="Onset on or after this date.")] = None,
        onset_to: Annotated[dt.date | None, strawberry.argument(description="Onset on or before this date.")] = None,
        attribution_to: Annotated[
            e.AttributionTarget | None,
            strawberry.argument(description="The product or procedure attributionAtLeast applies to."),
        ] = None,
        attribution_at_least: Annotated[
            e.Attribution | None,
            strawberry.argument(
                description="With attributionTo: this level or more related (UNRELATED < UNLIKELY < POSSIBLE < PROBABLE < DEFINITE)."
            ),
        ] = None,
        onset_study_day_from: Annotated[
            int | None,
            strawberry.argument(description="Onset at or after this study day (days from the first CAR-T infusion)."),
        ] = None,
        onset_study_day_to: Annotated[
            int | None,
            strawberry.argument(description="Onset at or before this study day (days from the first CAR-T infusion)."),
        ] = None,
        last: PageLast = None,
        before: PageBefore = None,
    ) -> AdverseEventConnection:
        levels = None
        if attribution_at_least is not None:
            levels = ATTRIBUTION_ORDER[ATTRIBUTION_ORDER.index(DomainAttribution(attribution_at_least.value)) :]
        where = q.AdverseEventFilter(
            subject_code=subject_code,
            site_codes=site_codes,
            meddra_codes=meddra_codes,
            min_grade=min_grade,
            max_grade=max_grade,
            serious=serious,
            sources=sources,
            statuses=statuses,
            onset_from=onset_from,
            onset_to=onset_to,
            attribution_product=attribution_to.value if attribution_to else None,
            attribution_at_least=levels,
        )
        rows = list(await info.context.read(q.adverse_events, where))
        if onset_study_day_from is not None or onset_study_day_to is not None:
            firsts = await info.context.loaders.first_infusion_at.load_many([r.subject_id for r in rows])
            days = [_study_day_of(r.onset_date, first) for r, first in zip(rows, firsts, strict=True)]
            rows = [
                r
                for r, day in zip(rows, days, strict=True)
                if day is not None
                and (onset_study_day_from is None or day >= onset_study_day_from)
                and (onset_study_day_to is None or day <= onset_study_day_to)
            ]
        keyset = keyset_of(info, first=first, after=after, last=last, before=before)
        page = keyset.of_list(rows, key=lambda row: row.id)
        edges = [AdverseEventEdge(cursor=encode_cursor(r.id), node=AdverseEvent.of(r)) for r in page.rows]
        return AdverseEventConnection(
            edges=edges, total_count=len(rows), page_info=page_info([edge.cursor for edge in edges], page)
        )

    @strawberry.field(
        description="The usual safety table: per CTCAE term, events, subjects and subjects by worst grade (rejected and voided events excluded)."
    )
    async def adverse_event_summary(
        self,
        info: Info,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites' subjects.")] = None,
        min_grade: Annotated[int | None, strawberry.argument(description="Only events of grade >= this (1-5).")] = None,
        serious: Annotated[
            bool | None, strawberry.argument(description="Only serious (true) or non-serious (false) events.")
        ] = None,
    ) -> list[SafetyTableRow]:
        statuses = [e.AdverseEventStatus.CONFIRMED, e.AdverseEventStatus.PENDING_REVIEW]
        where = q.AdverseEventFilter(site_codes=site_codes, min_grade=min_grade, serious=serious, statuses=statuses)
        rows = await info.context.read(q.adverse_events, where)
        worst: dict[int, dict[int, int]] = defaultdict(dict)
        events: dict[int, int] = defaultdict(int)
        serious_events: dict[int, int] = defaultdict(int)
        for r in rows:
            events[r.meddra_code] += 1
            serious_events[r.meddra_code] += int(r.serious)
            worst[r.meddra_code][r.subject_id] = max(worst[r.meddra_code].get(r.subject_id, 0), r.grade)
        terms = trial_terms()
        table = []
        for code in sorted(events, key=lambda c: (-len(worst[c]), terms[c].name if c in terms else str(c))):
            by_grade = [sum(1 for g in worst[code].values() if g == grade) for grade in range(1, 6)]
            term = terms.get(code)
            table.append(
                SafetyTableRow(
                    meddra_code=code,
                    term=term.name if term else str(code),
                    soc=term.soc if term else "",
                    events=events[code],
                    subjects=len(worst[code]),
                    subjects_by_worst_grade=by_grade,
                    serious_events=serious_events[code],
                )
            )
        return table

    @strawberry.field(description="The site alert inbox (coordinators and investigators of the site, admins).")
    async def alerts(
        self,
        info: Info,
        unacknowledged_only: Annotated[
            bool, strawberry.argument(description="Only alerts nobody has acknowledged yet (default false).")
        ] = False,
        after: PageAfter = None,
        first: PageFirst = None,
        last: PageLast = None,
        before: PageBefore = None,
    ) -> AlertConnection:
        page = await info.context.read(
            q.page_of_alerts,
            unacknowledged_only=unacknowledged_only,
            page=keyset_of(info, first=first, after=after, last=last, before=before),
        )
        edges = [AlertEdge(cursor=encode_cursor(r[0].id), node=Alert.of(r[0], r[1], r[2])) for r in page.rows]
        return AlertConnection(edges=edges, page_info=page_info([edge.cursor for edge in edges], page))
