"""Relay connections (README "The API in brief"): first/after and last/before, PageInfo with both
directions, nodes beside edges, on subjects (SQL keyset, the read planner, the in-memory filter
on a derived value), therapies and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api import fixtures_data as fx

CODES = ["S01-001", "S01-002", "S01-003", "S01-004", "S01-005", "S01-006", "S01-007"]

SUBJECTS = """
query($first: Int, $after: String, $last: Int, $before: String, $sustained: Boolean) {
  subjects(first: $first, after: $after, last: $last, before: $before, sustainedResponse: $sustained) {
    totalCount
    edges { cursor node { code } }
    nodes { code }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def _planned(app: Any) -> int:
    return int(app.state.read_planner.answered)


async def given_subjects(gql: Any, token: Any) -> None:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    for code in CODES:
        await fx.enroll_subject(gql, admin, code, "S01")


async def subjects(gql: Any, token: Any, **arguments: Any) -> dict[str, Any]:
    return dict((await gql.data(token("admin"), SUBJECTS, arguments))["subjects"])


def codes(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["code"] for edge in page["edges"]]


async def test_last_and_before_page_backward_through_all(gql: Any, token: Any) -> None:
    # given seven subjects
    await given_subjects(gql, token)
    # when a client pages from the end with last and the previous page's startCursor
    pages = [await subjects(gql, token, last=3)]
    while pages[-1]["pageInfo"]["hasPreviousPage"]:
        pages.append(await subjects(gql, token, last=3, before=pages[-1]["pageInfo"]["startCursor"]))
    # then the pages hold the list's end first, each in enrolment order
    assert [codes(page) for page in pages] == [CODES[4:7], CODES[1:4], CODES[0:1]]
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [True, True, False]
    assert {page["pageInfo"]["hasNextPage"] for page in pages} == {False}
    assert all(page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"] for page in pages)
    assert all(page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"] for page in pages)
    assert all(page["nodes"] == [edge["node"] for edge in page["edges"]] for page in pages)
    assert {page["totalCount"] for page in pages} == {7}


async def test_forward_pages_give_start_cursor_nodes_and_no_previous_page(
    gql: Any, token: Any, app: Any, database_url: str
) -> None:
    # given seven subjects
    await given_subjects(gql, token)
    before = _planned(app)
    # when a client pages forward
    first = await subjects(gql, token, first=3)
    second = await subjects(gql, token, first=3, after=first["pageInfo"]["endCursor"])
    # then the pages are Relay's, and the read planner answered them (PostgreSQL)
    assert [codes(first), codes(second)] == [CODES[0:3], CODES[3:6]]
    assert second["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": second["edges"][0]["cursor"],
        "endCursor": second["edges"][-1]["cursor"],
    }
    assert second["nodes"] == [{"code": code} for code in CODES[3:6]]
    assert _planned(app) - before == (2 if database_url.startswith("postgresql") else 0)


async def test_backward_pages_are_left_to_the_stock_executor(gql: Any, token: Any, app: Any) -> None:
    # given seven subjects
    await given_subjects(gql, token)
    planned = _planned(app)
    # when a client pages backward
    page = await subjects(gql, token, last=2)
    # then it is answered, not by the planner
    assert codes(page) == CODES[5:7]
    assert _planned(app) == planned


async def test_first_and_last_together_follow_relays_algorithm(gql: Any, token: Any) -> None:
    # given seven subjects
    await given_subjects(gql, token)
    # when a client asks for the last 2 of the first 5, and the rows between two cursors
    both = await subjects(gql, token, first=5, last=2)
    everything = await subjects(gql, token, first=7)
    cursors = [edge["cursor"] for edge in everything["edges"]]
    between = await subjects(gql, token, after=cursors[1], before=cursors[5])
    between_last = await subjects(gql, token, last=2, after=cursors[1], before=cursors[5])
    # then
    assert codes(both) == CODES[3:5]
    assert both["pageInfo"]["hasPreviousPage"] is True and both["pageInfo"]["hasNextPage"] is True
    assert codes(between) == CODES[2:5]
    assert codes(between_last) == CODES[3:5]
    assert between_last["pageInfo"]["hasPreviousPage"] is True


async def test_an_empty_backward_page(gql: Any, token: Any) -> None:
    # given seven subjects
    await given_subjects(gql, token)
    first_cursor = (await subjects(gql, token, first=1))["edges"][0]["cursor"]
    # when a client asks for the rows before the first one
    page = await subjects(gql, token, last=3, before=first_cursor)
    # then
    assert page["edges"] == [] and page["nodes"] == []
    assert page["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}


async def test_a_derived_filter_pages_backward_too(gql: Any, token: Any) -> None:
    # given seven subjects, none with a sustained response (no transfusions)
    await given_subjects(gql, token)
    # when
    page = await subjects(gql, token, last=2, sustained=False)
    previous = await subjects(gql, token, last=4, before=page["pageInfo"]["startCursor"], sustained=False)
    # then
    assert codes(page) == CODES[5:7] and page["pageInfo"]["hasPreviousPage"] is True
    assert codes(previous) == CODES[1:5] and previous["pageInfo"]["hasPreviousPage"] is True
    assert page["totalCount"] == 7


@pytest.mark.parametrize(
    ("arguments", "field"),
    [("last: 0", "last"), ("last: 101", "last"), ('before: "garbage"', "before"), ("first: 0, last: 2", "first")],
)
async def test_bad_backward_arguments_are_clear_errors(gql: Any, token: Any, arguments: str, field: str) -> None:
    # given
    await given_subjects(gql, token)
    # when
    body = await gql(token("admin"), f"{{ subjects({arguments}) {{ totalCount }} }}")
    # then
    assert body["data"] is None
    assert [error["extensions"] for error in body["errors"]] == [{"code": "BAD_USER_INPUT", "field": [field]}]


THERAPIES = """
query($first: Int, $last: Int, $before: String) {
  therapies(first: $first, last: $last, before: $before) {
    totalCount
    edges { cursor node { id } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def test_therapies_page_backward(gql: Any, token: Any) -> None:
    # given five therapies
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await fx.create_site(gql, admin, "S01")
    await fx.enroll_subject(gql, admin, "S01-001", "S01")
    ids = [await fx.record_therapy(gql, coordinator, "S01-001") for _ in range(5)]
    # when
    last = (await gql.data(admin, THERAPIES, {"last": 2}))["therapies"]
    rest = (await gql.data(admin, THERAPIES, {"last": 5, "before": last["pageInfo"]["startCursor"]}))["therapies"]
    # then
    assert [node["id"] for node in last["nodes"]] == ids[3:5]
    assert last["pageInfo"]["hasPreviousPage"] is True and last["pageInfo"]["hasNextPage"] is False
    assert [node["id"] for node in rest["nodes"]] == ids[0:3]
    assert rest["pageInfo"]["hasPreviousPage"] is False
    assert rest["nodes"] == [edge["node"] for edge in rest["edges"]]
    assert last["totalCount"] == 5


AUDIT = """
query($first: Int, $after: String, $last: Int, $before: String) {
  auditEvents(subjectCode: "S01-001", first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } }
    nodes { id action }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def test_audit_events_page_backward_as_forward(gql: Any, token: Any) -> None:
    # given a subject with a few audited changes
    admin, coordinator = token("admin"), token("coordinator", "S01")
    await fx.create_site(gql, admin, "S01")
    await fx.enroll_subject(gql, admin, "S01-001", "S01")
    for _ in range(3):
        await fx.record_therapy(gql, coordinator, "S01-001")
    everything = (await gql.data(admin, AUDIT, {"first": 100}))["auditEvents"]
    assert len(everything["nodes"]) >= 4
    # when the monitor reads the trail backward two at a time
    pages = [(await gql.data(admin, AUDIT, {"last": 2}))["auditEvents"]]
    while pages[-1]["pageInfo"]["hasPreviousPage"]:
        before = pages[-1]["pageInfo"]["startCursor"]
        pages.append((await gql.data(admin, AUDIT, {"last": 2, "before": before}))["auditEvents"])
    # then the pages put together are the forward trail
    assert [node for page in reversed(pages) for node in page["nodes"]] == everything["nodes"]
    assert everything["pageInfo"]["hasPreviousPage"] is False and everything["pageInfo"]["hasNextPage"] is False
