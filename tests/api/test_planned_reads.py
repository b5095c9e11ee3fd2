"""Plain reads answered by one SQL statement (server.schema.execution.planner), and the transfusion window.

The `gql` fixture already sends every planned query a second time through the stock executor
and requires the same answer; these tests pin WHICH queries are planned, who sees what inside
the planned SQL, when the planner steps aside, and the `transfusions` window on both paths."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.api import fixtures_data as fx

PHONE_QUERY = """
query Phone($code: String!) {
  subject(code: $code) {
    code status
    transfusions(last: 2) { id startedAt endedAt doseE11 cciEarly cciLate response { category parameterVersion countedForEndpoint excludedReason rule } }
  }
}"""


def _planned(app: Any) -> int:
    return int(app.state.read_planner.answered)


async def _subject_with_transfusions(
    gql: Any, token: Any, code: str = "S01-001", site: str = "S01"
) -> tuple[str, list[str]]:
    admin = token("admin")
    await fx.create_site(gql, admin, site)
    await fx.enroll_subject(gql, admin, code, site)
    coordinator = token("coordinator", site)
    await fx.record_measurement(gql, coordinator, code)
    await fx.record_infusion(gql, coordinator, code)
    ids = []
    for day in range(1, 5):
        start, end = f"2026-03-0{day}T08:00:00Z", f"2026-03-0{day}T08:30:00Z"
        await fx.record_count(gql, coordinator, code, value=8.0, at=f"2026-03-0{day}T07:00:00Z")
        ids.append(await fx.record_transfusion(gql, coordinator, code, start=start, end=end))
        await fx.record_count(gql, coordinator, code, value=30.0, at=f"2026-03-0{day}T09:00:00Z")
    return coordinator, ids


async def test_a_phone_reads_its_last_transfusions_in_one_planned_statement(
    gql: Any, token: Any, app: Any, database_url: str
) -> None:
    # given a subject with four transfusions, and the patient's token
    _, ids = await _subject_with_transfusions(gql, token)
    patient = token("patient", subject="S01-001")
    before = _planned(app)
    # when the phone asks for the last two
    data = await gql.data(patient, PHONE_QUERY, {"code": "S01-001"})
    # then it gets the two latest, oldest first, with their stored results
    transfusions = data["subject"]["transfusions"]
    assert [t["id"] for t in transfusions] == ids[2:]
    assert transfusions[0]["startedAt"] == "2026-03-03T08:00:00+00:00"
    assert transfusions[0]["doseE11"] == pytest.approx(3.2)
    assert transfusions[0]["response"]["category"] in {"RESPONSIVE", "NON_RESPONSIVE", "NOT_EVALUABLE"}
    # and PostgreSQL answered it with the planned statement; SQLite through the stock executor
    assert _planned(app) - before == (1 if database_url.startswith("postgresql") else 0)


async def test_a_patient_gets_null_for_another_subject_inside_the_plan(
    gql: Any, token: Any, app: Any, database_url: str
) -> None:
    # given two subjects
    await _subject_with_transfusions(gql, token)
    await fx.enroll_subject(gql, token("admin"), "S01-002", "S01")
    before = _planned(app)
    # when the patient of S01-002 asks for S01-001
    data = await gql.data(token("patient", subject="S01-002"), PHONE_QUERY, {"code": "S01-001"})
    # then the answer is null, as for an unknown code
    assert data == {"subject": None}
    assert _planned(app) - before == (1 if database_url.startswith("postgresql") else 0)


async def test_analysts_get_no_notes_and_site_staff_only_their_site(
    gql: Any, token: Any, app: Any, database_url: str
) -> None:
    # given subjects at two sites
    await _subject_with_transfusions(gql, token, "S01-001", "S01")
    await _subject_with_transfusions(gql, token, "S02-001", "S02")
    query = """
    query Site($sites: [String!]) {
      subjects(first: 10, siteCodes: $sites) {
        totalCount pageInfo { hasNextPage endCursor __typename }
        edges { cursor node { code site { code } transfusions(first: 1) { note } } }
      }
    }"""
    # when an analyst and an S01 coordinator read every site
    analyst = await gql.data(token("analyst"), query, {"sites": None})
    coordinator = await gql.data(token("coordinator", "S01"), query, {"sites": ["S01", "S02"]})
    # then the analyst sees both subjects without the notes, the coordinator only S01's, with notes
    assert [e["node"]["code"] for e in analyst["subjects"]["edges"]] == ["S01-001", "S02-001"]
    assert {e["node"]["transfusions"][0]["note"] for e in analyst["subjects"]["edges"]} == {None}
    assert coordinator["subjects"]["totalCount"] == 1
    assert coordinator["subjects"]["edges"][0]["node"]["site"] == {"code": "S01"}
    assert coordinator["subjects"]["edges"][0]["node"]["transfusions"][0]["note"] == "given over 30 min, no reaction"
    assert coordinator["subjects"]["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": coordinator["subjects"]["edges"][0]["cursor"],
        "__typename": "PageInfo",
    }


async def test_fragments_aliases_and_typenames_are_planned(gql: Any, token: Any, app: Any, database_url: str) -> None:
    # given a subject
    await _subject_with_transfusions(gql, token)
    query = """
    query { __typename
      mine: subject(code: "S01-001") { ...Head transfusions(since: "2026-03-03T00:00:00Z") { ... on PlateletTransfusion { __typename when: startedAt } } }
      nobody: subject(code: "S09-999") { code }
    }
    fragment Head on Subject { __typename id code sex diagnosis remissionStatus consentDate yearOfBirth aboGroup rhd }"""
    before = _planned(app)
    # when a coordinator asks with fragments, aliases and __typename
    data = await gql.data(token("coordinator", "S01"), query)
    # then the answer keeps the aliases, the order and the narrowed list
    assert list(data) == ["__typename", "mine", "nobody"]
    assert data["mine"]["__typename"] == "Subject"
    assert [t["when"] for t in data["mine"]["transfusions"]] == [
        "2026-03-03T08:00:00+00:00",
        "2026-03-04T08:00:00+00:00",
    ]
    assert data["nobody"] is None
    assert _planned(app) - before == (1 if database_url.startswith("postgresql") else 0)


async def test_computed_fields_and_directives_go_through_the_stock_executor(gql: Any, token: Any, app: Any) -> None:
    # given a subject
    await _subject_with_transfusions(gql, token)
    before = _planned(app)
    # when queries hold a computed field (studyDay), a directive, or a filter on a derived value
    coordinator = token("coordinator", "S01")
    computed = await gql.data(coordinator, '{ subject(code: "S01-001") { transfusions { studyDay } } }')
    directive = await gql.data(coordinator, '{ subject(code: "S01-001") { code status @include(if: false) } }')
    derived = await gql.data(coordinator, "{ subjects(sustainedResponse: false) { edges { node { code } } } }")
    # then they are answered, none by the planner
    assert computed["subject"]["transfusions"][0]["studyDay"] == 22
    assert directive == {"subject": {"code": "S01-001"}}
    assert derived["subjects"]["edges"] == [{"node": {"code": "S01-001"}}]
    assert _planned(app) == before


async def test_stale_stored_responses_are_evaluated_live_not_read(
    gql: Any, token: Any, app: Any, database_url: str
) -> None:
    # given a subject whose stored responses were written under another parameter version
    # (as after a bulk load that bypassed the services)
    await _subject_with_transfusions(gql, token)
    patient = token("patient", subject="S01-001")
    expected = await gql.data(patient, PHONE_QUERY, {"code": "S01-001"})
    async with app.state.engine.begin() as connection:
        await connection.execute(text("UPDATE subject_response SET parameter_version = 999"))
        await connection.execute(text("UPDATE transfusion_response SET parameter_version = 999, cci_early = -1"))
    before = _planned(app)
    # when the phone reads
    data = await gql.data(patient, PHONE_QUERY, {"code": "S01-001"})
    # then the values come from a live evaluation (the same as before), not from the stale rows
    assert data == expected
    assert _planned(app) == before


async def test_voided_transfusions_are_left_out_of_the_plan(gql: Any, token: Any, app: Any) -> None:
    # given four transfusions, the last one voided
    coordinator, ids = await _subject_with_transfusions(gql, token)
    await fx.void(gql, coordinator, ids[-1])
    # when the phone asks for the last two
    data = await gql.data(token("patient", subject="S01-001"), PHONE_QUERY, {"code": "S01-001"})
    # then the voided one is not among them
    assert [t["id"] for t in data["subject"]["transfusions"]] == ids[1:3]


WINDOW = 'query W($first: Int, $last: Int, $after: ID, $before: ID, $since: DateTime) { subject(code: "S01-001") { transfusions(first: $first, last: $last, after: $after, before: $before, since: $since) { id } } }'


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, [0, 1, 2, 3]),
        ({"first": 2}, [0, 1]),
        ({"last": 3}, [1, 2, 3]),
        ({"last": 0}, []),
        ({"first": 10}, [0, 1, 2, 3]),
        ({"since": "2026-03-02T08:00:00Z"}, [1, 2, 3]),
        ({"since": "2026-03-02T10:00:00+02:00", "last": 1}, [3]),
        ({"first": 3, "last": 2}, [1, 2]),
        ({"after": 0}, [1, 2, 3]),
        ({"after": 0, "before": 3}, [1, 2]),
        ({"before": 2, "last": 1}, [1]),
    ],
)
async def test_the_transfusion_window(gql: Any, token: Any, arguments: dict[str, Any], expected: list[int]) -> None:
    # given four transfusions
    coordinator, ids = await _subject_with_transfusions(gql, token)
    variables = {k: ids[v] if k in ("after", "before") else v for k, v in arguments.items()}
    # when a window of them is asked for
    data = await gql.data(coordinator, WINDOW, variables)
    # then it holds those, in start order
    assert [t["id"] for t in data["subject"]["transfusions"]] == [ids[i] for i in expected]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"first": -1}, "first"),
        ({"last": 1001}, "last"),
        ({"after": "bm90LWFuLWlk"}, "after"),
        ({"before": "U3ViamVjdDox"}, "before"),
        ({"since": "2026-03-02T08:00:00"}, None),
    ],
)
async def test_a_bad_window_is_a_clear_input_error(
    gql: Any, token: Any, arguments: dict[str, Any], field: str | None
) -> None:
    # given a subject with transfusions
    coordinator, _ = await _subject_with_transfusions(gql, token)
    # when the window's arguments are out of range or name no transfusion
    body = await gql(coordinator, WINDOW, arguments)
    # then the answer says which argument is wrong, with BAD_USER_INPUT, and no data is guessed
    error = body["errors"][0]
    if field is None:  # a time without its offset is refused by the DateTime scalar itself
        assert "since" in error["message"] or "DateTime" in error["message"]
        return
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == [field]


async def test_an_anchor_from_another_subject_is_refused(gql: Any, token: Any) -> None:
    # given two subjects with transfusions
    coordinator, _ = await _subject_with_transfusions(gql, token, "S01-001", "S01")
    await fx.enroll_subject(gql, token("admin"), "S01-002", "S01")
    foreign = await fx.record_transfusion(gql, coordinator, "S01-002")
    # when S01-001's list is anchored on S01-002's transfusion
    body = await gql(coordinator, WINDOW, {"after": foreign})
    # then it is refused rather than silently ignored
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": ["after"]}


async def test_a_repeated_read_reuses_its_statement_and_another_caller_gets_their_own(
    gql: Any, token: Any, app: Any, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("reads are planned on PostgreSQL only")
    # given two subjects, each with their patient
    await _subject_with_transfusions(gql, token)
    await fx.enroll_subject(gql, token("admin"), "S01-002", "S01")
    plans = app.state.read_planner.plans
    # when the first patient's phone polls twice, then the second patient's with the same document
    first = await gql.data(token("patient", subject="S01-001"), PHONE_QUERY, {"code": "S01-001"})
    after_first = len(plans)
    again = await gql.data(token("patient", subject="S01-001"), PHONE_QUERY, {"code": "S01-001"})
    other = await gql.data(token("patient", subject="S01-002"), PHONE_QUERY, {"code": "S01-001"})
    # then the repeated poll reuses the statement and gets the same answer; the other patient's
    # request, with the same variables, gets a statement of its own and sees nothing of S01-001
    assert again == first and len(first["subject"]["transfusions"]) == 2
    assert len(plans) == after_first + 1
    assert other == {"subject": None}
