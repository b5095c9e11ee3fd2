"""server.db.keyset (and the per-subject lists' ListWindow) against Relay's pagination algorithm written out literally
(https://relay.dev/graphql/connections.htm, "Pagination algorithm")."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from server.db.keyset import Keyset
from server.schema.common.paging import ListWindow


def relay(keys: list[int], first: int | None, last: int | None, after: int | None, before: int | None) -> list[int]:
    edges = [k for k in keys if (after is None or k > after) and (before is None or k < before)]
    if first is not None:
        edges = edges[:first]
    if last is not None:
        edges = edges[len(edges) - last :] if len(edges) > last else edges
    return edges


def test_last_alone_reads_the_end_in_list_order() -> None:
    # when
    page = Keyset(last=3).of_list([1, 2, 3, 4, 5], key=lambda k: k)
    # then
    assert (page.rows, page.has_previous, page.has_next) == ([3, 4, 5], True, False)


def test_first_and_last_take_the_last_of_the_first() -> None:
    # when
    page = Keyset(first=4, last=2, after=1).of_list([1, 2, 3, 4, 5, 6, 7], key=lambda k: k)
    # then
    assert (page.rows, page.has_previous, page.has_next) == ([4, 5], True, True)


@given(
    keys=st.lists(st.integers(1, 60), unique=True).map(sorted),
    first=st.none() | st.integers(1, 8),
    last=st.none() | st.integers(1, 8),
    after=st.none() | st.integers(0, 61),
    before=st.none() | st.integers(0, 61),
)
def test_pages_are_relays(
    keys: list[int], first: int | None, last: int | None, after: int | None, before: int | None
) -> None:
    if first is None and last is None:
        first = 5  # the resolver applies the default page size
    # when
    page = Keyset(first=first, last=last, after=after, before=before).of_list(keys, key=lambda k: k)
    # then the rows are Relay's, and the flag of the direction of travel says whether more lie beyond
    assert page.rows == relay(keys, first, last, after, before)
    between = relay(keys, None, None, after, before)
    if first is not None:
        assert page.has_next == (len(between) > first)
    else:
        assert page.has_previous == (len(between) > (last or 0)) and page.has_next is False


def test_a_per_subject_list_keeps_all_of_the_first_when_last_is_larger() -> None:
    # given five rows of a subject's list (server.schema.common.paging.ListWindow, e.g. transfusions)
    rows = [SimpleNamespace(id=n, at=datetime(2026, 3, n, tzinfo=timezone.utc)) for n in range(1, 6)]
    # when a client asks for the last 3 of the first 2 (before the fix: only the second row)
    window = ListWindow(first=2, last=3).apply(rows, lambda row: row.at)
    # then
    assert [row.id for row in window] == [1, 2]
