"""The first path a client team takes: health, a token, a site, a subject, a transfusion."""

from __future__ import annotations

ENROLL = """
mutation($input: EnrollSubjectInput!) {
  enrollSubject(input: $input) {
    __typename
    ... on SubjectSuccess { subject { id code status site { code } } }
    ... on UserError { code message field }
  }
}"""


async def test_health_endpoints_need_no_token(client):
    # when
    health = await client.get("/healthz")
    ready = await client.get("/readyz")
    # then
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["migrations"]["current"] == ready.json()["migrations"]["head"]


async def test_graphql_without_token_is_401(gql):
    body = await gql(None, "{ viewer { role } }", status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_coordinator_enrolls_subject(gql, token):
    # given
    await gql.data(token("admin"), 'mutation { createSite(input: {code: "S01", name: "One"}) { __typename } }')
    variables = {
        "input": {
            "code": "S01-001",
            "siteCode": "S01",
            "sex": "FEMALE",
            "yearOfBirth": 1980,
            "ageAtConsent": 45,
            "diagnosis": "AML",
            "remissionStatus": "CR1",
            "consentDate": "2026-01-10",
        }
    }
    # when
    data = await gql.data(token("coordinator", "S01"), ENROLL, variables)
    # then
    assert data["enrollSubject"]["subject"]["code"] == "S01-001"
    assert data["enrollSubject"]["subject"]["site"]["code"] == "S01"
