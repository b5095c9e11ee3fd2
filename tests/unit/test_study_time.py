"""Study day: UTC calendar days from the first CAR-T infusion, infusion day = 0."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.study_time import STUDY_DAY_RULE, study_day

UTC = timezone.utc
MINUS_2 = timezone(timedelta(hours=-2))
PLUS_9 = timezone(timedelta(hours=9))

INFUSION = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 0),
        (datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 0),
        (datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC), 0),
        (datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC), -1),
        (datetime(2026, 3, 3, 0, 0, tzinfo=UTC), 1),
        (datetime(2026, 3, 30, 12, 0, tzinfo=UTC), 28),
        (datetime(2026, 2, 1, 12, 0, tzinfo=UTC), -29),
        # 2026-03-02T01:30 local at -02:00 is 03:30 UTC: day 0.
        (datetime(2026, 3, 2, 1, 30, tzinfo=MINUS_2), 0),
        # 2026-03-01T23:30 at -02:00 is 2026-03-02T01:30 UTC: day 0, not -1.
        (datetime(2026, 3, 1, 23, 30, tzinfo=MINUS_2), 0),
        # 2026-03-02T22:30 at -02:00 is 2026-03-03T00:30 UTC: day 1.
        (datetime(2026, 3, 2, 22, 30, tzinfo=MINUS_2), 1),
        # 2026-03-02T08:00 at +09:00 is 2026-03-01T23:00 UTC: day -1.
        (datetime(2026, 3, 2, 8, 0, tzinfo=PLUS_9), -1),
        (date(2026, 3, 2), 0),
        (date(2026, 3, 1), -1),
        (date(2026, 3, 3), 1),
        (date(2027, 3, 2), 365),
    ],
)
def test_study_day(moment: datetime | date, expected: int) -> None:
    assert study_day(moment, INFUSION) == expected


def test_infusion_across_midnight_with_offset() -> None:
    # given an infusion at 2026-03-01T23:30-02:00, i.e. 2026-03-02T01:30Z
    infusion = datetime(2026, 3, 1, 23, 30, tzinfo=MINUS_2)
    # then its UTC date is day 0, and the local date 2026-03-01 is day -1
    assert study_day(infusion, infusion) == 0
    assert study_day(date(2026, 3, 2), infusion) == 0
    assert study_day(date(2026, 3, 1), infusion) == -1
    assert study_day(datetime(2026, 3, 1, 23, 59, tzinfo=UTC), infusion) == -1
    assert study_day(datetime(2026, 3, 2, 0, 0, tzinfo=UTC), infusion) == 0


def test_infusion_as_date_is_accepted_for_first_infusion() -> None:
    assert study_day(date(2026, 3, 5), datetime(2026, 3, 2, 23, 59, tzinfo=UTC)) == 3


@pytest.mark.parametrize("moment", [datetime(2026, 3, 2, 10, 0, tzinfo=UTC), date(2026, 3, 2)])
def test_none_before_infusion(moment: datetime | date) -> None:
    assert study_day(moment, None) is None


def test_naive_moment_raises() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        study_day(datetime(2026, 3, 2, 10, 0), INFUSION)


def test_naive_infusion_raises() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        study_day(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 2, 10, 0))


def test_rule_names_its_version() -> None:
    assert STUDY_DAY_RULE.startswith("study-day-v1")


aware = st.datetimes(
    min_value=datetime(2000, 1, 2),
    max_value=datetime(2098, 12, 30),
    timezones=st.builds(
        timezone, st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))
    ),
)


@given(aware, aware)
def test_study_day_equals_utc_date_difference(moment: datetime, infusion: datetime) -> None:
    expected = (moment.astimezone(UTC).date() - infusion.astimezone(UTC).date()).days
    assert study_day(moment, infusion) == expected


@given(aware, st.integers(min_value=-400, max_value=400))
def test_whole_days_later_adds_that_many_days(infusion: datetime, days: int) -> None:
    assert study_day(infusion + timedelta(days=days), infusion) == days


@given(aware)
def test_offset_does_not_change_the_day(moment: datetime) -> None:
    assert study_day(moment.astimezone(PLUS_9), moment) == 0
    assert study_day(moment.astimezone(MINUS_2), moment) == 0
