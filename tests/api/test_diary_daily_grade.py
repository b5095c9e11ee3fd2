# ruff: noqa: F811  (the `world` fixture is imported from the diary tests and named as a parameter)
"""The diary's daily WHO grade over HTTP (DOMAIN.md, "Bleeding reported by patients", amended):
minutes added across a local day's reports, one grade alert per day, "no bleeding today"
check-ins, bleedingDays for staff, analysts and the patient, review status and changedSince sync,
and the site's phone number.

World: as tests/api/test_bleeding_diary.py (sites S01, S02; patients S01-001, S01-002 at S01,
S02-001 at S02)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.api.test_bleeding_diary import (
    REVIEW,
    A,
    alerts_of,
    events_of,
    now,
    report_input,
    world,  # noqa: F401  (the fixture)
)

SUBMIT = """
mutation($input: SubmitBleedingReportInput!) {
  submitBleedingReport(input: $input) {
    __typename
    ... on BleedingReportAccepted {
      duplicate provisionalWhoGrade dayWhoGrade localDate redFlags alertRaised advice
      report { id kind localDate provisionalWhoGrade status adverseEvents { id } }
    }
    ... on InputError { problems { code field } }
  }
}"""

DAYS = """
query($code: String!, $from: Date!, $to: Date!) {
  subject(code: $code) {
    bleedingDays(from: $from, to: $to) {
      localDate observed dayWhoGrade redFlags reportCount rule
      reports { id kind note annotations { text } }
    }
  }
}"""

SYNC = """
query($changedSince: DateTime, $after: String, $first: Int) {
  myBleedingReports(changedSince: $changedSince, after: $after, first: $first) {
    syncedAt
    edges { cursor node { id clientReportId status statusChangedAt changedAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""

UPDATE_SITE = """
mutation($input: UpdateSiteInput!) {
  updateSite(input: $input) {
    __typename
    ... on SiteSuccess { site { code name phone } }
    ... on UserError { code field }
    ... on InputError { problems { code field } }
  }
}"""

OWN_SITE = "query($code: String!) { subject(code: $code) { site { code name phone } } }"

NOSE_20 = {"site": "NOSE", "durationMinutes": 20}


def day_report(noticed: datetime, **extra: Any) -> dict[str, Any]:
    """A report noticed at a moment written at the phone's own offset (that offset is kept)."""
    return report_input(noticed=noticed, deviceEnteredAt=(noticed + timedelta(minutes=1)).isoformat(), **extra)


async def send(gql: Any, token: str, values: dict[str, Any]) -> dict[str, Any]:
    result = (await gql.data(token, SUBMIT, {"input": values}))["submitBleedingReport"]
    assert result["__typename"] == "BleedingReportAccepted", result
    return result


def morning(days_ago: int, tz: timezone = timezone.utc) -> datetime:
    """08:00 local, some days ago (never in the future)."""
    return (now() - timedelta(days=days_ago)).astimezone(tz).replace(hour=8, minute=0, second=0, microsecond=0)


async def test_two_twenty_minute_nosebleeds_on_one_day_are_grade_2_with_one_alert(
    gql: Any, world: dict[str, str]
) -> None:
    # given: a 20-minute nosebleed yesterday morning
    first = await send(gql, world["patient"], day_report(morning(1), symptoms=[NOSE_20]))

    # when: another 20 minutes that afternoon, then a third nosebleed that evening (5 min)
    second = await send(gql, world["patient"], day_report(morning(1) + timedelta(hours=6), symptoms=[NOSE_20]))
    third = await send(
        gql,
        world["patient"],
        day_report(morning(1) + timedelta(hours=10), symptoms=[{**NOSE_20, "durationMinutes": 5}]),
    )

    # then: each report is grade 1 on its own; the day reaches 2 with the second, alerted once
    assert [(r["provisionalWhoGrade"], r["dayWhoGrade"], r["alertRaised"]) for r in (first, second, third)] == [
        (1, 1, False),
        (1, 2, True),
        (1, 2, False),
    ]
    assert first["localDate"] == second["localDate"] == third["localDate"] == morning(1).date().isoformat()
    assert second["advice"].startswith("Your study team has been told")
    [alert] = await alerts_of(gql, world["coordinator"])
    assert (alert["bleedingReportId"], alert["provisionalWhoGrade"], alert["redFlags"]) == (
        second["report"]["id"],
        2,
        [],
    )
    assert "added across the day's 2 reports" in alert["message"]


async def test_a_third_report_crossing_60_minutes_in_the_day_raises_a_red_flag(gql: Any, world: dict[str, str]) -> None:
    # given: 2 x 20 minutes (grade 2, alerted)
    for hours in (0, 3):
        await send(gql, world["patient"], day_report(morning(1) + timedelta(hours=hours), symptoms=[NOSE_20]))

    # when: 25 more minutes: 65 in the day
    third = await send(
        gql,
        world["patient"],
        day_report(morning(1) + timedelta(hours=6), symptoms=[{**NOSE_20, "durationMinutes": 25}]),
    )

    # then
    assert (third["redFlags"], third["alertRaised"], third["dayWhoGrade"]) == (["PROLONGED_OR_NOT_STOPPING"], True, 2)
    assert len(await alerts_of(gql, world["coordinator"])) == 2


async def test_the_same_utc_day_on_two_local_days_is_graded_apart(gql: Any, world: dict[str, str]) -> None:
    # given: two nosebleeds at 12:00 UTC two days ago, one from a +14:00 phone, one from a -12:00 phone
    noon = (now() - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    east, west = timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))

    # when
    one = await send(gql, world["patient"], day_report(noon.astimezone(east), symptoms=[NOSE_20]))
    other = await send(gql, world["patient"], day_report(noon.astimezone(west), symptoms=[NOSE_20]))

    # then: local days two apart, each graded 1, no alert
    assert (one["localDate"], other["localDate"]) == (
        (noon + timedelta(days=1)).date().isoformat(),
        noon.date().isoformat(),
    )
    assert [(r["dayWhoGrade"], r["alertRaised"]) for r in (one, other)] == [(1, False), (1, False)]
    assert await alerts_of(gql, world["coordinator"]) == []


async def test_a_no_bleeding_check_in_makes_the_day_observed_without_a_grade(gql: Any, world: dict[str, str]) -> None:
    # given / when
    check_in = await send(gql, world["patient"], day_report(morning(3), symptoms=[], kind="NO_BLEEDING"))
    bad = (await gql.data(world["patient"], SUBMIT, {"input": day_report(morning(2), kind="NO_BLEEDING")}))[
        "submitBleedingReport"
    ]
    days = await gql.data(
        world["coordinator"], DAYS, {"code": A, "from": morning(10).date().isoformat(), "to": now().date().isoformat()}
    )

    # then
    assert (check_in["dayWhoGrade"], check_in["alertRaised"], check_in["redFlags"]) == (None, False, [])
    assert check_in["report"]["kind"] == "NO_BLEEDING" and check_in["report"]["adverseEvents"] == []
    assert check_in["advice"] == "Thank you. No bleeding today is recorded."
    assert (bad["__typename"], bad["problems"]) == ("InputError", [{"code": "NOT_ALLOWED", "field": ["symptoms"]}])
    assert [
        (d["localDate"], d["observed"], d["dayWhoGrade"], d["reportCount"]) for d in days["subject"]["bleedingDays"]
    ] == [(morning(3).date().isoformat(), True, None, 1)]
    assert await alerts_of(gql, world["coordinator"]) == []


async def test_a_duplicate_returns_the_original_day_grade(gql: Any, world: dict[str, str]) -> None:
    # given: two 20-minute nosebleeds; the second reached grade 2
    await send(gql, world["patient"], day_report(morning(1), symptoms=[NOSE_20]))
    values = day_report(morning(1) + timedelta(hours=2), symptoms=[NOSE_20])
    original = await send(gql, world["patient"], values)
    await send(gql, world["patient"], day_report(morning(1) + timedelta(hours=4), symptoms=[NOSE_20]))

    # when: the phone resends the second
    again = await send(gql, world["patient"], values)

    # then
    assert again["duplicate"] is True
    keep = ("dayWhoGrade", "provisionalWhoGrade", "alertRaised", "localDate", "redFlags")
    assert (
        {k: again[k] for k in keep}
        == {k: original[k] for k in keep}
        == {
            "dayWhoGrade": 2,
            "provisionalWhoGrade": 1,
            "alertRaised": True,
            "localDate": morning(1).date().isoformat(),
            "redFlags": [],
        }
    )


async def test_bleeding_days_lists_graded_days_to_whom_may_see_them(gql: Any, world: dict[str, str]) -> None:
    # given: day 5: a check-in; day 3: 2 x 20 min and a note; day 1: petechiae
    await send(gql, world["patient"], day_report(morning(5), symptoms=[], kind="NO_BLEEDING"))
    await send(gql, world["patient"], day_report(morning(3), symptoms=[NOSE_20], note="after blowing my nose"))
    await send(gql, world["patient"], day_report(morning(3) + timedelta(hours=1), symptoms=[NOSE_20]))
    await send(gql, world["patient"], day_report(morning(1), symptoms=[{"site": "SKIN_SPOTS"}]))
    window = {"code": A, "from": morning(6).date().isoformat(), "to": morning(2).date().isoformat()}

    # when
    seen = {
        role: await gql(world[role], DAYS, window)
        for role in ("coordinator", "analyst", "patient", "coordinator2", "patientB")
    }

    # then: the days within the window, graded; analysts without notes
    days = seen["coordinator"]["data"]["subject"]["bleedingDays"]
    assert [(d["localDate"], d["observed"], d["dayWhoGrade"], d["redFlags"], d["reportCount"]) for d in days] == [
        (morning(5).date().isoformat(), True, None, [], 1),
        (morning(3).date().isoformat(), True, 2, [], 2),
    ]
    assert days[1]["reports"][0]["note"] == "after blowing my nose"
    assert days[1]["rule"].startswith("who-diary-day-v1")
    assert [d["dayWhoGrade"] for d in seen["patient"]["data"]["subject"]["bleedingDays"]] == [None, 2]
    analyst_days = seen["analyst"]["data"]["subject"]["bleedingDays"]
    assert [d["dayWhoGrade"] for d in analyst_days] == [None, 2]
    assert {r["note"] for d in analyst_days for r in d["reports"]} == {None}
    for role in ("coordinator2", "patientB"):
        assert seen[role]["data"]["subject"] is None, role


async def test_a_review_shows_in_the_next_changed_since_sync(gql: Any, world: dict[str, str]) -> None:
    # given: two reports, synced once
    first = await send(gql, world["patient"], day_report(morning(2), symptoms=[NOSE_20]))
    second = await send(gql, world["patient"], day_report(morning(1), symptoms=[{"site": "URINE"}]))
    initial = (await gql.data(world["patient"], SYNC, {"changedSince": (now() - timedelta(days=30)).isoformat()}))[
        "myBleedingReports"
    ]
    assert [(e["node"]["id"], e["node"]["status"]) for e in initial["edges"]] == [
        (first["report"]["id"], "RECEIVED"),
        (second["report"]["id"], "RECEIVED"),
    ]
    synced_at = datetime.fromisoformat(initial["syncedAt"])
    assert now() - timedelta(seconds=120) < synced_at <= now() - timedelta(seconds=59)

    # when: the investigator confirms the first report's event; the phone syncs from syncedAt
    assert first["report"]["adverseEvents"] == []  # the patient's phone never gets the event records
    [event] = [
        e
        for e in await events_of(gql, world["investigator"], A)
        if first["report"]["id"] in {r["id"] for r in e["bleedingReports"]}
    ]
    review = {"id": event["id"], "decision": "CONFIRM", "reason": "confirmed by phone"}
    assert (await gql.data(world["investigator"], REVIEW, {"input": review}))["reviewAdverseEvent"]["adverseEvent"][
        "status"
    ] == "CONFIRMED"
    later = datetime.now(timezone.utc) + timedelta(seconds=120)  # past the overlap: only what changed since
    assert (await gql.data(world["patient"], SYNC, {"changedSince": later.isoformat()}))["myBleedingReports"][
        "edges"
    ] == []
    resync = (await gql.data(world["patient"], SYNC, {"changedSince": initial["syncedAt"]}))["myBleedingReports"]

    # then: the reviewed report comes again, REVIEWED, after the unchanged ones of the overlap
    nodes = [e["node"] for e in resync["edges"]]
    assert nodes[-1]["id"] == first["report"]["id"]
    assert (nodes[-1]["status"], nodes[-1]["statusChangedAt"] is not None) == ("REVIEWED", True)
    assert datetime.fromisoformat(nodes[-1]["changedAt"]) >= synced_at


async def test_changed_since_pages_in_change_order(gql: Any, world: dict[str, str]) -> None:
    # given: three reports
    ids = [
        (await send(gql, world["patient"], day_report(morning(d), symptoms=[NOSE_20])))["report"]["id"]
        for d in (3, 2, 1)
    ]
    since = (now() - timedelta(days=1)).isoformat()

    # when
    page1 = (await gql.data(world["patient"], SYNC, {"changedSince": since, "first": 2}))["myBleedingReports"]
    after = page1["pageInfo"]["endCursor"]
    page2 = (await gql.data(world["patient"], SYNC, {"changedSince": since, "first": 2, "after": after}))[
        "myBleedingReports"
    ]
    wrong = await gql(world["patient"], SYNC, {"changedSince": since, "after": "bm90LWEtY3Vyc29y"})

    # then
    assert [e["node"]["id"] for e in page1["edges"] + page2["edges"]] == ids
    assert (page1["pageInfo"]["hasNextPage"], page2["pageInfo"]["hasNextPage"]) == (True, False)
    assert wrong["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_annotation_makes_the_report_sync_again(gql: Any, world: dict[str, str]) -> None:
    # given
    report = await send(gql, world["patient"], day_report(morning(2), symptoms=[NOSE_20]))
    annotate = (
        """mutation($input: AnnotateBleedingReportInput!) { annotateBleedingReport(input: $input) { __typename } }"""
    )
    before = datetime.now(timezone.utc)

    # when
    await gql.data(
        world["coordinator"],
        annotate,
        {"input": {"id": report["report"]["id"], "text": "called", "reason": "follow-up"}},
    )
    synced = (await gql.data(world["patient"], SYNC, {"changedSince": before.isoformat()}))["myBleedingReports"]

    # then
    assert [e["node"]["id"] for e in synced["edges"]] == [report["report"]["id"]]


# --- the site's phone number ------------------------------------------------------------------------


async def test_site_staff_update_their_sites_phone_and_a_patient_reads_it(gql: Any, world: dict[str, str]) -> None:
    # when
    done = (
        await gql.data(
            world["coordinator"],
            UPDATE_SITE,
            {"input": {"code": "S01", "phone": "+44 20 7946 0000", "reason": "new line"}},
        )
    )["updateSite"]
    renamed = (
        await gql.data(world["admin"], UPDATE_SITE, {"input": {"code": "S01", "name": "Site One", "reason": "renamed"}})
    )["updateSite"]
    own = await gql.data(world["patient"], OWN_SITE, {"code": A})

    # then
    assert done == {
        "__typename": "SiteSuccess",
        "site": {"code": "S01", "name": done["site"]["name"], "phone": "+44 20 7946 0000"},
    }
    assert renamed["site"] == {"code": "S01", "name": "Site One", "phone": "+44 20 7946 0000"}
    assert own["subject"]["site"] == {"code": "S01", "name": "Site One", "phone": "+44 20 7946 0000"}
    audit = await gql.data(
        world["admin"],
        'query { auditEvents(entity: "Site", first: 50) { edges { node { action changes reason } } } }',
    )
    updates = [e["node"] for e in audit["auditEvents"]["edges"] if e["node"]["action"] == "UPDATE"]
    assert [(u["changes"], u["reason"]) for u in updates] == [
        ({"phone": {"old": None, "new": "+44 20 7946 0000"}}, "new line"),
        ({"name": {"old": done["site"]["name"], "new": "Site One"}}, "renamed"),
    ]


@pytest.mark.parametrize("phone", ["12345", "+44 20 7946 0000 0000 1", "call 0800", "++441234567", "+-----()"])
async def test_a_bad_phone_number_is_refused(gql: Any, world: dict[str, str], phone: str) -> None:
    result = (
        await gql.data(world["admin"], UPDATE_SITE, {"input": {"code": "S01", "phone": phone, "reason": "new line"}})
    )["updateSite"]
    assert (result["__typename"], result["problems"]) == (
        "InputError",
        [{"code": "INVALID_FORMAT", "field": ["phone"]}],
    )


async def test_who_may_update_a_site(gql: Any, world: dict[str, str]) -> None:
    # when
    values = {"code": "S01", "phone": "(020) 7946-0000", "reason": "new line"}
    results = {
        role: (await gql.data(world[role], UPDATE_SITE, {"input": values}))["updateSite"]
        for role in ("coordinator2", "investigator2", "monitor", "analyst", "patient", "investigator")
    }
    no_reason = (await gql.data(world["admin"], UPDATE_SITE, {"input": {**values, "reason": " "}}))["updateSite"]

    # then
    assert (
        results["coordinator2"]
        == results["investigator2"]
        == {"__typename": "NotFoundError", "code": "NOT_FOUND", "field": ["code"]}
    )
    for role in ("monitor", "analyst", "patient"):
        assert results[role]["__typename"] == "PermissionDeniedError", role
    assert results["investigator"]["site"]["phone"] == "(020) 7946-0000"
    assert (no_reason["__typename"], no_reason["problems"]) == (
        "InputError",
        [{"code": "REQUIRED", "field": ["reason"]}],
    )


async def test_bleeding_days_statement_count_does_not_grow_with_subjects_or_reports(
    gql: Any, world: dict[str, str], token: Any, sql_statements: Any
) -> None:
    # given: one report from one patient
    query = """query($from: Date!, $to: Date!) { subjects(first: 50) { edges { node { code
      bleedingDays(from: $from, to: $to) { localDate dayWhoGrade reports { id status annotations { text } } } } } } }"""
    window = {"from": morning(10).date().isoformat(), "to": now().date().isoformat()}
    await send(gql, world["patient"], day_report(morning(2), symptoms=[NOSE_20]))
    # (the process's protocol cache is filled by a first read, not counted: server.db.protocol_cache)
    await gql.data(world["admin"], "{ trial { protocolParameters { version } } }")
    sql_statements.statements.clear()
    small = await gql.data(world["admin"], query, window)
    small_count = sql_statements.count

    # when: three patients, several reports and days each
    for who in ("patient", "patientB", token("patient", subject="S02-001")):
        bearer = world.get(who, who)
        for days_ago in (4, 3, 1):
            await send(gql, bearer, day_report(morning(days_ago), symptoms=[NOSE_20]))
            await send(gql, bearer, day_report(morning(days_ago) + timedelta(hours=2), symptoms=[{"site": "URINE"}]))
    sql_statements.statements.clear()
    large = await gql.data(world["admin"], query, window)

    # then
    sizes = [len(e["node"]["bleedingDays"]) for e in large["subjects"]["edges"]]
    assert [len(e["node"]["bleedingDays"]) for e in small["subjects"]["edges"]] == [1, 0, 0]
    assert sizes == [4, 3, 3]
    assert sql_statements.count == small_count
