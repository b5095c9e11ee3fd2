"""One transaction per use case (DESIGN.md rule 1): the change and its audit rows commit together
or not at all. Leaving the block without commit() rolls everything back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db.audit import append_audit_event
from ..db.notify import AlertBus
from ..domain.auth import Actor
from ..domain.enums import AuditAction


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class UnitOfWork:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        actor: Actor,
        *,
        request_id: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        alert_bus: AlertBus | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.actor = actor
        self.request_id = request_id
        self._alert_bus = alert_bus
        self._alerts: list[dict[str, Any]] = []
        self.now = clock()  # one time for the whole use case: the change and its audit agree
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, "use the unit of work in an `async with` block"
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessionmaker()
        await self._session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        try:
            if self._session.in_transaction():
                await self._session.rollback()
        finally:
            await self._session.close()

    def push_alert(self, alert: dict[str, Any]) -> None:
        """Queues a stored alert for live delivery once this transaction commits."""
        self._alerts.append(alert)

    async def commit(self) -> None:
        if self._alert_bus is not None and self._alerts:
            await self._alert_bus.stage(self.session, self._alerts)
        await self.session.commit()
        if self._alert_bus is not None and self._alerts:
            self._alert_bus.committed(self._alerts)

    async def flush(self) -> None:
        await self.session.flush()

    def audit(
        self,
        *,
        entity: str,
        entity_id: int,
        action: AuditAction,
        changes: dict[str, dict[str, Any]],
        subject_id: int | None,
        site_id: int | None,
        reason: str | None = None,
    ) -> None:
        append_audit_event(
            self.session,
            actor=self.actor,
            at=self.now,
            entity=entity,
            entity_id=entity_id,
            action=action,
            changes=changes,
            subject_id=subject_id,
            site_id=site_id,
            reason=reason,
            request_id=self.request_id,
        )
