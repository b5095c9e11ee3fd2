"""The trial and its protocol parameter versions, kept per process instead of read per request.

Both are nearly constant: the trial row is inserted by the first migration and never changed; a
parameter amendment adds a version (the service never edits one). The cache holds every version
and picks the one in force when asked, by date, so a future-dated amendment applies on its date
with nothing to invalidate.

On PostgreSQL the copy lives as long as it is valid. It is dropped:
- in every process, when any write to protocol_parameter_set commits (an amendment, an operator's
  hand edit, a migration): a trigger (migration 0010) sends NOTIFY on PROTOCOL_CHANNEL, which each
  process hears on its alert bus's LISTEN connection (server.db.notify); and each time that
  connection is re-established, since a NOTIFY sent while it was down reached nobody;
- in the process that wrote an amendment, as soon as it commits (server.schema.records.mutations), so that
  its own next read never waits for the notification.
A notification arrives a moment after the commit; until then another process answers from the
versions before the amendment, as if its request had begun just before the commit.

On SQLite (one process, and no notifications to hear an operator's edit by) nothing is kept
between requests: a request reads the versions once, in its own snapshot. SQLite reads are local
calls, not network round trips."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain.protocol import ProtocolParameters
from .engine import read_retrying
from .models import ProtocolParameterSet, Trial

PROTOCOL_CHANNEL = "ptr_protocol_changed"  # migrations/versions/0010_protocol_change_notify.py


@dataclass(frozen=True)
class TrialProtocol:
    """The trial and every version of its protocol parameters (plain rows, oldest first)."""

    trial_id: int
    code: str
    title: str
    versions: Sequence[Any]  # rows with ProtocolParameterSet's column names
    parameters: dict[int, ProtocolParameters]  # by version, parsed once

    def in_force(self, on: date) -> tuple[int, ProtocolParameters]:
        """(version, parameters) applied on a date: the newest version effective by then; before
        the first version's date, the first (as server.db.repositories.parameters_in_force)."""
        effective = [row for row in self.versions if row.effective_from <= on]
        row = effective[-1] if effective else self.versions[0]
        return row.version, self.parameters[row.version]

    def version(self, number: int) -> Any:
        return next(row for row in self.versions if row.version == number)


async def read_trial_protocol(session: AsyncSession) -> TrialProtocol:
    trial = (await session.execute(select(Trial.id, Trial.code, Trial.title).order_by(Trial.id).limit(1))).one()
    versions = (
        await session.execute(
            select(*ProtocolParameterSet.__table__.columns)
            .where(ProtocolParameterSet.trial_id == trial.id)
            .order_by(ProtocolParameterSet.version)
        )
    ).all()
    return TrialProtocol(
        trial_id=trial.id,
        code=trial.code,
        title=trial.title,
        versions=versions,
        parameters={row.version: ProtocolParameters.from_dict(row.parameters) for row in versions},
    )


class ProtocolCache:
    """One per application (so per worker process); see the module's docstring."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, across_requests: bool) -> None:
        self._sessionmaker = sessionmaker
        self.across_requests = across_requests  # False: SQLite, each request reads its own
        self._held: TrialProtocol | None = None
        self.drops = 0  # so that a read begun before a drop is not kept after it (and tests wait on it)
        self._lock = asyncio.Lock()

    def drop(self) -> None:
        self._held = None
        self.drops += 1

    async def get(self) -> TrialProtocol:
        """The versions held, or read now in a short session of their own (not in the asking
        request's snapshot: that may predate the amendment whose notification emptied the cache,
        and the old versions would then be kept). One read at a time: requests arriving together
        at a cold cache wait for the first one's read."""
        if self._held is not None:
            return self._held
        async with self._lock:
            if self._held is not None:
                return self._held
            drops = self.drops
            loaded = await read_retrying(self._sessionmaker, read_trial_protocol)
            if drops == self.drops:
                self._held = loaded
            return loaded
