"""One access line and the metrics of every HTTP request; unexpected errors and database outages
answered and logged once (README "Running in production": logs, metrics, outages).

The access line (logger ptr_trial.access) carries: request_id, trace_id (from a valid W3C
`traceparent`), method, path (never the query string), route, status, duration_ms, role (never
the actor id), operation_name and operation_type of a GraphQL operation, and error_codes. Not the
client IP (personal data; the rate limits use it in memory or Redis only, as a digest), not tokens,
variables or bodies. Probes (/healthz, /readyz, /metrics) that succeed are logged at DEBUG.
"""

from __future__ import annotations

import logging
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .db.outage import RETRY_AFTER_SECONDS, DatabaseOutage, database_unavailable
from .logs import log_context
from .ratelimit import error_body

log = logging.getLogger("ptr_trial.access")
errors_log = logging.getLogger("ptr_trial.errors")
PROBES = {"/healthz", "/readyz", "/metrics"}
UNAVAILABLE_MESSAGE = "The database is unavailable; nothing was done. Retry after the Retry-After seconds."
INTERNAL_MESSAGE = "Internal error; quote the X-Request-ID response header when reporting it."
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_fallback_outage = DatabaseOutage()


@dataclass
class RequestRecord:
    request_id: str
    method: str
    path: str
    trace_id: str | None = None
    role: str | None = None
    operation_name: str | None = None
    operation_type: str | None = None
    error_codes: list[str] = field(default_factory=list)
    database_error: BaseException | None = None
    answer_unavailable: bool = False  # set by the GraphQL layer: the operation did nothing


current_request: ContextVar[RequestRecord | None] = ContextVar("ptr_current_request", default=None)


def trace_id_of(header: str) -> str | None:
    """The trace id of a valid W3C traceparent header (version 00, or a later version's first
    four fields), else None."""
    header = header.strip()
    match = _TRACEPARENT.match(header[:55])
    if match is None:
        return None
    version, trace_id, parent_id, _flags = match.groups()
    if version == "ff" or (version == "00" and len(header) != 55) or (len(header) > 55 and header[55] != "-"):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id


def unavailable_response(path: str = "/graphql") -> JSONResponse:
    return JSONResponse(
        error_body(path, "SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def _internal_error() -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": INTERNAL_MESSAGE, "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}, status_code=500
    )


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class ObservabilityMiddleware:
    """Inside RequestIdMiddleware (it needs the request id), outside everything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = scope.get("state", {}).get("request_id", "")
        trace_id = trace_id_of(headers.get(b"traceparent", b"").decode("latin-1"))
        context = {"request_id": request_id, **({"trace_id": trace_id} if trace_id else {})}
        context_token = log_context.set(context)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send, request_id, trace_id)
        finally:
            log_context.reset(context_token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str, trace_id: str | None) -> None:
        record = RequestRecord(request_id=request_id, method=scope["method"], path=scope["path"], trace_id=trace_id)
        record_token = current_request.set(record)
        started_at = time.perf_counter()
        status = 500
        started = False

        async def observed_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                if record.answer_unavailable:
                    retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
                    message = {**message, "status": 503, "headers": [*message.get("headers", []), retry]}
                status = message["status"]
                started = True
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception as error:
            if started:
                errors_log.error("unexpected error after the response started", exc_info=error)
                raise
            if database_unavailable(error):
                record.database_error = error
                await unavailable_response(record.path)(scope, receive, observed_send)
            else:
                errors_log.error("unexpected error", exc_info=error)
                await _internal_error()(scope, receive, observed_send)
        finally:
            current_request.reset(record_token)
            self._finish(scope, record, status, time.perf_counter() - started_at)

    def _finish(self, scope: Scope, record: RequestRecord, status: int, seconds: float) -> None:
        state = getattr(scope.get("app"), "state", None)
        if record.database_error is not None:
            outage: DatabaseOutage = getattr(state, "outage", None) or _fallback_outage
            outage.failed(record.database_error, record.request_id)
            metrics.DB_UNAVAILABLE.inc()
        actor: Any = scope.get("state", {}).get("actor")
        record.role = getattr(getattr(actor, "role", None), "value", None)
        route = _route_of(scope)
        metrics.HTTP_REQUESTS.labels(route, record.method, str(status)).inc()
        if record.operation_type is not None:
            name = metrics.operation_names.label(record.operation_name)
            metrics.GRAPHQL_DURATION.labels(name, record.operation_type).observe(seconds)
        for code in record.error_codes:
            metrics.GRAPHQL_ERRORS.labels(code).inc()
        level = logging.DEBUG if record.path in PROBES and status < 400 else logging.INFO
        if log.isEnabledFor(level):
            fields = {
                "method": record.method,
                "path": record.path[:200],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "role": record.role,
                "operation_name": record.operation_name,
                "operation_type": record.operation_type,
                "error_codes": record.error_codes or None,
            }
            log.log(level, "request", extra={k: v for k, v in fields.items() if v is not None})
