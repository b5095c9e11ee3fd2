"""Cursor paging arguments shared by the connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import GraphQLError

# strawberry's PageInfo is Relay's, field for field. Its ids and connections are not used: its
# global ids (padded standard base64) and offset cursors would change every id and cursor clients
# hold, so ids.py and server.db.keyset keep ours, to the same contract.
from strawberry.relay import PageInfo as PageInfo  # re-exported: every connection's pageInfo

from ...db.keyset import Keyset, Page
from .context import Info
from .ids import decode_cursor, decode_id, encode_id

# The Relay connection arguments, one description each for every connection field (a field whose
# arguments mean something more, e.g. myBleedingReports with changedSince, writes its own).
PageFirst = Annotated[int | None, strawberry.argument(description="Page size (default and maximum are settings).")]
PageAfter = Annotated[str | None, strawberry.argument(description="endCursor of the previous page.")]
PageLast = Annotated[
    int | None,
    strawberry.argument(
        description="Page size counted from the end (Relay): the last n items, or the n just before `before`."
    ),
]
PageBefore = Annotated[
    str | None, strawberry.argument(description="startCursor of the following page, to page backwards.")
]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Counter = Callable[[], Awaitable[int]]
"""How a connection counts its rows over all pages. Its totalCount field awaits it, so the count
(a statement of its own) runs only when a query selects totalCount."""


def counted(total: int) -> Counter:
    """A Counter for a total already known (the rows were all read to filter them)."""

    async def count() -> int:
        return total

    return count


def page_size_of(info: Info, first: int | None, argument: str = "first") -> int:
    settings = info.context.settings
    size = settings.default_page_size if first is None else first
    if not 1 <= size <= settings.max_page_size:
        raise GraphQLError(
            f"{argument} must be between 1 and {settings.max_page_size}",
            extensions={"code": "BAD_USER_INPUT", "field": [argument]},
        )
    return size


def cursor_position(after: str | None, argument: str = "after") -> int | None:
    try:
        return decode_cursor(after)
    except ValueError as error:
        raise GraphQLError(str(error), extensions={"code": "BAD_USER_INPUT", "field": [argument]}) from error


def keyset_of(
    info: Info, *, first: int | None, after: str | None, last: int | None = None, before: str | None = None
) -> Keyset:
    """A connection's page arguments, validated (server.db.keyset has Relay's algorithm). Neither
    first nor last: the first page of the default size; `last` alone: the last n (before
    `before`, or of the whole list)."""
    return Keyset(
        first=page_size_of(info, first) if first is not None or last is None else None,
        last=page_size_of(info, last, "last") if last is not None else None,
        after=cursor_position(after),
        before=cursor_position(before, "before"),
    )


NODES = "The edges' nodes, in the same order, for a client that needs no cursor per row."


def page_info(cursors: Sequence[str], page: Page[Any]) -> PageInfo:
    """A connection's PageInfo from its edges' cursors."""
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=page.has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


SYNC_CURSOR = "sync."


def sync_cursor(changed_at: datetime, pk: int) -> str:
    """A cursor of a changedSince sync: the row's (changed_at, id), as microseconds since the epoch."""
    micros = (changed_at - EPOCH) // timedelta(microseconds=1)
    return encode_id(f"{SYNC_CURSOR}{micros}", pk)


def sync_position(after: str | None) -> tuple[datetime, int] | None:
    if after is None:
        return None
    decoded = decode_id(after)
    if decoded is None or not decoded[0].startswith(SYNC_CURSOR) or not decoded[0][len(SYNC_CURSOR) :].isdigit():
        raise GraphQLError(
            "not a cursor of a changedSince sync", extensions={"code": "BAD_USER_INPUT", "field": ["after"]}
        )
    return EPOCH + timedelta(microseconds=int(decoded[0][len(SYNC_CURSOR) :])), decoded[1]


MAX_WINDOW = 1000
Row = TypeVar("Row")


def _refused(field: str, message: str) -> GraphQLError:
    return GraphQLError(f"{field}: {message}", extensions={"code": "BAD_USER_INPUT", "field": [field]})


@dataclass(frozen=True)
class ListWindow:
    """The part of a per-subject list a client asks for, in the list's own order (oldest first):
    the rows `since` a time, strictly `after`/`before` a row of the list (by id), then the `first`
    n and then the `last` n of those (Relay's order of application). The order of the answer is
    always the list's order, so `last: 10` gives the ten latest, oldest of them first."""

    first: int | None = None
    last: int | None = None
    after: int | None = None  # primary keys of the anchor rows
    before: int | None = None
    since: datetime | None = None

    @classmethod
    def of(
        cls,
        *,
        first: int | None,
        last: int | None,
        after: str | None,
        before: str | None,
        since: datetime | None,
        type_name: str,
    ) -> ListWindow:
        for name, size in (("first", first), ("last", last)):
            if size is not None and not 0 <= size <= MAX_WINDOW:
                raise _refused(name, f"must be between 0 and {MAX_WINDOW}")
        if since is not None and since.utcoffset() is None:
            raise _refused("since", "must include the UTC offset, e.g. 2026-03-01T08:30:00Z")
        anchors: dict[str, int | None] = {}
        for name, global_id in (("after", after), ("before", before)):
            decoded = decode_id(global_id) if global_id is not None else None
            if global_id is not None and (decoded is None or decoded[0] != type_name):
                raise _refused(name, f"not the id of a {type_name}")
            anchors[name] = decoded[1] if decoded else None
        return cls(first=first, last=last, after=anchors["after"], before=anchors["before"], since=since)

    @property
    def is_everything(self) -> bool:
        return self == ListWindow()

    def apply(self, rows: Sequence[Row], moment: Callable[[Row], datetime]) -> Sequence[Row]:
        """`rows`: the whole list in its order, each with an `id`. An anchor that is not in the
        list (another subject's row, a voided one) is refused: silently ignoring it would answer
        a different question than the one asked."""
        if self.is_everything:
            return rows
        window: Sequence[Any] = rows
        if self.since is not None:
            window = [row for row in window if moment(row) >= self.since]
        order = {row.id: index for index, row in enumerate(rows)}  # type: ignore[attr-defined]
        for name, anchor in (("after", self.after), ("before", self.before)):
            if anchor is None:
                continue
            if anchor not in order:
                raise _refused(name, "not one of this list's rows")
            position = order[anchor]
            window = [
                row for row in window if (order[row.id] > position if name == "after" else order[row.id] < position)
            ]
        if self.first is not None:
            window = window[: self.first]
        if self.last is not None:
            window = window[max(0, len(window) - self.last) :] if self.last else []
        return window
