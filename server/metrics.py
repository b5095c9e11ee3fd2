"""Prometheus metrics, served at /metrics.

With several uvicorn workers each is its own process: when PROMETHEUS_MULTIPROC_DIR is set (
`ptr-trial serve --workers N` sets a fresh one when it is not), prometheus-client writes every
value to files there and /metrics, whichever worker answers, adds up all workers' files. Gauges
count live processes only: a worker marks itself dead when it stops.

Labels have bounded values: routes are the app's route templates, statuses HTTP codes, error codes
the API's own, and GraphQL operation names the first MAX_OPERATION_NAMES distinct well-formed
names this process saw ("anonymous" without a name, "other" past the cap)."""

from __future__ import annotations

import hmac
import os
import re
import threading
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .db.notify import AlertBus
from .settings import Settings

HTTP_REQUESTS = Counter(
    "ptr_http_requests", "HTTP requests answered, by route template, method and status.", ["route", "method", "status"]
)
GRAPHQL_DURATION = Histogram(
    "ptr_graphql_operation_duration_seconds",
    "Time to answer a GraphQL operation over HTTP, by operation name and type.",
    ["operation_name", "operation_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
GRAPHQL_ERRORS = Counter(
    "ptr_graphql_errors", "Errors in GraphQL responses, by extensions.code (INTERNAL: masked).", ["code"]
)
DB_POOL_CHECKED_OUT = Gauge(
    "ptr_db_pool_checked_out", "Database connections in use (sum over workers).", multiprocess_mode="livesum"
)
DB_POOL_SIZE = Gauge(
    "ptr_db_pool_size", "Database connections kept by the pools (sum over workers).", multiprocess_mode="livesum"
)
DB_UNAVAILABLE = Counter("ptr_db_unavailable_requests", "Requests answered 503 because the database was unreachable.")
ALERTS_DELIVERED = Counter("ptr_alerts_delivered", "Site alerts pushed to live subscriptions (one per subscriber).")
RATE_LIMITED = Counter("ptr_rate_limit_refusals", "Requests refused by a rate limit, by limit.", ["limit"])

MAX_OPERATION_NAMES = 200
_GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,99}$")


class OperationNames:
    """Bounds the operation_name label: names are the client's choice."""

    def __init__(self, cap: int = MAX_OPERATION_NAMES) -> None:
        self.cap = cap
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if name in self._known:
            return name
        if not _GRAPHQL_NAME.match(name):
            return "other"
        with self._lock:
            if len(self._known) >= self.cap:
                return "other"
            self._known.add(name)
        return name


operation_names = OperationNames()


def instrument_pool(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    size = getattr(pool, "size", None)
    if callable(size):
        DB_POOL_SIZE.set(size())

    def _checkout(*_args: Any) -> None:
        DB_POOL_CHECKED_OUT.inc()

    def _checkin(*_args: Any) -> None:
        DB_POOL_CHECKED_OUT.dec()

    event.listen(pool, "checkout", _checkout)
    event.listen(pool, "checkin", _checkin)


class MeteredAlertBus(AlertBus):
    """The alert bus, counting each alert handed to a live subscription of this process."""

    def _fan_out(self, alert: dict[str, Any]) -> None:
        subscribers = len(self._subscribers)
        super()._fan_out(alert)
        if subscribers:
            ALERTS_DELIVERED.inc(subscribers)


def process_stopped(settings: Settings) -> None:
    """A worker's gauges leave the sums when it stops."""
    if settings.prometheus_multiproc_dir is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), str(settings.prometheus_multiproc_dir))  # type: ignore[no-untyped-call]


def _exposition(settings: Settings) -> bytes:
    if settings.prometheus_multiproc_dir is None:
        return generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.prometheus_multiproc_dir))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _refused(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers)


async def metrics_endpoint(request: Request) -> Response:
    """PTR_METRICS_TOKEN set: a bearer token equal to it is required (compared in constant time).
    Unset: open in development, not served in production."""
    settings: Settings = request.app.state.settings
    expected = settings.metrics_token
    if expected is None:
        if settings.is_production:
            return _refused(404, "NOT_FOUND", "not found")
    else:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            return _refused(401, "UNAUTHENTICATED", "the metrics token is required")
    body = await run_in_threadpool(_exposition, settings)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def valid_operation_name(name: str | None) -> str | None:
    """The operation name when it is a GraphQL name (at most 100 characters), else None."""
    return name if name and _GRAPHQL_NAME.match(name) else None
