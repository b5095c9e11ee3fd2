"""The per-request context: the caller, a read session, dataloaders and the unit-of-work factory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from strawberry.types import Info as StrawberryInfo

from ...db import devices as repo_devices
from ...db.engine import is_disconnect, read_retrying
from ...db.notify import AlertBus
from ...db.protocol_cache import ProtocolCache
from ...domain.auth import Actor
from ...services.unit_of_work import UnitOfWork
from ...settings import Settings
from .loaders import Loaders

P = ParamSpec("P")
T = TypeVar("T")


class Context:
    def __init__(
        self,
        *,
        actor: Actor | None,
        sessionmaker: async_sessionmaker[AsyncSession],
        write_sessionmaker: async_sessionmaker[AsyncSession],
        alert_bus: AlertBus,
        settings: Settings,
        request_id: str,
        planned_reads_engine: AsyncEngine | None = None,
        protocol_cache: ProtocolCache | None = None,
    ) -> None:

        self._actor = actor  # None only on a WebSocket before its connection_init is accepted
        self.settings = settings
        self.request_id = request_id
        self.alert_bus = alert_bus
        # PostgreSQL in autocommit, for reads answered by one statement (server.schema.execution.planner);
        # None: every query through the stock executor (SQLite, WebSockets, in-process callers).
        self.planned_reads_engine = planned_reads_engine
        # The application's (server.db.protocol_cache); without one, nothing is kept between requests.
        self.protocol_cache = protocol_cache or ProtocolCache(sessionmaker, across_requests=False)
        self.connection_params: dict[str, Any] | None = None  # set by the WebSocket handler
        self._sessionmaker = sessionmaker
        self._write_sessionmaker = write_sessionmaker
        self._session: AsyncSession | None = None
        self.read_started_at = datetime.now(timezone.utc)
        # Set when the operation ends: a resolver still running then (a sibling of a field whose
        # error nulled the whole response) must not open a session that nobody would close.
        self.ended = False
        # One session serves the whole request; loaders fire concurrently, an AsyncSession
        # runs one statement at a time.
        self._lock = asyncio.Lock()
        self.loaders = Loaders(self)

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            raise PermissionError("not authenticated")
        return self._actor

    def authenticate(self, actor: Actor) -> None:
        self._actor = actor

    async def read(
        self, query: Callable[Concatenate[AsyncSession, Actor, P], Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Runs a db read function with the request's session and the caller's scope.

        The session's first read runs once more on a new connection when its connection turns out
        dead (server.db.engine): nothing has been read through that session, and reads are
        idempotent, so starting over is safe."""
        async with self._lock:
            if self.ended:
                raise RuntimeError("the request has ended")
            first = self._session is None
            session = self._open_session() if self._session is None else self._session
            try:
                return await query(session, self.actor, *args, **kwargs)
            except DBAPIError as error:
                if not (first and is_disconnect(error)):
                    raise
            await self.close()
            return await query(self._open_session(), self.actor, *args, **kwargs)

    def _open_session(self) -> AsyncSession:
        self._session = self._sessionmaker()
        # The read snapshot (one per session) starts after this moment.
        self.read_started_at = datetime.now(timezone.utc)
        return self._session

    async def device_still_active(self) -> bool:
        """For a long-lived WebSocket: whether the caller's device (a device token) is still active,
        read in a short session of its own (not the connection's read session, which operations in
        flight may hold), so every check sees the latest revocation."""
        actor = self.actor
        return await read_retrying(
            self._sessionmaker, lambda session: repo_devices.actor_device_is_active(session, actor)
        )

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._write_sessionmaker, self.actor, request_id=self.request_id, alert_bus=self.alert_bus)

    async def forget_reads(self) -> None:
        """After a write, later reads in the same request must see it: drop the cached rows and
        end the read transaction (a SQLite reader keeps the snapshot of its first statement)."""
        self.loaders.clear()
        async with self._lock:
            await self.close()

    async def end(self) -> None:
        """The operation is over: wait for a read in flight, then close the session and drop the
        rows the loaders cached. Dropping them here frees them at once: this context lives until
        the cyclic garbage collector finds it (graphql-core's executor, which holds it, is a
        reference cycle), and a site view's rows are some 12,000 objects. A WebSocket's next
        operation reads afresh."""
        async with self._lock:
            self.ended = True
            self.loaders.clear()
            await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


Info = StrawberryInfo[Context, Any]
