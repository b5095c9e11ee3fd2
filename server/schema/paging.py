"""Cursor paging arguments shared by the connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

from graphql import GraphQLError

from .context import Info
from .ids import decode_cursor, decode_id, encode_id

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Counter = Callable[[], Awaitable[int]]
"""How a connection counts its rows over all pages. Its totalCount field awaits it, so the count
(a statement of its own) runs only when a query selects totalCount."""


def counted(total: int) -> Counter:
    """A Counter for a total already known (the rows were all read to filter them)."""

    async def count() -> int:
        return total

    return count


def page_size_of(info: Info, first: int | None) -> int:
    settings = info.context.settings
    size = settings.default_page_size if first is None else first
    if not 1 <= size <= settings.max_page_size:
        raise GraphQLError(
            f"first must be between 1 and {settings.max_page_size}",
            extensions={"code": "BAD_USER_INPUT", "field": ["first"]},
        )
    return size


def cursor_position(after: str | None) -> int | None:
    try:
        return decode_cursor(after)
    except ValueError as error:
        raise GraphQLError(str(error), extensions={"code": "BAD_USER_INPUT", "field": ["after"]}) from error


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
