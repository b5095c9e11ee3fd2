"""Cursor paging arguments shared by the connections."""

from __future__ import annotations

from graphql import GraphQLError

from .context import Info
from .ids import decode_cursor


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
