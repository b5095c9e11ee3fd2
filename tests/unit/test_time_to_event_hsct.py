"""An allogeneic HSCT ends a subject's evaluable follow-up on its date (DOMAIN.md, "Prior and
concomitant therapies, transplant"): time-to-event analyses censor there, and an event after it is
not counted."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from server.domain.protocol import ProtocolParameters
from server.domain.survival import DAYS_PER_MONTH
from server.services.before_after import EventKind, SubjectClock, time_to_event_of

INFUSED = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def clock(first_response_days: int | None, hsct_day: int | None, last_follow_up_days: int = 300) -> SubjectClock:
    response = SimpleNamespace(
        first_response_at=INFUSED + timedelta(days=first_response_days) if first_response_days is not None else None,
        sustained=True,
        lost_response_at=None,
        follow_up_ends_on=(INFUSED + timedelta(days=hsct_day)).date() if hsct_day is not None else None,
    )
    return SubjectClock(1, INFUSED, None, INFUSED + timedelta(days=last_follow_up_days), response, [], [])


@pytest.mark.parametrize(
    ("response_day", "hsct_day", "months", "event"),
    [
        (90, None, 90 / DAYS_PER_MONTH, True),  # no transplant: the response counts
        (90, 240, 90 / DAYS_PER_MONTH, True),  # a response before the transplant counts
        (260, 240, (240 - 9 / 24) / DAYS_PER_MONTH, False),  # after it: censored at the HSCT date
        (None, 240, (240 - 9 / 24) / DAYS_PER_MONTH, False),  # no response: censored at the HSCT, not later
    ],
)
def test_an_allogeneic_hsct_censors_time_to_first_response(
    response_day: int | None, hsct_day: int | None, months: float, event: bool
) -> None:
    result = time_to_event_of(EventKind.FIRST_RESPONSE, [clock(response_day, hsct_day)], ProtocolParameters())
    (time,) = result.times
    assert time.event is event
    assert time.months == pytest.approx(months)


def test_the_hsct_date_itself_is_the_censoring_day() -> None:
    assert clock(None, 240).response.follow_up_ends_on == date(2026, 9, 7)
