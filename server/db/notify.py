"""Live delivery of committed alerts to subscribers.

On PostgreSQL the alert is NOTIFYed inside the transaction that stores it (so it is sent when, and
only when, that transaction commits) and every server process LISTENs, so a subscriber connected to
any worker receives it. On SQLite (one process) committed alerts are handed to local subscribers.
Alerts are stored first: a subscriber that was offline reads them from the inbox, so the push only
has to be fast, not reliable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("ptr_trial.alerts")
CHANNEL = "ptr_site_alerts"
QUEUE_SIZE = 1000


class AlertBus:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self.uses_postgres = database_url.startswith("postgresql")
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._listener: asyncpg.Connection | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.uses_postgres:
            await self._listen()
            self._watchdog = asyncio.create_task(self._keep_listening())

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def _listen(self) -> None:
        url = make_url(self._url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        self._listener = await asyncpg.connect(dsn)
        await self._listener.add_listener(CHANNEL, self._on_notification)

    async def _keep_listening(self) -> None:
        """Reconnects the LISTEN connection when the database drops it."""
        while True:
            await asyncio.sleep(2)
            if self._listener is None or self._listener.is_closed():
                try:
                    await self._listen()
                    log.info("alert listener reconnected")
                except Exception:  # noqa: BLE001 - retried on the next tick
                    log.warning("alert listener cannot reconnect yet", exc_info=True)

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._fan_out(json.loads(payload))

    def _fan_out(self, alert: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():  # a stalled subscriber loses the oldest push, never blocks others
                queue.get_nowait()
            queue.put_nowait(alert)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    async def stage(self, session: AsyncSession, alerts: list[dict[str, Any]]) -> None:
        """Inside the transaction: on PostgreSQL, NOTIFY (delivered at commit)."""
        if self.uses_postgres:
            for alert in alerts:
                await session.execute(
                    text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": json.dumps(alert)}
                )

    def committed(self, alerts: list[dict[str, Any]]) -> None:
        """After commit: on SQLite, hand the alerts to this process's subscribers."""
        if not self.uses_postgres:
            for alert in alerts:
                self._fan_out(alert)
