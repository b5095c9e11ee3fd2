"""The alert bus's replay bookkeeping (server/db/notify.py): each alert id is delivered once,
however it arrives (NOTIFY, replay, or both), and a replayed payload is the live one."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from server.db.models import Alert
from server.db.notify import AlertBus, _payload_of_row
from server.services.diary import alert_payload

CREATED = datetime(2026, 5, 10, 8, 30, 15, 123456, tzinfo=timezone.utc)


def stored_alert(alert_id: int = 7) -> Alert:
    return Alert(
        id=alert_id,
        site_id=1,
        subject_id=2,
        bleeding_report_id=11,
        red_flags=["vomiting_blood"],
        who_grade=2,
        message="S01-001: red flag",
        created_at=CREATED,
    )


def test_an_alert_id_is_delivered_once() -> None:
    # given
    bus = AlertBus("sqlite+aiosqlite:///unused.sqlite3")
    queue = bus.subscribe()
    payload = alert_payload(stored_alert(), "S01", "S01-001")
    # when: the same alert arrives twice (by NOTIFY and by the replay after a reconnect)
    bus.committed([payload])
    bus.committed([dict(payload)])
    bus.committed([alert_payload(stored_alert(8), "S01", "S01-001")])
    # then
    assert [queue.get_nowait()["id"] for _ in range(queue.qsize())] == [7, 8]


def test_the_watermark_follows_the_newest_alert_delivered() -> None:
    bus = AlertBus("sqlite+aiosqlite:///unused.sqlite3")
    bus.committed([alert_payload(stored_alert(9), "S01", "S01-001"), alert_payload(stored_alert(3), "S01", "S01-002")])
    assert bus._last_id == 9


def test_a_replayed_payload_is_the_live_payload() -> None:
    # given: the row the replay query returns for a stored alert (asyncpg gives JSONB as text)
    row = {
        "id": 7,
        "site_code": "S01",
        "subject_code": "S01-001",
        "bleeding_report_id": 11,
        "red_flags": json.dumps(["vomiting_blood"]),
        "who_grade": 2,
        "message": "S01-001: red flag",
        "created_at": CREATED,
    }
    # then
    assert _payload_of_row(row) == alert_payload(stored_alert(), "S01", "S01-001")
