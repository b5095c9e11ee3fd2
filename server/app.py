"""Composition root: create_app(settings) wires settings, the database and the GraphQL endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import orjson
from cross_web import HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult

from .auth import InvalidToken, actor_from_token
from .db import devices as repo_devices
from .db import migrate
from .db.engine import build_engine, build_sessionmaker
from .db.outage import DatabaseOutage
from .db.protocol_cache import PROTOCOL_CHANNEL, ProtocolCache
from .device_routes import DeviceRateLimits, activate, device_is_active, refresh
from .exports_http import export_routes
from .graphiql import graphiql_page, graphiql_routes
from .graphql_http import (
    GRAPHQL_RESPONSE_JSON,
    HTTP_OPERATIONS,
    failed_before_execution,
    operation_refusal,
    response_media_type,
)
from .http_policy import NoStoreMiddleware, compression, cors
from .httplimits import BodyTimeoutMiddleware, HeaderLimitMiddleware
from .metrics import MeteredAlertBus, instrument_pool, metrics_endpoint, process_stopped
from .observability import ObservabilityMiddleware
from .persisted_documents import DocumentRefused, PersistedDocuments
from .ratelimit import RateLimitMiddleware, RequestRateLimits
from .schema.common.context import Context
from .schema.execution.limits import response_too_large
from .schema.schema import build_schema
from .services.response import fill_stale_responses
from .settings import Settings, get_settings

log = logging.getLogger("ptr_trial")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Every request gets an id (the caller's X-Request-ID when sane), echoed in the response and
    written into logs and audit rows, so a report from a phone can be traced."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


MAX_BODY_BYTES = 1_000_000


class BodySizeLimitMiddleware:
    """Refuses request bodies over 1 MB (a GraphQL request is a few kB; a diary batch tens)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(scope)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise PayloadTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except PayloadTooLarge:
            await _too_large(scope)(scope, receive, send)


class PayloadTooLarge(Exception):
    pass


def _too_large(scope: Scope) -> JSONResponse:
    """In the shape the caller parses: the phones' JSON endpoints (device_routes) or GraphQL."""
    if scope["path"].startswith("/diary/api/"):
        message = "The app sent more data than the server accepts. Please update the app or try again."
        return JSONResponse({"error": {"code": "PAYLOAD_TOO_LARGE", "message": message}}, status_code=413)
    return JSONResponse(
        {"errors": [{"message": "request body too large", "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]},
        status_code=413,
    )


def _unauthenticated(message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _device_revoked() -> JSONResponse:
    return JSONResponse(
        {
            "errors": [
                {"message": "this phone is no longer connected to the study", "extensions": {"code": "DEVICE_REVOKED"}}
            ]
        },
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _isoformat(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


HTTP_ERROR_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def _refusal(error: HTTPException, media_type: str) -> Response:
    """A request refused before execution, as a GraphQL error body without `data`. For
    application/graphql-response+json a body without `data` must come with a 4xx or 5xx status:
    an unknown persisted query (200 for application/json, as Apollo clients expect) is then 404,
    as Apollo's router answers it."""
    code = getattr(error, "code", None) or HTTP_ERROR_CODES.get(error.status_code, "BAD_REQUEST")
    status = error.status_code
    if media_type == GRAPHQL_RESPONSE_JSON:
        media_type = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        status = 404 if status < 400 else status
    return JSONResponse(
        {"errors": [{"message": error.reason, "extensions": {"code": code}}]},
        status_code=status,
        headers=getattr(error, "headers", None),
        media_type=media_type,
    )


TOKEN_EXPIRED = 4401
DEVICE_REVOKED = 4403


class TrialTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the token checked for the socket's whole life, not only at
    connection_init: every `subscribe` (queries and mutations sent over the socket included) is
    refused by closing the socket with 4401 when the token has expired and 4403 when its device
    has been revoked; and the socket is closed with 4401 when the token's `exp` passes, even if
    the client sends nothing more (a subscription stays open only as long as its token is valid;
    the client reconnects with a fresh one)."""

    expiry_task: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        expires_at = self.context.actor.expires_at if self.connection_acknowledged else None
        if expires_at is not None and self.expiry_task is None:
            self.expiry_task = asyncio.create_task(self._close_at(expires_at))
            self.expiry_task.add_done_callback(self._task_done)

    async def _close_at(self, expires_at: dt.datetime) -> None:
        await asyncio.sleep(max(0.0, (expires_at - dt.datetime.now(dt.timezone.utc)).total_seconds()))
        await self.websocket.close(code=TOKEN_EXPIRED, reason="Token expired")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:
            actor = self.context.actor
            if actor.expires_at is not None and actor.expires_at <= dt.datetime.now(dt.timezone.utc):
                await self.websocket.close(code=TOKEN_EXPIRED, reason="Token expired")
                return
            if actor.device_id is not None and not await self.context.device_still_active():
                await self.websocket.close(code=DEVICE_REVOKED, reason="Device revoked")
                return
            # Persisted and trusted documents over the socket too (else a bypass of trusted-only mode).
            payload = message["payload"]
            try:
                documents = cast("TrialGraphQL", self.view).documents
                payload["query"] = documents.resolve(payload.get("query"), payload.get("extensions"))  # type: ignore[typeddict-item]
            except DocumentRefused as refusal:
                await self.send_message(ErrorMessage(id=message["id"], type="error", payload=[refusal.formatted]))
                return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self.expiry_task is not None:
            self.expiry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.expiry_task
        await super().shutdown()


class TrialGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TrialTransportWSHandler

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            **kwargs,
        )
        self.settings = settings
        self.documents = PersistedDocuments.from_settings(settings)

    def encode_json(self, data: object) -> str:
        """orjson: a site view's answer is 1.5 MiB, which the standard library takes ~20 ms to
        encode. The rare value orjson refuses (an integer beyond 64 bits in a JSON scalar) falls
        back to the standard encoder. Returns text, not bytes: strawberry sends WebSocket messages
        as binary frames when given bytes, and browser graphql-ws clients only parse text frames."""
        try:
            encoded = orjson.dumps(data)
        except TypeError:
            encoded = json.dumps(data, separators=(",", ":"), default=_isoformat).encode()
        if len(encoded) > self.settings.max_response_bytes:
            return orjson.dumps(response_too_large(data, len(encoded), self.settings.max_response_bytes)).decode()
        return encoded.decode()

    def parse_json(self, data: str | bytes) -> Any:
        """A body that is not a JSON object (bytes that are not UTF-8, nesting deep enough to
        exhaust the parser's recursion, a bare string or array) is the client's error: 400, not a
        500 from deep inside strawberry. Batching is off, so an array is refused too."""
        try:
            parsed = self.decode_json(data)
        except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise HTTPException(400, "the request body is not valid JSON") from error
        if not isinstance(parsed, dict):
            raise HTTPException(400, "the request body must be a JSON object")
        return parsed

    async def parse_http_body(self, request: Any) -> Any:
        """Apollo's persisted queries and trusted documents: the text a request's hash names, or
        a DocumentRefused (server/persisted_documents.py)."""
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData):  # always: batching is off
            data.query = self.documents.resolve(data.query, data.extensions)
        return data

    async def execute_single(  # noqa: PLR0917 - strawberry's signature
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """strawberry's, with the operations HTTP runs (server/graphql_http.py): it would also run
        a subscription sent by POST, which then fails as a masked internal error; and its refusals
        get their proper status (405 for a mutation by GET) and a code."""
        method = request_adapter.method
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=HTTP_OPERATIONS.get(method, frozenset()),
                operation_extensions=request_data.extensions,
            )
        except (CannotGetOperationTypeError, InvalidOperationTypeError) as error:
            raise operation_refusal(error, method) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """The answer's media type, from the request's Accept (GraphQL over HTTP), travels to
        create_response on the sub-response, the one object strawberry hands it."""
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        return sub_response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """A request that failed before execution has no `data` for a client that accepts
        application/graphql-response+json: the spec's sign that nothing ran (answered 400)."""
        response = await super().process_result(request, result)
        if (
            failed_before_execution(result)
            and response_media_type(request.headers.get("accept")) == GRAPHQL_RESPONSE_JSON
        ):
            response.pop("data", None)
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
            if isinstance(response_data, dict) and "data" not in response_data and not sub_response.status_code:
                response.status_code = 400
        return response

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A GET naming a persisted query has no `query` either: it is an operation, not the IDE."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """strawberry answers a refused request in plain text; clients get a GraphQL-style JSON
        error body instead, like every other refusal of this API."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response: Response = await self.run(request)
        except HTTPException as error:
            response = _refusal(error, response_media_type(request.headers.get("accept")))
        await response(scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> Context:
        state = request.app.state
        return Context(
            # HTTP: set by GraphQLEndpoint. WebSocket: None until connection_init carries a token.
            actor=getattr(request.state, "actor", None),
            sessionmaker=state.sessionmaker,
            write_sessionmaker=state.write_sessionmaker,
            alert_bus=state.alert_bus,
            protocol_cache=state.protocol_cache,
            settings=self.settings,
            request_id=request.state.request_id,
            # HTTP only: a WebSocket's operations keep the stock path (and its read session).
            planned_reads_engine=state.autocommit_engine if request.scope["type"] == "http" else None,
        )

    async def on_ws_connect(self, context: Context) -> Any:
        """graphql-transport-ws: the token travels in connection_init's payload, as
        {"Authorization": "Bearer <token>"} (browsers cannot set headers on a WebSocket)."""
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization") or ""
        scheme, _, token = str(raw).partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ConnectionRejectionError({"message": "a bearer token is required"})
        try:
            actor = actor_from_token(token.strip(), self.settings)
        except InvalidToken as error:
            raise ConnectionRejectionError({"message": "the token is invalid or expired"}) from error
        context.authenticate(actor)
        if actor.device_id is not None:
            active = await context.read(repo_devices.actor_device_is_active)
            await context.close()  # no read snapshot held open for the connection's lifetime
            if not active:
                raise ConnectionRejectionError({"message": "the device has been revoked", "code": "DEVICE_REVOKED"})
        return None


class GraphQLEndpoint:
    """Requires a valid bearer token for every operation; only the GraphiQL page itself (a
    browser GET without a query, development only) is served without one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Browsers apply no CORS to WebSockets: strawberry checks the handshake's Origin against
        # this list (same-origin pages and clients sending no Origin are always let in).
        self.graphql = TrialGraphQL(settings, allowed_origins=settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # authenticated by its connection_init message
            await self.graphql(scope, receive, send)
            return
        request = Request(scope, receive)
        if self._is_ide_page(request):
            # Rendered here: strawberry's view builds the context (which needs an actor) before
            # it decides to render the IDE, and the page itself needs none.
            page = graphiql_page()  # its assets served by this service (server/graphiql.py)
            await page(scope, receive, send)
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            await _unauthenticated("a bearer token is required")(scope, receive, send)
            return
        try:
            actor = actor_from_token(token.strip(), self.settings)
        except InvalidToken:
            await _unauthenticated("the token is invalid or expired")(scope, receive, send)
            return
        if actor.device_id is not None and not await device_is_active(request.app.state, actor.device_id):
            await _device_revoked()(scope, receive, send)
            return
        scope.setdefault("state", {})["actor"] = actor
        if (refusal := await request.app.state.rate_limits.for_actor(actor)) is not None:
            await refusal(scope, receive, send)
            return
        await self.graphql(scope, receive, send)

    def _is_ide_page(self, request: Request) -> bool:
        return (
            self.settings.graphiql_enabled
            and request.method == "GET"
            and "query" not in request.query_params
            and "extensions" not in request.query_params  # a persisted query by GET
            and "text/html" in request.headers.get("accept", "")
        )


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    engine = request.app.state.engine
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        current = await migrate.current_revision(engine)
    except Exception:  # noqa: BLE001 - any failure means not ready; details go to the log only
        log.warning("readiness check: database unreachable", exc_info=True)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "migrations": {"current": current, "head": head}},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "database": "ok", "migrations": {"current": current, "head": head}})


DIARY_HEADERS = [
    # The app loads nothing from elsewhere and talks only to this service.
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        b"base-uri 'self'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Revalidate every time: a phone online gets a new release at once; offline, the service
    # worker's cache answers.
    (b"cache-control", b"no-cache"),
]


class DiaryApp:
    """The patients' diary (static files, no build step) with its security headers."""

    def __init__(self, directory: Path) -> None:
        self.files = StaticFiles(directory=directory, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *DIARY_HEADERS]
            await send(message)

        await self.files(scope, receive, send_with_headers)


def _freeze_start_up_objects() -> None:
    """Moves the objects alive once the app has started (modules, the GraphQL schema, settings:
    some 170,000) into CPython's permanent generation, which the cyclic garbage collector never
    scans; they live as long as the process anyway. Without this, each full collection rescans
    them all: on a site view of 2,000 transfusions, 210 ms of collector pauses per request (worst
    517 ms) against 80 ms (worst 73 ms) with them frozen (bench/README.md). This is the use
    CPython documents for gc.freeze(); the collection thresholds stay CPython's defaults. The
    gc.collect() first keeps start-up garbage from being frozen for good."""
    gc.collect()
    gc.freeze()


def _diary_routes(settings: Settings) -> list[Mount]:
    directory = settings.effective_diary_dir
    if not (directory / "index.html").is_file():
        log.warning("the diary app is not served: no index.html in %s (set PTR_DIARY_DIR)", directory)
        return []
    return [Mount("/diary", DiaryApp(directory), name="diary")]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = build_engine(settings.effective_database_url)
        if settings.is_sqlite:
            await migrate.upgrade(engine)  # the embedded database migrates itself (DESIGN.md rule 10)
            # ... and, like `ptr-trial migrate`, refills stored responses a migration cleared
            await fill_stale_responses(build_sessionmaker(engine, writes=True))
        app.state.engine = engine
        app.state.sessionmaker = build_sessionmaker(engine)
        app.state.write_sessionmaker = build_sessionmaker(engine, writes=True)
        # A single statement reads one snapshot: the device check and planned reads
        # (server.schema.execution.planner) need no transaction, so no BEGIN/ROLLBACK round trips.
        app.state.autocommit_engine = (
            None if settings.is_sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        app.state.protocol_cache = ProtocolCache(
            app.state.sessionmaker, across_requests=engine.dialect.name == "postgresql"
        )
        app.state.settings = settings
        app.state.device_limits = DeviceRateLimits(settings)
        app.state.rate_limits = RequestRateLimits(settings, app.state.device_limits.storage)
        app.state.outage = DatabaseOutage()
        app.state.outage.watch(engine)
        instrument_pool(engine)
        app.state.alert_bus = MeteredAlertBus(settings.effective_database_url)
        app.state.alert_bus.on_notice(PROTOCOL_CHANNEL, app.state.protocol_cache.drop)
        await app.state.alert_bus.start()
        _freeze_start_up_objects()
        try:
            yield
        finally:
            await app.state.alert_bus.stop()
            await engine.dispose()
            process_stopped(settings)

    graphql = GraphQLEndpoint(settings)
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/diary/api/activate", activate, methods=["POST"]),
            Route("/diary/api/token", refresh, methods=["POST"]),
            *export_routes(settings),
            *graphiql_routes(settings),
            *_diary_routes(settings),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(ObservabilityMiddleware),
            # Outside the limits and the endpoints: compresses their refusals too, and sees the
            # no-store header the next middleware adds.
            compression(),
            Middleware(NoStoreMiddleware),
            Middleware(HeaderLimitMiddleware, max_bytes=settings.http_max_header_bytes),
            Middleware(RateLimitMiddleware),
            Middleware(BodySizeLimitMiddleware),
            Middleware(BodyTimeoutMiddleware, seconds=settings.http_body_timeout_seconds),
            cors(settings.cors_origins),
        ],
        lifespan=lifespan,
    )
    app.state.read_planner = graphql.graphql.schema.read_planner  # type: ignore[attr-defined]
    return app
