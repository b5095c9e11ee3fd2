"""Adverse events over HTTP (DOMAIN.md, "Safety workflow"): reporting by site staff with every bad
input refused and nothing written, the investigator's review (confirm, regrade, reject), changes
and resolution with their audit trail, the SAE reporting clock, and the analysts' filtered views
and safety table.

World: sites S01 and S02; S01-001 (CD19 infusion 2026-02-07: study day 0) and S01-002 (never
infused) at S01; S02-001 (CD19 infusion 2026-02-07) at S02."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.schema.common.ids import encode_id
from tests.api import fixtures_data as fx
from tests.api.test_bleeding_diary import report_input, safety_rows, seen_by_staff

A, B, C = "S01-001", "S01-002", "S02-001"
EPISTAXIS, BRUISING, FEVER, CRS, ICANS_TERM = 10015090, 10006504, 10016558, 10052015, 10029205

AE_FIELDS = """
  id subjectCode meddraCode term verbatim grade gradingScale gradingVersion onsetDate onsetStudyDay resolutionDate
  serious seriousCriteria attribution { cd19CarT bcmaCarT lymphodepletion plateletTransfusion }
  expected actionTaken outcome source status awarenessAt sponsorReportedAt saeReportDeadline saeReportOverdue
  reviewReason reviewedBy reviewedAt
"""
ERRORS = "... on UserError { code message field } ... on InputError { problems { code field } }"


def mutation(name: str, input_type: str) -> str:
    return f"""mutation($input: {input_type}!) {{
      {name}(input: $input) {{ __typename ... on AdverseEventSuccess {{ adverseEvent {{ {AE_FIELDS} }} }} {ERRORS} }}
    }}"""


REPORT = mutation("reportAdverseEvent", "ReportAdverseEventInput")
REVIEW = mutation("reviewAdverseEvent", "ReviewAdverseEventInput")
UPDATE = mutation("updateAdverseEvent", "UpdateAdverseEventInput")
RESOLVE = mutation("resolveAdverseEvent", "ResolveAdverseEventInput")

EVENTS = f"""
query($first: Int, $after: String, $subjectCode: String, $siteCodes: [String!], $meddraCodes: [Int!], $minGrade: Int,
      $maxGrade: Int, $serious: Boolean, $sources: [AdverseEventSource!], $statuses: [AdverseEventStatus!],
      $attributionTo: AttributionTarget, $attributionAtLeast: Attribution, $onsetStudyDayFrom: Int,
      $onsetStudyDayTo: Int, $onsetFrom: Date, $onsetTo: Date) {{
  adverseEvents(first: $first, after: $after, subjectCode: $subjectCode, siteCodes: $siteCodes,
                meddraCodes: $meddraCodes, minGrade: $minGrade, maxGrade: $maxGrade, serious: $serious,
                sources: $sources, statuses: $statuses, attributionTo: $attributionTo,
                attributionAtLeast: $attributionAtLeast, onsetStudyDayFrom: $onsetStudyDayFrom,
                onsetStudyDayTo: $onsetStudyDayTo, onsetFrom: $onsetFrom, onsetTo: $onsetTo) {{
    totalCount
    edges {{ cursor node {{ {AE_FIELDS} bleedingReports {{ id note }} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

SUMMARY = """
query($siteCodes: [String!], $minGrade: Int, $serious: Boolean) {
  adverseEventSummary(siteCodes: $siteCodes, minGrade: $minGrade, serious: $serious) {
    meddraCode term soc events subjects subjectsByWorstGrade seriousEvents
  }
}"""

AUDIT = """
query($recordId: ID) {
  auditEvents(recordId: $recordId, first: 100) { edges { node { action actorId actorRole changes reason } } }
}"""


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def ae_input(code: str = A, **overrides: Any) -> dict[str, Any]:
    """A valid ReportAdverseEventInput: a grade 1 nosebleed on study day 10 of S01-001."""
    values: dict[str, Any] = {
        "subjectCode": code,
        "meddraCode": EPISTAXIS,
        "grade": 1,
        "onsetDate": "2026-02-17",
        "awarenessAt": "2026-02-17T09:00:00Z",
        "verbatim": "nosebleed at home, stopped with pressure",
    }
    return {**values, **overrides}


async def run(gql: Any, token: str, query: str, values: dict[str, Any]) -> dict[str, Any]:
    data = await gql.data(token, query, {"input": values})
    return next(iter(data.values()))


async def report(gql: Any, token: str, **overrides: Any) -> dict[str, Any]:
    result = await run(gql, token, REPORT, ae_input(**overrides))
    assert result["__typename"] == "AdverseEventSuccess", result
    return result["adverseEvent"]


async def events(gql: Any, token: str, **filters: Any) -> dict[str, Any]:
    return (await gql.data(token, EVENTS, {"first": 100, **filters}))["adverseEvents"]


async def event_ids(gql: Any, token: str, **filters: Any) -> list[str]:
    return [edge["node"]["id"] for edge in (await events(gql, token, **filters))["edges"]]


async def audit_of(gql: Any, admin: str, record_id: str) -> list[dict[str, Any]]:
    data = await gql.data(admin, AUDIT, {"recordId": record_id})
    return [edge["node"] for edge in data["auditEvents"]["edges"]]


def error(result: dict[str, Any]) -> tuple[str, str, list[str]]:
    return result["__typename"], result.get("code", ""), result.get("field", [])


@pytest.fixture
async def world(gql: Any, token: Any) -> dict[str, str]:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.create_site(gql, admin, "S02")
    for code, site in ((A, "S01"), (B, "S01"), (C, "S02")):
        await fx.enroll_subject(gql, admin, code, site)
    for code in (A, C):
        await fx.change_status(gql, admin, code, "LYMPHODEPLETED", "lymphodepletion started")
        await fx.record_infusion(gql, admin, code, "CD19", "2026-02-07T10:00:00Z")
    return {
        "admin": admin,
        "investigator": token("investigator", "S01", sub="inv-1"),
        "coordinator": token("coordinator", "S01", sub="coord-1"),
        "investigator2": token("investigator", "S02", sub="inv-2"),
        "coordinator2": token("coordinator", "S02", sub="coord-2"),
        "monitor": token("monitor", "S01"),
        "analyst": token("analyst"),
        "patient": token("patient", subject=A),
    }


# --- reporting ----------------------------------------------------------------------------------------


async def test_an_investigator_reports_a_confirmed_event(gql: Any, world: dict[str, str]) -> None:
    # when
    attribution = {"cd19CarT": "POSSIBLE", "lymphodepletion": "UNLIKELY"}
    event = await report(gql, world["investigator"], attribution=attribution, expected=True, actionTaken="PROCEDURE")

    # then
    assert {k: v for k, v in event.items() if k != "id"} == {
        "subjectCode": A,
        "meddraCode": EPISTAXIS,
        "term": "Epistaxis",
        "verbatim": "nosebleed at home, stopped with pressure",
        "grade": 1,
        "gradingScale": "CTCAE_V5",
        "gradingVersion": "CTCAE v5.0",
        "onsetDate": "2026-02-17",
        "onsetStudyDay": 10,
        "resolutionDate": None,
        "serious": False,
        "seriousCriteria": [],
        "attribution": {
            "cd19CarT": "POSSIBLE",
            "bcmaCarT": None,
            "lymphodepletion": "UNLIKELY",
            "plateletTransfusion": None,
        },
        "expected": True,
        "actionTaken": "PROCEDURE",
        "outcome": None,
        "source": "INVESTIGATOR",
        "status": "CONFIRMED",
        "awarenessAt": "2026-02-17T09:00:00+00:00",
        "sponsorReportedAt": None,
        "saeReportDeadline": None,
        "saeReportOverdue": False,
        "reviewReason": None,
        "reviewedBy": None,
        "reviewedAt": None,
    }
    [created] = await audit_of(gql, world["admin"], event["id"])
    assert (created["action"], created["actorId"], created["actorRole"], created["reason"]) == (
        "CREATE",
        "inv-1",
        "INVESTIGATOR",
        None,
    )
    assert {k: created["changes"][k]["new"] for k in ("term", "grade", "status", "source", "attribution_cd19")} == {
        "term": "Epistaxis",
        "grade": 1,
        "status": "confirmed",
        "source": "investigator",
        "attribution_cd19": "possible",
    }


async def test_a_coordinators_event_awaits_review_and_an_admins_is_confirmed(gql: Any, world: dict[str, str]) -> None:
    # when
    by_coordinator = await report(gql, world["coordinator"])
    by_admin = await report(gql, world["admin"], code=C)

    # then
    assert (by_coordinator["status"], by_coordinator["source"]) == ("PENDING_REVIEW", "INVESTIGATOR")
    assert (by_admin["status"], by_admin["subjectCode"]) == ("CONFIRMED", C)


@pytest.mark.parametrize(
    ("scale", "grade", "code"), [("ASTCT_2019", 3, CRS), ("ASTCT_2019", 2, ICANS_TERM), ("CTCAE_V5", 2, ICANS_TERM)]
)
async def test_crs_and_icans_take_the_astct_scale(
    gql: Any, world: dict[str, str], scale: str, grade: int, code: int
) -> None:
    # when
    event = await report(gql, world["investigator"], meddraCode=code, grade=grade, gradingScale=scale)

    # then
    assert (event["meddraCode"], event["grade"], event["gradingScale"]) == (code, grade, scale)


BAD_REPORTS: list[tuple[str, str, dict[str, Any], tuple[str, str, list[str]]]] = [
    # (name, token, input overrides, expected error)
    (
        "grade the term lacks",
        "investigator",
        {"meddraCode": BRUISING, "grade": 3},
        ("InputError", "NOT_ALLOWED", ["grade"]),
    ),
    ("unknown MedDRA code", "investigator", {"meddraCode": 10000001}, ("InputError", "NOT_ALLOWED", ["meddraCode"])),
    (
        "CRS on the CTCAE scale",
        "investigator",
        {"meddraCode": CRS, "grade": 2, "gradingScale": "CTCAE_V5"},
        ("InputError", "NOT_ALLOWED", ["gradingScale"]),
    ),
    (
        "ASTCT grade 6",
        "investigator",
        {"meddraCode": CRS, "grade": 6, "gradingScale": "ASTCT_2019"},
        ("InputError", "OUT_OF_RANGE", ["grade"]),
    ),
    (
        "resolution before onset",
        "investigator",
        {"resolutionDate": "2026-02-16"},
        ("InputError", "INVALID_ORDER", ["resolutionDate"]),
    ),
    ("serious without a criterion", "investigator", {"serious": True}, ("InputError", "REQUIRED", ["seriousCriteria"])),
    (
        "a criterion on a non-serious event",
        "investigator",
        {"seriousCriteria": ["HOSPITALIZATION"]},
        ("InputError", "INVALID_ORDER", ["serious"]),
    ),
    (
        "grade 5 not fatal",
        "investigator",
        {"grade": 5, "outcome": "RECOVERED_RESOLVED"},
        ("InputError", "INVALID_ORDER", ["outcome"]),
    ),
    ("future onset", "investigator", {"onsetDate": "2099-01-01"}, ("InputError", "IN_FUTURE", ["onsetDate"])),
    (
        "future awareness",
        "investigator",
        {"awarenessAt": "2099-01-01T00:00:00Z"},
        ("InputError", "IN_FUTURE", ["awarenessAt"]),
    ),
    (
        "naive awareness",
        "investigator",
        {"awarenessAt": "2026-02-17T09:00:00"},
        ("InputError", "INVALID_FORMAT", ["awarenessAt"]),
    ),
    (
        "future sponsor report",
        "investigator",
        {"sponsorReportedAt": "2099-01-01T00:00:00Z"},
        ("InputError", "IN_FUTURE", ["sponsorReportedAt"]),
    ),
    ("verbatim too long", "investigator", {"verbatim": "x" * 5000}, ("InputError", "TOO_LONG", ["verbatim"])),
    ("unknown subject", "investigator", {"subjectCode": "S01-999"}, ("NotFoundError", "NOT_FOUND", ["subjectCode"])),
    ("other site's subject", "investigator", {"subjectCode": C}, ("NotFoundError", "NOT_FOUND", ["subjectCode"])),
    ("other site's coordinator", "coordinator2", {}, ("NotFoundError", "NOT_FOUND", ["subjectCode"])),
    ("analyst", "analyst", {}, ("PermissionDeniedError", "PERMISSION_DENIED", [])),
    ("monitor", "monitor", {}, ("PermissionDeniedError", "PERMISSION_DENIED", [])),
    ("patient", "patient", {}, ("PermissionDeniedError", "PERMISSION_DENIED", [])),
]


async def test_every_bad_report_is_refused_with_its_field_and_writes_nothing(
    gql: Any, world: dict[str, str], app: Any
) -> None:
    # given
    before = await safety_rows(app)

    # when
    results = {name: await run(gql, world[who], REPORT, ae_input(**bad)) for name, who, bad, _ in BAD_REPORTS}

    # then
    assert {name: error(result) for name, result in results.items()} == {name: exp for name, _, _, exp in BAD_REPORTS}
    assert await safety_rows(app) == before
    assert (await events(gql, world["admin"]))["totalCount"] == 0


async def test_an_input_error_lists_every_problem(gql: Any, world: dict[str, str]) -> None:
    # when: a serious event with no criterion, resolved before onset, graded beyond its term
    bad = {"meddraCode": BRUISING, "grade": 3, "serious": True, "resolutionDate": "2026-02-01"}
    result = await run(gql, world["investigator"], REPORT, ae_input(**bad))

    # then
    assert sorted((p["code"], p["field"]) for p in result["problems"]) == [
        ("INVALID_ORDER", ["resolutionDate"]),
        ("NOT_ALLOWED", ["grade"]),
        ("REQUIRED", ["seriousCriteria"]),
    ]


# --- review -------------------------------------------------------------------------------------------


async def test_the_investigator_confirms_regrades_or_rejects_with_a_reason(
    gql: Any, world: dict[str, str], app: Any
) -> None:
    # given: three events a coordinator entered
    nosebleed = await report(gql, world["coordinator"])
    bruise = await report(gql, world["coordinator"], meddraCode=BRUISING)
    fever = await report(gql, world["coordinator"], meddraCode=FEVER)
    before = await safety_rows(app)

    # when: refused reviews
    def review(event: dict[str, Any], decision: str, reason: str = "reviewed the chart", **more: Any) -> dict:
        return {"id": event["id"], "decision": decision, "reason": reason, **more}

    refused = {
        "coordinator": await run(gql, world["coordinator"], REVIEW, review(nosebleed, "CONFIRM")),
        "other site": await run(gql, world["investigator2"], REVIEW, review(nosebleed, "CONFIRM")),
        "no reason": await run(gql, world["investigator"], REVIEW, review(nosebleed, "CONFIRM", " ")),
        "confirm at another grade": await run(
            gql, world["investigator"], REVIEW, review(nosebleed, "CONFIRM", grade=2)
        ),
        "regrade without grade": await run(gql, world["investigator"], REVIEW, review(bruise, "REGRADE")),
        "regrade beyond the term": await run(gql, world["investigator"], REVIEW, review(bruise, "REGRADE", grade=3)),
        "reject without reason": await run(gql, world["investigator"], REVIEW, review(fever, "REJECT", "")),
        "not an adverse event id": await run(
            gql, world["investigator"], REVIEW, {**review(fever, "REJECT"), "id": encode_id("Alert", 1)}
        ),
    }

    # then
    assert {name: error(result) for name, result in refused.items()} == {
        "coordinator": ("PermissionDeniedError", "PERMISSION_DENIED", []),
        "other site": ("NotFoundError", "NOT_FOUND", ["id"]),
        "no reason": ("InputError", "REQUIRED", ["reason"]),
        "confirm at another grade": ("InputError", "NOT_ALLOWED", ["grade"]),
        "regrade without grade": ("InputError", "REQUIRED", ["grade"]),
        "regrade beyond the term": ("InputError", "NOT_ALLOWED", ["grade"]),
        "reject without reason": ("InputError", "REQUIRED", ["reason"]),
        "not an adverse event id": ("NotFoundError", "NOT_FOUND", ["id"]),
    }
    assert await safety_rows(app) == before

    # when: the reviews
    started = now()
    confirmed = await run(gql, world["investigator"], REVIEW, review(nosebleed, "CONFIRM", "as described"))
    regraded = await run(gql, world["investigator"], REVIEW, review(bruise, "REGRADE", "generalized", grade=2))
    rejected = await run(gql, world["investigator"], REVIEW, review(fever, "REJECT", "fever was before consent"))
    twice = await run(gql, world["investigator"], REVIEW, review(nosebleed, "REJECT", "changed my mind"))

    # then
    def outcome(result: dict[str, Any]) -> tuple[Any, ...]:
        event = result["adverseEvent"]
        return event["status"], event["grade"], event["reviewReason"], event["reviewedBy"]

    assert outcome(confirmed) == ("CONFIRMED", 1, "as described", "inv-1")
    assert outcome(regraded) == ("CONFIRMED", 2, "generalized", "inv-1")
    assert outcome(rejected) == ("REJECTED", 1, "fever was before consent", "inv-1")
    assert started <= datetime.fromisoformat(confirmed["adverseEvent"]["reviewedAt"]) <= now()
    assert error(twice) == ("ConflictError", "INVALID_TRANSITION", ["id"])

    # and the audit trail shows each step with its old and new values and reason
    def step(row: dict[str, Any]) -> tuple[Any, ...]:
        changes = {k: v for k, v in row["changes"].items() if k not in ("reviewed_at",)}
        return row["action"], row["actorId"], changes, row["reason"]

    reviewed = {"reviewed_by": {"old": None, "new": "inv-1"}}
    pending_to = {"old": "pending_review", "new": "confirmed"}
    assert [step(r) for r in await audit_of(gql, world["admin"], nosebleed["id"])][1:] == [
        (
            "UPDATE",
            "inv-1",
            {"status": pending_to, **reviewed, "review_reason": {"old": None, "new": "as described"}},
            "as described",
        )
    ]
    assert [step(r) for r in await audit_of(gql, world["admin"], bruise["id"])][1:] == [
        (
            "UPDATE",
            "inv-1",
            {
                "grade": {"old": 1, "new": 2},
                "status": pending_to,
                **reviewed,
                "review_reason": {"old": None, "new": "generalized"},
            },
            "generalized",
        )
    ]
    assert [step(r) for r in await audit_of(gql, world["admin"], fever["id"])][1:] == [
        (
            "UPDATE",
            "inv-1",
            {
                "status": {"old": "pending_review", "new": "rejected"},
                **reviewed,
                "review_reason": {"old": None, "new": "fever was before consent"},
            },
            "fever was before consent",
        )
    ]


async def test_an_investigator_reviews_a_patient_reported_event(gql: Any, world: dict[str, str]) -> None:
    # given: a diary nosebleed
    diary = await seen_by_staff(gql, world, report_input())
    event_id = diary["report"]["adverseEvents"][0]["id"]

    # when
    review = {"id": event_id, "decision": "REGRADE", "grade": 2, "reason": "packing at the clinic"}
    result = await run(gql, world["investigator"], REVIEW, review)

    # then
    event = result["adverseEvent"]
    assert (event["source"], event["status"], event["grade"], event["term"]) == (
        "PATIENT_REPORT",
        "CONFIRMED",
        2,
        "Epistaxis",
    )


# --- changes and resolution ------------------------------------------------------------------------------


async def test_an_event_is_changed_with_a_reason_and_audited(gql: Any, world: dict[str, str], app: Any) -> None:
    # given
    event = await report(gql, world["investigator"])
    before = await safety_rows(app)

    # when: refused changes
    change = {"id": event["id"], "reason": "chart review"}
    refused = {
        "no reason": await run(gql, world["investigator"], UPDATE, {**change, "grade": 2, "reason": ""}),
        "nothing changes": await run(gql, world["investigator"], UPDATE, {**change, "grade": 1}),
        "required cleared": await run(gql, world["investigator"], UPDATE, {**change, "grade": None}),
        "serious, no criterion": await run(gql, world["investigator"], UPDATE, {**change, "serious": True}),
        "grade beyond term": await run(
            gql, world["investigator"], UPDATE, {**change, "meddraCode": BRUISING, "grade": 3}
        ),
        "monitor": await run(gql, world["monitor"], UPDATE, {**change, "grade": 2}),
        "other site": await run(gql, world["coordinator2"], UPDATE, {**change, "grade": 2}),
    }

    # then
    assert {name: error(result) for name, result in refused.items()} == {
        "no reason": ("InputError", "REQUIRED", ["reason"]),
        "nothing changes": ("ConflictError", "NO_CHANGE", []),
        "required cleared": ("InputError", "REQUIRED", ["grade"]),
        "serious, no criterion": ("InputError", "REQUIRED", ["seriousCriteria"]),
        "grade beyond term": ("InputError", "NOT_ALLOWED", ["grade"]),
        "monitor": ("PermissionDeniedError", "PERMISSION_DENIED", []),
        "other site": ("NotFoundError", "NOT_FOUND", ["id"]),
    }
    assert await safety_rows(app) == before

    # when: a real change by the site's coordinator
    result = await run(
        gql,
        world["coordinator"],
        UPDATE,
        {**change, "grade": 2, "attributionCd19": "PROBABLE", "meddraCode": FEVER, "verbatim": None},
    )

    # then
    changed = result["adverseEvent"]
    assert (changed["term"], changed["grade"], changed["attribution"]["cd19CarT"], changed["verbatim"]) == (
        "Fever",
        2,
        "PROBABLE",
        None,
    )
    # a coordinator changed the term and grade of a confirmed event: back to the investigator
    assert changed["status"] == "PENDING_REVIEW"
    [_, update, back] = await audit_of(gql, world["admin"], event["id"])
    assert (update["action"], update["actorId"], update["reason"]) == ("UPDATE", "coord-1", "chart review")
    assert update["changes"] == {
        "meddra_code": {"old": EPISTAXIS, "new": FEVER},
        "grade": {"old": 1, "new": 2},
        "attribution_cd19": {"old": None, "new": "probable"},
        "verbatim": {"old": "nosebleed at home, stopped with pressure", "new": None},
    }
    assert (back["action"], back["actorId"], back["changes"], back["reason"]) == (
        "UPDATE",
        "coord-1",
        {"status": {"old": "confirmed", "new": "pending_review"}},
        "term, grade of a confirmed event changed by a coordinator: back to investigator review",
    )


@pytest.mark.parametrize(
    ("who", "change", "status"),
    [
        # term, grade or seriousness changed by anyone but a reviewer: back to review
        ("coordinator", {"grade": 2}, "PENDING_REVIEW"),
        ("coordinator", {"meddraCode": FEVER}, "PENDING_REVIEW"),
        ("coordinator", {"serious": True, "seriousCriteria": ["HOSPITALIZATION"]}, "PENDING_REVIEW"),
        # other fields, or a reviewer's change: still confirmed
        ("coordinator", {"attributionCd19": "POSSIBLE", "outcome": "RECOVERING_RESOLVING"}, "CONFIRMED"),
        ("coordinator", {"verbatim": "nosebleed, 20 min"}, "CONFIRMED"),
        ("investigator", {"grade": 2}, "CONFIRMED"),
        ("investigator", {"serious": True, "seriousCriteria": ["HOSPITALIZATION"]}, "CONFIRMED"),
        ("admin", {"meddraCode": FEVER}, "CONFIRMED"),
    ],
)
async def test_a_confirmed_event_changed_by_anyone_but_a_reviewer_goes_back_to_review(
    gql: Any, world: dict[str, str], who: str, change: dict[str, Any], status: str
) -> None:
    # given: an event the investigator confirmed
    event = await report(gql, world["investigator"])
    assert event["status"] == "CONFIRMED"
    # when
    result = await run(gql, world[who], UPDATE, {"id": event["id"], "reason": "chart review", **change})
    # then
    assert result["__typename"] == "AdverseEventSuccess", result
    assert result["adverseEvent"]["status"] == status
    audit = await audit_of(gql, world["admin"], event["id"])
    assert len(audit) == (3 if status == "PENDING_REVIEW" else 2)
    if status == "PENDING_REVIEW":
        assert audit[-1]["changes"] == {"status": {"old": "confirmed", "new": "pending_review"}}
        assert audit[-1]["reason"].endswith(
            "of a confirmed event changed by a coordinator: back to investigator review"
        )
        # and the investigator can review it again
        again = await run(
            gql, world["investigator"], REVIEW, {"id": event["id"], "decision": "CONFIRM", "reason": "agreed"}
        )
        assert again["adverseEvent"]["status"] == "CONFIRMED"


async def test_an_event_is_resolved_once_with_a_resolved_outcome(gql: Any, world: dict[str, str], app: Any) -> None:
    # given
    event = await report(gql, world["investigator"])
    resolution = {"id": event["id"], "resolutionDate": "2026-02-20", "outcome": "RECOVERED_RESOLVED"}
    before = await safety_rows(app)

    # when
    refused = {
        "still recovering": await run(
            gql, world["investigator"], RESOLVE, {**resolution, "outcome": "RECOVERING_RESOLVING"}
        ),
        "unknown outcome": await run(gql, world["investigator"], RESOLVE, {**resolution, "outcome": "UNKNOWN"}),
        "before onset": await run(gql, world["investigator"], RESOLVE, {**resolution, "resolutionDate": "2026-02-10"}),
        "in the future": await run(gql, world["investigator"], RESOLVE, {**resolution, "resolutionDate": "2099-01-01"}),
        "analyst": await run(gql, world["analyst"], RESOLVE, resolution),
    }
    refused_rows = await safety_rows(app)
    resolved = await run(gql, world["investigator"], RESOLVE, {**resolution, "reason": "seen at day 13 visit"})
    twice = await run(gql, world["investigator"], RESOLVE, {**resolution, "resolutionDate": "2026-02-21"})

    # then
    assert {name: error(result) for name, result in refused.items()} == {
        "still recovering": ("InputError", "NOT_ALLOWED", ["outcome"]),
        "unknown outcome": ("InputError", "NOT_ALLOWED", ["outcome"]),
        "before onset": ("InputError", "INVALID_ORDER", ["resolutionDate"]),
        "in the future": ("InputError", "IN_FUTURE", ["resolutionDate"]),
        "analyst": ("PermissionDeniedError", "PERMISSION_DENIED", []),
    }
    assert refused_rows == before
    assert (resolved["adverseEvent"]["resolutionDate"], resolved["adverseEvent"]["outcome"]) == (
        "2026-02-20",
        "RECOVERED_RESOLVED",
    )
    assert error(twice) == ("ConflictError", "INVALID_TRANSITION", ["id"])
    [_, update] = await audit_of(gql, world["admin"], event["id"])
    assert (update["changes"], update["reason"]) == (
        {
            "resolution_date": {"old": None, "new": "2026-02-20"},
            "outcome": {"old": None, "new": "recovered_resolved"},
        },
        "seen at day 13 visit",
    )


# --- serious adverse events: the 24 h reporting clock -------------------------------------------------------


async def test_a_serious_event_shows_its_sponsor_deadline_and_whether_it_is_overdue(
    gql: Any, world: dict[str, str]
) -> None:
    # given
    moment = now().replace(microsecond=0)
    onset = (moment - timedelta(days=2)).date().isoformat()
    serious = {"serious": True, "seriousCriteria": ["HOSPITALIZATION"], "onsetDate": onset}
    cases = {
        "aware 25 h ago, not reported": (moment - timedelta(hours=25), None, True),
        "aware 25 h ago, reported 2 h after": (moment - timedelta(hours=25), moment - timedelta(hours=23), False),
        "aware 30 h ago, reported 26 h after": (moment - timedelta(hours=30), moment - timedelta(hours=4), True),
        "aware 1 h ago, not reported": (moment - timedelta(hours=1), None, False),
    }

    # when
    results = {}
    for name, (aware, reported, _) in cases.items():
        extra = {"sponsorReportedAt": iso(reported)} if reported else {}
        results[name] = await report(gql, world["investigator"], awarenessAt=iso(aware), **serious, **extra)
    not_serious = await report(gql, world["investigator"], awarenessAt=iso(moment - timedelta(hours=30)))

    # then
    for name, (aware, _, overdue) in cases.items():
        event = results[name]
        assert datetime.fromisoformat(event["saeReportDeadline"]) == aware + timedelta(hours=24), name
        assert event["saeReportOverdue"] is overdue, name
        assert event["seriousCriteria"] == ["HOSPITALIZATION"], name
    assert (not_serious["saeReportDeadline"], not_serious["saeReportOverdue"]) == (None, False)

    # when: the overdue one is reported now
    late_id = results["aware 25 h ago, not reported"]["id"]
    change = {"id": late_id, "reason": "sent to sponsor", "sponsorReportedAt": iso(now())}
    updated = (await run(gql, world["investigator"], UPDATE, change))["adverseEvent"]

    # then: it stays overdue (reported late)
    assert updated["saeReportOverdue"] is True


# --- analysts ------------------------------------------------------------------------------------------------


@pytest.fixture
async def cohort(gql: Any, world: dict[str, str]) -> dict[str, str]:
    """Seven events over three subjects and two sites; returns their ids by name."""
    inv, admin = world["investigator"], world["admin"]
    ids = {
        # S01-001, infused 2026-02-07
        "nose_d3": await report(gql, inv, onsetDate="2026-02-10", attribution={"cd19CarT": "POSSIBLE"}),
        "crs_d1": await report(
            gql,
            inv,
            meddraCode=CRS,
            grade=3,
            gradingScale="ASTCT_2019",
            onsetDate="2026-02-08",
            serious=True,
            seriousCriteria=["HOSPITALIZATION"],
            attribution={"cd19CarT": "PROBABLE"},
        ),
        "nose_d41": await report(gql, inv, grade=2, onsetDate="2026-03-20", attribution={"cd19CarT": "UNLIKELY"}),
        # S01-002, never infused: no study day
        "fever_b": await report(
            gql, inv, code=B, meddraCode=FEVER, onsetDate="2026-02-15", attribution={"cd19CarT": "DEFINITE"}
        ),
        # S02-001, infused 2026-02-07: one pending, one rejected
        "nose_c_d13": await report(
            gql, world["coordinator2"], code=C, grade=3, onsetDate="2026-02-20", attribution={"cd19CarT": "UNRELATED"}
        ),
        "bruise_c_d18": await report(gql, world["coordinator2"], code=C, meddraCode=BRUISING, onsetDate="2026-02-25"),
    }
    ids = {name: event["id"] for name, event in ids.items()}
    reject = {"id": ids["bruise_c_d18"], "decision": "REJECT", "reason": "a bruise from the line, not an AE"}
    assert (await run(gql, world["investigator2"], REVIEW, reject))["adverseEvent"]["status"] == "REJECTED"
    diary = await seen_by_staff(gql, world, report_input(note="nose again"))
    ids["diary"] = diary["report"]["adverseEvents"][0]["id"]
    assert (await events(gql, admin))["totalCount"] == 7
    return ids


FILTER_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["nose_d3", "crs_d1", "nose_d41", "fever_b", "nose_c_d13", "bruise_c_d18", "diary"]),
    ({"meddraCodes": [EPISTAXIS]}, ["nose_d3", "nose_d41", "nose_c_d13", "diary"]),
    ({"meddraCodes": [FEVER, BRUISING]}, ["fever_b", "bruise_c_d18"]),
    ({"minGrade": 2}, ["crs_d1", "nose_d41", "nose_c_d13"]),
    ({"maxGrade": 1}, ["nose_d3", "fever_b", "bruise_c_d18", "diary"]),
    ({"minGrade": 2, "maxGrade": 2}, ["nose_d41"]),
    ({"serious": True}, ["crs_d1"]),
    ({"serious": False, "siteCodes": ["S02"]}, ["nose_c_d13", "bruise_c_d18"]),
    ({"sources": ["PATIENT_REPORT"]}, ["diary"]),
    ({"sources": ["INVESTIGATOR"], "statuses": ["PENDING_REVIEW"]}, ["nose_c_d13"]),
    ({"statuses": ["PENDING_REVIEW"]}, ["nose_c_d13", "diary"]),
    ({"statuses": ["REJECTED"]}, ["bruise_c_d18"]),
    ({"attributionTo": "CD19_CAR_T", "attributionAtLeast": "POSSIBLE"}, ["nose_d3", "crs_d1", "fever_b"]),
    ({"attributionTo": "CD19_CAR_T", "attributionAtLeast": "PROBABLE"}, ["crs_d1", "fever_b"]),
    (
        {"attributionTo": "CD19_CAR_T", "attributionAtLeast": "UNRELATED"},
        ["nose_d3", "crs_d1", "nose_d41", "fever_b", "nose_c_d13"],
    ),
    ({"attributionTo": "BCMA_CAR_T", "attributionAtLeast": "UNRELATED"}, []),
    ({"onsetStudyDayFrom": 0, "onsetStudyDayTo": 14}, ["nose_d3", "crs_d1", "nose_c_d13"]),
    ({"onsetStudyDayFrom": 13, "onsetStudyDayTo": 41}, ["nose_d41", "nose_c_d13", "bruise_c_d18"]),
    ({"onsetStudyDayTo": 1}, ["crs_d1"]),
    ({"onsetFrom": "2026-02-15", "onsetTo": "2026-02-20"}, ["fever_b", "nose_c_d13"]),
    ({"siteCodes": ["S01"], "meddraCodes": [EPISTAXIS]}, ["nose_d3", "nose_d41", "diary"]),
    ({"subjectCode": C}, ["nose_c_d13", "bruise_c_d18"]),
]


async def test_analysts_filter_adverse_events(gql: Any, world: dict[str, str], cohort: dict[str, str]) -> None:
    # when: each filter in turn
    names = {event_id: name for name, event_id in cohort.items()}
    found = []
    for filters, _ in FILTER_CASES:
        page = await events(gql, world["analyst"], **filters)
        found.append((filters, [names[edge["node"]["id"]] for edge in page["edges"]], page["totalCount"]))

    # then
    assert found == [(filters, expected, len(expected)) for filters, expected in FILTER_CASES]


async def test_analysts_page_through_events_without_free_text(
    gql: Any, world: dict[str, str], cohort: dict[str, str]
) -> None:
    # when: pages of three
    pages = [await events(gql, world["analyst"], first=3)]
    while pages[-1]["pageInfo"]["hasNextPage"]:
        pages.append(await events(gql, world["analyst"], first=3, after=pages[-1]["pageInfo"]["endCursor"]))
    staff = await events(gql, world["admin"])

    # then
    assert [len(p["edges"]) for p in pages] == [3, 3, 1]
    assert {p["totalCount"] for p in pages} == {7}
    seen = [edge["node"] for p in pages for edge in p["edges"]]
    assert [e["id"] for e in seen] == list(cohort.values())
    assert {(e["verbatim"], e["reviewReason"]) for e in seen} == {(None, None)}
    assert [r["note"] for e in seen for r in e["bleedingReports"]] == [None]
    by_id = {edge["node"]["id"]: edge["node"] for edge in staff["edges"]}
    assert by_id[cohort["bruise_c_d18"]]["reviewReason"] == "a bruise from the line, not an AE"
    assert by_id[cohort["nose_d3"]]["verbatim"] == "nosebleed at home, stopped with pressure"
    assert [r["note"] for r in by_id[cohort["diary"]]["bleedingReports"]] == ["nose again"]
    # and a derived-value filter pages the same way
    by_day = await events(gql, world["analyst"], first=2, onsetStudyDayFrom=0)
    names = {event_id: name for name, event_id in cohort.items()}
    assert [names[edge["node"]["id"]] for edge in by_day["edges"]] == ["nose_d3", "crs_d1"]
    assert (by_day["totalCount"], by_day["pageInfo"]["hasNextPage"]) == (6, True)
    rest = await events(gql, world["analyst"], onsetStudyDayFrom=0, after=by_day["pageInfo"]["endCursor"])
    assert [names[edge["node"]["id"]] for edge in rest["edges"]] == ["nose_d41", "nose_c_d13", "bruise_c_d18", "diary"]
    # and the onset study day is shown
    assert [e["onsetStudyDay"] for e in seen[:6]] == [3, 1, 41, None, 13, 18]


async def test_site_staff_see_only_their_sites_events(gql: Any, world: dict[str, str], cohort: dict[str, str]) -> None:
    # when
    s01 = await event_ids(gql, world["coordinator"])
    s01_asking_for_s02 = await event_ids(gql, world["coordinator"], siteCodes=["S02"])
    s02 = await event_ids(gql, world["investigator2"])
    patient = await event_ids(gql, world["patient"])

    # then
    assert s01 == [cohort[n] for n in ("nose_d3", "crs_d1", "nose_d41", "fever_b", "diary")]
    assert s01_asking_for_s02 == []
    assert s02 == [cohort["nose_c_d13"], cohort["bruise_c_d18"]]
    assert patient == []  # adverse-event records are the investigators': not even the patient's own


async def test_the_safety_table_excludes_rejected_events(
    gql: Any, world: dict[str, str], cohort: dict[str, str]
) -> None:
    # when
    table = (await gql.data(world["analyst"], SUMMARY))["adverseEventSummary"]
    s01 = (await gql.data(world["analyst"], SUMMARY, {"siteCodes": ["S01"]}))["adverseEventSummary"]
    severe = (await gql.data(world["analyst"], SUMMARY, {"minGrade": 3}))["adverseEventSummary"]
    serious = (await gql.data(world["analyst"], SUMMARY, {"serious": True}))["adverseEventSummary"]

    # then: Epistaxis: S01-001 worst grade 2 (d3 g1, d41 g2, diary g1), S02-001 grade 3; the bruise was rejected
    def row(r: dict[str, Any]) -> tuple[Any, ...]:
        return r["term"], r["events"], r["subjects"], r["subjectsByWorstGrade"], r["seriousEvents"]

    assert [row(r) for r in table] == [
        ("Epistaxis", 4, 2, [0, 1, 1, 0, 0], 0),
        ("Cytokine release syndrome", 1, 1, [0, 0, 1, 0, 0], 1),
        ("Fever", 1, 1, [1, 0, 0, 0, 0], 0),
    ]
    assert (table[0]["meddraCode"], table[0]["soc"]) == (EPISTAXIS, "Respiratory, thoracic and mediastinal disorders")
    assert [row(r) for r in s01] == [  # one subject each: by term
        ("Cytokine release syndrome", 1, 1, [0, 0, 1, 0, 0], 1),
        ("Epistaxis", 3, 1, [0, 1, 0, 0, 0], 0),
        ("Fever", 1, 1, [1, 0, 0, 0, 0], 0),
    ]
    assert [row(r) for r in severe] == [
        ("Cytokine release syndrome", 1, 1, [0, 0, 1, 0, 0], 1),
        ("Epistaxis", 1, 1, [0, 0, 1, 0, 0], 0),
    ]
    assert [row(r) for r in serious] == [("Cytokine release syndrome", 1, 1, [0, 0, 1, 0, 0], 1)]


async def test_concurrent_reviews_of_one_event_apply_once(gql: Any, world: dict[str, str]) -> None:
    # given
    event = await report(gql, world["coordinator"])

    # when: ten reviews at once, half confirming, half rejecting
    decisions = ["CONFIRM", "REJECT"] * 5
    results = await asyncio.gather(
        *(
            run(gql, world["investigator"], REVIEW, {"id": event["id"], "decision": d, "reason": f"review {i}"})
            for i, d in enumerate(decisions)
        ),
        return_exceptions=True,
    )

    # then
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert (
        sorted(error(r) for r in results if r["__typename"] != "AdverseEventSuccess")
        == [("ConflictError", "INVALID_TRANSITION", ["id"])] * 9
    )
    [winner] = [r["adverseEvent"] for r in results if r["__typename"] == "AdverseEventSuccess"]
    audit = await audit_of(gql, world["admin"], event["id"])
    assert [(row["action"], row["reason"]) for row in audit] == [("CREATE", None), ("UPDATE", winner["reviewReason"])]
    [stored] = (await events(gql, world["admin"]))["edges"]
    assert (stored["node"]["status"], stored["node"]["reviewReason"]) == (winner["status"], winner["reviewReason"])
