"""What a read costs in SQL: totalCount only when asked for."""

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

