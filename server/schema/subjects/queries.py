"""Subject reads: a page of subjects (filters, Relay paging), one subject by code."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import strawberry

from ...db import queries as q
from ...db.keyset import Keyset, Page
from ..common.context import Info
from ..common.enums import SubjectStatus
from ..common.ids import encode_cursor
from ..common.paging import Counter, PageAfter, PageBefore, PageFirst, PageLast, counted, keyset_of, page_info
from ..response.loaders import ResponseLoaders
from .types import Subject, SubjectConnection, SubjectEdge


async def _subjects_by_response(
    info: Info, where: q.SubjectFilter, sustained: bool, keyset: Keyset
) -> tuple[Page[Any], int]:
    """Read every matching subject's response (in a constant number of statements), keep those
    that match, then page."""
    ids = list(await info.context.read(q.all_subject_ids, where))
    responses = await info.context.loaders.of(ResponseLoaders).subject_response.load_many(ids)
    matching = [sid for sid, r in zip(ids, responses, strict=True) if r.sustained is sustained]
    page = keyset.of_list(matching, key=lambda sid: sid)
    subjects = await info.context.loaders.subject.load_many(page.rows)
    rows = [s for s in subjects if s is not None]
    return Page(rows, has_previous=page.has_previous, has_next=page.has_next), len(matching)


@strawberry.type
class SubjectsQuery:
    @strawberry.field(description="Subjects you may see, in enrolment order, a page at a time.")
    async def subjects(
        self,
        info: Info,
        first: PageFirst = None,
        after: PageAfter = None,
        site_codes: Annotated[list[str] | None, strawberry.argument(description="Only these sites.")] = None,
        statuses: Annotated[list[SubjectStatus] | None, strawberry.argument(description="Only these statuses.")] = None,
        sustained_response: Annotated[
            bool | None,
            strawberry.argument(
                description="Only subjects whose plateletResponse.sustained is this (derived at read time)."
            ),
        ] = None,
        last: PageLast = None,
        before: PageBefore = None,
    ) -> SubjectConnection:
        where = q.SubjectFilter(site_codes=site_codes, statuses=statuses)
        keyset = keyset_of(info, first=first, after=after, last=last, before=before)
        count: Counter
        if sustained_response is not None:
            page, total = await _subjects_by_response(info, where, sustained_response, keyset)
            count = counted(total)
        else:
            page = await info.context.read(q.page_of_subjects, where, page=keyset)
            count = partial(info.context.read, q.count_subjects, where)
        edges = [SubjectEdge(cursor=encode_cursor(r.id), node=Subject.of(r)) for r in page.rows]
        return SubjectConnection(edges=edges, page_info=page_info([edge.cursor for edge in edges], page), count=count)

    @strawberry.field(description="One subject by its pseudonymous code; null when unknown or not yours to see.")
    async def subject(
        self,
        info: Info,
        code: Annotated[str, strawberry.argument(description="Pseudonymous subject code.")],
    ) -> Subject | None:
        row = await info.context.loaders.subject_by_code.load(code)
        return Subject.of(row) if row else None
