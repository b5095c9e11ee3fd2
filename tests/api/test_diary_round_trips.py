"""A diary submission (DOMAIN.md, "Bleeding reported by patients") costs a fixed, small number of
SQL statements (issue 11, "Writes"): in its transaction the subject lock (with its site and the
protocol parameters), one read of the day's reports and of a report with the same
clientReportId, the open episodes when the report proposes an adverse event, the writes (INSERT
... RETURNING: nothing re-read; the audit rows in one INSERT; every NOTIFY in one statement); and
outside it only the device check. The answer's review status comes from the use case.

Counted with SQLAlchemy's before_cursor_execute through the diary app's own operation over HTTP
with a device token; `write_statements` keeps those of the unit of work's connection. BEGIN and
COMMIT are not cursor statements on PostgreSQL (asyncpg sends them from its transaction object);
on SQLite BEGIN IMMEDIATE is one.

Statements of the write transaction, before -> after:

| submission | SQLite | PostgreSQL |
| --- | ---: | ---: |
| typical: new report, grade 1, a new provisional event, no alert | 12 -> 8 | 11 -> 7 |
| with an alert: red flag, a new provisional event, the alert, its NOTIFY | 14 -> 9 | 14 -> 9 |
| the same report again (a retry): the original answer | 8 -> 4 | 7 -> 3 |

Round trips of the whole request on PostgreSQL, read from its own log (log_statement=all; the
pool's pre-ping, BEGIN; ; ROLLBACK on each checkout, included), typical submission: 16 = 4 for
the device check (a ping, its SELECT) + 12 for the transaction (a ping, BEGIN, 7, COMMIT); with
an alert 18, a retry 12. Before, the transaction took 4, 5 and 4 more, and the answer's read session 6
(a ping, BEGIN, SELECT, ROLLBACK): 26, 29 and 22."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api import fixtures_data as fx
from tests.conftest import StatementCounter

A, B = "S01-001", "S01-002"

# The diary app's own operation (clients/diary/js/queue.js).
SUBMIT = """mutation Submit($input: SubmitBleedingReportInput!) {
  submitBleedingReport(input: $input) {
    __typename
    ... on BleedingReportAccepted {
      duplicate provisionalWhoGrade dayWhoGrade localDate redFlags callSiteNow alertRaised late
      report { id clientReportId kind localDate noticedAt receivedAt provisionalWhoGrade status redFlags symptoms { site } }
    }
    ... on InputError { problems { field code message } }
    ... on UserError { code message field }
  }
}"""

ISSUE = """mutation($input: IssueDeviceActivationInput!) {
  issueDeviceActivation(input: $input) { ... on DeviceActivationIssued { activationCode } }
}"""

NOSE_20 = {"site": "NOSE", "durationMinutes": 20}  # WHO 1, Epistaxis grade 1, no red flag
VOMIT = {"site": "VOMIT"}  # WHO 2, red flag VOMITING_BLOOD: an alert

# Statements of one submission's write transaction, per backend (see the module's docstring).
EXPECTED = {
    "typical": {"sqlite": 8, "postgresql": 7},
    "alert": {"sqlite": 9, "postgresql": 9},
    "retry": {"sqlite": 4, "postgresql": 3},
}


async def device_token(gql: Any, client: Any, token: Any, code: str) -> str:
    """A phone's access token for the patient: the device check of every request runs too."""
    issued = await gql.data(token("coordinator", "S01"), ISSUE, {"input": {"subjectCode": code}})
    response = await client.post(
        "/diary/api/activate", json={"code": issued["issueDeviceActivation"]["activationCode"]}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["accessToken"])


@pytest.fixture
async def phones(gql: Any, client: Any, token: Any) -> dict[str, str]:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    for code in (A, B):
        await fx.enroll_subject(gql, admin, code, "S01")
    return {code: await device_token(gql, client, token, code) for code in (A, B)}


def report(symptoms: list[dict[str, Any]]) -> dict[str, Any]:
    noticed = datetime.now(UTC) - timedelta(hours=2)
    return {
        "clientReportId": str(uuid.uuid4()),
        "noticedAt": noticed.isoformat(),
        "deviceEnteredAt": (noticed + timedelta(minutes=1)).isoformat(),
        "symptoms": symptoms,
    }


async def submitted(gql: Any, bearer: str, values: dict[str, Any]) -> dict[str, Any]:
    result = (await gql.data(bearer, SUBMIT, {"input": values}))["submitBleedingReport"]
    assert result["__typename"] == "BleedingReportAccepted", result
    return result


def backend(app: Any) -> str:
    return str(app.state.engine.dialect.name)


async def test_a_typical_submission_runs_a_fixed_number_of_statements(
    gql: Any,
    app: Any,
    phones: dict[str, str],
    write_statements: StatementCounter,
    sql_statements: StatementCounter,
) -> None:
    # given: a patient's first report, a 20-minute nosebleed (WHO 1: a new provisional event)

    # when
    result = await submitted(gql, phones[A], report([NOSE_20]))

    # then
    assert (result["duplicate"], result["provisionalWhoGrade"], result["alertRaised"]) == (False, 1, False)
    assert result["report"]["status"] == "RECEIVED"
    assert len(write_statements.statements) == EXPECTED["typical"][backend(app)], write_statements.statements
    # and outside the transaction only the device check (on SQLite in a BEGIN): the answer reads nothing
    outside = [s for s in sql_statements.statements if s not in write_statements.statements and s != "BEGIN"]
    assert len(outside) == 1 and "FROM patient_device" in outside[0], outside


async def test_a_submission_raising_an_alert_runs_a_fixed_number_of_statements(
    gql: Any, app: Any, phones: dict[str, str], write_statements: StatementCounter
) -> None:
    # given: vomiting blood, a red flag (a new provisional event and an alert to the site)

    # when
    result = await submitted(gql, phones[B], report([VOMIT]))

    # then
    assert (result["redFlags"], result["alertRaised"]) == (["VOMITING_BLOOD"], True)
    assert len(write_statements.statements) == EXPECTED["alert"][backend(app)], write_statements.statements


async def test_a_retry_runs_a_fixed_number_of_statements(
    gql: Any, app: Any, phones: dict[str, str], write_statements: StatementCounter
) -> None:
    # given: a report received once
    values = report([NOSE_20])
    first = await submitted(gql, phones[A], values)
    write_statements.statements.clear()

    # when: the phone sends it again (its answer was lost)
    again = await submitted(gql, phones[A], values)

    # then: the original answer, read back without writing
    assert again["duplicate"] is True and again["report"]["id"] == first["report"]["id"]
    assert len(write_statements.statements) == EXPECTED["retry"][backend(app)], write_statements.statements
    assert not [s for s in write_statements.statements if s.startswith(("INSERT", "UPDATE"))]


async def test_the_statement_count_does_not_grow_with_the_patients_earlier_reports(
    gql: Any, app: Any, phones: dict[str, str], write_statements: StatementCounter
) -> None:
    # given: five earlier reports of the same day, each continuing the same nosebleed episode
    for _ in range(5):
        await submitted(gql, phones[A], report([NOSE_20]))
    write_statements.statements.clear()
    one_more = report([NOSE_20])

    # when
    await submitted(gql, phones[A], one_more)

    # then: one read for the day, whatever it holds (the day's grade reached 2: one alert)
    reads_of_reports = [
        s for s in write_statements.statements if s.startswith("SELECT") and "FROM bleeding_report" in s
    ]
    assert len(reads_of_reports) == 1, write_statements.statements
