"""Persisted queries and trusted documents (issue 11, server/persisted_documents.py), over HTTP on
both backends: Apollo's automatic persisted queries (miss, register, hit, over POST and GET), the
trusted-only mode (PTR_TRUSTED_DOCUMENTS_ONLY) with the committed manifest of the clients'
documents, malformed extensions refused with a 4xx, the WebSocket, and a persisted document parsed
and validated once.

World: site S01 with subject S01-001."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from strawberry.extensions import ParserCache

from server.app import create_app
from server.client_operations import CLIENTS_DIR
from server.persisted_documents import load_manifest
from server.settings import Settings
from tests.api import fixtures_data as fx

A = "S01-001"
VIEWER = "query WhoAmI { viewer { role sites } }"
# The diary's "which site do I call" query, as clients/diary/js/app.js sends it: a trusted document.
SITE = "query Site($code: String!) { subject(code: $code) { site { code name phone } } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text_or_hash: str) -> dict[str, Any]:
    digest = text_or_hash if len(text_or_hash) == 64 else sha256(text_or_hash)
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


class Caller:
    """POSTs (or GETs) a raw GraphQL request body with a bearer token."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def post(self, body: Any) -> httpx.Response:
        return await self.client.post("/graphql", json=body, headers=self.headers)

    async def get(self, params: dict[str, str]) -> httpx.Response:
        return await self.client.get("/graphql", params=params, headers=self.headers)


@pytest.fixture
async def world(gql: Any, token: Any) -> dict[str, str]:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.enroll_subject(gql, admin, A, "S01")
    return {"admin": admin, "patient": token("patient", subject=A), "coordinator": token("coordinator", "S01")}


@pytest.fixture
def caller(client: httpx.AsyncClient, world: dict[str, str]) -> Caller:
    return Caller(client, world["coordinator"])


@asynccontextmanager
async def app_with(settings: Settings, **overrides: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    application = create_app(settings.model_copy(update=overrides))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application, client


def code_of(response: httpx.Response) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


# 1. Automatic persisted queries ------------------------------------------------------------------


async def test_an_unknown_hash_is_not_found_then_registered_then_found(caller: Caller) -> None:
    # given a document the server has never seen
    query = VIEWER + " # apq-1"
    # when the client sends only its hash
    miss = await caller.post({"extensions": persisted(query)})
    # then Apollo's answer: HTTP 200, PERSISTED_QUERY_NOT_FOUND (the client then sends the text)
    assert miss.status_code == 200
    assert miss.json() == {
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    }
    # when it sends the text with the hash, then the hash alone
    registered = await caller.post({"query": query, "extensions": persisted(query)})
    hit = await caller.post({"extensions": persisted(query)})
    # then both run the document
    assert registered.status_code == hit.status_code == 200
    assert registered.json() == hit.json() == {"data": {"viewer": {"role": "COORDINATOR", "sites": ["S01"]}}}


async def test_a_registered_document_is_found_by_get_with_its_variables(caller: Caller) -> None:
    # given a query registered over POST
    query = SITE + " # apq-get"
    await caller.post({"query": query, "variables": {"code": A}, "extensions": persisted(query)})
    # when a GET names it by hash (the cacheable form Apollo clients use for queries)
    response = await caller.get(
        {"extensions": json.dumps(persisted(query)), "variables": json.dumps({"code": A}), "operationName": "Site"}
    )
    # then it runs
    assert response.status_code == 200, response.text
    assert response.json()["data"]["subject"]["site"]["code"] == "S01"


async def test_a_hash_that_is_not_the_query_s_is_refused(caller: Caller) -> None:
    # given a query sent with another document's hash
    other = VIEWER + " # mismatch"
    body = {"query": VIEWER, "extensions": persisted(other)}
    # when it is sent
    response = await caller.post(body)
    # then it is refused, and the hash was not registered for that text
    assert response.status_code == 400
    assert code_of(response) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert response.json()["errors"][0]["message"] == "provided sha does not match query"
    again = await caller.post({"extensions": persisted(other)})
    assert code_of(again) == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize("version", [2, 0, "1", True, None])
async def test_a_persisted_query_version_other_than_1_is_refused(caller: Caller, version: Any) -> None:
    # when
    response = await caller.post({"extensions": {"persistedQuery": {"version": version, "sha256Hash": sha256(VIEWER)}}})
    # then
    assert response.status_code == 400
    assert code_of(response) == "BAD_REQUEST"
    assert "only version 1" in response.json()["errors"][0]["message"]


async def test_a_hash_in_capitals_names_the_same_document(caller: Caller) -> None:
    # given a registered document
    query = VIEWER + " # apq-upper"
    await caller.post({"query": query, "extensions": persisted(query)})
    # when its hash is sent in capitals
    response = await caller.post({"extensions": persisted(sha256(query).upper())})
    # then it is found
    assert response.json()["data"]["viewer"]["role"] == "COORDINATOR"


# 2. Bad input: a clear 4xx, never a 500 ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "z" * 64}}}, id="hash-not-hex"),
        pytest.param({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 31}}}, id="hash-too-short"),
        pytest.param({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 33}}}, id="hash-too-long"),
        pytest.param({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": 12345}}}, id="hash-a-number"),
        pytest.param({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": ["a" * 64]}}}, id="hash-a-list"),
        pytest.param({"extensions": {"persistedQuery": {"version": 1}}}, id="hash-missing"),
        pytest.param({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "\x00" * 64}}}, id="hash-nul"),
        pytest.param({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "a" * 63 + "\n"}}}, id="newline"),
        pytest.param({"extensions": {"persistedQuery": "abc"}}, id="persistedQuery-a-string"),
        pytest.param({"extensions": {"persistedQuery": [1]}}, id="persistedQuery-a-list"),
        pytest.param({"extensions": "persistedQuery"}, id="extensions-a-string"),
        pytest.param({"extensions": [{"persistedQuery": {}}]}, id="extensions-a-list"),
        pytest.param({"query": 42, "extensions": persisted(VIEWER)}, id="query-a-number"),
        pytest.param({"query": VIEWER + "\x00", "extensions": persisted(VIEWER + "\x00")}, id="query-with-nul"),
    ],
)
async def test_malformed_persisted_queries_get_a_clear_4xx(caller: Caller, body: dict[str, Any]) -> None:
    # when
    response = await caller.post(body)
    # then a client error with a GraphQL error body, not a 500
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["message"] and error["extensions"]["code"] == "BAD_REQUEST"


async def test_a_query_that_is_not_unicode_text_gets_a_400(caller: Caller) -> None:
    # given a query holding a lone surrogate (valid JSON, not valid Unicode: it has no UTF-8 hash)
    extensions = json.dumps(persisted("a" * 64))
    body = f'{{"query": "{{ viewer {{ role }} }} \\ud800", "extensions": {extensions}}}'
    # when
    response = await caller.client.post(
        "/graphql", content=body, headers={**caller.headers, "Content-Type": "application/json"}
    )
    # then
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0] == {
        "message": "the query is not valid Unicode text",
        "extensions": {"code": "BAD_REQUEST"},
    }


async def test_malformed_extensions_in_a_get_get_a_400(caller: Caller) -> None:
    # when the GET's extensions parameter is not a JSON object
    responses = [await caller.get({"extensions": value}) for value in ("[1]", "not json", '"x"')]
    # then
    assert [r.status_code for r in responses] == [400, 400, 400]
    assert all(code_of(r) == "BAD_REQUEST" for r in responses)


# 3. Trusted documents only ------------------------------------------------------------------------


@pytest.fixture
async def trusted_only(settings: Settings, world: dict[str, str]) -> AsyncIterator[Caller]:
    """The same database served in trusted-only mode with the committed manifest; the patient calls."""
    async with app_with(settings, trusted_documents_only=True) as (_app, client):
        yield Caller(client, world["patient"])


async def test_the_clients_documents_are_trusted(world: dict[str, str]) -> None:
    # given the committed manifest
    manifest = load_manifest(CLIENTS_DIR / "trusted-documents.json")
    # then the diary's Site query is in it under its hash (the tests below rely on it)
    assert manifest[sha256(SITE)] == SITE


async def test_trusted_only_runs_a_trusted_document_by_hash(trusted_only: Caller) -> None:
    # when the diary names its Site query by hash
    response = await trusted_only.post({"variables": {"code": A}, "extensions": persisted(SITE)})
    # then it runs
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"subject": {"site": {"code": "S01", "name": "Site S01", "phone": None}}}}


async def test_trusted_only_runs_a_trusted_document_by_its_text(trusted_only: Caller) -> None:
    # when the diary sends the text, as it does today
    response = await trusted_only.post({"query": SITE, "variables": {"code": A}})
    both = await trusted_only.post({"query": SITE, "variables": {"code": A}, "extensions": persisted(SITE)})
    # then it runs
    assert response.json()["data"]["subject"]["site"]["code"] == "S01"
    assert both.json() == response.json()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"query": VIEWER}, id="arbitrary-text"),
        pytest.param({"query": SITE + " ", "variables": {"code": A}}, id="trusted-text-changed-by-a-space"),
        pytest.param({"extensions": persisted(VIEWER)}, id="unknown-hash"),
        pytest.param({"query": VIEWER, "extensions": persisted(VIEWER)}, id="apq-registration"),
    ],
)
async def test_trusted_only_refuses_any_other_document(trusted_only: Caller, body: dict[str, Any]) -> None:
    # when
    response = await trusted_only.post(body)
    # then refused with a code the client can act on (no point sending the text after a hash)
    assert response.status_code == 400
    assert code_of(response) == "PERSISTED_QUERY_NOT_ALLOWED"
    assert "data" not in response.json()


async def test_trusted_only_registers_nothing(trusted_only: Caller) -> None:
    # given an attempt to register a document
    await trusted_only.post({"query": VIEWER, "extensions": persisted(VIEWER)})
    # when its hash is sent afterwards
    response = await trusted_only.post({"extensions": persisted(VIEWER)})
    # then it is still unknown
    assert code_of(response) == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_trusted_only_refuses_to_start_without_its_manifest(settings: Settings, tmp_path: Any) -> None:
    # when the manifest is missing
    with pytest.raises(ValueError, match="does not exist"):
        create_app(
            settings.model_copy(
                update={"trusted_documents_only": True, "trusted_documents_file": tmp_path / "missing.json"}
            )
        )


# 4. Parsed and validated once ---------------------------------------------------------------------


async def test_a_persisted_document_is_parsed_and_validated_once(app: Any, caller: Caller) -> None:
    # given a registered document, sent once by text and hash
    query = VIEWER + " # parsed-once"
    await caller.post({"query": query, "extensions": persisted(query)})
    parse_cache = ParserCache(maxsize=512).cached_parse_document  # strawberry shares it per maxsize
    schema = next(r for r in app.routes if getattr(r, "path", "") == "/graphql" and hasattr(r, "methods")).app
    validate_cache = schema.graphql.schema.query_limits.validate
    parsed, validated = parse_cache.cache_info(), validate_cache.cache_info()
    # when it is sent three more times by hash
    for _ in range(3):
        response = await caller.post({"extensions": persisted(query)})
        assert response.json()["data"]["viewer"]["role"] == "COORDINATOR"
    # then every parse and every validation came from the caches
    parsed_after, validated_after = parse_cache.cache_info(), validate_cache.cache_info()
    assert (parsed_after.hits - parsed.hits, parsed_after.misses - parsed.misses) == (3, 0)
    assert (validated_after.hits - validated.hits, validated_after.misses - validated.misses) == (3, 0)


# 5. WebSocket --------------------------------------------------------------------------------------


def test_a_websocket_runs_trusted_documents_by_hash_and_refuses_others(settings: Settings) -> None:
    # given a trusted-only server and a patient's socket (a synchronous client: WebSockets need one)
    from starlette.testclient import TestClient

    from server.auth import development_token
    from server.domain.enums import Role

    patient = development_token(settings, role=Role.PATIENT, sites=[], subject=A)
    application = create_app(settings.model_copy(update={"trusted_documents_only": True}))
    with TestClient(application) as tc, tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {patient}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        # when the diary's Site query is sent by hash, then an arbitrary document by text
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"variables": {"code": A}, "extensions": persisted(SITE)},
            }
        )
        first = ws.receive_json()
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": VIEWER}})
        refused = [ws.receive_json() for _ in range(2)]
    # then the first runs (an empty database: no subject) and the second is refused
    assert first == {"id": "1", "type": "next", "payload": {"data": {"subject": None}}}
    errors = [m for m in refused if m["id"] == "2"]
    assert errors == [
        {
            "id": "2",
            "type": "error",
            "payload": [
                {
                    "message": errors[0]["payload"][0]["message"],
                    "extensions": {"code": "PERSISTED_QUERY_NOT_ALLOWED"},
                }
            ],
        }
    ]
