"""The per-request context: the caller, a read session, dataloaders and the unit-of-work factory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.types import Info as StrawberryInfo

from ..domain.auth import Actor
from ..services.unit_of_work import UnitOfWork
from ..settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


class Context:
    def __init__(
        self,
        *,
        actor: Actor,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        request_id: str,
    ) -> None:
        from .loaders import Loaders  # loaders read through this context

        self.actor = actor
        self.settings = settings
        self.request_id = request_id
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        # One session serves the whole request; loaders fire concurrently, an AsyncSession
        # runs one statement at a time.
        self._lock = asyncio.Lock()
        self.loaders = Loaders(self)

    async def read(
        self, query: Callable[Concatenate[AsyncSession, Actor, P], Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Runs a db read function with the request's session and the caller's scope."""
        async with self._lock:
            if self._session is None:
                self._session = self._sessionmaker()
            return await query(self._session, self.actor, *args, **kwargs)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessionmaker, self.actor, request_id=self.request_id)

    async def forget_reads(self) -> None:
        """After a write, later reads in the same request must see it: drop the cached rows and
        end the read transaction (a SQLite reader keeps the snapshot of its first statement)."""
        self.loaders = type(self.loaders)(self)
        async with self._lock:
            await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


Info = StrawberryInfo[Context, Any]
