"""Study day: days from the subject's first CAR-T infusion.

Rule (version "study-day-v1"): calendar days in UTC between the record's date and the date of the
subject's first CAR-T infusion; the infusion day is day 0, the day before is day -1. There is no
study day before a subject's first infusion is recorded.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

STUDY_DAY_RULE = "study-day-v1: UTC calendar days from the first CAR-T infusion (infusion day = 0)"


def _utc_date(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("study day needs a timezone-aware time")
        return moment.astimezone(timezone.utc).date()
    return moment


def study_day(moment: datetime | date, first_infusion_at: datetime | None) -> int | None:
    if first_infusion_at is None:
        return None
    return (_utc_date(moment) - _utc_date(first_infusion_at)).days
