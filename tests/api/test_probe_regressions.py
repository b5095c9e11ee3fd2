"""Regressions for the probe's reproducible defects (issue 10), each over HTTP on both backends:
masking that missed the end of the read session, values GraphQL accepts but the database cannot
store (NUL, lone surrogates, huge lists, datetimes outside UTC's years, absurd numbers), client
report ids spelled two ways, malformed HTTP bodies, analysts' lost rows, an existence oracle and
audit gaps.

World: sites S01 and S02; S01-001 and S01-002 at S01 (S01-001 with a CD19 infusion and one
transfusion), S02-001 at S02."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from server.schema.schema import MASKED_MESSAGE
from tests.api import fixtures_data as fx

A, B, C = "S01-001", "S01-002", "S02-001"


@pytest.fixture
async def world(gql: Any, token: Any) -> dict[str, str]:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.create_site(gql, admin, "S02")
    await fx.enroll_subject(gql, admin, A, "S01")
    await fx.enroll_subject(gql, admin, B, "S01")
    await fx.enroll_subject(gql, admin, C, "S02")
    await fx.record_infusion(gql, admin, A, "CD19", "2026-02-07T10:00:00Z")
    await fx.record_transfusion(gql, admin, A, "2026-03-01T08:00:00Z", "2026-03-01T08:30:00Z")
    return {
        "admin": admin,
        "patient": token("patient", subject=A),
        "patientB": token("patient", subject=B),
        "coordinator": token("coordinator", "S01", sub="coord-1"),
        "analyst": token("analyst"),
        "monitor": token("monitor", "S01", "S02"),
        "investigator": token("investigator", "S01", sub="inv-1"),
    }


async def post_raw(client: Any, token: str, body: bytes) -> Any:
    """POSTs bytes as they are (httpx's json= cannot encode a lone surrogate)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return await client.post("/graphql", content=body, headers=headers)


def leaked(body: dict[str, Any]) -> list[str]:
    """Error messages that are neither the masked message nor a typed (coded) error."""
    return [
        e["message"]
        for e in body.get("errors", [])
        if e["message"] != MASKED_MESSAGE and "code" not in (e.get("extensions") or {})
    ]


# 1. Masking ---------------------------------------------------------------------------------


PROBE = r"""{ a: subject(code:"S01-001"){ transfusions{id cciEarly} labResults{id} }
              b: adverseEvents(subjectCode:"x\u0000"){ totalCount } }"""


@pytest.mark.parametrize("role", ["patient", "coordinator"])
async def test_the_probe_query_leaks_no_driver_text(gql: Any, world: dict[str, str], role: str) -> None:
    # given the probe's query, whose second field once broke the read session
    # when a patient or a coordinator sends it
    body = await gql(world[role], PROBE)
    # then nothing but typed or masked errors comes back
    assert leaked(body) == [], body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body  # adverseEvents is non-null: data is null
    assert "InterfaceError" not in json.dumps(body) and "closed database" not in json.dumps(body)


async def test_a_failure_while_closing_the_read_session_is_logged_not_returned(
    gql: Any, world: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given a read session whose end fails with the driver's text
    from server.schema.common.context import Context

    real_close = Context.close

    async def failing_close(self: Context) -> None:
        await real_close(self)  # the connection goes back to the pool; only the error is simulated
        raise RuntimeError("(driver) cannot call Transaction.rollback(): the underlying connection is closed")

    monkeypatch.setattr(Context, "close", failing_close)
    # when a coordinator reads
    with caplog.at_level(logging.ERROR, logger="ptr_trial"):
        response = await gql.client.post(
            "/graphql",
            json={"query": '{ subject(code:"S01-001"){ code } }'},
            headers={"Authorization": f"Bearer {world['coordinator']}", "X-Request-ID": "probe-1"},
        )
    # then the answer stands, without the driver's text, and the log has it with the request id
    assert response.status_code == 200
    assert "rollback" not in response.text
    assert response.json()["data"] == {"subject": {"code": A}}
    assert any("probe-1" in r.getMessage() and r.exc_info for r in caplog.records)


# 2. NUL and lone surrogates -----------------------------------------------------------------

CREATE_SITE = """mutation($input: CreateSiteInput!) { createSite(input: $input) {
  __typename ... on UserError { code message field } } }"""


@pytest.mark.parametrize("bad", ["a\x00", "a\ud800", "\udfffb"])
async def test_unstorable_text_in_a_mutation_input_is_an_input_error(
    client: Any, world: dict[str, str], app: Any, bad: str
) -> None:
    # given a site name with a NUL or a lone surrogate
    before = await fx.table_row_counts(app)
    body = json.dumps({"query": CREATE_SITE, "variables": {"input": {"code": "X1", "name": bad}}}).encode()
    # when the admin creates the site
    response = await post_raw(client, world["admin"], body)
    # then an InputError names the field, and nothing is written
    assert response.status_code == 200, response.text
    result = response.json()["data"]["createSite"]
    assert result == {
        "__typename": "InputError",
        "code": "INVALID_FORMAT",
        "message": result["message"],
        "field": ["name"],
    }
    assert await fx.table_row_counts(app) == before


async def test_unstorable_text_in_a_literal_mutation_input_is_an_input_error(gql: Any, world: dict[str, str]) -> None:
    # given the NUL written as a GraphQL escape in the document itself
    query = r'mutation { createSite(input:{code:"X1",name:"a\u0000"}) { __typename ... on UserError { code field } } }'
    # when the admin sends it
    result = (await gql.data(world["admin"], query))["createSite"]
    # then the same InputError
    assert result == {"__typename": "InputError", "code": "INVALID_FORMAT", "field": ["name"]}


@pytest.mark.parametrize("bad", ["x\x00", "x\ud83d"])
async def test_unstorable_text_in_a_query_argument_is_bad_user_input(
    client: Any, world: dict[str, str], bad: str
) -> None:
    # given a subject code with a NUL or a lone surrogate, as a variable
    query = "query($c: String) { adverseEvents(subjectCode: $c) { totalCount } }"
    body = json.dumps({"query": query, "variables": {"c": bad}}).encode()
    # when a coordinator sends it
    response = await post_raw(client, world["coordinator"], body)
    # then a typed error on that argument, no internal error
    errors = response.json()["errors"]
    assert [e["extensions"] for e in errors] == [{"code": "BAD_USER_INPUT", "field": ["subjectCode"]}], errors


async def test_unstorable_text_in_a_nested_list_argument_is_bad_user_input(gql: Any, world: dict[str, str]) -> None:
    # given a NUL inside a list argument of a nested field
    query = r'{ trial { bCellAplasiaAt(month: 3, siteCodes: ["S01", "S\u0000"]) { subjectsAssessed } } }'
    # when an analyst sends it
    body = await gql(world["analyst"], query)
    # then the item is named
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": ["siteCodes", "1"]}, body


# 3. Huge lists ------------------------------------------------------------------------------


async def test_a_filter_list_over_the_cap_is_bad_user_input(gql: Any, world: dict[str, str]) -> None:
    # given 40,000 site codes (more than PostgreSQL's 32,767 bind parameters)
    codes = [f"S{i:05d}" for i in range(40_000)]
    # when a monitor filters subjects by them
    body = await gql(world["monitor"], "query($s: [String!]) { subjects(siteCodes: $s) { totalCount } }", {"s": codes})
    # then a typed error, no internal error
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": ["siteCodes"]}, body
    assert "1000" in body["errors"][0]["message"]


async def test_a_list_in_a_mutation_input_over_the_cap_is_an_input_error(gql: Any, world: dict[str, str]) -> None:
    # given a transfusion with 1,001 post-transfusion counts (40,000 would exceed the 1 MB body limit)
    counts = [{"valueE9PerL": 20.0, "drawnAt": "2026-03-01T09:00:00Z"}] * 1_001
    values = {
        "subjectCode": A,
        "startedAt": "2026-03-02T08:00:00Z",
        "endedAt": "2026-03-02T08:30:00Z",
        "units": [{"contentE11": 3.0}],
        "postCounts": counts,
    }
    # when a coordinator records it
    result = await fx.mutate(
        gql, world["coordinator"], "recordPlateletTransfusion", "RecordPlateletTransfusionInput", values, ""
    )
    # then an InputError on the list
    assert (result["__typename"], result["code"], result["field"]) == ("InputError", "TOO_LONG", ["postCounts"])


# 4. Datetimes out of range ------------------------------------------------------------------


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
async def test_a_datetime_argument_outside_utc_years_is_bad_user_input(
    gql: Any, world: dict[str, str], moment: str
) -> None:
    # given a time that overflows when converted to UTC
    # when a monitor reads the audit trail since then
    body = await gql(
        world["monitor"], "query($t: DateTime) { auditEvents(since: $t) { edges { cursor } } }", {"t": moment}
    )
    # then a typed error on the argument
    assert leaked(body) == [] and body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": ["since"]}


async def test_a_datetime_input_outside_utc_years_is_an_input_error(gql: Any, world: dict[str, str]) -> None:
    # given a platelet count drawn at a time that underflows in UTC
    values = {"subjectCode": A, "valueE9PerL": 20.0, "drawnAt": "0001-01-01T00:00:00+05:00"}
    # when a coordinator records it
    result = await fx.mutate(gql, world["coordinator"], "recordPlateletCount", "RecordPlateletCountInput", values, "")
    # then an InputError on the field
    assert (result["__typename"], result["code"], result["field"]) == ("InputError", "OUT_OF_RANGE", ["drawnAt"])


# 5. Numeric ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "argument", "value"),
    [
        ("bCellAplasiaAt", "month", 100_000),
        ("bCellAplasiaAt", "month", -2_147_483_648),
        ("hlaClearedBy", "month", 2_147_483_647),
        ("hlaClearedBy", "month", -1),
    ],
)
async def test_numeric_arguments_out_of_range_are_bad_user_input(
    gql: Any, world: dict[str, str], field: str, argument: str, value: int
) -> None:
    # given a month far outside the trial's follow-up
    # when an analyst asks
    body = await gql(world["analyst"], f"{{ trial {{ {field}({argument}: {value}) {{ subjectsAssessed }} }} }}")
    # then a typed error naming the argument
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": [argument]}, body


@pytest.mark.parametrize(
    "arguments",
    ["minGrade: 0", "maxGrade: 6", "onsetStudyDayFrom: -2147483648", "meddraCodes: [-1]", "first: 2147483647"],
)
async def test_adverse_event_filter_numbers_out_of_range_are_bad_user_input(
    gql: Any, world: dict[str, str], arguments: str
) -> None:
    # given an out-of-range filter
    # when a monitor lists adverse events
    body = await gql(world["monitor"], f"{{ adverseEvents({arguments}) {{ totalCount }} }}")
    # then a typed error
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert leaked(body) == []


async def test_month_arguments_within_range_still_answer(gql: Any, world: dict[str, str]) -> None:
    # given the documented limits
    # when an analyst asks at both ends
    data = await gql.data(
        world["analyst"],
        "{ trial { a: bCellAplasiaAt(month: 0) { subjectsAssessed } b: hlaClearedBy(month: 120) { subjectsAssessed } } }",
    )
    # then both answer
    assert set(data["trial"]) == {"a", "b"}


# 5b. Checked once per operation, before any resolver ----------------------------------------


async def test_a_bad_argument_in_a_fragment_refuses_the_whole_query(gql: Any, world: dict[str, str]) -> None:
    # given a NUL in an argument inside a fragment, beside a field that would answer
    query = r"""{ trial { a: bCellAplasiaAt(month: 3) { subjectsAssessed } ...Aplasia } }
      fragment Aplasia on Trial { b: bCellAplasiaAt(month: 3, siteCodes: ["S01", "S\u0000"]) { subjectsAssessed } }"""
    # when an analyst sends it
    body = await gql(world["analyst"], query)
    # then the operation is refused as a whole: no data, one error naming the argument, located
    assert body["data"] is None, body
    assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_USER_INPUT", "field": ["siteCodes", "1"]}]
    assert body["errors"][0]["locations"] == [{"line": 2, "column": 35}]


async def test_a_bad_argument_in_a_mutation_payload_refuses_it_before_anything_is_written(
    gql: Any, world: dict[str, str], app: Any
) -> None:
    # given an enrolment whose payload asks for the new subject's lab results of 1,001 analytes
    before = await fx.table_row_counts(app)
    query = """mutation($i: EnrollSubjectInput!, $a: [Analyte!]) { enrollSubject(input: $i) {
      __typename ... on SubjectSuccess { subject { labResults(analytes: $a) { id } } } } }"""
    variables = {"i": fx.subject_input("S01-003", "S01"), "a": ["PLATELETS"] * 1_001}
    # when the admin sends it
    body = await gql(world["admin"], query, variables)
    # then it is refused before the mutation runs: nothing is written
    assert body["data"] is None, body
    assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_USER_INPUT", "field": ["analytes"]}]
    assert await fx.table_row_counts(app) == before


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_subscription_with_a_bad_argument_never_starts(settings: Any) -> None:
    # given an investigator's open WebSocket (a synchronous client: WebSockets need one)
    from starlette.testclient import TestClient

    from server.app import create_app
    from server.auth import development_token
    from server.domain.enums import Role

    investigator = development_token(settings, role=Role.INVESTIGATOR, sites=["S01"], subject=None)
    subscription = 'subscription { siteAlerts(siteCodes: ["S\\u0000"]) { siteCode } }'
    with (
        TestClient(create_app(settings)) as tc,
        tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {investigator}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        # when it subscribes to its site's alerts with a NUL in a site code
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
        message, end = ws.receive_json(), ws.receive_json()
    # then the operation ends at once with the argument's error
    assert (message["type"], message["payload"]["data"], end["type"]) == ("next", None, "complete"), message
    errors = message["payload"]["errors"]
    assert [e["extensions"] for e in errors] == [{"code": "BAD_USER_INPUT", "field": ["siteCodes", "0"]}], message


# 6. clientReportId --------------------------------------------------------------------------

SUBMIT = """mutation($input: SubmitBleedingReportInput!) { submitBleedingReport(input: $input) {
  __typename ... on BleedingReportAccepted { duplicate report { id clientReportId adverseEvents { id } } }
  ... on UserError { code field } } }"""


def report_input(client_report_id: str, symptoms: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    noticed = datetime.now(UTC) - timedelta(hours=2)
    return {
        "clientReportId": client_report_id,
        "noticedAt": noticed.isoformat(),
        "deviceEnteredAt": (noticed + timedelta(minutes=1)).isoformat(),
        "symptoms": symptoms or [{"site": "NOSE", "durationMinutes": 20}],
    }


@pytest.mark.parametrize("spelling", [lambda u: f"urn:uuid:{u}", lambda u: f"{{{u}}}", lambda u: f"{u}-0"])
async def test_a_client_report_id_in_another_notation_is_refused(
    gql: Any, world: dict[str, str], spelling: Any
) -> None:
    # given a UUID written as a URN, in braces or with a tail
    values = report_input(spelling(str(uuid.uuid4())))
    # when the patient submits it
    result = (await gql.data(world["patient"], SUBMIT, {"input": values}))["submitBleedingReport"]
    # then an InputError on the id
    assert result == {"__typename": "InputError", "code": "INVALID_FORMAT", "field": ["clientReportId"]}


async def test_the_same_uuid_spelled_differently_is_the_same_report(gql: Any, world: dict[str, str]) -> None:
    # given a report submitted with an upper-case hyphenated id
    given = uuid.uuid4()
    values = report_input(str(given).upper())
    first = (await gql.data(world["patient"], SUBMIT, {"input": values}))["submitBleedingReport"]
    # when the phone resends it as 32 lower-case hex digits
    resent = {**values, "clientReportId": given.hex}
    again = (await gql.data(world["patient"], SUBMIT, {"input": resent}))["submitBleedingReport"]
    # then it is the original report, stored in canonical form
    assert first["report"]["clientReportId"] == str(given)
    assert again["duplicate"] is True and again["report"]["id"] == first["report"]["id"]


# 8. Analysts' lost rows ---------------------------------------------------------------------

SUBJECT_EVENTS = (
    """query($code: String!) { subject(code: $code) { code adverseEvents { id bleedingReports { id } } } }"""
)


@pytest.mark.parametrize("role", ["analyst", "coordinator"])
async def test_a_report_supporting_two_events_is_shown_under_both(gql: Any, world: dict[str, str], role: str) -> None:
    # given one diary report with a nosebleed and blood in the urine: two provisional events
    symptoms = [{"site": "NOSE", "durationMinutes": 20}, {"site": "URINE"}]
    values = report_input(str(uuid.uuid4()), symptoms)
    result = (await gql.data(world["patientB"], SUBMIT, {"input": values}))["submitBleedingReport"]
    assert result["__typename"] == "BleedingReportAccepted", result  # patients read no event records
    # when an analyst or a coordinator reads the subject's events with their reports
    data = await gql.data(world[role], SUBJECT_EVENTS, {"code": B})
    # then the subject is there and each event shows the report
    events = data["subject"]["adverseEvents"]
    assert len(events) == 2 and all(e["bleedingReports"] == [{"id": result["report"]["id"]}] for e in events)


# 9. Existence oracle ------------------------------------------------------------------------


async def test_enrolling_another_sites_code_does_not_reveal_it_exists(gql: Any, world: dict[str, str]) -> None:
    # given S02-001 enrolled at S02, and a code nobody uses
    # when a coordinator of S01 tries both
    taken = await fx.mutate(
        gql, world["coordinator"], "enrollSubject", "EnrollSubjectInput", fx.subject_input(C, "S01"), ""
    )
    mine = await fx.mutate(
        gql, world["coordinator"], "enrollSubject", "EnrollSubjectInput", fx.subject_input(A, "S01"), ""
    )
    # then the other site's code gets the neutral refusal; a code the caller can see, DUPLICATE
    assert (taken["code"], taken["field"]) == ("NOT_ALLOWED", ["code"]) and C not in taken["message"]
    assert mine["code"] == "DUPLICATE"


async def test_another_sites_record_and_a_missing_id_get_the_same_answer(gql: Any, world: dict[str, str]) -> None:
    # given a platelet count at S02, and the same kind of id that does not exist
    other = await fx.record_count(gql, world["admin"], C)
    from server.schema.common.ids import decode_id, encode_id

    decoded = decode_id(other)
    assert decoded is not None
    kind = decoded[0]
    missing = encode_id(kind, 999_999)
    # when a coordinator of S01 voids both
    answers = [
        await fx.mutate(gql, world["coordinator"], "voidRecord", "VoidRecordInput", {"id": i, "reason": "x"}, "")
        for i in (other, missing)
    ]
    # then the answers are identical
    assert answers[0] == answers[1] and answers[0]["code"] == "NOT_FOUND", answers


# 10. Audit ----------------------------------------------------------------------------------


async def test_truncating_the_audit_trail_is_refused(app: Any, world: dict[str, str]) -> None:
    # given a PostgreSQL database with audit rows (SQLite has no TRUNCATE)
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    # when the table's owner truncates audit_event
    # then the database refuses
    with pytest.raises(DBAPIError, match="append-only"):
        async with app.state.engine.begin() as conn:
            await conn.execute(text("TRUNCATE audit_event"))
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM audit_event"))).scalar_one() > 0


async def test_resolving_an_event_needs_a_reason(gql: Any, world: dict[str, str]) -> None:
    # given a provisional event from a diary report
    await gql.data(world["patient"], SUBMIT, {"input": report_input(str(uuid.uuid4()))})
    events = (await gql.data(world["investigator"], SUBJECT_EVENTS, {"code": A}))["subject"]["adverseEvents"]
    event_id = events[0]["id"]
    values = {"id": event_id, "resolutionDate": datetime.now(UTC).date().isoformat(), "outcome": "RECOVERED_RESOLVED"}
    # when an investigator resolves it without a reason
    answer = await fx.mutate(gql, world["investigator"], "resolveAdverseEvent", "ResolveAdverseEventInput", values, "")
    # then REQUIRED on the reason
    assert (answer["code"], answer["field"]) == ("REQUIRED", ["reason"])


# 7. Malformed HTTP bodies -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[" * 200_000 + b"]" * 200_000, b"\xff" * 100, b'"abc"', b'[{"query": "{ viewer { role } }"}]', b"42"],
    ids=["deeply-nested", "not-utf8", "string", "array", "number"],
)
async def test_a_malformed_body_is_a_json_400(client: Any, world: dict[str, str], body: bytes) -> None:
    # given a body that is not a JSON object
    # when it is POSTed to /graphql
    response = await post_raw(client, world["coordinator"], body)
    # then 400 with a GraphQL-style error body
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}
