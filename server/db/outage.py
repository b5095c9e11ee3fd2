"""Database outages: which failures mean "the database cannot be reached", and logging them once.

Classified as unreachable (the operation never got a connection, so it did nothing and the client
may simply retry): a socket error while connecting (refused, reset, DNS, connect timeout; asyncpg
raises these unwrapped), the pool's timeout waiting for a connection, and a driver error raised
while connecting (SQLAlchemy wraps those with no statement: too many clients, the server starting
up or shutting down). A connection lost in the middle of a statement is not: a mutation's COMMIT
may or may not have landed, so that stays an internal error. A pooled connection the server
already closed is refused at checkout and a read whose connection dies at its first statement is
retried once on a new one (server.db.engine); when the database is down, that new connection
cannot be made, and so the read counts as unreachable.

One warning when an outage starts, the failures during it counted silently, one line when a
connection is checked out again ("database reachable again", with the count)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("ptr_trial.database")
RETRY_AFTER_SECONDS = 5


def _asyncpg_connect_errors() -> tuple[type[BaseException], ...]:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return ()
    return (
        asyncpg.exceptions.CannotConnectNowError,
        asyncpg.exceptions.TooManyConnectionsError,
        asyncpg.exceptions.ConnectionFailureError,
        asyncpg.exceptions.ConnectionRejectionError,
        asyncpg.exceptions.ClientCannotConnectError,
    )


_CONNECT_ERRORS = _asyncpg_connect_errors()


def database_unavailable(error: BaseException | None) -> bool:
    """True when `error` (or what it was raised from) means no database connection was obtained."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, sa_exc.TimeoutError):  # QueuePool limit reached, connection timed out
            return True
        if isinstance(error, sa_exc.DBAPIError):
            # Raised while connecting: no statement was being run.
            return error.statement is None and not isinstance(error, sa_exc.IntegrityError)
        if isinstance(error, (OSError, *_CONNECT_ERRORS)):
            return True
        error = error.__cause__
        seen += 1
    return False


class DatabaseOutage:
    """Per process: logs an outage once and its end once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.failures = 0

    def failed(self, error: BaseException, request_id: str | None = None) -> None:
        with self._lock:
            first = self.down_since is None
            if first:
                self.down_since = time.monotonic()
                self.failures = 0
            self.failures += 1
        if first:
            log.warning(
                "database unreachable: answering 503 until it is back (further failures counted silently)",
                extra={"exc_type": type(error).__name__, "failed_request_id": request_id},
            )

    def reachable(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None:
                return
            seconds = time.monotonic() - self.down_since
            failures, self.down_since, self.failures = self.failures, None, 0
        log.warning(
            "database reachable again after %d failed requests in %.1f s",
            failures,
            seconds,
            extra={"failed_requests": failures, "outage_seconds": round(seconds, 1)},
        )

    def watch(self, engine: AsyncEngine) -> None:
        """A connection checked out of the pool means the database answers again."""

        def _on_checkout(*_args: Any) -> None:
            self.reachable()

        event.listen(engine.sync_engine.pool, "checkout", _on_checkout)
