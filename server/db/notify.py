"""Live delivery of committed alerts to subscribers.

On PostgreSQL the alert is NOTIFYed inside the transaction that stores it (so it is sent when, and
only when, that transaction commits) and every server process LISTENs, so a subscriber connected to
any worker receives it. On SQLite (one process) committed alerts are handed to local subscribers.
Alerts are stored first: a subscriber that was offline reads them from the inbox, so the push only
has to be fast, not reliable.

A NOTIFY sent while a process's LISTEN connection is down reaches nobody there. So each bus keeps
a watermark (the newest alert it delivered, and the largest alert id when it started) and, once
the listener is back, replays from the `alert` table the alerts stored after that watermark,
oldest first; ids already delivered are remembered and skipped, so nothing arrives twice.

The same LISTEN connection carries other channels a process must hear (on_notice): the protocol
parameter cache's (server.db.protocol_cache) is dropped on its NOTIFY and again after every
reconnection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("ptr_trial.alerts")
CHANNEL = "ptr_site_alerts"
QUEUE_SIZE = 1000
# Alert ids come from a sequence when the row is inserted, not when it commits: a transaction that
# started earlier may commit a smaller id after a larger one was delivered. The replay therefore
# also looks back this far before the newest delivered alert's time (the ids seen are skipped).
REPLAY_LOOK_BACK = timedelta(seconds=60)
REPLAY_LIMIT = 1000
SEEN_IDS_KEPT = 10_000

# The live payload (services/diary.py `alert_payload`) of stored alerts, rebuilt for the replay.
MISSED_ALERTS = """
SELECT a.id, site.code AS site_code, subject.code AS subject_code, a.bleeding_report_id,
       a.red_flags, a.who_grade, a.message, a.created_at
FROM alert AS a
JOIN site ON site.id = a.site_id
JOIN subject ON subject.id = a.subject_id
WHERE a.id > $1 AND (a.id > $2 OR a.created_at >= $3)
ORDER BY a.id
LIMIT $4
"""


class AlertBus:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self.uses_postgres = database_url.startswith("postgresql")
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._listener: asyncpg.Connection | None = None
        self._watchdog: asyncio.Task[None] | None = None
        # Watermark of what this process delivered (see the module's docstring).
        self._floor_id = 0  # alerts up to this id existed before the bus started: never replayed
        self._last_id = 0
        self._last_at = datetime.now(timezone.utc)
        self._seen: OrderedDict[int, None] = OrderedDict()
        self.replayed = 0  # alerts delivered by replays so far (logged, and read by tests)
        self._notices: dict[str, Callable[[], None]] = {}

    def on_notice(self, channel: str, callback: Callable[[], None]) -> None:
        """Also LISTEN on `channel` (PostgreSQL; before start()): `callback` runs for each NOTIFY on
        it, and after each reconnection of the listener, which may have missed some."""
        self._notices[channel] = callback

    async def start(self) -> None:
        if self.uses_postgres:
            await self._listen(first=True)
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

    @property
    def _dsn(self) -> str:
        return make_url(self._url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def _listen(self, *, first: bool = False) -> None:
        listener = await asyncpg.connect(self._dsn)
        try:
            if first:
                with contextlib.suppress(asyncpg.UndefinedTableError):  # not migrated yet: readyz says so
                    self._floor_id = self._last_id = await listener.fetchval("SELECT coalesce(max(id), 0) FROM alert")
            await listener.add_listener(CHANNEL, self._on_notification)
            for channel, callback in self._notices.items():
                await listener.add_listener(channel, _calling(callback))
        except BaseException:
            await listener.close()
            raise
        self._listener = listener

    async def _keep_listening(self) -> None:
        """Reconnects the LISTEN connection when the database drops it, then replays what it missed."""
        while True:
            await asyncio.sleep(2)
            if self._listener is None or self._listener.is_closed():
                try:
                    await self._listen()
                except Exception:  # noqa: BLE001 - retried on the next tick
                    log.warning("alert listener cannot reconnect yet", exc_info=True)
                    continue
                for callback in self._notices.values():
                    callback()
                try:
                    replayed = await self.replay_missed()
                    log.info("alert listener reconnected; %d missed alerts replayed", replayed)
                except Exception:  # noqa: BLE001 - the inbox still has them
                    log.warning("alert listener reconnected; missed alerts not replayed", exc_info=True)

    async def replay_missed(self) -> int:
        """Delivers the stored alerts after the watermark not delivered yet, oldest first. Called
        once LISTEN is back: what commits from then on arrives by NOTIFY, what committed before is
        in the table (both: delivered once, the ids seen are skipped). Its own short connection,
        so the listener's stays a pure LISTEN connection."""
        connection = await asyncpg.connect(self._dsn)
        try:
            rows = await connection.fetch(
                MISSED_ALERTS, self._floor_id, self._last_id, self._last_at - REPLAY_LOOK_BACK, REPLAY_LIMIT
            )
        finally:
            await connection.close()
        if len(rows) == REPLAY_LIMIT:
            log.warning("alert replay stopped at %d alerts; the rest are in the inbox", REPLAY_LIMIT)
        delivered = 0
        for row in rows:
            if row["id"] not in self._seen:
                self._fan_out(_payload_of_row(row))
                delivered += 1
        self.replayed += delivered
        return delivered

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._fan_out(json.loads(payload))

    def _fan_out(self, alert: dict[str, Any]) -> None:
        alert_id = alert.get("id")
        if isinstance(alert_id, int):
            if alert_id in self._seen:
                return
            self._remember(alert_id, alert.get("createdAt"))
        for queue in list(self._subscribers):
            if queue.full():  # a stalled subscriber loses the oldest push, never blocks others
                queue.get_nowait()
            queue.put_nowait(alert)

    def _remember(self, alert_id: int, created_at: Any) -> None:
        self._seen[alert_id] = None
        if len(self._seen) > SEEN_IDS_KEPT:
            self._seen.popitem(last=False)
        if alert_id > self._last_id:
            self._last_id = alert_id
            if isinstance(created_at, str):
                self._last_at = max(self._last_at, datetime.fromisoformat(created_at))

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    async def stage(self, session: AsyncSession, alerts: list[dict[str, Any]]) -> None:
        """Inside the transaction: on PostgreSQL, NOTIFY (delivered at commit), every alert of the
        transaction in one statement."""
        if self.uses_postgres and alerts:
            await session.execute(select(*(func.pg_notify(CHANNEL, json.dumps(alert)) for alert in alerts)))

    def committed(self, alerts: list[dict[str, Any]]) -> None:
        """After commit: on SQLite, hand the alerts to this process's subscribers."""
        if not self.uses_postgres:
            for alert in alerts:
                self._fan_out(alert)


def _calling(callback: Callable[[], None]) -> Callable[..., None]:
    """An asyncpg listener (connection, pid, channel, payload) that calls `callback`."""

    def listener(*_notification: Any) -> None:
        callback()

    return listener


def _payload_of_row(row: Any) -> dict[str, Any]:
    red_flags = row["red_flags"]
    return {
        "id": row["id"],
        "siteCode": row["site_code"],
        "subjectCode": row["subject_code"],
        "bleedingReportId": row["bleeding_report_id"],
        "redFlags": json.loads(red_flags) if isinstance(red_flags, str) else red_flags,
        "whoGrade": row["who_grade"],
        "message": row["message"],
        "createdAt": row["created_at"].astimezone(timezone.utc).isoformat(),
    }
