"""The audit trail: each mutation leaves exactly the rows it should, with old and new values.

Every mutation is sent with an X-Request-ID header and a token whose `sub` names the actor; the
new rows are read back through `auditEvents` as an admin, and compared field by field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

COORDINATOR_ID = "coord-7"
ADMIN_ID = "admin-1"

AUDIT = """
query($first: Int, $after: String, $subjectCode: String, $entity: String, $recordId: ID, $actorId: String,
      $since: DateTime, $until: DateTime) {
  auditEvents(first: $first, after: $after, subjectCode: $subjectCode, entity: $entity, recordId: $recordId,
              actorId: $actorId, since: $since, until: $until) {
    edges { cursor node { id occurredAt actorId actorRole entity entityId subjectCode action changes reason requestId } }
    pageInfo { hasNextPage endCursor }
  }
}"""

CREATE_SITE = """
mutation($input: CreateSiteInput!) {
  createSite(input: $input) { __typename ... on SiteSuccess { site { id code } } ... on UserError { code message } }
}"""

ENROLL = """
mutation($input: EnrollSubjectInput!) {
  enrollSubject(input: $input) {
    __typename ... on SubjectSuccess { subject { id code } } ... on UserError { code message field }
  }
}"""

AMEND_SUBJECT = """
mutation($input: AmendSubjectInput!) {
  amendSubject(input: $input) {
    __typename ... on SubjectSuccess { subject { id aboGroup } } ... on UserError { code message field }
  }
}"""

CHANGE_STATUS = """
mutation($input: ChangeSubjectStatusInput!) {
  changeSubjectStatus(input: $input) {
    __typename ... on SubjectSuccess { subject { id status } } ... on UserError { code message field }
  }
}"""

RECORD_MEASUREMENT = """
mutation($input: RecordBodyMeasurementInput!) {
  recordBodyMeasurement(input: $input) {
    __typename ... on BodyMeasurementSuccess { bodyMeasurement { id } } ... on UserError { code message field }
  }
}"""

AMEND_MEASUREMENT = """
mutation($input: AmendBodyMeasurementInput!) {
  amendBodyMeasurement(input: $input) {
    __typename ... on BodyMeasurementSuccess { bodyMeasurement { id weightKg } } ... on UserError { code message }
  }
}"""

RECORD_LYMPHODEPLETION = """
mutation($input: RecordLymphodepletionInput!) {
  recordLymphodepletion(input: $input) {
    __typename ... on LymphodepletionSuccess { lymphodepletionCourse { id } } ... on UserError { code message field }
  }
}"""

AMEND_LYMPHODEPLETION = """
mutation($input: AmendLymphodepletionInput!) {
  amendLymphodepletion(input: $input) {
    __typename ... on LymphodepletionSuccess { lymphodepletionCourse { id endDate } } ... on UserError { code message }
  }
}"""

RECORD_INFUSION = """
mutation($input: RecordCarTInfusionInput!) {
  recordCarTInfusion(input: $input) {
    __typename ... on CarTInfusionSuccess { infusion { id } } ... on UserError { code message field }
  }
}"""

AMEND_INFUSION = """
mutation($input: AmendCarTInfusionInput!) {
  amendCarTInfusion(input: $input) {
    __typename ... on CarTInfusionSuccess { infusion { id lotNumber } } ... on UserError { code message }
  }
}"""

RECORD_TRANSFUSION = """
mutation($input: RecordPlateletTransfusionInput!) {
  recordPlateletTransfusion(input: $input) {
    __typename
    ... on PlateletTransfusionSuccess { transfusion { id } counts { id valueE9PerL } }
    ... on UserError { code message field }
  }
}"""

AMEND_TRANSFUSION = """
mutation($input: AmendPlateletTransfusionInput!) {
  amendPlateletTransfusion(input: $input) {
    __typename ... on PlateletTransfusionSuccess { transfusion { id note } } ... on UserError { code message }
  }
}"""

RECORD_COUNT = """
mutation($input: RecordPlateletCountInput!) {
  recordPlateletCount(input: $input) {
    __typename ... on PlateletCountSuccess { plateletCount { id } } ... on UserError { code message field }
  }
}"""

AMEND_COUNT = """
mutation($input: AmendPlateletCountInput!) {
  amendPlateletCount(input: $input) {
    __typename ... on PlateletCountSuccess { plateletCount { id valueE9PerL } } ... on UserError { code message }
  }
}"""

VOID = """
mutation($input: VoidRecordInput!) {
  voidRecord(input: $input) {
    __typename ... on VoidRecordSuccess { id voidedAt } ... on UserError { code message field }
  }
}"""

SUBJECT_INPUT = {
    "code": "S01-001",
    "siteCode": "S01",
    "sex": "FEMALE",
    "yearOfBirth": 1980,
    "ageAtConsent": 45,
    "diagnosis": "AML",
    "remissionStatus": "CR1",
    "consentDate": "2026-01-10",
}

FLU = {"agent": "FLUDARABINE", "dosePerDay": 30.0, "doseUnit": "MG_PER_M2", "days": 3}
CY = {"agent": "CYCLOPHOSPHAMIDE", "dosePerDay": 500.0, "doseUnit": "MG_PER_M2", "days": 3}
FLU_STORED = {"agent": "fludarabine", "other_name": None, "dose_per_day": 30.0, "dose_unit": "mg_per_m2", "days": 3}
CY_STORED = {
    "agent": "cyclophosphamide",
    "other_name": None,
    "dose_per_day": 500.0,
    "dose_unit": "mg_per_m2",
    "days": 3,
}


# ---------------------------------------------------------------------------------------------
# helpers


async def send(client, token: str, query: str, variables: dict[str, Any], request_id: str) -> dict[str, Any]:
    """POSTs a mutation with an X-Request-ID, checks the header is echoed, returns `data`."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


async def audit_page(gql, token, **variables: Any) -> dict[str, Any]:
    data = await gql.data(token("admin", sub="auditor-1"), AUDIT, variables)
    return data["auditEvents"]


async def all_audit(gql, token, **filters: Any) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (await audit_page(gql, token, first=100, **filters))["edges"]]


class AuditWatch:
    """Remembers the end of the audit trail, then returns only the rows added since."""

    def __init__(self, gql, token) -> None:
        self.gql, self.token = gql, token
        self.cursor: str | None = None

    async def mark(self) -> None:
        page = await audit_page(self.gql, self.token, first=100)
        assert not page["pageInfo"]["hasNextPage"]
        self.cursor = page["pageInfo"]["endCursor"]

    async def new_rows(self) -> list[dict[str, Any]]:
        page = await audit_page(self.gql, self.token, first=100, after=self.cursor)
        return [edge["node"] for edge in page["edges"]]


@pytest.fixture
def watch(gql, token) -> AuditWatch:
    return AuditWatch(gql, token)


def coordinator(token) -> str:
    return token("coordinator", "S01", sub=COORDINATOR_ID)


async def given_site_and_subject(gql, token, code: str = "S01-001") -> str:
    """Site S01 and one subject, in screening; returns the subject's global id."""
    await gql.data(token("admin", sub=ADMIN_ID), CREATE_SITE, {"input": {"code": "S01", "name": "One"}})
    data = await gql.data(coordinator(token), ENROLL, {"input": {**SUBJECT_INPUT, "code": code}})
    assert data["enrollSubject"]["__typename"] == "SubjectSuccess", data
    return data["enrollSubject"]["subject"]["id"]


def assert_row(
    row: dict[str, Any],
    *,
    entity: str,
    entity_id: str,
    action: str,
    changes: dict[str, Any],
    request_id: str,
    subject_code: str | None = "S01-001",
    reason: str | None = None,
    actor_id: str = COORDINATOR_ID,
    actor_role: str = "COORDINATOR",
) -> None:
    assert row["entity"] == entity
    assert row["entityId"] == entity_id
    assert row["action"] == action
    assert row["actorId"] == actor_id
    assert row["actorRole"] == actor_role
    assert row["subjectCode"] == subject_code
    assert row["reason"] == reason
    assert row["requestId"] == request_id
    assert row["changes"] == changes


# ---------------------------------------------------------------------------------------------
# sites and subjects


async def test_create_site_is_audited(client, token, watch):
    # given
    await watch.mark()
    # when
    data = await send(
        client, token("admin", sub=ADMIN_ID), CREATE_SITE, {"input": {"code": "S02", "name": "Two"}}, "req-site-1"
    )
    # then
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="Site",
        entity_id=data["createSite"]["site"]["id"],
        action="CREATE",
        changes={"code": {"old": None, "new": "S02"}, "name": {"old": None, "new": "Two"}},
        request_id="req-site-1",
        subject_code=None,
        actor_id=ADMIN_ID,
        actor_role="ADMIN",
    )


async def test_enroll_subject_is_audited(client, gql, token, watch):
    # given
    await gql.data(token("admin", sub=ADMIN_ID), CREATE_SITE, {"input": {"code": "S01", "name": "One"}})
    await watch.mark()
    # when
    data = await send(client, coordinator(token), ENROLL, {"input": {**SUBJECT_INPUT, "aboGroup": "O"}}, "req-enroll-1")
    # then
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="Subject",
        entity_id=data["enrollSubject"]["subject"]["id"],
        action="CREATE",
        changes={
            "code": {"old": None, "new": "S01-001"},
            "site": {"old": None, "new": "S01"},
            "status": {"old": None, "new": "screening"},
            "sex": {"old": None, "new": "female"},
            "year_of_birth": {"old": None, "new": 1980},
            "age_at_consent": {"old": None, "new": 45},
            "diagnosis": {"old": None, "new": "aml"},
            "remission_status": {"old": None, "new": "cr1"},
            "abo_group": {"old": None, "new": "o"},
            "consent_date": {"old": None, "new": "2026-01-10"},
        },
        request_id="req-enroll-1",
    )


async def test_amend_subject_is_audited_with_old_and_new_values_and_reason(client, gql, token, watch):
    # given
    subject_id = await given_site_and_subject(gql, token)
    await watch.mark()
    # when
    variables = {"input": {"code": "S01-001", "reason": "typo in CRF", "aboGroup": "A", "yearOfBirth": 1981}}
    data = await send(client, coordinator(token), AMEND_SUBJECT, variables, "req-amend-subject")
    # then
    assert data["amendSubject"]["__typename"] == "SubjectSuccess"
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="Subject",
        entity_id=subject_id,
        action="UPDATE",
        changes={"abo_group": {"old": None, "new": "a"}, "year_of_birth": {"old": 1980, "new": 1981}},
        reason="typo in CRF",
        request_id="req-amend-subject",
    )


async def test_change_subject_status_is_audited(client, gql, token, watch):
    # given
    subject_id = await given_site_and_subject(gql, token)
    await watch.mark()
    # when
    variables = {
        "input": {"code": "S01-001", "status": "ENROLLED", "effectiveDate": "2026-01-11", "reason": "eligible"}
    }
    data = await send(client, coordinator(token), CHANGE_STATUS, variables, "req-status-1")
    # then
    assert data["changeSubjectStatus"]["subject"]["status"] == "ENROLLED"
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="Subject",
        entity_id=subject_id,
        action="STATUS_CHANGE",
        changes={
            "status": {"old": "screening", "new": "enrolled"},
            "effective_date": {"old": None, "new": "2026-01-11"},
        },
        reason="eligible",
        request_id="req-status-1",
    )


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (AMEND_SUBJECT, {"input": {"code": "S01-001", "reason": "  ", "aboGroup": "A"}}),
        (
            CHANGE_STATUS,
            {"input": {"code": "S01-001", "status": "ENROLLED", "effectiveDate": "2026-01-11", "reason": ""}},
        ),
    ],
    ids=["amendSubject", "changeSubjectStatus"],
)
async def test_subject_change_without_reason_is_refused_and_leaves_no_row(client, gql, token, watch, query, variables):
    # given
    await given_site_and_subject(gql, token)
    await watch.mark()
    # when
    data = await send(client, coordinator(token), query, variables, "req-no-reason")
    # then
    result = next(iter(data.values()))
    assert result["__typename"] == "InputError"
    assert result["code"] == "REQUIRED"
    assert await watch.new_rows() == []


# ---------------------------------------------------------------------------------------------
# clinical records


async def test_body_measurement_create_and_amend_are_audited(client, gql, token, watch):
    # given
    await given_site_and_subject(gql, token)
    await watch.mark()
    # when
    created = await send(
        client,
        coordinator(token),
        RECORD_MEASUREMENT,
        {
            "input": {
                "subjectCode": "S01-001",
                "measuredAt": "2026-01-12T09:30:00+01:00",
                "heightCm": 170,
                "weightKg": 65,
            }
        },
        "req-bm-create",
    )
    # then
    measurement_id = created["recordBodyMeasurement"]["bodyMeasurement"]["id"]
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="BodyMeasurement",
        entity_id=measurement_id,
        action="CREATE",
        changes={
            "measured_at": {"old": None, "new": "2026-01-12T08:30:00+00:00"},
            "height_cm": {"old": None, "new": 170.0},
            "weight_kg": {"old": None, "new": 65.0},
        },
        request_id="req-bm-create",
    )

    # given
    await watch.mark()
    # when
    amended = await send(
        client,
        coordinator(token),
        AMEND_MEASUREMENT,
        {"input": {"id": measurement_id, "reason": "scale recalibrated", "weightKg": 66.5}},
        "req-bm-amend",
    )
    # then
    assert amended["amendBodyMeasurement"]["bodyMeasurement"]["weightKg"] == 66.5
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="BodyMeasurement",
        entity_id=measurement_id,
        action="UPDATE",
        changes={"weight_kg": {"old": 65.0, "new": 66.5}},
        reason="scale recalibrated",
        request_id="req-bm-amend",
    )


async def test_lymphodepletion_create_and_amend_are_audited(client, gql, token, watch):
    # given
    await given_site_and_subject(gql, token)
    await watch.mark()
    # when
    created = await send(
        client,
        coordinator(token),
        RECORD_LYMPHODEPLETION,
        {"input": {"subjectCode": "S01-001", "startDate": "2026-01-13", "endDate": "2026-01-15", "agents": [FLU, CY]}},
        "req-ld-create",
    )
    # then
    course_id = created["recordLymphodepletion"]["lymphodepletionCourse"]["id"]
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="LymphodepletionCourse",
        entity_id=course_id,
        action="CREATE",
        changes={
            "start_date": {"old": None, "new": "2026-01-13"},
            "end_date": {"old": None, "new": "2026-01-15"},
            "agents": {"old": None, "new": [FLU_STORED, CY_STORED]},
        },
        request_id="req-ld-create",
    )

    # given
    await watch.mark()
    # when
    flu_4_days = {**FLU, "days": 4}
    amended = await send(
        client,
        coordinator(token),
        AMEND_LYMPHODEPLETION,
        {"input": {"id": course_id, "reason": "4th day given", "endDate": "2026-01-16", "agents": [flu_4_days, CY]}},
        "req-ld-amend",
    )
    # then
    assert amended["amendLymphodepletion"]["lymphodepletionCourse"]["endDate"] == "2026-01-16"
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="LymphodepletionCourse",
        entity_id=course_id,
        action="UPDATE",
        changes={
            "end_date": {"old": "2026-01-15", "new": "2026-01-16"},
            "agents": {"old": [FLU_STORED, CY_STORED], "new": [{**FLU_STORED, "days": 4}, CY_STORED]},
        },
        reason="4th day given",
        request_id="req-ld-amend",
    )


async def test_car_t_infusion_create_and_amend_are_audited(client, gql, token, watch):
    # given
    await given_site_and_subject(gql, token)
    await watch.mark()
    # when
    created = await send(
        client,
        coordinator(token),
        RECORD_INFUSION,
        {
            "input": {
                "subjectCode": "S01-001",
                "product": "CD19",
                "infusedAt": "2026-01-20T10:00:00Z",
                "lotNumber": "LOT-19-001",
                "carPositiveCellsPerKg": 1000000.0,
                "totalCarPositiveCells": 70000000.0,
            }
        },
        "req-inf-create",
    )
    # then
    infusion_id = created["recordCarTInfusion"]["infusion"]["id"]
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="CarTInfusion",
        entity_id=infusion_id,
        action="CREATE",
        changes={
            "product": {"old": None, "new": "cd19"},
            "infused_at": {"old": None, "new": "2026-01-20T10:00:00+00:00"},
            "car_positive_cells_per_kg": {"old": None, "new": 1000000.0},
            "total_car_positive_cells": {"old": None, "new": 70000000.0},
            "lot_number": {"old": None, "new": "LOT-19-001"},
        },
        request_id="req-inf-create",
    )

    # given
    await watch.mark()
    # when
    amended = await send(
        client,
        coordinator(token),
        AMEND_INFUSION,
        {
            "input": {
                "id": infusion_id,
                "reason": "lot misread",
                "lotNumber": "LOT-19-007",
                "totalCarPositiveCells": None,
            }
        },
        "req-inf-amend",
    )
    # then
    assert amended["amendCarTInfusion"]["infusion"]["lotNumber"] == "LOT-19-007"
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="CarTInfusion",
        entity_id=infusion_id,
        action="UPDATE",
        changes={
            "lot_number": {"old": "LOT-19-001", "new": "LOT-19-007"},
            "total_car_positive_cells": {"old": 70000000.0, "new": None},
        },
        reason="lot misread",
        request_id="req-inf-amend",
    )


async def test_transfusion_with_pre_and_two_post_counts_leaves_four_rows(client, gql, token, watch):
    # given
    await given_site_and_subject(gql, token)
    await watch.mark()
    # when
    variables = {
        "input": {
            "subjectCode": "S01-001",
            "startedAt": "2026-02-01T10:00:00Z",
            "endedAt": "2026-02-01T10:30:00Z",
            "units": [{"kind": "APHERESIS", "contentE11": 3.2, "contentBasis": "MEASURED"}],
            "aboCompatibility": "IDENTICAL",
            "hlaSelected": True,
            "note": "given on the ward",
            "preCount": {"valueE9PerL": 5, "drawnAt": "2026-02-01T08:00:00Z"},
            "postCounts": [
                {"valueE9PerL": 35, "drawnAt": "2026-02-01T11:00:00Z"},
                {"valueE9PerL": 22.5, "drawnAt": "2026-02-02T08:00:00Z"},
            ],
        }
    }
    data = await send(client, coordinator(token), RECORD_TRANSFUSION, variables, "req-tx-create")
    # then
    result = data["recordPlateletTransfusion"]
    assert result["__typename"] == "PlateletTransfusionSuccess"
    transfusion_id = result["transfusion"]["id"]
    count_ids = [c["id"] for c in result["counts"]]
    rows = await watch.new_rows()
    assert len(rows) == 4
    assert_row(
        rows[0],
        entity="PlateletTransfusion",
        entity_id=transfusion_id,
        action="CREATE",
        changes={
            "started_at": {"old": None, "new": "2026-02-01T10:00:00+00:00"},
            "ended_at": {"old": None, "new": "2026-02-01T10:30:00+00:00"},
            "units": {
                "old": None,
                "new": [{"kind": "apheresis", "content_e11": 3.2, "content_basis": "measured"}],
            },
            "abo_compatibility": {"old": None, "new": "identical"},
            "hla_selected": {"old": None, "new": True},
            "crossmatched": {"old": None, "new": False},
            "note": {"old": None, "new": "given on the ward"},
        },
        request_id="req-tx-create",
    )
    expected_counts = [
        ("2026-02-01T08:00:00+00:00", 5.0),
        ("2026-02-01T11:00:00+00:00", 35.0),
        ("2026-02-02T08:00:00+00:00", 22.5),
    ]
    for row, count_id, (drawn_at, value) in zip(rows[1:], count_ids, expected_counts, strict=True):
        assert_row(
            row,
            entity="PlateletCount",
            entity_id=count_id,
            action="CREATE",
            changes={"drawn_at": {"old": None, "new": drawn_at}, "value_e9_per_l": {"old": None, "new": value}},
            request_id="req-tx-create",
        )
    # one transaction, one time
    assert len({row["occurredAt"] for row in rows}) == 1


async def test_amend_platelet_transfusion_is_audited(client, gql, token, watch):
    # given
    await given_site_and_subject(gql, token)
    created = await gql.data(
        coordinator(token),
        RECORD_TRANSFUSION,
        {
            "input": {
                "subjectCode": "S01-001",
                "startedAt": "2026-02-01T10:00:00Z",
                "endedAt": "2026-02-01T10:30:00Z",
                "units": [{"contentE11": 3.2}],
            }
        },
    )
    transfusion_id = created["recordPlateletTransfusion"]["transfusion"]["id"]
    await watch.mark()
    # when
    variables = {
        "input": {
            "id": transfusion_id,
            "reason": "second unit missed",
            "units": [
                {"contentE11": 3.2},
                {"kind": "WHOLE_BLOOD_DERIVED", "contentE11": 0.6, "contentBasis": "NOMINAL"},
            ],
            "note": "two units",
        }
    }
    data = await send(client, coordinator(token), AMEND_TRANSFUSION, variables, "req-tx-amend")
    # then
    assert data["amendPlateletTransfusion"]["transfusion"]["note"] == "two units"
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="PlateletTransfusion",
        entity_id=transfusion_id,
        action="UPDATE",
        changes={
            "units": {
                "old": [{"kind": "apheresis", "content_e11": 3.2, "content_basis": "measured"}],
                "new": [
                    {"kind": "apheresis", "content_e11": 3.2, "content_basis": "measured"},
                    {"kind": "whole_blood_derived", "content_e11": 0.6, "content_basis": "nominal"},
                ],
            },
            "note": {"old": None, "new": "two units"},
        },
        reason="second unit missed",
        request_id="req-tx-amend",
    )


async def test_platelet_count_create_and_amend_are_audited(client, gql, token, watch):
    # given
    await given_site_and_subject(gql, token)
    await watch.mark()
    # when
    created = await send(
        client,
        coordinator(token),
        RECORD_COUNT,
        {"input": {"subjectCode": "S01-001", "valueE9PerL": 12, "drawnAt": "2026-02-03T07:15:00-05:00"}},
        "req-count-create",
    )
    # then
    count_id = created["recordPlateletCount"]["plateletCount"]["id"]
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="PlateletCount",
        entity_id=count_id,
        action="CREATE",
        changes={
            "drawn_at": {"old": None, "new": "2026-02-03T12:15:00+00:00"},
            "value_e9_per_l": {"old": None, "new": 12.0},
        },
        request_id="req-count-create",
    )

    # given
    await watch.mark()
    # when
    amended = await send(
        client,
        coordinator(token),
        AMEND_COUNT,
        {"input": {"id": count_id, "reason": "lab corrected the result", "valueE9PerL": 21}},
        "req-count-amend",
    )
    # then
    assert amended["amendPlateletCount"]["plateletCount"]["valueE9PerL"] == 21.0
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="PlateletCount",
        entity_id=count_id,
        action="UPDATE",
        changes={"value_e9_per_l": {"old": 12.0, "new": 21.0}},
        reason="lab corrected the result",
        request_id="req-count-amend",
    )


async def test_void_record_is_audited_with_its_time_and_reason(client, gql, token, watch):
    # given
    await given_site_and_subject(gql, token)
    created = await gql.data(
        coordinator(token),
        RECORD_COUNT,
        {"input": {"subjectCode": "S01-001", "valueE9PerL": 12, "drawnAt": "2026-02-03T07:15:00Z"}},
    )
    count_id = created["recordPlateletCount"]["plateletCount"]["id"]
    await watch.mark()
    # when
    data = await send(
        client, coordinator(token), VOID, {"input": {"id": count_id, "reason": "wrong patient"}}, "req-void-1"
    )
    # then
    voided_at = data["voidRecord"]["voidedAt"]
    rows = await watch.new_rows()
    assert len(rows) == 1
    assert_row(
        rows[0],
        entity="PlateletCount",
        entity_id=count_id,
        action="VOID",
        changes={"voided_at": {"old": None, "new": voided_at}},
        reason="wrong patient",
        request_id="req-void-1",
    )
    assert rows[0]["occurredAt"] == voided_at


async def test_amend_and_void_without_reason_are_refused_and_leave_no_row(client, gql, token, watch):
    # given
    await given_site_and_subject(gql, token)
    created = await gql.data(
        coordinator(token),
        RECORD_COUNT,
        {"input": {"subjectCode": "S01-001", "valueE9PerL": 12, "drawnAt": "2026-02-03T07:15:00Z"}},
    )
    count_id = created["recordPlateletCount"]["plateletCount"]["id"]
    await watch.mark()
    # when
    amended = await send(
        client, coordinator(token), AMEND_COUNT, {"input": {"id": count_id, "reason": "", "valueE9PerL": 21}}, "r1"
    )
    voided = await send(client, coordinator(token), VOID, {"input": {"id": count_id, "reason": " "}}, "r2")
    # then
    assert (amended["amendPlateletCount"]["__typename"], amended["amendPlateletCount"]["code"]) == (
        "InputError",
        "REQUIRED",
    )
    assert (voided["voidRecord"]["__typename"], voided["voidRecord"]["code"]) == ("InputError", "REQUIRED")
    assert await watch.new_rows() == []


async def test_request_id_is_generated_when_none_is_sent(gql, client, token, watch):
    # given
    await watch.mark()
    # when
    response = await client.post(
        "/graphql",
        json={"query": CREATE_SITE, "variables": {"input": {"code": "S09", "name": "Nine"}}},
        headers={"Authorization": f"Bearer {token('admin', sub=ADMIN_ID)}"},
    )
    # then
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    rows = await watch.new_rows()
    assert [row["requestId"] for row in rows] == [generated]


# ---------------------------------------------------------------------------------------------
# filters and pages


async def given_two_subjects_with_history(gql, token) -> dict[str, str]:
    """S01-001 (coord-7) with a transfusion (+1 count) and an amended count; S01-002 (coord-8)
    with one count. Returns global ids by name."""
    admin = token("admin", sub=ADMIN_ID)
    other = token("coordinator", "S01", sub="coord-8")
    await gql.data(admin, CREATE_SITE, {"input": {"code": "S01", "name": "One"}})
    await gql.data(coordinator(token), ENROLL, {"input": SUBJECT_INPUT})
    await gql.data(other, ENROLL, {"input": {**SUBJECT_INPUT, "code": "S01-002"}})
    tx = await gql.data(
        coordinator(token),
        RECORD_TRANSFUSION,
        {
            "input": {
                "subjectCode": "S01-001",
                "startedAt": "2026-02-01T10:00:00Z",
                "endedAt": "2026-02-01T10:30:00Z",
                "units": [{"contentE11": 3.0}],
                "postCounts": [{"valueE9PerL": 30, "drawnAt": "2026-02-01T11:00:00Z"}],
            }
        },
    )
    transfusion_id = tx["recordPlateletTransfusion"]["transfusion"]["id"]
    await gql.data(
        coordinator(token),
        AMEND_TRANSFUSION,
        {"input": {"id": transfusion_id, "reason": "crossmatch confirmed", "crossmatched": True}},
    )
    count = await gql.data(
        other, RECORD_COUNT, {"input": {"subjectCode": "S01-002", "valueE9PerL": 40, "drawnAt": "2026-02-02T08:00:00Z"}}
    )
    return {
        "transfusion": transfusion_id,
        "post_count": tx["recordPlateletTransfusion"]["counts"][0]["id"],
        "other_count": count["recordPlateletCount"]["plateletCount"]["id"],
    }


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(row["entity"], row["action"], row["subjectCode"]) for row in rows]


async def test_audit_filters_by_subject_entity_record_and_actor(gql, token):
    # given
    ids = await given_two_subjects_with_history(gql, token)
    # when
    everything = await all_audit(gql, token)
    by_subject = await all_audit(gql, token, subjectCode="S01-001")
    by_entity = await all_audit(gql, token, entity="PlateletCount")
    by_record = await all_audit(gql, token, recordId=ids["transfusion"])
    by_count = await all_audit(gql, token, recordId=ids["post_count"])
    by_actor = await all_audit(gql, token, actorId="coord-8")
    combined = await all_audit(gql, token, actorId=COORDINATOR_ID, entity="PlateletTransfusion")
    unknown = await all_audit(gql, token, subjectCode="S99-999")
    # then
    assert summary(everything) == [
        ("Site", "CREATE", None),
        ("Subject", "CREATE", "S01-001"),
        ("Subject", "CREATE", "S01-002"),
        ("PlateletTransfusion", "CREATE", "S01-001"),
        ("PlateletCount", "CREATE", "S01-001"),
        ("PlateletTransfusion", "UPDATE", "S01-001"),
        ("PlateletCount", "CREATE", "S01-002"),
    ]
    assert summary(by_subject) == [
        ("Subject", "CREATE", "S01-001"),
        ("PlateletTransfusion", "CREATE", "S01-001"),
        ("PlateletCount", "CREATE", "S01-001"),
        ("PlateletTransfusion", "UPDATE", "S01-001"),
    ]
    assert [(r["entityId"], r["subjectCode"]) for r in by_entity] == [
        (ids["post_count"], "S01-001"),
        (ids["other_count"], "S01-002"),
    ]
    assert [(r["entityId"], r["action"]) for r in by_record] == [
        (ids["transfusion"], "CREATE"),
        (ids["transfusion"], "UPDATE"),
    ]
    assert by_record[1]["changes"] == {"crossmatched": {"old": False, "new": True}}
    assert [(r["entityId"], r["action"]) for r in by_count] == [(ids["post_count"], "CREATE")]
    assert summary(by_actor) == [("Subject", "CREATE", "S01-002"), ("PlateletCount", "CREATE", "S01-002")]
    assert {r["actorId"] for r in by_actor} == {"coord-8"}
    assert [r["action"] for r in combined] == ["CREATE", "UPDATE"]
    assert unknown == []


async def test_audit_filter_by_unparseable_record_id_is_a_clear_error(gql, token):
    # when
    body = await gql(token("admin"), AUDIT, {"recordId": "not an id!"})
    # then
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == ["recordId"]


async def test_audit_filters_by_time_inclusive_bounds(gql, token):
    # given
    await given_two_subjects_with_history(gql, token)
    everything = await all_audit(gql, token)
    times = [row["occurredAt"] for row in everything]
    assert times == sorted(times)
    # rows 3 and 4 (transfusion + its count) share one transaction time
    since, until = times[2], times[5]
    # when
    window = await all_audit(gql, token, since=since, until=until)
    from_since = await all_audit(gql, token, since=since)
    to_until = await all_audit(gql, token, until=until)
    # then
    assert [r["id"] for r in window] == [r["id"] for r in everything[2:6]]
    assert [r["id"] for r in from_since] == [r["id"] for r in everything[2:]]
    assert [r["id"] for r in to_until] == [r["id"] for r in everything[:6]]
    assert await all_audit(gql, token, since="2000-01-01T00:00:00Z", until="2000-12-31T00:00:00Z") == []


async def test_audit_pages_with_first_and_after(gql, token):
    # given
    await given_two_subjects_with_history(gql, token)
    expected = [row["id"] for row in await all_audit(gql, token)]
    assert len(expected) == 7
    # when
    pages: list[list[str]] = []
    flags: list[bool] = []
    after = None
    while True:
        page = await audit_page(gql, token, first=3, after=after)
        pages.append([edge["node"]["id"] for edge in page["edges"]])
        flags.append(page["pageInfo"]["hasNextPage"])
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert [len(p) for p in pages] == [3, 3, 1]
    assert flags == [True, True, False]
    assert [i for p in pages for i in p] == expected


async def test_audit_filter_and_page_combine(gql, token):
    # given
    await given_two_subjects_with_history(gql, token)
    # when
    first = await audit_page(gql, token, first=2, subjectCode="S01-001")
    second = await audit_page(gql, token, first=2, subjectCode="S01-001", after=first["pageInfo"]["endCursor"])
    # then
    assert [e["node"]["entity"] for e in first["edges"]] == ["Subject", "PlateletTransfusion"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["entity"] for e in second["edges"]] == ["PlateletCount", "PlateletTransfusion"]
    assert second["pageInfo"]["hasNextPage"] is False


# ---------------------------------------------------------------------------------------------
# append-only in the database itself


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_event SET reason = 'tampered'", "DELETE FROM audit_event"],
    ids=["update", "delete"],
)
async def test_database_refuses_update_and_delete_of_audit_rows(app, gql, token, statement):
    # given
    await gql.data(token("admin", sub=ADMIN_ID), CREATE_SITE, {"input": {"code": "S01", "name": "One"}})
    before = await all_audit(gql, token)
    # when
    async with app.state.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            await conn.execute(text(statement))
        await conn.rollback()
    # then
    assert await all_audit(gql, token) == before
    assert len(before) == 1
