"""What every HTTP answer carries at the edge of the service: CORS (which browser origins and
request headers), compression of large answers, and `Cache-Control: no-store` on answers that
hold patient data or tokens. Wired in create_app (server/app.py)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware, add_compress_type

# Request headers a browser client may send cross-origin: the bearer token and JSON body, plus the
# standard tracing (W3C Trace Context) and client-identification headers front-end tooling adds
# (Apollo Client's `apollographql-client-*`, X-Request-ID for support reports). Without them in the
# list, the browser's preflight fails and the request is never sent.
CORS_ALLOW_HEADERS = [
    "authorization",
    "content-type",
    "x-request-id",
    "traceparent",
    "tracestate",
    "apollographql-client-name",
    "apollographql-client-version",
]


def cors(origins: list[str]) -> Middleware:
    """The same `origins` list also governs WebSockets: GraphQLEndpoint passes it to strawberry's
    origin check of the /graphql handshake (browsers apply no CORS to WebSockets)."""
    return Middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=["x-request-id"],
    )


# Below this size compressing costs more than it saves (a header, a round of the codec); a typical
# GraphQL answer of a form is a few hundred bytes, a site view hundreds of kB (266 kB -> 25 kB).
COMPRESS_MIN_BYTES = 1024

# starlette-compress knows application/json; the GraphQL-over-HTTP media type and the CSV exports
# (streamed: compressed chunk by chunk as they are produced, never buffered whole) are added.
add_compress_type("application/graphql-response+json")
add_compress_type("text/csv")


def compression() -> Middleware:
    """gzip and br (Brotli), whichever the client's Accept-Encoding allows (br first), for answers
    of at least COMPRESS_MIN_BYTES; WebSocket traffic is left alone (the middleware only touches
    HTTP). zstd is off: what the issue asked for and what the tests check is gzip and br, and
    every browser and HTTP client sends one of them."""
    return Middleware(CompressMiddleware, minimum_size=COMPRESS_MIN_BYTES, zstd=False, brotli=True, gzip=True)


# Answers that carry patient data or credentials: the GraphQL endpoint, the exports, the phones'
# activation and token endpoints. No browser or proxy may keep a copy (a shared ward computer).
NO_STORE_EXACT = frozenset({"/graphql"})
NO_STORE_PREFIXES = ("/exports/", "/diary/api/")


def _needs_no_store(path: str) -> bool:
    return path in NO_STORE_EXACT or path.startswith(NO_STORE_PREFIXES)


class NoStoreMiddleware:
    """Adds `Cache-Control: no-store` to every answer of the authenticated endpoints (refusals
    included) unless the endpoint set its own Cache-Control."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _needs_no_store(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_no_store)
