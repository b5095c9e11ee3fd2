"""A subject who leaves the trial (withdrawn, screen failed, completed) gets no new phone, their
phones stop working, and their diary takes no more reports; no diary report predates consent.
Over HTTP, SQLite and PostgreSQL.

World: site S01, subject S01-001 (consented 2026-01-10)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.api import fixtures_data as fx
from tests.api.test_devices import CANCEL, DEVICES, activate, error_of, issue

SUBJECT = "S01-001"
SUBMIT = """mutation($input: SubmitBleedingReportInput!) {
  submitBleedingReport(input: $input) {
    __typename
    ... on BleedingReportAccepted { report { id } }
    ... on UserError { code message field }
  }
}"""
# The path to each way of leaving, from the status the subject is enrolled with.
LEAVING = {
    "WITHDRAWN": ("ENROLLED", ["WITHDRAWN"]),
    "SCREEN_FAILED": ("SCREENING", ["SCREEN_FAILED"]),
    "COMPLETED": ("ENROLLED", ["LYMPHODEPLETED", "INFUSED", "FOLLOW_UP", "COMPLETED"]),
}


async def enrolled(gql: Any, token: Any, status: str = "ENROLLED") -> str:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.enroll_subject(gql, admin, SUBJECT, "S01", status=status)
    return admin


async def leave(gql: Any, admin: str, steps: list[str]) -> None:
    for n, status in enumerate(steps):
        await fx.change_status(gql, admin, SUBJECT, status, f"step to {status}", day=f"2026-02-{n + 1:02d}")


def report(noticed: datetime) -> dict[str, Any]:
    return {
        "clientReportId": str(uuid.uuid4()),
        "noticedAt": noticed.isoformat(),
        "deviceEnteredAt": (noticed + timedelta(minutes=1)).isoformat(),
        "symptoms": [{"site": "NOSE", "durationMinutes": 45}],
    }


async def submit(gql: Any, bearer: str, values: dict[str, Any]) -> dict[str, Any]:
    return (await gql.data(bearer, SUBMIT, {"input": values}))["submitBleedingReport"]


async def diary_rows(app: Any) -> dict[str, int]:
    async with app.state.engine.connect() as conn:
        return {
            name: int((await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one())  # noqa: S608
            for name in ("bleeding_report", "adverse_event", "alert")
        }


@pytest.mark.parametrize("left", list(LEAVING))
async def test_no_code_is_issued_for_a_subject_who_left(gql: Any, token: Any, left: str):
    # given
    start, steps = LEAVING[left]
    admin = await enrolled(gql, token, start)
    await leave(gql, admin, steps)
    # when
    result = await issue(gql, token("coordinator", "S01"), SUBJECT)
    # then
    assert (result["__typename"], result["code"], result["field"]) == ("ConflictError", "NOT_ALLOWED", ["subjectCode"])
    assert "no longer in the study" in result["message"]


async def test_withdrawal_revokes_the_phones_and_cancels_unused_codes(client: Any, gql: Any, token: Any, app: Any):
    # given: one connected phone and one code not yet used
    admin = await enrolled(gql, token)
    coordinator = token("coordinator", "S01")
    phone = (await activate(client, (await issue(gql, coordinator))["activation"])).json()
    unused = (await issue(gql, coordinator))["activation"]
    # when
    await leave(gql, admin, ["WITHDRAWN"])
    # then: the phone is revoked and its tokens refused; the unused code no longer works
    body = await gql(phone["accessToken"], "{ viewer { role } }", status=401)
    assert body["errors"][0]["extensions"]["code"] == "DEVICE_REVOKED"
    refreshed = await client.post("/diary/api/token", json={"refreshToken": phone["refreshToken"]})
    assert (refreshed.status_code, error_of(refreshed)) == (401, "DEVICE_REVOKED")
    redeemed = await activate(client, unused)
    assert (redeemed.status_code, error_of(redeemed)) == (401, "ACTIVATION_CODE_EXPIRED")
    listed = (await gql.data(coordinator, DEVICES, {"code": SUBJECT}))["subject"]
    assert [d["revokedReason"] for d in listed["devices"]] == ["subject withdrawn"]
    assert [a["revokedReason"] for a in listed["activations"]] == [None, "subject withdrawn"]
    # and both were audited with the reason, in the status change's transaction
    audit = """{ auditEvents(first: 50) { edges { node { entity action reason } } } }"""
    rows = [e["node"] for e in (await gql.data(admin, audit))["auditEvents"]["edges"]]
    voids = [(r["entity"], r["reason"]) for r in rows if r["action"] == "VOID"]
    assert sorted(voids) == [("DeviceActivation", "subject withdrawn"), ("PatientDevice", "subject withdrawn")]
    # and there is nothing left to cancel
    again = await gql.data(coordinator, CANCEL, {"input": {"subjectCode": SUBJECT, "reason": "left"}})
    assert again["revokeDeviceActivations"]["code"] == "NO_CHANGE"


@pytest.mark.parametrize("left", ["WITHDRAWN", "SCREEN_FAILED"])
async def test_a_subject_who_left_cannot_report_with_a_still_valid_token(gql: Any, token: Any, app: Any, left: str):
    # given: a patient token issued before the subject left, still within its lifetime
    start, steps = LEAVING[left]
    admin = await enrolled(gql, token, start)
    patient = token("patient", subject=SUBJECT)
    await leave(gql, admin, steps)
    before = await diary_rows(app)
    # when
    result = await submit(gql, patient, report(datetime.now(UTC) - timedelta(hours=1)))
    # then
    assert (result["__typename"], result["code"], result["field"]) == ("ConflictError", "NOT_ALLOWED", ["subjectCode"])
    assert "contact your study team" in result["message"]
    assert await diary_rows(app) == before


@pytest.mark.parametrize(
    "noticed", [datetime(999, 1, 1, tzinfo=UTC), datetime(2026, 1, 9, 12, tzinfo=UTC)], ids=["year-999", "eve"]
)
async def test_a_report_noticed_before_consent_is_refused(gql: Any, token: Any, app: Any, noticed: datetime):
    # given
    await enrolled(gql, token)
    before = await diary_rows(app)
    # when
    result = await submit(gql, token("patient", subject=SUBJECT), report(noticed))
    # then: refused in plain words; no report, no provisional adverse event, no alert
    assert (result["__typename"], result["code"], result["field"]) == ("InputError", "OUT_OF_RANGE", ["noticedAt"])
    assert "before you joined the study" in result["message"]
    assert await diary_rows(app) == before


async def test_a_report_noticed_on_the_consent_day_is_accepted(gql: Any, token: Any):
    # given
    await enrolled(gql, token)
    # when
    result = await submit(gql, token("patient", subject=SUBJECT), report(datetime(2026, 1, 10, 9, tzinfo=UTC)))
    # then
    assert result["__typename"] == "BleedingReportAccepted", result
