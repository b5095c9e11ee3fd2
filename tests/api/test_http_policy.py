"""The HTTP edge (server/http_policy.py, server/app.py): CORS for the standard tracing and client
headers, the WebSocket origin check on the same allow-list, compression of large answers (gzip and
br), `Cache-Control: no-store` on every authenticated answer."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from server.demo import seed_demo_trial
from server.settings import Settings

ALLOWED = "https://staff.example.org"
DISALLOWED = "https://evil.example.net"
TRACING_HEADERS = "traceparent, tracestate, apollographql-client-name, apollographql-client-version, x-request-id"
SMALL = "{ viewer { role } }"
LARGE = "{ __schema { types { name description fields { name description } } } }"  # ~100 kB


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, cors_origins=[ALLOWED])


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": f"authorization, content-type, {TRACING_HEADERS}",
    }


async def _raw_post(client: httpx.AsyncClient, token: str, query: str, encoding: str) -> httpx.Response:
    """The answer as sent on the wire (httpx would otherwise decode it)."""
    request = client.build_request(
        "POST",
        "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}", "Accept-Encoding": encoding},
    )
    response = await client.send(request, stream=True)
    response._content = b"".join([chunk async for chunk in response.aiter_raw()])  # undecoded
    return response


# --- CORS ---------------------------------------------------------------------------------------------


async def test_preflight_from_an_allowed_origin_accepts_tracing_and_client_headers(client: httpx.AsyncClient) -> None:
    # when
    response = await client.options("/graphql", headers=_preflight(ALLOWED))
    # then
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].lower().split(",")}
    assert allowed >= {h.strip() for h in f"authorization, content-type, {TRACING_HEADERS}".split(",")}


async def test_preflight_from_another_origin_gets_no_cors_headers(client: httpx.AsyncClient) -> None:
    # when
    response = await client.options("/graphql", headers=_preflight(DISALLOWED))
    # then
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_a_cross_origin_request_with_tracing_headers_is_answered(client: httpx.AsyncClient, token: Any) -> None:
    # when
    response = await client.post(
        "/graphql",
        json={"query": SMALL},
        headers={
            "Origin": ALLOWED,
            "Authorization": f"Bearer {token('coordinator', 'S01')}",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "apollographql-client-name": "staff-web",
        },
    )
    # then
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"role": "COORDINATOR"}}}
    assert response.headers["access-control-allow-origin"] == ALLOWED


# --- the WebSocket origin check -------------------------------------------------------------------------


async def _handshake(app: Any, origin: str | None, token: str) -> Any:
    """Opens /graphql (graphql-transport-ws) with `origin` and returns the answer to
    connection_init (httpx-ws: httpx's own ASGI transport has no WebSockets)."""
    headers = {"origin": origin} if origin else {}
    transport = ASGIWebSocketTransport(app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://api.example.org") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"], headers=headers) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        return await ws.receive_json(timeout=5)


def _close_code(error: BaseException) -> int | None:
    """The close code of the WebSocketDisconnect that httpx-ws raises (inside anyio's task group)."""
    if isinstance(error, WebSocketDisconnect):
        return error.code
    if isinstance(error, BaseExceptionGroup):
        return next((code for inner in error.exceptions if (code := _close_code(inner)) is not None), None)
    return None


@pytest.mark.parametrize("origin", [ALLOWED, None, "http://api.example.org"], ids=["allowed", "none", "same-origin"])
async def test_websocket_from_an_allowed_origin_or_no_browser_is_accepted(
    app: Any, token: Any, origin: str | None
) -> None:
    # when
    answer = await _handshake(app, origin, token("investigator", "S01"))
    # then
    assert answer["type"] == "connection_ack"


async def test_websocket_from_another_origin_is_refused(app: Any, token: Any) -> None:
    # when
    with pytest.raises(BaseException) as refused:
        await _handshake(app, DISALLOWED, token("investigator", "S01"))
    # then: closed before being accepted (1008), which an ASGI server answers with HTTP 403
    # (tests/e2e/test_cross_origin_browser.py sees the 403 through uvicorn)
    assert _close_code(refused.value) == 1008


# --- compression --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "decode"), [("gzip", gzip.decompress), ("br", brotli.decompress)])
async def test_a_large_answer_is_compressed_as_accepted(
    client: httpx.AsyncClient, token: Any, encoding: str, decode: Any
) -> None:
    # given
    analyst = token("analyst")
    plain = await _raw_post(client, analyst, LARGE, "identity")
    # when
    compressed = await _raw_post(client, analyst, LARGE, f"{encoding}, deflate")
    # then
    assert "content-encoding" not in plain.headers and len(plain.content) > 50_000
    assert compressed.headers["content-encoding"] == encoding
    assert "accept-encoding" in compressed.headers["vary"].lower()
    assert len(compressed.content) < len(plain.content) / 4
    assert json.loads(decode(compressed.content)) == json.loads(plain.content)


async def test_br_is_preferred_when_both_are_accepted(client: httpx.AsyncClient, token: Any) -> None:
    # when
    response = await _raw_post(client, token("analyst"), LARGE, "gzip, deflate, br")
    # then
    assert response.headers["content-encoding"] == "br"


async def test_a_graphql_response_json_answer_is_compressed(client: httpx.AsyncClient, token: Any) -> None:
    # when: a GraphQL-over-HTTP client's media type
    response = await client.post(
        "/graphql",
        json={"query": LARGE},
        headers={
            "Authorization": f"Bearer {token('analyst')}",
            "Accept": "application/graphql-response+json",
            "Accept-Encoding": "gzip",
        },
    )
    # then
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.headers["content-encoding"] == "gzip"
    assert "__schema" in response.json()["data"]


async def test_a_small_answer_is_not_compressed(client: httpx.AsyncClient, token: Any) -> None:
    # when
    response = await _raw_post(client, token("analyst"), SMALL, "gzip, br")
    # then
    assert "content-encoding" not in response.headers
    assert json.loads(response.content) == {"data": {"viewer": {"role": "ANALYST"}}}


async def test_a_streamed_export_is_compressed_as_it_streams(app: Any, client: httpx.AsyncClient, token: Any) -> None:
    # given
    await seed_demo_trial(app.state.write_sessionmaker)
    analyst = f"Bearer {token('analyst')}"
    plain = await client.get("/exports/lb.csv", headers={"Authorization": analyst, "Accept-Encoding": "identity"})
    # when: called as an ASGI server would, to see each message the app sends
    sent = await _asgi_get(app, "/exports/lb.csv", {"authorization": analyst, "accept-encoding": "gzip"})
    # then: headers first, then the body in several compressed pieces, no Content-Length
    start, *bodies = sent
    start_headers = dict(start["headers"])
    assert start["status"] == 200 and start_headers[b"content-encoding"] == b"gzip"
    assert b"content-length" not in start_headers and start_headers[b"cache-control"] == b"no-store"
    assert len([b for b in bodies if b["body"]]) > 1
    decoded = zlib.decompressobj(wbits=31).decompress(b"".join(b["body"] for b in bodies))
    assert decoded == plain.content and len(decoded) > 10_000


async def _asgi_get(app: Any, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected (StreamingResponse listens)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    await app(scope, receive, send)
    return sent


# --- Cache-Control: no-store --------------------------------------------------------------------------


async def test_authenticated_answers_are_never_stored(client: httpx.AsyncClient, token: Any) -> None:
    # given
    analyst = {"Authorization": f"Bearer {token('analyst')}"}
    # when
    answers = {
        "graphql": await client.post("/graphql", json={"query": SMALL}, headers=analyst),
        "graphql by GET": await client.get("/graphql", params={"query": SMALL}, headers=analyst),
        "graphql refused": await client.post("/graphql", json={"query": SMALL}),
        "export": await client.get("/exports/ae.json", headers=analyst),
        "export refused": await client.get("/exports/ae.json"),
        "device activation": await client.post("/diary/api/activate", json={"code": "nope"}),
        "token refresh": await client.post("/diary/api/token", json={}),
    }
    health = await client.get("/healthz")
    # then
    assert {name: a.headers.get("cache-control") for name, a in answers.items()} == dict.fromkeys(answers, "no-store")
    assert "cache-control" not in health.headers
