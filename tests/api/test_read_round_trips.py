"""What a read costs in SQL: totalCount only when asked for, and the round trips of simple reads
counted from PostgreSQL's own statement log (tests/statement_log.py)."""

from __future__ import annotations

from typing import Any

import pytest

from .fixtures_data import create_site, enroll_subject, record_therapy, record_transfusion


def counts(statements: list[str]) -> int:
    return sum("count(" in statement.lower() for statement in statements)


@pytest.fixture
async def two_subjects(gql: Any, token: Any) -> str:
    admin = token("admin")
    await create_site(gql, admin, "S01")
    for code in ("S01-001", "S01-002"):
        await enroll_subject(gql, admin, code, "S01")
        await record_therapy(gql, admin, code)
    return admin


@pytest.mark.parametrize(
    ("connection", "node"),
    [("subjects", "code"), ("therapies", "name"), ("subjects(sustainedResponse: false)", "code")],
)
async def test_total_count_is_counted_only_when_selected(gql, two_subjects, sql_statements, connection, node):
    admin = two_subjects
    # when: a page without totalCount, then the same page with it
    before = len(sql_statements.statements)
    page = await gql.data(admin, f"{{ {connection} {{ edges {{ node {{ {node} }} }} }} }}")
    without = sql_statements.statements[before:]
    before = len(sql_statements.statements)
    counted = await gql.data(admin, f"{{ {connection} {{ totalCount edges {{ node {{ {node} }} }} }} }}")
    with_total = sql_statements.statements[before:]
    # then: the same rows; a count(*) only in the second (none where the rows were all read anyway),
    # on the stock path and in the planned statement alike (on PostgreSQL the test client runs a
    # planned query both ways: server.schema.execution.planner)
    name = connection.split("(")[0]
    assert len(page[name]["edges"]) == 2
    assert counted[name]["totalCount"] == 2 and counted[name]["edges"] == page[name]["edges"]
    for path in (stock, planned):
        assert counts(path(without)) == 0, without
    assert counts(stock(with_total)) == (0 if "sustainedResponse" in connection else 1), with_total
    assert counts(planned(with_total)) == len(planned(with_total)), with_total


def planned(statements: list[str]) -> list[str]:
    return [s for s in statements if "json_build_object" in s]


def stock(statements: list[str]) -> list[str]:
    return [s for s in statements if "json_build_object" not in s]


SUBJECT_READ = '{ subject(code: "S01-001") { code status } }'
ANALYST_READ = "{ viewer { role } trial { protocolParameters { version } } }"


PHONE_READ = '{ subject(code: "S01-001") { code status transfusions(last: 10) { id startedAt doseE11 cciEarly cciLate response { category } } } }'
SITE_READ = '{ subjects(first: 50, siteCodes: ["S01"]) { totalCount pageInfo { hasNextPage endCursor } edges { node { code transfusions { id startedAt doseE11 cciEarly cciLate response { category } } } } } }'


async def _post(client: Any, token: str, query: str) -> dict[str, Any]:
    """One request, without the test client's second run of planned queries on the stock path."""
    response = await client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    return response.json()["data"]


async def test_simple_reads_in_round_trips_as_postgresql_logs_them(client, token, two_subjects, pg_statement_log):
    # given: a patient and an analyst, each of whom has read once (connections made, statements
    # prepared, the protocol parameters held by the process)
    patient, analyst = token("patient", subject="S01-001"), token("analyst")
    assert (await _post(client, patient, SUBJECT_READ))["subject"] == {"code": "S01-001", "status": "ENROLLED"}
    assert (await _post(client, analyst, ANALYST_READ))["trial"] == {"protocolParameters": {"version": 1}}
    # when: they read again
    async with pg_statement_log.capture() as patient_read:
        await _post(client, patient, SUBJECT_READ)
    async with pg_statement_log.capture() as analyst_read:
        await _post(client, analyst, ANALYST_READ)
    # then: the patient's read is one planned statement, outside a transaction (no checkout ping,
    # no BEGIN/ROLLBACK); the analyst's needs the database not at all (no re-read of the trial
    # and its parameters)
    assert patient_read.round_trips == 1, patient_read.report()
    assert "json_build_object" in patient_read.statements[0]
    assert analyst_read.round_trips == 0, analyst_read.report()


@pytest.mark.parametrize(("who", "query"), [("patient", PHONE_READ), ("coordinator", SITE_READ)])
async def test_a_phone_read_and_a_site_view_are_one_round_trip_whatever_the_rows(
    client, token, two_subjects, pg_statement_log, gql, who, query
):
    # given: two subjects, one with many transfusions, read once to warm up
    coordinator = token("coordinator", "S01")
    for day in range(1, 21):
        await record_transfusion(
            gql, coordinator, "S01-001", start=f"2026-03-{day:02}T08:00:00Z", end=f"2026-03-{day:02}T08:30:00Z"
        )
    caller = token("patient", subject="S01-001") if who == "patient" else coordinator
    await _post(client, caller, query)
    # when: the read is sent again
    async with pg_statement_log.capture() as seen:
        data = await _post(client, caller, query)
    # then: one statement answered it, however many rows it holds (issue 11: <= 3 round trips)
    subject = data["subject"] if who == "patient" else data["subjects"]["edges"][0]["node"]
    assert len(subject["transfusions"]) == (10 if who == "patient" else 20)
    assert seen.round_trips == 1, seen.report()
