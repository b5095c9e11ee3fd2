"""One transaction per use case (DESIGN.md rule 1): the change and its audit rows commit together
or not at all. Leaving the block without commit() rolls everything back.

The stored platelet responses are kept in step here: every flush notes the subjects whose
response inputs it wrote (transfusions, counts, body measurements, CAR-T infusions, therapies,
procedures, a new subject), use cases that write around the ORM say so with response_inputs_changed(), and
commit() recomputes those subjects in the same transaction, just before committing.

Audit rows are collected as the use case goes and written by commit() in one INSERT, in the same
transaction as the change they record (DESIGN.md rule 2): one statement, whatever their number."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction

from ..db.audit import audit_row, insert_audit_rows
from ..db.models import (
    BodyMeasurement,
    CarTInfusion,
    PlateletCount,
    PlateletTransfusion,
    Procedure,
    Subject,
    Therapy,
)
from ..db.notify import AlertBus
from ..domain.auth import Actor
from ..domain.enums import AuditAction
from .response import refresh_stored_responses


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# Therapies (confounding) and procedures (an allogeneic HSCT ends follow-up) are inputs too.
RESPONSE_INPUTS = (PlateletTransfusion, PlateletCount, BodyMeasurement, CarTInfusion, Therapy, Procedure)
CHANGED_SUBJECTS = "response_inputs_changed"  # session.info key: subject ids, or None for all


def _note_response_inputs(session: Session, _flush: UOWTransaction) -> None:
    """after_flush: the session still lists what it just wrote, now with primary keys."""
    changed = session.info.setdefault(CHANGED_SUBJECTS, set())
    if changed is None:  # every subject is refreshed anyway
        return
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, RESPONSE_INPUTS):
            changed.add(instance.subject_id)
    changed.update(instance.id for instance in session.new if isinstance(instance, Subject))


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
        self._audit_rows: list[dict[str, Any]] = []  # written by commit()
        self.now = clock()  # one time for the whole use case: the change and its audit agree
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, "use the unit of work in an `async with` block"
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessionmaker()
        event.listen(self._session.sync_session, "after_flush", _note_response_inputs)
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

    def response_inputs_changed(self, subject_id: int | None) -> None:
        """For writes the ORM does not see (Core INSERTs) and protocol amendments: the subject's
        stored responses (None: every subject's) are recomputed at commit."""
        info = self.session.info
        if subject_id is None:
            info[CHANGED_SUBJECTS] = None
        elif info.get(CHANGED_SUBJECTS, set()) is not None:
            info.setdefault(CHANGED_SUBJECTS, set()).add(subject_id)

    async def commit(self) -> None:
        await self.session.flush()
        changed = self.session.info.pop(CHANGED_SUBJECTS, set())
        if changed is None or changed:
            await refresh_stored_responses(self.session, changed, self.now.astimezone(timezone.utc).date())
        await insert_audit_rows(self.session, self._audit_rows)
        self._audit_rows = []
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
        """Records a change for the audit trail; the row is written at commit, with the change."""
        self._audit_rows.append(
            audit_row(
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
        )
