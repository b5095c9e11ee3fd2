"""Reads: viewer, trial and its protocol parameters, sites, subjects (pages and filters),
subject(code:), node(id:), study days, voided records, units and doses."""

from __future__ import annotations

from typing import Any

import pytest

CREATE_SITE = 'mutation($code: String!) { createSite(input: {code: $code, name: "Site"}) { __typename } }'

ENROLL = """
mutation($input: EnrollSubjectInput!) {
  enrollSubject(input: $input) { __typename ... on SubjectSuccess { subject { id code } } ... on UserError { message } }
}"""

CHANGE_STATUS = """
mutation($code: String!, $status: SubjectStatus!) {
  changeSubjectStatus(input: {code: $code, status: $status, effectiveDate: "2026-01-11", reason: "eligible"}) {
    __typename ... on UserError { message }
  }
}"""

RECORD_MEASUREMENT = """
mutation($input: RecordBodyMeasurementInput!) {
  recordBodyMeasurement(input: $input) { ... on BodyMeasurementSuccess { bodyMeasurement { id } } ... on UserError { message } }
}"""

RECORD_LYMPHODEPLETION = """
mutation($input: RecordLymphodepletionInput!) {
  recordLymphodepletion(input: $input) {
    ... on LymphodepletionSuccess { lymphodepletionCourse { id } } ... on UserError { message }
  }
}"""

RECORD_INFUSION = """
mutation($input: RecordCarTInfusionInput!) {
  recordCarTInfusion(input: $input) { ... on CarTInfusionSuccess { infusion { id } } ... on UserError { message } }
}"""

RECORD_TRANSFUSION = """
mutation($input: RecordPlateletTransfusionInput!) {
  recordPlateletTransfusion(input: $input) {
    ... on PlateletTransfusionSuccess { transfusion { id } counts { id } } ... on UserError { message field }
  }
}"""

RECORD_COUNT = """
mutation($input: RecordPlateletCountInput!) {
  recordPlateletCount(input: $input) { ... on PlateletCountSuccess { plateletCount { id } } ... on UserError { message } }
}"""

VOID = """
mutation($id: ID!) {
  voidRecord(input: {id: $id, reason: "entered in error"}) { __typename ... on UserError { code message } }
}"""

SUBJECT_RECORDS = """
query($code: String!) {
  subject(code: $code) {
    code firstInfusionAt
    measurements { id measuredAt heightCm weightKg studyDay }
    lymphodepletions { id startDate endDate studyDay agents { agent dosePerDay doseUnit days otherName } }
    infusions { id product infusedAt lotNumber studyDay }
    transfusions { id startedAt studyDay doseE11 doseBasis note units { kind contentE11 contentBasis } }
    plateletCounts { id drawnAt valueE9PerL valuePerUl studyDay }
    statusHistory { fromStatus toStatus effectiveDate reason }
  }
}"""

SUBJECTS_PAGE = """
query($first: Int, $after: String, $siteCodes: [String!], $statuses: [SubjectStatus!]) {
  subjects(first: $first, after: $after, siteCodes: $siteCodes, statuses: $statuses) {
    totalCount
    edges { cursor node { code status site { code } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Subject { code }
    ... on Site { code name }
    ... on BodyMeasurement { weightKg }
    ... on LymphodepletionCourse { startDate }
    ... on CarTInfusion { lotNumber }
    ... on PlateletTransfusion { doseE11 }
    ... on PlateletCount { valueE9PerL }
  }
}"""


def subject_input(code: str, site: str = "S01") -> dict[str, Any]:
    return {
        "code": code,
        "siteCode": site,
        "sex": "MALE",
        "yearOfBirth": 1990,
        "ageAtConsent": 35,
        "diagnosis": "ALL",
        "remissionStatus": "CR2",
        "consentDate": "2026-01-10",
    }


async def given_sites(gql, token, *codes: str) -> None:
    for code in codes:
        await gql.data(token("admin"), CREATE_SITE, {"code": code})


async def given_subject(gql, token, code: str, site: str = "S01") -> str:
    data = await gql.data(token("admin"), ENROLL, {"input": subject_input(code, site)})
    assert data["enrollSubject"]["__typename"] == "SubjectSuccess", data
    return data["enrollSubject"]["subject"]["id"]


async def record(gql, token, mutation: str, field: str, inner: str, values: dict[str, Any]) -> str:
    data = await gql.data(token("coordinator", "S01"), mutation, {"input": values})
    assert inner in data[field], data
    return data[field][inner]["id"]


# ---------------------------------------------------------------------------------------------
# viewer, trial, sites


@pytest.mark.parametrize(
    ("role", "sites", "subject", "expected_sites", "expected_subject"),
    [
        ("patient", (), "S01-001", [], "S01-001"),
        ("investigator", ("S02", "S01"), None, ["S01", "S02"], None),
        ("coordinator", ("S01",), None, ["S01"], None),
        ("monitor", ("S03",), None, ["S03"], None),
        ("analyst", (), None, [], None),
        ("admin", (), None, [], None),
    ],
)
async def test_viewer_describes_the_token(gql, token, role, sites, subject, expected_sites, expected_subject):
    # when
    data = await gql.data(
        token(role, *sites, subject=subject, sub=f"user-{role}"), "{ viewer { actorId role sites subjectCode } }"
    )
    # then
    assert data["viewer"] == {
        "actorId": f"user-{role}",
        "role": role.upper(),
        "sites": expected_sites,
        "subjectCode": expected_subject,
    }


TRIAL = """
{
  trial {
    code title
    protocolParameters {
      version effectiveFrom reason cciEarlyThresholdPerUl cciLateThresholdPerUl earlyWindowMinMinutes
      earlyWindowMaxMinutes lateWindowMinHours lateWindowMaxHours preCountLookbackHours
      refractoryConsecutiveTransfusions refractoryCciThresholdPerUl sustainedConsecutiveResponses
      assessmentWindowMonths lossOfResponseConsecutiveFailures bsaFormula bloodVolumeMlPerKg allowBcmaBeforeCd19
    }
    protocolParameterHistory { version effectiveFrom reason cciEarlyThresholdPerUl bsaFormula }
  }
}"""

DEFAULT_PARAMETERS = {
    "version": 1,
    "effectiveFrom": "2026-01-01",
    "reason": "Initial protocol parameters (DOMAIN.md defaults)",
    "cciEarlyThresholdPerUl": 7500.0,
    "cciLateThresholdPerUl": 5000.0,
    "earlyWindowMinMinutes": 10,
    "earlyWindowMaxMinutes": 60,
    "lateWindowMinHours": 18,
    "lateWindowMaxHours": 24,
    "preCountLookbackHours": 24,
    "refractoryConsecutiveTransfusions": 2,
    "refractoryCciThresholdPerUl": 7500.0,
    "sustainedConsecutiveResponses": 2,
    "assessmentWindowMonths": 12,
    "lossOfResponseConsecutiveFailures": 2,
    "bsaFormula": "MOSTELLER",
    "bloodVolumeMlPerKg": 70.0,
    "allowBcmaBeforeCd19": False,
}


async def test_trial_has_protocol_parameters_version_1_with_domain_defaults(gql, token):
    # when
    data = await gql.data(token("coordinator", "S01"), TRIAL)
    # then
    trial = data["trial"]
    assert trial["code"] == "PTR-CART-01"
    assert trial["title"].startswith("Sequential CD19 then BCMA CAR-T cells")
    assert trial["protocolParameters"] == DEFAULT_PARAMETERS
    assert trial["protocolParameterHistory"] == [
        {
            "version": 1,
            "effectiveFrom": "2026-01-01",
            "reason": "Initial protocol parameters (DOMAIN.md defaults)",
            "cciEarlyThresholdPerUl": 7500.0,
            "bsaFormula": "MOSTELLER",
        }
    ]


async def test_analyst_sees_parameters_without_the_free_text_reason(gql, token):
    # when
    data = await gql.data(token("analyst"), TRIAL)
    # then
    assert data["trial"]["protocolParameters"] == {**DEFAULT_PARAMETERS, "reason": None}
    assert [v["reason"] for v in data["trial"]["protocolParameterHistory"]] == [None]


async def test_sites_are_scoped_to_the_caller(gql, token):
    # given
    await given_sites(gql, token, "S02", "S01", "S03")
    await given_subject(gql, token, "S02-001", "S02")
    # when
    admin = await gql.data(token("admin"), "{ sites { code name } }")
    analyst = await gql.data(token("analyst"), "{ sites { code } }")
    coordinator = await gql.data(token("coordinator", "S01", "S03"), "{ sites { code } }")
    monitor = await gql.data(token("monitor", "S03"), "{ sites { code } }")
    patient = await gql.data(token("patient", subject="S02-001"), "{ sites { code } }")
    # then
    assert admin["sites"] == [
        {"code": "S01", "name": "Site"},
        {"code": "S02", "name": "Site"},
        {"code": "S03", "name": "Site"},
    ]
    assert [s["code"] for s in analyst["sites"]] == ["S01", "S02", "S03"]
    assert [s["code"] for s in coordinator["sites"]] == ["S01", "S03"]
    assert [s["code"] for s in monitor["sites"]] == ["S03"]
    assert [s["code"] for s in patient["sites"]] == ["S02"]


# ---------------------------------------------------------------------------------------------
# subjects


async def given_seven_subjects(gql, token) -> None:
    """S01-001..S01-005 at S01, S02-001..S02-002 at S02; S01-002 and S02-002 enrolled."""
    await given_sites(gql, token, "S01", "S02")
    for n in range(1, 6):
        await given_subject(gql, token, f"S01-00{n}", "S01")
    for n in range(1, 3):
        await given_subject(gql, token, f"S02-00{n}", "S02")
    for code in ("S01-002", "S02-002"):
        data = await gql.data(token("admin"), CHANGE_STATUS, {"code": code, "status": "ENROLLED"})
        assert data["changeSubjectStatus"]["__typename"] == "SubjectSuccess", data


async def all_pages(gql, auth: str, size: int, **filters: Any) -> list[dict[str, Any]]:
    pages, after = [], None
    while True:
        page = (await gql.data(auth, SUBJECTS_PAGE, {"first": size, "after": after, **filters}))["subjects"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


ALL_CODES = ["S01-001", "S01-002", "S01-003", "S01-004", "S01-005", "S02-001", "S02-002"]


async def test_subjects_page_through_all_with_end_cursor(gql, token):
    # given
    await given_seven_subjects(gql, token)
    # when
    pages = await all_pages(gql, token("analyst"), 3)
    # then
    assert [[e["node"]["code"] for e in p["edges"]] for p in pages] == [ALL_CODES[0:3], ALL_CODES[3:6], ALL_CODES[6:]]
    assert [p["totalCount"] for p in pages] == [7, 7, 7]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert all(p["pageInfo"]["endCursor"] == p["edges"][-1]["cursor"] for p in pages)


async def test_subjects_exact_page_size_has_no_next_page(gql, token):
    # given
    await given_seven_subjects(gql, token)
    # when
    page = (await gql.data(token("admin"), SUBJECTS_PAGE, {"first": 7}))["subjects"]
    # then
    assert [e["node"]["code"] for e in page["edges"]] == ALL_CODES
    assert page["pageInfo"]["hasNextPage"] is False


async def test_subjects_filter_by_site_and_status(gql, token):
    # given
    await given_seven_subjects(gql, token)
    auth = token("analyst")
    # when
    s02 = (await gql.data(auth, SUBJECTS_PAGE, {"siteCodes": ["S02"]}))["subjects"]
    enrolled = (await gql.data(auth, SUBJECTS_PAGE, {"statuses": ["ENROLLED"]}))["subjects"]
    both = (await gql.data(auth, SUBJECTS_PAGE, {"siteCodes": ["S01"], "statuses": ["SCREENING"]}))["subjects"]
    none = (await gql.data(auth, SUBJECTS_PAGE, {"statuses": ["WITHDRAWN"]}))["subjects"]
    paged = await all_pages(gql, auth, 2, siteCodes=["S01"], statuses=["SCREENING"])
    # then
    assert [(e["node"]["code"], e["node"]["site"]["code"]) for e in s02["edges"]] == [
        ("S02-001", "S02"),
        ("S02-002", "S02"),
    ]
    assert s02["totalCount"] == 2
    assert [(e["node"]["code"], e["node"]["status"]) for e in enrolled["edges"]] == [
        ("S01-002", "ENROLLED"),
        ("S02-002", "ENROLLED"),
    ]
    assert enrolled["totalCount"] == 2
    assert [e["node"]["code"] for e in both["edges"]] == ["S01-001", "S01-003", "S01-004", "S01-005"]
    assert both["totalCount"] == 4
    assert none == {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    assert [[e["node"]["code"] for e in p["edges"]] for p in paged] == [["S01-001", "S01-003"], ["S01-004", "S01-005"]]
    assert [p["totalCount"] for p in paged] == [4, 4]


async def test_subjects_are_scoped_to_sites_and_own_subject(gql, token):
    # given
    await given_seven_subjects(gql, token)
    # when
    coordinator = (await gql.data(token("coordinator", "S02"), SUBJECTS_PAGE, {}))["subjects"]
    foreign_filter = (await gql.data(token("coordinator", "S02"), SUBJECTS_PAGE, {"siteCodes": ["S01"]}))["subjects"]
    patient = (await gql.data(token("patient", subject="S01-004"), SUBJECTS_PAGE, {}))["subjects"]
    # then
    assert [e["node"]["code"] for e in coordinator["edges"]] == ["S02-001", "S02-002"]
    assert coordinator["totalCount"] == 2
    assert foreign_filter["totalCount"] == 0 and foreign_filter["edges"] == []
    assert [e["node"]["code"] for e in patient["edges"]] == ["S01-004"]
    assert patient["totalCount"] == 1


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_subjects_page_size_out_of_bounds_is_a_clear_error(gql, token, first):
    # when
    body = await gql(token("admin"), SUBJECTS_PAGE, {"first": first})
    # then
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": ["first"]}


async def test_subject_by_code(gql, token):
    # given
    await given_sites(gql, token, "S01", "S02")
    subject_id = await given_subject(gql, token, "S01-001")
    query = "query($code: String!) { subject(code: $code) { id code sex yearOfBirth ageAtConsent diagnosis site { code } } }"
    # when
    mine = await gql.data(token("coordinator", "S01"), query, {"code": "S01-001"})
    other_site = await gql.data(token("coordinator", "S02"), query, {"code": "S01-001"})
    unknown = await gql.data(token("admin"), query, {"code": "S09-999"})
    # then
    assert mine["subject"] == {
        "id": subject_id,
        "code": "S01-001",
        "sex": "MALE",
        "yearOfBirth": 1990,
        "ageAtConsent": 35,
        "diagnosis": "ALL",
        "site": {"code": "S01"},
    }
    assert other_site == {"subject": None}
    assert unknown == {"subject": None}


# ---------------------------------------------------------------------------------------------
# node(id:)


async def given_one_of_each(gql, token) -> dict[str, str]:
    await given_sites(gql, token, "S01", "S02")
    sites = (await gql.data(token("admin"), "{ sites { id code } }"))["sites"]
    ids = {"Site": next(s["id"] for s in sites if s["code"] == "S01")}
    ids["Subject"] = await given_subject(gql, token, "S01-001")
    ids["BodyMeasurement"] = await record(
        gql,
        token,
        RECORD_MEASUREMENT,
        "recordBodyMeasurement",
        "bodyMeasurement",
        {"subjectCode": "S01-001", "measuredAt": "2026-01-12T08:00:00Z", "weightKg": 72.5},
    )
    ids["LymphodepletionCourse"] = await record(
        gql,
        token,
        RECORD_LYMPHODEPLETION,
        "recordLymphodepletion",
        "lymphodepletionCourse",
        {
            "subjectCode": "S01-001",
            "startDate": "2026-01-15",
            "endDate": "2026-01-17",
            "agents": [{"agent": "FLUDARABINE", "dosePerDay": 30, "doseUnit": "MG_PER_M2", "days": 3}],
        },
    )
    ids["CarTInfusion"] = await record(
        gql,
        token,
        RECORD_INFUSION,
        "recordCarTInfusion",
        "infusion",
        {"subjectCode": "S01-001", "product": "CD19", "infusedAt": "2026-01-20T10:00:00Z", "lotNumber": "L-19"},
    )
    ids["PlateletTransfusion"] = await record(
        gql,
        token,
        RECORD_TRANSFUSION,
        "recordPlateletTransfusion",
        "transfusion",
        {
            "subjectCode": "S01-001",
            "startedAt": "2026-01-25T10:00:00Z",
            "endedAt": "2026-01-25T10:30:00Z",
            "units": [{"contentE11": 3.5}],
        },
    )
    ids["PlateletCount"] = await record(
        gql,
        token,
        RECORD_COUNT,
        "recordPlateletCount",
        "plateletCount",
        {"subjectCode": "S01-001", "valueE9PerL": 18, "drawnAt": "2026-01-25T11:00:00Z"},
    )
    return ids


async def test_node_fetches_every_node_type_by_global_id(gql, token):
    # given
    ids = await given_one_of_each(gql, token)
    auth = token("coordinator", "S01")
    # when
    nodes = {kind: (await gql.data(auth, NODE, {"id": node_id}))["node"] for kind, node_id in ids.items()}
    # then
    assert nodes == {
        "Site": {"__typename": "Site", "id": ids["Site"], "code": "S01", "name": "Site"},
        "Subject": {"__typename": "Subject", "id": ids["Subject"], "code": "S01-001"},
        "BodyMeasurement": {"__typename": "BodyMeasurement", "id": ids["BodyMeasurement"], "weightKg": 72.5},
        "LymphodepletionCourse": {
            "__typename": "LymphodepletionCourse",
            "id": ids["LymphodepletionCourse"],
            "startDate": "2026-01-15",
        },
        "CarTInfusion": {"__typename": "CarTInfusion", "id": ids["CarTInfusion"], "lotNumber": "L-19"},
        "PlateletTransfusion": {"__typename": "PlateletTransfusion", "id": ids["PlateletTransfusion"], "doseE11": 3.5},
        "PlateletCount": {"__typename": "PlateletCount", "id": ids["PlateletCount"], "valueE9PerL": 18.0},
    }


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "!!!", "U3ViamVjdDp4", "Tm9wZTox", "U3ViamVjdDo5OTk"],
    ids=["empty", "word", "symbols", "Subject:x", "Nope:1", "Subject:999"],
)
async def test_node_with_garbage_or_unknown_id_is_null(gql, token, garbage):
    # given
    await given_sites(gql, token, "S01")
    await given_subject(gql, token, "S01-001")
    # when
    data = await gql.data(token("admin"), NODE, {"id": garbage})
    # then
    assert data == {"node": None}


async def test_node_outside_the_callers_scope_is_null(gql, token):
    # given
    ids = await given_one_of_each(gql, token)
    other_site = token("coordinator", "S02")
    # when
    nodes = {kind: (await gql.data(other_site, NODE, {"id": node_id}))["node"] for kind, node_id in ids.items()}
    # then
    assert nodes == dict.fromkeys(ids, None)


# ---------------------------------------------------------------------------------------------
# study days, voids, units


async def test_study_day_is_null_before_any_infusion(gql, token):
    # given
    await given_sites(gql, token, "S01")
    await given_subject(gql, token, "S01-001")
    await record(
        gql,
        token,
        RECORD_COUNT,
        "recordPlateletCount",
        "plateletCount",
        {"subjectCode": "S01-001", "valueE9PerL": 20, "drawnAt": "2026-01-19T12:00:00Z"},
    )
    # when
    data = await gql.data(token("coordinator", "S01"), SUBJECT_RECORDS, {"code": "S01-001"})
    # then
    assert data["subject"]["firstInfusionAt"] is None
    assert [c["studyDay"] for c in data["subject"]["plateletCounts"]] == [None]


async def test_study_days_count_utc_calendar_days_from_the_first_infusion(gql, token):
    # given
    await given_sites(gql, token, "S01")
    await given_subject(gql, token, "S01-001")
    common = {"subjectCode": "S01-001"}
    await record(
        gql,
        token,
        RECORD_MEASUREMENT,
        "recordBodyMeasurement",
        "bodyMeasurement",
        {**common, "measuredAt": "2026-01-14T23:59:00Z", "heightCm": 180, "weightKg": 80},
    )
    await record(
        gql,
        token,
        RECORD_LYMPHODEPLETION,
        "recordLymphodepletion",
        "lymphodepletionCourse",
        {
            **common,
            "startDate": "2026-01-16",
            "endDate": "2026-01-18",
            "agents": [{"agent": "FLUDARABINE", "dosePerDay": 30, "doseUnit": "MG_PER_M2", "days": 3}],
        },
    )
    # 23:30 in New York on the 20th is 04:30 UTC on the 21st: day 0 is 2026-01-21
    await record(
        gql,
        token,
        RECORD_INFUSION,
        "recordCarTInfusion",
        "infusion",
        {**common, "product": "CD19", "infusedAt": "2026-01-20T23:30:00-05:00", "lotNumber": "L-19"},
    )
    await record(
        gql,
        token,
        RECORD_INFUSION,
        "recordCarTInfusion",
        "infusion",
        {**common, "product": "BCMA", "infusedAt": "2026-02-04T09:00:00Z", "lotNumber": "L-BC"},
    )
    await record(
        gql,
        token,
        RECORD_TRANSFUSION,
        "recordPlateletTransfusion",
        "transfusion",
        {
            **common,
            "startedAt": "2026-01-28T10:00:00Z",
            "endedAt": "2026-01-28T10:30:00Z",
            "units": [{"contentE11": 3.0}],
            "preCount": {"valueE9PerL": 5, "drawnAt": "2026-01-28T08:00:00Z"},
        },
    )
    for drawn_at in ("2026-01-20T12:00:00Z", "2026-01-21T00:00:00Z", "2026-01-21T23:59:59Z", "2026-01-22T00:00:00Z"):
        await record(
            gql,
            token,
            RECORD_COUNT,
            "recordPlateletCount",
            "plateletCount",
            {**common, "valueE9PerL": 15, "drawnAt": drawn_at},
        )
    # when
    subject = (await gql.data(token("analyst"), SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    # then
    assert subject["firstInfusionAt"] == "2026-01-21T04:30:00+00:00"
    assert [m["studyDay"] for m in subject["measurements"]] == [-7]
    assert [c["studyDay"] for c in subject["lymphodepletions"]] == [-5]
    assert [(i["product"], i["studyDay"]) for i in subject["infusions"]] == [("CD19", 0), ("BCMA", 14)]
    assert [t["studyDay"] for t in subject["transfusions"]] == [7]
    assert [(c["drawnAt"], c["studyDay"]) for c in subject["plateletCounts"]] == [
        ("2026-01-20T12:00:00+00:00", -1),
        ("2026-01-21T00:00:00+00:00", 0),
        ("2026-01-21T23:59:59+00:00", 0),
        ("2026-01-22T00:00:00+00:00", 1),
        ("2026-01-28T08:00:00+00:00", 7),
    ]


async def test_voiding_the_only_infusion_takes_study_days_back_to_null(gql, token):
    # given
    await given_sites(gql, token, "S01")
    await given_subject(gql, token, "S01-001")
    infusion_id = await record(
        gql,
        token,
        RECORD_INFUSION,
        "recordCarTInfusion",
        "infusion",
        {"subjectCode": "S01-001", "product": "CD19", "infusedAt": "2026-01-20T10:00:00Z", "lotNumber": "L-19"},
    )
    await record(
        gql,
        token,
        RECORD_COUNT,
        "recordPlateletCount",
        "plateletCount",
        {"subjectCode": "S01-001", "valueE9PerL": 20, "drawnAt": "2026-01-19T12:00:00Z"},
    )
    auth = token("coordinator", "S01")
    before = (await gql.data(auth, SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    # when
    voided = await gql.data(auth, VOID, {"id": infusion_id})
    after = (await gql.data(auth, SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    # then
    assert voided["voidRecord"]["__typename"] == "VoidRecordSuccess"
    assert [c["studyDay"] for c in before["plateletCounts"]] == [-1]
    assert after["firstInfusionAt"] is None
    assert after["infusions"] == []
    assert [c["studyDay"] for c in after["plateletCounts"]] == [None]


async def test_voided_records_disappear_from_the_lists(gql, token):
    # given
    ids = await given_one_of_each(gql, token)
    kept_count = await record(
        gql,
        token,
        RECORD_COUNT,
        "recordPlateletCount",
        "plateletCount",
        {"subjectCode": "S01-001", "valueE9PerL": 33, "drawnAt": "2026-01-26T08:00:00Z"},
    )
    auth = token("coordinator", "S01")
    before = (await gql.data(auth, SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    # when
    for kind in ("PlateletCount", "PlateletTransfusion", "BodyMeasurement", "LymphodepletionCourse", "CarTInfusion"):
        result = await gql.data(auth, VOID, {"id": ids[kind]})
        assert result["voidRecord"]["__typename"] == "VoidRecordSuccess", (kind, result)
    after = (await gql.data(auth, SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    # then
    lists = ("measurements", "lymphodepletions", "infusions", "transfusions")
    assert [len(before[name]) for name in lists] == [1, 1, 1, 1]
    assert [c["id"] for c in before["plateletCounts"]] == [ids["PlateletCount"], kept_count]
    assert [after[name] for name in lists] == [[], [], [], []]
    assert [c["id"] for c in after["plateletCounts"]] == [kept_count]
    # and: node(id:) no longer finds them either (a voided transfusion has no derived values)
    for kind in ("PlateletCount", "PlateletTransfusion", "BodyMeasurement", "LymphodepletionCourse", "CarTInfusion"):
        assert (await gql.data(auth, NODE, {"id": ids[kind]}))["node"] is None, kind
    assert (await gql.data(auth, NODE, {"id": kept_count}))["node"]["valueE9PerL"] == 33


async def test_platelet_count_per_ul_is_e9_per_l_times_1000(gql, token):
    # given
    await given_sites(gql, token, "S01")
    await given_subject(gql, token, "S01-001")
    for value, drawn_at in ((22.5, "2026-01-19T08:00:00Z"), (0, "2026-01-19T09:00:00Z"), (150, "2026-01-19T10:00:00Z")):
        await record(
            gql,
            token,
            RECORD_COUNT,
            "recordPlateletCount",
            "plateletCount",
            {"subjectCode": "S01-001", "valueE9PerL": value, "drawnAt": drawn_at},
        )
    # when
    subject = (await gql.data(token("coordinator", "S01"), SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    # then
    assert [(c["valueE9PerL"], c["valuePerUl"]) for c in subject["plateletCounts"]] == [
        (22.5, 22500.0),
        (0.0, 0.0),
        (150.0, 150000.0),
    ]


async def test_transfusion_dose_and_its_basis(gql, token):
    # given
    await given_sites(gql, token, "S01")
    await given_subject(gql, token, "S01-001")
    unit_sets = [
        [{"contentE11": 3.0}, {"contentE11": 3.5}],
        [{"contentE11": 3.2}, {"kind": "WHOLE_BLOOD_DERIVED", "contentE11": 0.6, "contentBasis": "NOMINAL"}],
        [{"contentE11": 3.2}, {"kind": "POOLED_WHOLE_BLOOD", "contentBasis": "NOMINAL"}],
    ]
    for day, units in enumerate(unit_sets, start=1):
        await record(
            gql,
            token,
            RECORD_TRANSFUSION,
            "recordPlateletTransfusion",
            "transfusion",
            {
                "subjectCode": "S01-001",
                "startedAt": f"2026-01-0{day}T10:00:00Z",
                "endedAt": f"2026-01-0{day}T10:45:00Z",
                "units": units,
                "note": f"bag {day}",
            },
        )
    # when
    subject = (await gql.data(token("coordinator", "S01"), SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    analyst = (await gql.data(token("analyst"), SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    # then
    transfusions = subject["transfusions"]
    assert [t["doseE11"] for t in transfusions] == [6.5, pytest.approx(3.8), None]
    assert [t["doseBasis"] for t in transfusions] == ["MEASURED", "NOMINAL", "NOMINAL"]
    assert transfusions[2]["units"] == [
        {"kind": "APHERESIS", "contentE11": 3.2, "contentBasis": "MEASURED"},
        {"kind": "POOLED_WHOLE_BLOOD", "contentE11": None, "contentBasis": "NOMINAL"},
    ]
    assert [t["note"] for t in transfusions] == ["bag 1", "bag 2", "bag 3"]
    assert [t["note"] for t in analyst["transfusions"]] == [None, None, None]
    assert [t["doseE11"] for t in analyst["transfusions"]] == [6.5, pytest.approx(3.8), None]


async def test_status_history_reason_is_hidden_from_analysts(gql, token):
    # given
    await given_sites(gql, token, "S01")
    await given_subject(gql, token, "S01-001")
    await gql.data(token("admin"), CHANGE_STATUS, {"code": "S01-001", "status": "ENROLLED"})
    # when
    staff = (await gql.data(token("coordinator", "S01"), SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    analyst = (await gql.data(token("analyst"), SUBJECT_RECORDS, {"code": "S01-001"}))["subject"]
    # then
    assert staff["statusHistory"] == [
        {"fromStatus": None, "toStatus": "SCREENING", "effectiveDate": "2026-01-10", "reason": None},
        {"fromStatus": "SCREENING", "toStatus": "ENROLLED", "effectiveDate": "2026-01-11", "reason": "eligible"},
    ]
    assert [h["reason"] for h in analyst["statusHistory"]] == [None, None]
    assert [h["toStatus"] for h in analyst["statusHistory"]] == ["SCREENING", "ENROLLED"]
