"""The patients' bleeding diary over HTTP (DOMAIN.md, "Bleeding reported by patients"): exactly-once
submission under concurrency, receipt times and the late flag, who may submit and annotate, phone
syncing, the result the phone shows, provisional adverse events with episode merging, and the
site alert inbox.

World: sites S01 and S02; patients S01-001 and S01-002 at S01 (S01-001 with a CD19 infusion on
2026-02-07), S02-001 at S02. Times are relative to now: the server refuses future times."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from tests.api import fixtures_data as fx

A, B, C = "S01-001", "S01-002", "S02-001"
EPISTAXIS, UPPER_GI = 10015090, 10055356

SUBMIT = """
mutation($input: SubmitBleedingReportInput!) {
  submitBleedingReport(input: $input) {
    __typename
    ... on BleedingReportAccepted {
      duplicate provisionalWhoGrade redFlags callSiteNow alertRaised advice late dayWhoGrade localDate
      report {
        id clientReportId noticedAt deviceEnteredAt deviceUtcOffsetMinutes deviceSubmittedAt receivedAt late
        provisionalWhoGrade redFlags reviewStatus note
        symptoms { site durationMinutes provisionalWhoGrade }
        adverseEvents { id meddraCode term grade status source gradingScale onsetDate }
      }
    }
    ... on UserError { code message field }
    ... on InputError { problems { code field } }
  }
}"""

MY_REPORTS = """
query($after: String, $first: Int) {
  myBleedingReports(after: $after, first: $first) {
    edges { cursor node { id clientReportId provisionalWhoGrade reviewStatus } }
    pageInfo { hasNextPage endCursor }
  }
}"""

ALERTS = """
query($unacknowledgedOnly: Boolean!) {
  alerts(unacknowledgedOnly: $unacknowledgedOnly) {
    edges { node { id siteCode subjectCode bleedingReportId redFlags provisionalWhoGrade message
                   acknowledgedAt acknowledgedBy } }
  }
}"""

ACKNOWLEDGE = """
mutation($input: AcknowledgeAlertInput!) {
  acknowledgeAlert(input: $input) {
    __typename ... on AlertSuccess { alert { id acknowledgedAt acknowledgedBy } } ... on UserError { code field }
  }
}"""

ANNOTATE = """
mutation($input: AnnotateBleedingReportInput!) {
  annotateBleedingReport(input: $input) {
    __typename
    ... on AnnotationSuccess { report { id annotations { text reason actorId } } }
    ... on UserError { code field }
  }
}"""

REVIEW = """
mutation($input: ReviewAdverseEventInput!) {
  reviewAdverseEvent(input: $input) { __typename ... on AdverseEventSuccess { adverseEvent { id status } }
                                      ... on UserError { code field } }
}"""

RESOLVE = """
mutation($input: ResolveAdverseEventInput!) {
  resolveAdverseEvent(input: $input) { __typename ... on UserError { code field } }
}"""

EVENTS = """
query($subjectCode: String) {
  adverseEvents(subjectCode: $subjectCode, first: 100) {
    totalCount
    edges { node { id meddraCode term grade status source onsetDate bleedingReports { id } } }
  }
}"""

SUBJECT_REPORTS = """
query($code: String!) {
  subject(code: $code) {
    bleedingReports {
      id clientReportId noticedAt deviceEnteredAt deviceUtcOffsetMinutes receivedAt late note provisionalWhoGrade
      redFlags symptoms { site durationMinutes stopped medicalHelpNeeded }
      annotations { text reason actorId }
    }
  }
}"""

AUDIT = """
query($subjectCode: String, $entity: String) {
  auditEvents(subjectCode: $subjectCode, entity: $entity, first: 100) {
    edges { node { entity entityId action changes reason actorId } }
  }
}"""

# Symptoms as the phone sends them.
NOSE_20 = {"site": "NOSE", "durationMinutes": 20}  # WHO 1, Epistaxis grade 1, no red flag
NOSE_45 = {"site": "NOSE", "durationMinutes": 45}  # WHO 2 (> 30 min), no red flag (<= 60 min)
VOMIT = {"site": "VOMIT"}  # WHO 2, red flag VOMITING_BLOOD


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def report_input(noticed: datetime | None = None, symptoms: list[dict[str, Any]] | None = None, **extra: Any) -> dict:
    """A valid diary report noticed two hours ago (by default), entered a minute after noticing."""
    noticed = noticed or now() - timedelta(hours=2)
    values: dict[str, Any] = {
        "clientReportId": str(uuid.uuid4()),
        "noticedAt": iso(noticed),
        "deviceEnteredAt": iso(noticed + timedelta(minutes=1)),
        "symptoms": [NOSE_20] if symptoms is None else symptoms,
    }
    return {**values, **extra}


async def submit(gql: Any, token: str, values: dict[str, Any]) -> dict[str, Any]:
    return (await gql.data(token, SUBMIT, {"input": values}))["submitBleedingReport"]


async def accepted(gql: Any, token: str, values: dict[str, Any]) -> dict[str, Any]:
    result = await submit(gql, token, values)
    assert result["__typename"] == "BleedingReportAccepted", result
    return result


REPORT_EVENTS = """
query($code: String!) {
  subject(code: $code) {
    bleedingReports { id adverseEvents { id meddraCode term grade status source gradingScale onsetDate } }
  }
}"""


async def seen_by_staff(gql: Any, world: dict[str, str], values: dict[str, Any]) -> dict[str, Any]:
    """The patient's submission, answered without adverse-event records (they are the
    investigators': DOMAIN.md), with the report's events filled in as its site's investigator reads them."""
    result = await accepted(gql, world["patient"], values)
    assert result["report"]["adverseEvents"] == []
    reports = (await gql.data(world["investigator"], REPORT_EVENTS, {"code": A}))["subject"]["bleedingReports"]
    [events] = [r["adverseEvents"] for r in reports if r["id"] == result["report"]["id"]]
    return {**result, "report": {**result["report"], "adverseEvents": events}}


async def events_of(gql: Any, token: str, code: str) -> list[dict[str, Any]]:
    data = await gql.data(token, EVENTS, {"subjectCode": code})
    return [edge["node"] for edge in data["adverseEvents"]["edges"]]


async def alerts_of(gql: Any, token: str, unacknowledged_only: bool = False) -> list[dict[str, Any]]:
    data = await gql.data(token, ALERTS, {"unacknowledgedOnly": unacknowledged_only})
    return [edge["node"] for edge in data["alerts"]["edges"]]


async def audit_rows(gql: Any, admin: str, code: str, *entities: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entity in entities:
        data = await gql.data(admin, AUDIT, {"subjectCode": code, "entity": entity})
        rows += [edge["node"] for edge in data["auditEvents"]["edges"]]
    return rows


SAFETY_TABLES = (
    "site",
    "subject",
    "bleeding_report",
    "bleeding_report_annotation",
    "adverse_event",
    "adverse_event_report",
    "alert",
    "audit_event",
)


async def safety_rows(app: Any) -> dict[str, int]:
    """Rows of each table the diary and the safety workflow write, straight from the database."""
    async with app.state.engine.connect() as conn:
        return {
            name: int((await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one())  # noqa: S608
            for name in SAFETY_TABLES
        }


@pytest.fixture
async def world(gql: Any, token: Any) -> dict[str, str]:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.create_site(gql, admin, "S02")
    await fx.enroll_subject(gql, admin, A, "S01")
    await fx.enroll_subject(gql, admin, B, "S01")
    await fx.enroll_subject(gql, admin, C, "S02")
    return {
        "admin": admin,
        "patient": token("patient", subject=A),
        "patientB": token("patient", subject=B),
        "coordinator": token("coordinator", "S01", sub="coord-1"),
        "investigator": token("investigator", "S01", sub="inv-1"),
        "coordinator2": token("coordinator", "S02", sub="coord-2"),
        "investigator2": token("investigator", "S02", sub="inv-2"),
        "monitor": token("monitor", "S01"),
        "analyst": token("analyst"),
    }


# --- exactly once ----------------------------------------------------------------------------------


async def test_fifty_concurrent_identical_submissions_store_one_report_and_one_set_of_events(
    gql: Any, world: dict[str, str], app: Any, database_url: str
) -> None:
    # given: one report (nosebleed 45 min + vomiting blood: two events and an alert), sent 50 times at once
    values = report_input(symptoms=[NOSE_45, VOMIT], deviceSubmittedAt=iso(now()))
    before = await safety_rows(app)

    # when
    started = time.perf_counter()
    results = await asyncio.gather(*(submit(gql, world["patient"], values) for _ in range(50)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    print(f"\n50 concurrent submissions on {database_url.split(':')[0]}: {elapsed:.2f} s")

    # then: one new report, 49 duplicates, all naming the same report and events
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert [r["__typename"] for r in results] == ["BleedingReportAccepted"] * 50
    assert sorted(r["duplicate"] for r in results) == [False] + [True] * 49
    assert {r["report"]["id"] for r in results} == {results[0]["report"]["id"]}
    assert {tuple(sorted(e["id"] for e in r["report"]["adverseEvents"])) for r in results} == {
        tuple(sorted(e["id"] for e in results[0]["report"]["adverseEvents"]))
    }
    assert all(r["alertRaised"] and r["redFlags"] == ["VOMITING_BLOOD"] for r in results)
    # and exactly one set of everything
    reports = (await gql.data(world["patient"], MY_REPORTS))["myBleedingReports"]["edges"]
    assert [e["node"]["id"] for e in reports] == [results[0]["report"]["id"]]
    events = await events_of(gql, world["admin"], A)
    assert sorted(e["meddraCode"] for e in events) == [EPISTAXIS, UPPER_GI]
    assert len(await alerts_of(gql, world["admin"])) == 1
    audit = await audit_rows(gql, world["admin"], A, "BleedingReport", "AdverseEvent", "Alert")
    assert sorted((row["entity"], row["action"]) for row in audit) == [
        ("AdverseEvent", "CREATE"),
        ("AdverseEvent", "CREATE"),
        ("Alert", "CREATE"),
        ("BleedingReport", "CREATE"),
    ]
    after = await safety_rows(app)
    assert {k: after[k] - before[k] for k in after} == {
        "site": 0,
        "subject": 0,
        "bleeding_report": 1,
        "bleeding_report_annotation": 0,
        "adverse_event": 2,
        "adverse_event_report": 2,
        "alert": 1,
        "audit_event": 4,
    }


async def test_a_retry_with_a_new_device_submit_time_is_the_same_report(gql: Any, world: dict[str, str]) -> None:
    # given
    values = report_input(deviceSubmittedAt=iso(now() - timedelta(minutes=30)))
    first = await seen_by_staff(gql, world, values)

    # when: the phone retries later; only its submit time changed (and the id's letter case)
    retry = await seen_by_staff(gql, world, {**values, "deviceSubmittedAt": iso(now())})
    upper = await seen_by_staff(gql, world, {**values, "clientReportId": values["clientReportId"].upper()})

    # then
    assert (first["duplicate"], retry["duplicate"], upper["duplicate"]) == (False, True, True)
    assert retry["report"]["id"] == upper["report"]["id"] == first["report"]["id"]
    assert retry["report"]["adverseEvents"] == first["report"]["adverseEvents"]
    assert retry["report"]["deviceSubmittedAt"] == first["report"]["deviceSubmittedAt"]  # the original is kept
    assert len(await events_of(gql, world["admin"], A)) == 1


async def test_the_same_id_with_a_different_body_is_refused_and_writes_nothing(
    gql: Any, world: dict[str, str], app: Any
) -> None:
    # given
    values = report_input()
    first = await seen_by_staff(gql, world, values)
    before = await safety_rows(app)

    # when: the same id, a different duration; and the same id from another patient
    changed = await submit(gql, world["patient"], {**values, "symptoms": [NOSE_45]})
    stolen = await submit(gql, world["patientB"], values)

    # then
    for result in (changed, stolen):
        assert (result["__typename"], result["code"], result["field"]) == (
            "ConflictError",
            "IDEMPOTENCY_CONFLICT",
            ["clientReportId"],
        )
    assert await safety_rows(app) == before
    reports = (await gql.data(world["patient"], MY_REPORTS))["myBleedingReports"]["edges"]
    assert [(e["node"]["id"], e["node"]["provisionalWhoGrade"]) for e in reports] == [(first["report"]["id"], 1)]
    assert (await gql.data(world["patientB"], MY_REPORTS))["myBleedingReports"]["edges"] == []


async def test_a_bad_symptom_is_refused_with_its_path_and_nothing_is_written(
    gql: Any, world: dict[str, str], app: Any
) -> None:
    # given: a report that would raise events and an alert, but with a negative duration
    values = report_input(symptoms=[{"site": "NOSE", "durationMinutes": -5}, VOMIT])
    before = await safety_rows(app)

    # when
    result = await submit(gql, world["patient"], values)

    # then
    assert (result["__typename"], result["code"], result["field"]) == (
        "InputError",
        "OUT_OF_RANGE",
        ["symptoms", "0", "durationMinutes"],
    )
    assert result["problems"] == [{"code": "OUT_OF_RANGE", "field": ["symptoms", "0", "durationMinutes"]}]
    assert await safety_rows(app) == before
    assert (await gql.data(world["patient"], MY_REPORTS))["myBleedingReports"]["edges"] == []
    assert await events_of(gql, world["admin"], A) == []
    assert await alerts_of(gql, world["admin"]) == []
    assert await audit_rows(gql, world["admin"], A, "BleedingReport", "AdverseEvent", "Alert") == []
    # and the id was not used up: the corrected report goes through
    fixed = await seen_by_staff(gql, world, {**values, "symptoms": [NOSE_20, VOMIT]})
    assert fixed["duplicate"] is False


@pytest.mark.parametrize(
    ("field", "build"),
    [
        (["clientReportId"], lambda v: {**v, "clientReportId": "not-a-uuid"}),
        (["symptoms"], lambda v: {**v, "symptoms": []}),
        (["noticedAt"], lambda v: {**v, "noticedAt": iso(now() + timedelta(days=1))}),
        (["symptoms", "1", "sizeCm"], lambda v: {**v, "symptoms": [NOSE_20, {"site": "BRUISE", "sizeCm": -1.0}]}),
        (["proCtcae", "nosebleedSeverity"], lambda v: {**v, "proCtcaeNosebleedSeverity": 5}),
    ],
)
async def test_other_bad_reports_are_refused_with_their_field(
    gql: Any, world: dict[str, str], app: Any, field: list[str], build: Any
) -> None:
    # given
    before = await safety_rows(app)

    # when
    result = await submit(gql, world["patient"], build(report_input()))

    # then
    assert (result["__typename"], result["field"]) == ("InputError", field), result
    assert await safety_rows(app) == before


# --- times ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "minutes"), [(timedelta(hours=5, minutes=30), 330), (timedelta(hours=-3, minutes=-30), -210)]
)
async def test_the_server_sets_the_receipt_time_and_keeps_the_device_offset(
    gql: Any, world: dict[str, str], offset: timedelta, minutes: int
) -> None:
    # given: entered on a phone in India (+05:30) or Newfoundland (-03:30)
    entered = (now() - timedelta(hours=1)).astimezone(timezone(offset)).replace(microsecond=0)
    values = report_input(noticed=entered - timedelta(hours=1), deviceEnteredAt=entered.isoformat())
    sent = now()

    # when
    report = (await seen_by_staff(gql, world, values))["report"]

    # then
    received = datetime.fromisoformat(report["receivedAt"])
    assert sent <= received <= now()
    assert report["deviceUtcOffsetMinutes"] == minutes
    assert datetime.fromisoformat(report["deviceEnteredAt"]) == entered
    assert datetime.fromisoformat(report["deviceEnteredAt"]).utcoffset() == timedelta(0)  # shown in UTC
    assert report["late"] is False


@pytest.mark.parametrize(("days_ago", "late"), [(8, True), (6, False)])
async def test_a_report_noticed_beyond_the_entry_window_is_accepted_and_flagged_late(
    gql: Any, world: dict[str, str], days_ago: int, late: bool
) -> None:
    # given: the default entry window is 7 days
    values = report_input(noticed=now() - timedelta(days=days_ago))

    # when
    result = await seen_by_staff(gql, world, values)

    # then
    assert (result["late"], result["report"]["late"]) == (late, late)
    reports = (await gql.data(world["coordinator"], SUBJECT_REPORTS, {"code": A}))["subject"]["bleedingReports"]
    assert [r["late"] for r in reports] == [late]


AMEND_WINDOW = "... on ProtocolParametersSuccess { protocolParameters { version } }"


@pytest.mark.parametrize(("effective_in_days", "late"), [(0, True), (1, False)])
async def test_the_entry_window_in_force_today_decides_late(
    gql: Any, world: dict[str, str], effective_in_days: int, late: bool
) -> None:
    # given: an amendment shortening the entry window to 3 days, effective today or tomorrow
    effective = (now() + timedelta(days=effective_in_days)).date().isoformat()
    variables = {"effectiveFrom": effective, "reason": "Amendment: shorter diary window", "diaryEntryWindowDays": 3}
    amended = await fx.mutate(
        gql, world["admin"], "amendProtocolParameters", "AmendProtocolParametersInput", variables, AMEND_WINDOW
    )
    assert amended["protocolParameters"]["version"] == 2

    # when: a report noticed 5 days ago (within the first version's 7 days)
    result = await accepted(gql, world["patient"], report_input(noticed=now() - timedelta(days=5)))

    # then: late only under the version in force today
    assert (result["late"], result["report"]["late"]) == (late, late)


@pytest.mark.parametrize("name", ["noticedAt", "deviceEnteredAt", "deviceSubmittedAt"])
async def test_naive_times_are_refused(gql: Any, world: dict[str, str], app: Any, name: str) -> None:
    # given
    values = report_input(deviceSubmittedAt=iso(now()))
    values[name] = (now() - timedelta(minutes=30)).replace(tzinfo=None).isoformat()
    before = await safety_rows(app)

    # when
    result = await submit(gql, world["patient"], values)

    # then
    assert (result["__typename"], result["code"], result["field"]) == ("InputError", "INVALID_FORMAT", [name])
    assert await safety_rows(app) == before


# --- who may submit and annotate ----------------------------------------------------------------------


async def test_a_patient_cannot_submit_for_another_subject(gql: Any, world: dict[str, str], app: Any) -> None:
    # given
    before = await safety_rows(app)

    # when
    result = await submit(gql, world["patient"], report_input(subjectCode=B, symptoms=[VOMIT]))
    own = await submit(gql, world["patient"], report_input(subjectCode=A))

    # then
    assert (result["__typename"], result["code"]) == ("PermissionDeniedError", "PERMISSION_DENIED")
    assert own["__typename"] == "BleedingReportAccepted"
    assert (await safety_rows(app))["bleeding_report"] == before["bleeding_report"] + 1
    assert (await gql.data(world["patientB"], MY_REPORTS))["myBleedingReports"]["edges"] == []


async def test_staff_cannot_submit_diary_reports(gql: Any, world: dict[str, str], app: Any) -> None:
    # given
    before = await safety_rows(app)

    # when
    roles = ("coordinator", "investigator", "admin", "monitor", "analyst")
    results = {role: await submit(gql, world[role], report_input(subjectCode=A)) for role in roles}

    # then
    assert {role: (r["__typename"], r["code"]) for role, r in results.items()} == {
        role: ("PermissionDeniedError", "PERMISSION_DENIED") for role in roles
    }
    assert await safety_rows(app) == before


async def test_site_staff_annotate_with_a_reason_and_the_report_stays_as_submitted(
    gql: Any, world: dict[str, str], app: Any
) -> None:
    # given
    report_id = (await seen_by_staff(gql, world, report_input(note="nose again")))["report"]["id"]
    original = (await gql.data(world["coordinator"], SUBJECT_REPORTS, {"code": A}))["subject"]["bleedingReports"]
    annotation = {"id": report_id, "text": "called the patient: 20 min in total", "reason": "phone follow-up"}
    before = await safety_rows(app)

    # when: the patient, staff without a reason, another site's coordinator, a monitor, then the coordinator
    by_patient = await gql.data(world["patient"], ANNOTATE, {"input": annotation})
    no_reason = await gql.data(world["coordinator"], ANNOTATE, {"input": {**annotation, "reason": "  "}})
    no_text = await gql.data(world["coordinator"], ANNOTATE, {"input": {**annotation, "text": ""}})
    other_site = await gql.data(world["coordinator2"], ANNOTATE, {"input": annotation})
    by_monitor = await gql.data(world["monitor"], ANNOTATE, {"input": annotation})
    refused_rows = await safety_rows(app)
    done = await gql.data(world["coordinator"], ANNOTATE, {"input": annotation})

    # then
    assert by_patient["annotateBleedingReport"] == {
        "__typename": "PermissionDeniedError",
        "code": "PERMISSION_DENIED",
        "field": [],
    }
    assert no_reason["annotateBleedingReport"] == {"__typename": "InputError", "code": "REQUIRED", "field": ["reason"]}
    assert no_text["annotateBleedingReport"] == {"__typename": "InputError", "code": "REQUIRED", "field": ["text"]}
    assert other_site["annotateBleedingReport"] == {"__typename": "NotFoundError", "code": "NOT_FOUND", "field": ["id"]}
    assert by_monitor["annotateBleedingReport"]["code"] == "PERMISSION_DENIED"
    assert refused_rows == before
    assert done["annotateBleedingReport"] == {
        "__typename": "AnnotationSuccess",
        "report": {
            "id": report_id,
            "annotations": [{"text": annotation["text"], "reason": "phone follow-up", "actorId": "coord-1"}],
        },
    }
    after = (await gql.data(world["coordinator"], SUBJECT_REPORTS, {"code": A}))["subject"]["bleedingReports"]
    assert [{k: v for k, v in r.items() if k != "annotations"} for r in after] == [
        {k: v for k, v in r.items() if k != "annotations"} for r in original
    ]
    audit = [r for r in await audit_rows(gql, world["admin"], A, "BleedingReport") if r["action"] == "UPDATE"]
    assert audit == [
        {
            "entity": "BleedingReport",
            "entityId": report_id,
            "action": "UPDATE",
            "changes": {"annotation": {"old": None, "new": annotation["text"]}},
            "reason": "phone follow-up",
            "actorId": "coord-1",
        }
    ]


async def test_analysts_get_no_diary_note_or_annotation_text(gql: Any, world: dict[str, str]) -> None:
    # given
    report_id = (await seen_by_staff(gql, world, report_input(note="after brushing teeth")))["report"]["id"]
    annotation = {"id": report_id, "text": "gum bleed, not nose", "reason": "clarified by phone"}
    await gql.data(world["coordinator"], ANNOTATE, {"input": annotation})

    # when
    as_analyst = (await gql.data(world["analyst"], SUBJECT_REPORTS, {"code": A}))["subject"]["bleedingReports"]
    as_staff = (await gql.data(world["coordinator"], SUBJECT_REPORTS, {"code": A}))["subject"]["bleedingReports"]

    # then
    assert [(r["note"], r["annotations"]) for r in as_analyst] == [
        (None, [{"text": None, "reason": None, "actorId": "coord-1"}])
    ]
    assert [(r["note"], r["annotations"][0]["text"]) for r in as_staff] == [
        ("after brushing teeth", "gum bleed, not nose")
    ]


# --- syncing the phone ----------------------------------------------------------------------------------


async def test_my_bleeding_reports_syncs_only_new_reports_with_their_review_status(
    gql: Any, world: dict[str, str]
) -> None:
    # given: two reports (different terms, so two events), and one from another patient
    first = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(hours=5)))
    second = await seen_by_staff(gql, world, report_input(symptoms=[{"site": "URINE"}]))
    await accepted(gql, world["patientB"], report_input(symptoms=[VOMIT]))

    # when: the phone syncs a page of one, then the rest
    page1 = (await gql.data(world["patient"], MY_REPORTS, {"first": 1}))["myBleedingReports"]
    page2 = (await gql.data(world["patient"], MY_REPORTS, {"after": page1["pageInfo"]["endCursor"]}))[
        "myBleedingReports"
    ]

    # then
    assert [(e["node"]["id"], e["node"]["provisionalWhoGrade"], e["node"]["reviewStatus"]) for e in page1["edges"]] == [
        (first["report"]["id"], 1, "PENDING_REVIEW")
    ]
    assert page1["pageInfo"]["hasNextPage"] is True
    assert [(e["node"]["id"], e["node"]["provisionalWhoGrade"]) for e in page2["edges"]] == [
        (second["report"]["id"], 2)
    ]
    assert page2["pageInfo"]["hasNextPage"] is False
    cursor = page2["pageInfo"]["endCursor"]

    # when: nothing new, then a new report, then the investigator confirms the first report's event
    nothing_new = (await gql.data(world["patient"], MY_REPORTS, {"after": cursor}))["myBleedingReports"]
    third = await seen_by_staff(gql, world, report_input(symptoms=[VOMIT]))
    only_new = (await gql.data(world["patient"], MY_REPORTS, {"after": cursor}))["myBleedingReports"]
    event_id = first["report"]["adverseEvents"][0]["id"]
    review = {"id": event_id, "decision": "CONFIRM", "reason": "nosebleed confirmed by phone"}
    assert (await gql.data(world["investigator"], REVIEW, {"input": review}))["reviewAdverseEvent"]["adverseEvent"][
        "status"
    ] == "CONFIRMED"
    everything = (await gql.data(world["patient"], MY_REPORTS))["myBleedingReports"]

    # then
    assert nothing_new == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": cursor}}
    assert [e["node"]["id"] for e in only_new["edges"]] == [third["report"]["id"]]
    assert [(e["node"]["clientReportId"], e["node"]["reviewStatus"]) for e in everything["edges"]] == [
        (first["report"]["clientReportId"], "CONFIRMED"),
        (second["report"]["clientReportId"], "PENDING_REVIEW"),
        (third["report"]["clientReportId"], "PENDING_REVIEW"),
    ]


async def test_a_report_with_no_gradable_symptom_has_no_review_status(gql: Any, world: dict[str, str]) -> None:
    # given: a sudden severe headache only (a red flag, no diary term)
    result = await seen_by_staff(gql, world, report_input(symptoms=[{"site": "HEAD"}]))

    # when
    reports = (await gql.data(world["patient"], MY_REPORTS))["myBleedingReports"]["edges"]

    # then
    assert result["redFlags"] == ["SUDDEN_SEVERE_HEADACHE"]
    assert result["report"]["adverseEvents"] == []
    assert [(e["node"]["provisionalWhoGrade"], e["node"]["reviewStatus"]) for e in reports] == [(None, None)]


async def test_my_bleeding_reports_is_for_patients_only(gql: Any, world: dict[str, str]) -> None:
    # when
    roles = ("coordinator", "investigator", "admin", "monitor", "analyst")
    bodies = {role: await gql(world[role], MY_REPORTS) for role in roles}

    # then
    for role, body in bodies.items():
        assert body["data"] is None, role
        assert [error["extensions"]["code"] for error in body["errors"]] == ["PERMISSION_DENIED"], role


# --- what the phone shows, and the provisional adverse events ---------------------------------------------


async def test_the_phone_result_tells_the_patient_what_to_do(gql: Any, world: dict[str, str]) -> None:
    # when: grade 1 with no red flag; grade 2 with no red flag; a red flag (on three local days: the
    # minutes of one day's reports add up)
    mild = await seen_by_staff(gql, world, report_input(now() - timedelta(days=3), symptoms=[NOSE_20]))
    moderate = await seen_by_staff(gql, world, report_input(now() - timedelta(days=2), symptoms=[NOSE_45]))
    urgent = await seen_by_staff(gql, world, report_input(symptoms=[{"site": "NOSE", "stopped": False}]))

    # then
    def shown(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["provisionalWhoGrade"], r["redFlags"], r["callSiteNow"], r["alertRaised"], r["duplicate"])

    assert shown(mild) == (1, [], False, False, False)
    assert mild["advice"] == "Thank you. Your study team will review this report."
    assert shown(moderate) == (2, [], False, True, False)
    assert moderate["advice"].startswith("Your study team has been told and will contact you.")
    assert shown(urgent) == (1, ["PROLONGED_OR_NOT_STOPPING"], True, True, False)
    assert urgent["advice"].startswith("Call your study site now.")


async def test_a_nosebleed_and_vomited_blood_propose_two_pending_events(gql: Any, world: dict[str, str]) -> None:
    # given: noticed at 23:30 UTC on a +05:30 phone: the patient's own day is the next calendar day
    india = timezone(timedelta(hours=5, minutes=30))
    noticed = (now() - timedelta(days=2)).replace(hour=23, minute=30, second=0, microsecond=0)
    values = report_input(
        noticed=noticed,
        deviceEnteredAt=(noticed + timedelta(minutes=5)).astimezone(india).isoformat(),
        symptoms=[NOSE_45, {**VOMIT, "medicalHelpNeeded": True}],
    )

    # when
    result = await seen_by_staff(gql, world, values)

    # then
    assert (result["provisionalWhoGrade"], result["redFlags"]) == (2, ["VOMITING_BLOOD"])
    assert [(s["site"], s["provisionalWhoGrade"]) for s in result["report"]["symptoms"]] == [("NOSE", 2), ("VOMIT", 2)]
    local_day = (noticed + timedelta(days=1)).date().isoformat()
    assert sorted(
        ({k: v for k, v in e.items() if k != "id"} for e in result["report"]["adverseEvents"]),
        key=lambda e: e["meddraCode"],
    ) == [
        {
            "meddraCode": EPISTAXIS,
            "term": "Epistaxis",
            "grade": 1,
            "status": "PENDING_REVIEW",
            "source": "PATIENT_REPORT",
            "gradingScale": "CTCAE_V5",
            "onsetDate": local_day,
        },
        {
            "meddraCode": UPPER_GI,
            "term": "Upper gastrointestinal hemorrhage",
            "grade": 2,  # medical help was needed
            "status": "PENDING_REVIEW",
            "source": "PATIENT_REPORT",
            "gradingScale": "CTCAE_V5",
            "onsetDate": local_day,
        },
    ]
    assert result["report"]["reviewStatus"] == "PENDING_REVIEW"


async def test_a_continuing_nosebleed_stays_one_event_whose_grade_rises(gql: Any, world: dict[str, str]) -> None:
    # given: a nosebleed two days ago
    day1 = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(days=2), symptoms=[NOSE_20]))
    event_id = day1["report"]["adverseEvents"][0]["id"]

    # when: it continues the next day, needing packing; then again, milder
    day2_symptom = {**NOSE_20, "medicalHelpNeeded": True}
    day2 = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(days=1), symptoms=[day2_symptom]))
    day3 = await seen_by_staff(gql, world, report_input(symptoms=[NOSE_20]))

    # then: one event, supported by all three reports, at the highest proposed grade
    assert [e["id"] for e in day2["report"]["adverseEvents"]] == [event_id]
    assert [e["id"] for e in day3["report"]["adverseEvents"]] == [event_id]
    events = await events_of(gql, world["investigator"], A)
    assert [(e["id"], e["grade"], e["status"]) for e in events] == [(event_id, 2, "PENDING_REVIEW")]
    assert [r["id"] for r in events[0]["bleedingReports"]] == [
        day1["report"]["id"],
        day2["report"]["id"],
        day3["report"]["id"],
    ]
    updates = [r for r in await audit_rows(gql, world["admin"], A, "AdverseEvent") if r["action"] == "UPDATE"]
    assert [(r["entityId"], r["changes"]) for r in updates] == [(event_id, {"grade": {"old": 1, "new": 2}})]
    assert updates[0]["reason"].endswith("proposes a higher grade")


REPORT_STATUSES = """
query($code: String!) { subject(code: $code) { bleedingReports { id status changedAt } } }"""


async def test_a_higher_grade_continuing_a_confirmed_event_puts_it_back_in_review_and_alerts(
    gql: Any, world: dict[str, str]
) -> None:
    # given: a nosebleed three days ago, confirmed by the investigator; the patient sees it reviewed
    first = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(days=3), symptoms=[NOSE_20]))
    [event] = await events_of(gql, world["investigator"], A)
    review = {"id": event["id"], "decision": "CONFIRM", "reason": "seen at the clinic"}
    assert (await gql.data(world["investigator"], REVIEW, {"input": review}))["reviewAdverseEvent"]["adverseEvent"][
        "status"
    ] == "CONFIRMED"
    # and a continuation at the same grade leaves it confirmed, without an alert
    same = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(days=2), symptoms=[NOSE_20]))
    assert same["alertRaised"] is False
    assert [e["status"] for e in await events_of(gql, world["investigator"], A)] == ["CONFIRMED"]
    reviewed = {
        r["id"]: r
        for r in (await gql.data(world["patient"], REPORT_STATUSES, {"code": A}))["subject"]["bleedingReports"]
    }
    assert reviewed[first["report"]["id"]]["status"] == "REVIEWED"

    # when: it continues the next day, needing packing (provisional CTCAE grade 2)
    higher = await accepted(
        gql,
        world["patient"],
        report_input(noticed=now() - timedelta(days=1), symptoms=[{**NOSE_20, "medicalHelpNeeded": True}]),
    )

    # then: the event is back in review at the proposed grade ...
    assert [(e["id"], e["grade"], e["status"]) for e in await events_of(gql, world["investigator"], A)] == [
        (event["id"], 2, "PENDING_REVIEW")
    ]
    # ... the site is alerted about this report ...
    assert higher["alertRaised"] is True
    [alert] = await alerts_of(gql, world["investigator"])
    assert alert["bleedingReportId"] == higher["report"]["id"]
    assert alert["redFlags"] == []
    assert alert["message"] == (
        f"{A}: diary report continues confirmed adverse event Epistaxis (grade 1) with provisional grade 2; "
        "back to investigator review"
    )
    # ... the change is audited with the reason ...
    updates = [r for r in await audit_rows(gql, world["admin"], A, "AdverseEvent") if r["action"] == "UPDATE"]
    assert updates[-1]["changes"] == {
        "status": {"old": "confirmed", "new": "pending_review"},
        "grade": {"old": 1, "new": 2},
    }
    assert "continues this confirmed event with a higher provisional grade (1 -> 2)" in updates[-1]["reason"]
    # ... and the patient's phone sees the earlier reports back in review (changed, RECEIVED again)
    after = {
        r["id"]: r
        for r in (await gql.data(world["patient"], REPORT_STATUSES, {"code": A}))["subject"]["bleedingReports"]
    }
    assert after[first["report"]["id"]]["status"] == "RECEIVED"
    assert after[first["report"]["id"]]["changedAt"] > reviewed[first["report"]["id"]]["changedAt"]


async def test_a_nosebleed_after_a_gap_of_three_days_is_a_new_event(gql: Any, world: dict[str, str]) -> None:
    # given: the default episode gap is 48 h
    old = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(days=4)))

    # when
    new = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(days=1)))

    # then
    old_ids = [e["id"] for e in old["report"]["adverseEvents"]]
    new_ids = [e["id"] for e in new["report"]["adverseEvents"]]
    assert len(old_ids) == len(new_ids) == 1
    assert old_ids != new_ids
    assert [(e["meddraCode"], len(e["bleedingReports"])) for e in await events_of(gql, world["admin"], A)] == [
        (EPISTAXIS, 1),
        (EPISTAXIS, 1),
    ]


@pytest.mark.parametrize("close", ["resolve", "reject"])
async def test_a_nosebleed_after_the_event_was_closed_is_a_new_event(
    gql: Any, world: dict[str, str], close: str
) -> None:
    # given: yesterday's nosebleed, resolved or rejected by the investigator
    first = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(days=1)))
    event_id = first["report"]["adverseEvents"][0]["id"]
    if close == "resolve":
        resolution = {"id": event_id, "resolutionDate": first["report"]["adverseEvents"][0]["onsetDate"]}
        body = await gql.data(
            world["investigator"],
            RESOLVE,
            {"input": {**resolution, "outcome": "RECOVERED_RESOLVED", "reason": "stopped"}},
        )
        assert body["resolveAdverseEvent"]["__typename"] == "AdverseEventSuccess"
    else:
        review = {"id": event_id, "decision": "REJECT", "reason": "it was a nosebleed from a nose piercing"}
        body = await gql.data(world["investigator"], REVIEW, {"input": review})
        assert body["reviewAdverseEvent"]["adverseEvent"]["status"] == "REJECTED"

    # when: a new nosebleed today, within 48 h of the first
    second = await seen_by_staff(gql, world, report_input())

    # then
    new_ids = [e["id"] for e in second["report"]["adverseEvents"]]
    assert len(new_ids) == 1 and new_ids != [event_id]
    assert second["report"]["adverseEvents"][0]["status"] == "PENDING_REVIEW"


# --- the site alert inbox ---------------------------------------------------------------------------------


async def test_an_alert_goes_to_the_subjects_site_only(gql: Any, world: dict[str, str]) -> None:
    # given: a red flag from S01-001
    result = await seen_by_staff(gql, world, report_input(symptoms=[NOSE_20, VOMIT]))

    # when
    seen = {role: await alerts_of(gql, world[role]) for role in world}

    # then
    expected = {
        "siteCode": "S01",
        "subjectCode": A,
        "bleedingReportId": result["report"]["id"],
        "redFlags": ["VOMITING_BLOOD"],
        "provisionalWhoGrade": 2,
        "message": "S01-001: red flag in a bleeding diary report (vomiting blood); contact the patient now",
        "acknowledgedAt": None,
        "acknowledgedBy": None,
    }
    for role in ("coordinator", "investigator", "admin"):
        assert [{k: v for k, v in a.items() if k != "id"} for a in seen[role]] == [expected], role
    for role in ("coordinator2", "investigator2", "monitor", "analyst", "patient", "patientB"):
        assert seen[role] == [], role


async def test_a_grade_two_report_without_a_red_flag_raises_an_alert_and_grade_one_does_not(
    gql: Any, world: dict[str, str]
) -> None:
    # when
    mild = await seen_by_staff(gql, world, report_input(symptoms=[NOSE_20, {"site": "SKIN_SPOTS"}]))
    moderate = await accepted(gql, world["patientB"], report_input(symptoms=[{"site": "URINE"}]))

    # then
    assert (mild["alertRaised"], moderate["alertRaised"]) == (False, True)
    alerts = await alerts_of(gql, world["coordinator"])
    day = moderate["localDate"]
    assert [(a["subjectCode"], a["redFlags"], a["provisionalWhoGrade"], a["message"]) for a in alerts] == [
        (
            B,
            [],
            2,
            f"S01-002: bleeding diary day {day} reached provisional WHO grade 2 (one report that day); "
            "this report alone is grade 2",
        )
    ]


async def test_acknowledging_an_alert(gql: Any, world: dict[str, str], app: Any) -> None:
    # given: two alerts at S01
    await seen_by_staff(gql, world, report_input(symptoms=[VOMIT]))
    await accepted(gql, world["patientB"], report_input(symptoms=[{"site": "STOOL", "blackOrTarry": True}]))
    first, second = await alerts_of(gql, world["coordinator"])

    # when: another site's coordinator, a monitor, then the site's coordinator (twice)
    other_site = (await gql.data(world["coordinator2"], ACKNOWLEDGE, {"input": {"id": first["id"]}}))[
        "acknowledgeAlert"
    ]
    by_monitor = (await gql.data(world["monitor"], ACKNOWLEDGE, {"input": {"id": first["id"]}}))["acknowledgeAlert"]
    before = await safety_rows(app)
    sent = now()
    done = (await gql.data(world["coordinator"], ACKNOWLEDGE, {"input": {"id": first["id"]}}))["acknowledgeAlert"]
    again = (await gql.data(world["investigator"], ACKNOWLEDGE, {"input": {"id": first["id"]}}))["acknowledgeAlert"]

    # then
    assert other_site == {"__typename": "NotFoundError", "code": "NOT_FOUND", "field": ["id"]}
    assert (by_monitor["__typename"], by_monitor["code"]) == ("PermissionDeniedError", "PERMISSION_DENIED")
    assert done["__typename"] == "AlertSuccess"
    assert done["alert"]["id"] == first["id"]
    assert done["alert"]["acknowledgedBy"] == "coord-1"
    assert sent <= datetime.fromisoformat(done["alert"]["acknowledgedAt"]) <= now()
    assert again == {"__typename": "ConflictError", "code": "NO_CHANGE", "field": ["id"]}
    after = await safety_rows(app)
    assert after == {**before, "audit_event": before["audit_event"] + 1}
    assert [a["id"] for a in await alerts_of(gql, world["investigator"], unacknowledged_only=True)] == [second["id"]]
    everything = await alerts_of(gql, world["admin"])
    assert [(a["id"], a["acknowledgedBy"]) for a in everything] == [(first["id"], "coord-1"), (second["id"], None)]
    audit = [r for r in await audit_rows(gql, world["admin"], A, "Alert") if r["action"] == "UPDATE"]
    assert [(r["entityId"], r["actorId"], list(r["changes"])) for r in audit] == [
        (first["id"], "coord-1", ["acknowledged_at"])
    ]


# --- concurrency between the diary and the site ------------------------------------------------------------


async def test_concurrent_reports_of_one_nosebleed_and_its_review_all_succeed(gql: Any, world: dict[str, str]) -> None:
    # given: a pending nosebleed event
    first = await seen_by_staff(gql, world, report_input(noticed=now() - timedelta(hours=6)))
    event_id = first["report"]["adverseEvents"][0]["id"]
    review = {"id": event_id, "decision": "CONFIRM", "reason": "confirmed by phone"}

    # when: the patient sends ten more reports of it while the investigator reviews it
    more = [report_input(symptoms=[{**NOSE_20, "medicalHelpNeeded": True}]) for _ in range(10)]
    calls = [submit(gql, world["patient"], values) for values in more[:5]]
    calls.append(gql(world["investigator"], REVIEW, {"input": review}))
    calls += [submit(gql, world["patient"], values) for values in more[5:]]
    results = list(await asyncio.gather(*calls, return_exceptions=True))

    # then: no request failed (the review used to deadlock with the diary on PostgreSQL)
    assert [r for r in results if isinstance(r, BaseException)] == []
    reviewed = results.pop(5)
    assert "errors" not in reviewed, reviewed
    assert reviewed["data"]["reviewAdverseEvent"]["adverseEvent"]["status"] == "CONFIRMED"
    assert [r["__typename"] for r in results] == ["BleedingReportAccepted"] * 10
    assert {tuple(r["report"]["adverseEvents"]) for r in results} == {()}  # the patient gets no event records
    [event] = await events_of(gql, world["admin"], A)
    assert len(event["bleedingReports"]) == 11
    # the reports propose grade 2: confirmed after one of them raised the pending event, it stays
    # confirmed; confirmed before them (at grade 1), the next one sends it back to review, with an alert
    alerts = [a for a in await alerts_of(gql, world["admin"]) if "back to investigator review" in a["message"]]
    assert (event["grade"], event["status"], len(alerts)) in {(2, "CONFIRMED", 0), (2, "PENDING_REVIEW", 1)}


async def test_an_alert_acknowledged_by_several_people_at_once_is_acknowledged_once(
    gql: Any, world: dict[str, str]
) -> None:
    # given
    await seen_by_staff(gql, world, report_input(symptoms=[VOMIT]))
    [alert] = await alerts_of(gql, world["admin"])

    # when: the coordinator and the investigator both click, five times each
    clicks = [world["coordinator"], world["investigator"]] * 5
    results = await asyncio.gather(
        *(gql.data(who, ACKNOWLEDGE, {"input": {"id": alert["id"]}}) for who in clicks), return_exceptions=True
    )

    # then
    assert [r for r in results if isinstance(r, BaseException)] == []
    outcomes = sorted(r["acknowledgeAlert"]["__typename"] for r in results)
    assert outcomes == ["AlertSuccess"] + ["ConflictError"] * 9
    audit = [r for r in await audit_rows(gql, world["admin"], A, "Alert") if r["action"] == "UPDATE"]
    assert len(audit) == 1
    [stored] = await alerts_of(gql, world["admin"])
    assert stored["acknowledgedBy"] == audit[0]["actorId"]
