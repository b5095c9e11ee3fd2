"""What a read costs in SQL: totalCount only when asked for, and the round trips of simple reads
counted from PostgreSQL's own statement log (tests/statement_log.py)."""

from __future__ import annotations

from typing import Any

import pytest

from .fixtures_data import create_site, enroll_subject, record_therapy


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
    # then: the same rows; a count(*) only in the second (none where the rows were all read anyway)
    name = connection.split("(")[0]
    assert len(page[name]["edges"]) == 2
    assert counted[name]["totalCount"] == 2 and counted[name]["edges"] == page[name]["edges"]
    assert counts(without) == 0, without
    assert counts(with_total) == (0 if "sustainedResponse" in connection else 1), with_total


SUBJECT_READ = '{ subject(code: "S01-001") { code status } }'
ANALYST_READ = "{ viewer { role } trial { protocolParameters { version } } }"


async def test_simple_reads_in_round_trips_as_postgresql_logs_them(gql, token, two_subjects, pg_statement_log):
    # given: a patient and an analyst, each of whom has read once (connections made, statements
    # prepared, the protocol parameters held by the process)
    patient, analyst = token("patient", subject="S01-001"), token("analyst")
    assert (await gql.data(patient, SUBJECT_READ))["subject"] == {"code": "S01-001", "status": "ENROLLED"}
    assert (await gql.data(analyst, ANALYST_READ))["trial"] == {"protocolParameters": {"version": 1}}
    # when: they read again
    async with pg_statement_log.capture() as patient_read:
        await gql.data(patient, SUBJECT_READ)
    async with pg_statement_log.capture() as analyst_read:
        await gql.data(analyst, ANALYST_READ)
    # then: the patient's read is its transaction and one statement (no checkout ping); the
    # analyst's needs the database not at all (no re-read of the trial and its parameters)
    assert [s.split()[0] for s in patient_read.statements] == ["BEGIN", "SELECT", "ROLLBACK;"], patient_read.report()
    assert "FROM subject" in patient_read.statements[1]
    assert analyst_read.round_trips == 0, analyst_read.report()
