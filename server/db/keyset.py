"""Relay cursor pages read by key (keyset paging), in both directions.

A connection's rows are in primary-key order and a cursor names a row's key. Relay's algorithm
(https://relay.dev/graphql/connections.htm, "Pagination algorithm"): keep the rows strictly after
`after` and before `before`, then the `first` n of those, then the `last` n of what is left.
Read by key, that is one statement: ascending from `after` when `first` is given, descending from
`before` when only `last` is (so `last: 10` reads ten rows, not the whole list), one row more than
asked to tell whether another page follows in the direction of travel.

`hasPreviousPage` is only computed when paging backward (`last`) and `hasNextPage` only when
paging forward (`first`); the other one is false, as the specification allows ("may return
false"): that is what Relay's client reads for the direction it pages in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select

Row = TypeVar("Row")
Query = TypeVar("Query", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True)
class Keyset:
    """Which page of a key-ordered list: the validated `first`/`last` and the keys of the
    `after`/`before` cursors. At least one of first and last is set (the caller applies the
    default page size)."""

    first: int | None = None
    last: int | None = None
    after: int | None = None
    before: int | None = None

    @property
    def backward(self) -> bool:
        """Read from the end (`before`, or the list's end) towards the start: only `last` given."""
        return self.first is None

    def between(self, key: Any) -> list[Any]:
        """SQL conditions: strictly between the cursors."""
        conditions = []
        if self.after is not None:
            conditions.append(key > self.after)
        if self.before is not None:
            conditions.append(key < self.before)
        return conditions

    def select(self, query: Query, key: Any) -> Query:
        """The statement reading this page (and one row more) of `query` ordered by `key`."""
        fetch = (self.last if self.backward else self.first) or 0
        order = key.desc() if self.backward else key
        return query.where(*self.between(key)).order_by(order).limit(fetch + 1)

    def cut(self, rows: Sequence[Row]) -> Page[Row]:
        """The page from the rows `select` read (in its order)."""
        if self.backward:
            assert self.last is not None
            return Page(list(reversed(rows[: self.last])), has_previous=len(rows) > self.last, has_next=False)
        assert self.first is not None
        window = list(rows[: self.first])
        has_previous = False
        if self.last is not None:  # first and last together: Relay applies last to the first n
            has_previous = len(window) > self.last
            window = window[max(0, len(window) - self.last) :]
        return Page(window, has_previous=has_previous, has_next=len(rows) > self.first)

    def of_list(self, rows: Sequence[Row], key: Callable[[Row], int]) -> Page[Row]:
        """The page of a list already read whole (in key order), e.g. filtered on derived values."""
        inside = [
            row
            for row in rows
            if (self.after is None or key(row) > self.after) and (self.before is None or key(row) < self.before)
        ]
        return self.cut(inside[::-1] if self.backward else inside)


@dataclass(frozen=True)
class Page(Generic[Row]):
    """A page's rows in key order and whether more rows lie before / after it."""

    rows: list[Row]
    has_previous: bool
    has_next: bool
