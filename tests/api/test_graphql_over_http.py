"""GraphQL over HTTP (issue 12, server/graphql_http.py), over HTTP on both backends: the media type
follows the Accept header; with application/graphql-response+json a request that fails before
execution is 400 without `data`, with application/json (or no Accept) it stays 200 with
`"data": null`; every error carries extensions.code; GET runs no mutation and HTTP no
subscription. The whole spec is audited by graphql-http in tests/e2e/test_graphql_over_http.py."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from server.graphql_http import response_media_type

GRAPHQL_RESPONSE = "application/graphql-response+json"
# What Apollo Client and graphql-http's client send: the new type first, the legacy one as fallback.
PREFERS_NEW = f"{GRAPHQL_RESPONSE}, application/json;q=0.9"
COERCION = {"query": "query Subject($code: String!) { subject(code: $code) { code } }", "variables": {"code": 5}}
# One request per phase that refuses a request before any resolver runs, with the code it gets.
BEFORE_EXECUTION = [
    pytest.param({"query": "{ viewer { role "}, "GRAPHQL_PARSE_FAILED", id="parse"),
    pytest.param({"query": "{ viewer { nope } }"}, "GRAPHQL_VALIDATION_FAILED", id="validation"),
    pytest.param(COERCION, "BAD_USER_INPUT", id="variable-coercion"),
    pytest.param(
        {"query": "query Subject($code: String!) { subject(code: $code) { code } }"}, "BAD_USER_INPUT", id="missing"
    ),
    pytest.param(
        {"query": "query A { __typename }", "operationName": "B"}, "OPERATION_RESOLUTION_FAILURE", id="operation"
    ),
]


async def post(client: httpx.AsyncClient, bearer: str, body: dict[str, Any], accept: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"}
    if accept is not None:
        headers["Accept"] = accept
    return await client.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(("body", "code"), BEFORE_EXECUTION)
async def test_a_request_failing_before_execution_is_400_without_data_for_graphql_response_json(
    client: httpx.AsyncClient, token: Any, body: dict[str, Any], code: str
) -> None:
    # when a client that prefers the new media type sends a request that cannot run
    response = await post(client, token("analyst"), body, PREFERS_NEW)
    # then it gets that type, 400, no data key, and the error's code
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    answer = response.json()
    assert "data" not in answer
    assert [error["extensions"]["code"] for error in answer["errors"]] == [code]


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", f"application/json, {GRAPHQL_RESPONSE};q=0.5"])
@pytest.mark.parametrize(("body", "code"), BEFORE_EXECUTION[:3])
async def test_application_json_keeps_200_with_data_null(
    client: httpx.AsyncClient, token: Any, accept: str | None, body: dict[str, Any], code: str
) -> None:
    # when a client that asks for application/json (or anything, or nothing) sends the same request
    response = await post(client, token("analyst"), body, accept)
    # then it gets the legacy answer: application/json, 200, data null, the same code
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["data"] is None
    assert [error["extensions"]["code"] for error in answer["errors"]] == [code]


async def test_a_successful_query_has_the_negotiated_type_and_200(client: httpx.AsyncClient, token: Any) -> None:
    # when
    new = await post(client, token("analyst"), {"query": "{ viewer { role } }"}, PREFERS_NEW)
    legacy = await post(client, token("analyst"), {"query": "{ viewer { role } }"}, None)
    # then
    assert (new.status_code, new.headers["content-type"]) == (200, f"{GRAPHQL_RESPONSE}; charset=utf-8")
    assert (legacy.status_code, legacy.headers["content-type"]) == (200, "application/json")
    assert new.json() == legacy.json() == {"data": {"viewer": {"role": "ANALYST"}}}


async def test_an_error_during_execution_keeps_data_and_200(client: httpx.AsyncClient, token: Any) -> None:
    # given a field that refuses its argument as it runs (a resolver's error, with a path)
    body = {"query": '{ auditEvents(recordId: "nope") { edges { cursor } } }'}
    # when
    response = await post(client, token("admin"), body, PREFERS_NEW)
    # then the operation ran: data is there (null: the field is non-null) and the status is 200
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "data" in answer and answer["data"] is None
    assert [(error["path"], error["extensions"]["code"]) for error in answer["errors"]] == [
        (["auditEvents"], "BAD_USER_INPUT")
    ]


async def test_an_internal_error_is_masked_with_its_code_and_keeps_data(
    client: httpx.AsyncClient, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a resolver that fails unexpectedly
    from server.schema.access import queries

    def broken(**_: Any) -> None:
        raise RuntimeError("connection string postgres://secret")

    monkeypatch.setattr(queries, "Viewer", broken)
    # when
    response = await post(client, token("analyst"), {"query": "{ viewer { role } }"}, PREFERS_NEW)
    # then: not the client's fault, so not a 400; the message is masked and coded
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in response.text


@pytest.mark.parametrize("accept", [PREFERS_NEW, "application/json"])
async def test_a_subscription_over_http_is_refused_with_a_clear_400(
    client: httpx.AsyncClient, token: Any, accept: str
) -> None:
    # when a subscription is POSTed instead of sent over the WebSocket
    body = {"query": 'subscription { siteAlerts(siteCodes: ["S01"]) { siteCode } }'}
    response = await post(client, token("investigator", "S01"), body, accept)
    # then
    assert response.status_code == 400, response.text
    answer = response.json()
    assert "data" not in answer
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "OPERATION_NOT_SUPPORTED"}
    assert "WebSocket" in error["message"]


async def test_get_runs_queries_but_not_mutations(client: httpx.AsyncClient, token: Any) -> None:
    headers = {"Authorization": f"Bearer {token('admin')}", "Accept": PREFERS_NEW}
    mutation = 'mutation { createSite(input: {code: "S77", name: "Seven"}) { __typename } }'
    # when
    query = await client.get("/graphql", params={"query": "{ viewer { role } }"}, headers=headers)
    refused = await client.get("/graphql", params={"query": mutation}, headers=headers)
    # then the query runs; the mutation is 405 with the method that would run it, and does not run
    assert query.status_code == 200 and query.json() == {"data": {"viewer": {"role": "ADMIN"}}}
    assert refused.status_code == 405, refused.text
    assert refused.headers["allow"] == "POST"
    assert refused.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert refused.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    sites = await post(client, token("admin"), {"query": "{ sites { code } }"}, None)
    assert "S77" not in [site["code"] for site in sites.json()["data"]["sites"]]


async def test_an_unknown_persisted_query_has_no_data_so_is_404_for_graphql_response_json(
    client: httpx.AsyncClient, token: Any
) -> None:
    # given a hash nobody registered
    missing = hashlib.sha256(b"{ never { sent } }").hexdigest()
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": missing}}}
    # when
    new = await post(client, token("analyst"), body, PREFERS_NEW)
    legacy = await post(client, token("analyst"), body, "application/json")
    # then Apollo's code either way; 200 for application/json (what Apollo clients expect), but a
    # body without data must not be a 2xx for the new type
    assert (new.status_code, legacy.status_code) == (404, 200)
    for response in (new, legacy):
        assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_body_that_is_not_json_is_400_in_the_negotiated_type(client: httpx.AsyncClient, token: Any) -> None:
    headers = {"Authorization": f"Bearer {token('analyst')}", "Content-Type": "application/json"}
    # when
    new = await client.post("/graphql", content=b"{not json", headers={**headers, "Accept": PREFERS_NEW})
    legacy = await client.post("/graphql", content=b"{not json", headers=headers)
    # then
    assert (new.status_code, legacy.status_code) == (400, 400)
    assert new.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert legacy.headers["content-type"] == "application/json"
    assert new.json() == legacy.json()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};charset=utf-8", GRAPHQL_RESPONSE),
        (PREFERS_NEW, GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),  # equal quality: the new type
        (f"application/json, {GRAPHQL_RESPONSE};q=0.8", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=abc, */*", "application/json"),
        ("text/html", "application/json"),
    ],
)
def test_the_media_type_follows_the_accept_header(accept: str | None, expected: str) -> None:
    assert response_media_type(accept) == expected
