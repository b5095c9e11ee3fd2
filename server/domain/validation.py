"""Plausibility rules for the trial's records. Each check returns the problems it found, each
naming the input field it concerns, so a form can show the message beside the right box."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from .enums import CarTProduct, SubjectStatus
from .protocol import ProtocolParameters
from .status import INITIAL_STATUSES
from .units import MAX_PLATELET_COUNT_E9_PER_L

SUBJECT_CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,19}$")
MIN_AGE, MAX_AGE = 16, 65
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_TRANSFUSION_DURATION = timedelta(hours=12)
MAX_SHORT_TEXT = 64
MAX_REASON = 2000


class ProblemCode(str, Enum):
    REQUIRED = "required"
    OUT_OF_RANGE = "out_of_range"
    INVALID_FORMAT = "invalid_format"
    INVALID_ORDER = "invalid_order"
    IN_FUTURE = "in_future"
    TOO_LONG = "too_long"
    UNIT_SUSPECT = "unit_suspect"
    NOT_ALLOWED = "not_allowed"
    NOT_FOUND = "not_found"  # a referenced record (e.g. a batch row's subject) does not exist for you


@dataclass(frozen=True)
class Problem:
    field: tuple[str, ...]
    code: ProblemCode
    message: str


def _path(prefix: tuple[str, ...], name: str) -> tuple[str, ...]:
    return (*prefix, name)


def check_range(value: float | None, lo: float, hi: float, field: tuple[str, ...], what: str) -> list[Problem]:
    if value is None:
        return []
    if value != value or not lo <= value <= hi:  # value != value catches NaN
        return [Problem(field, ProblemCode.OUT_OF_RANGE, f"{what} must be between {lo} and {hi}")]
    return []


def check_text(value: str | None, field: tuple[str, ...], limit: int = MAX_SHORT_TEXT) -> list[Problem]:
    if value is not None and len(value) > limit:
        return [Problem(field, ProblemCode.TOO_LONG, f"at most {limit} characters")]
    return []


def check_reason(reason: str | None, field: tuple[str, ...] = ("reason",)) -> list[Problem]:
    """A reason for change is required for any change to an existing record (DESIGN.md rule 2)."""
    if reason is None or not reason.strip():
        return [Problem(field, ProblemCode.REQUIRED, "a reason for the change is required")]
    return check_text(reason, field, MAX_REASON)


# A date without a time is the site's local date; the earliest time zone (UTC+14) is the first
# to reach a new day, so a date is in the future only once it is later than the date there.
EARLIEST_TIME_ZONE_AHEAD = timedelta(hours=14)


def check_not_future(moment: datetime | date | None, now: datetime, field: tuple[str, ...]) -> list[Problem]:
    if moment is None:
        return []
    if isinstance(moment, datetime):
        late = moment > now + MAX_CLOCK_SKEW
    else:
        late = moment > (now + EARLIEST_TIME_ZONE_AHEAD).date()
    return [Problem(field, ProblemCode.IN_FUTURE, "cannot be in the future")] if late else []


def check_subject(
    *,
    code: str,
    year_of_birth: int,
    age_at_consent: int,
    consent_date: date,
    remission_date: date | None,
    initial_status: SubjectStatus,
    now: datetime,
) -> list[Problem]:
    problems: list[Problem] = []
    # fullmatch: "$" alone would let a trailing newline through.
    if not SUBJECT_CODE_PATTERN.fullmatch(code):
        problems.append(
            Problem(
                ("code",),
                ProblemCode.INVALID_FORMAT,
                "a pseudonymous code of 3-20 capital letters, digits or '-' (never a name or record number)",
            )
        )
    range_problems = check_range(age_at_consent, MIN_AGE, MAX_AGE, ("ageAtConsent",), "age at consent")
    range_problems += check_range(year_of_birth, 1900, now.year, ("yearOfBirth",), "year of birth")
    problems += range_problems
    gap = consent_date.year - year_of_birth - age_at_consent
    # Only when both numbers are in range (one problem per box), whatever the other fields say.
    if not range_problems and gap not in (0, 1):
        problems.append(
            Problem(
                ("ageAtConsent",),
                ProblemCode.INVALID_ORDER,
                "age at consent does not fit the year of birth and the consent date",
            )
        )
    problems += check_not_future(consent_date, now, ("consentDate",))
    problems += check_not_future(remission_date, now, ("remissionDate",))
    birth_year_ok = not any(p.field in (("ageAtConsent",), ("yearOfBirth",)) for p in problems)
    if birth_year_ok and remission_date is not None and remission_date.year < year_of_birth:
        problems.append(Problem(("remissionDate",), ProblemCode.INVALID_ORDER, "before the year of birth"))
    if initial_status not in INITIAL_STATUSES:
        problems.append(Problem(("status",), ProblemCode.NOT_ALLOWED, "a new subject starts in screening or enrolled"))
    return problems


def check_body_measurement(
    height_cm: float | None, weight_kg: float | None, prefix: tuple[str, ...] = ()
) -> list[Problem]:
    problems = check_range(height_cm, 100, 250, _path(prefix, "heightCm"), "height (cm)")
    problems += check_range(weight_kg, 25, 300, _path(prefix, "weightKg"), "weight (kg)")
    if height_cm is None and weight_kg is None:
        problems.append(Problem(_path(prefix, "heightCm"), ProblemCode.REQUIRED, "height or weight is required"))
    return problems


def check_platelet_count(value_e9_per_l: float, prefix: tuple[str, ...] = ()) -> list[Problem]:
    """Counts are x10^9/L. A value in the thousands is a per-uL figure sent by mistake: refusing it
    prevents a silent thousand-fold error in every CCI computed from it."""
    field = _path(prefix, "valueE9PerL")
    if value_e9_per_l != value_e9_per_l:
        return [Problem(field, ProblemCode.OUT_OF_RANGE, "not a number")]
    if value_e9_per_l < 0:
        return [Problem(field, ProblemCode.OUT_OF_RANGE, "a platelet count cannot be negative")]
    if value_e9_per_l > MAX_PLATELET_COUNT_E9_PER_L:
        return [
            Problem(
                field,
                ProblemCode.UNIT_SUSPECT,
                f"{value_e9_per_l:g} x10^9/L is not plausible; counts are x10^9/L "
                f"(a count of {value_e9_per_l:g}/uL is {value_e9_per_l / 1000:g} x10^9/L)",
            )
        ]
    return []


# A unit's platelet content, x10^11. A whole-blood-derived concentrate holds at least 0.55 and an
# apheresis unit about 3-4.4; below 0.1 the figure is an entry error, and a dose near zero would
# make the CCI (which divides by it) meaningless or overflow.
MIN_UNIT_CONTENT_E11, MAX_UNIT_CONTENT_E11 = 0.1, 15.0


def check_transfusion(
    *,
    started_at: datetime,
    ended_at: datetime,
    unit_contents_e11: Sequence[float | None],
    storage_age_days: int | None,
    now: datetime,
) -> list[Problem]:
    problems: list[Problem] = []
    if ended_at < started_at:
        problems.append(
            Problem(("endedAt",), ProblemCode.INVALID_ORDER, "the transfusion cannot end before it started")
        )
    elif ended_at - started_at > MAX_TRANSFUSION_DURATION:
        problems.append(
            Problem(("endedAt",), ProblemCode.OUT_OF_RANGE, "a platelet transfusion lasts at most 12 hours")
        )
    problems += check_not_future(ended_at, now, ("endedAt",))
    if not unit_contents_e11:
        problems.append(Problem(("units",), ProblemCode.REQUIRED, "at least one platelet unit is required"))
    if len(unit_contents_e11) > 12:
        problems.append(Problem(("units",), ProblemCode.OUT_OF_RANGE, "at most 12 units in one transfusion"))
    for i, content in enumerate(unit_contents_e11):
        field = ("units", str(i), "contentE11")
        if content is not None and not MIN_UNIT_CONTENT_E11 <= content <= MAX_UNIT_CONTENT_E11:  # NaN fails too
            hint = (
                " (x10^11 platelets: an apheresis unit holds about 3-4.4)"
                if content and content > MAX_UNIT_CONTENT_E11
                else ""
            )
            problems.append(
                Problem(
                    field,
                    ProblemCode.OUT_OF_RANGE,
                    f"platelet content must be >= {MIN_UNIT_CONTENT_E11} and <= {MAX_UNIT_CONTENT_E11:g} x10^11{hint}",
                )
            )
    problems += check_range(storage_age_days, 0, 10, ("storageAgeDays",), "storage age (days)")
    return problems


def bcma_follows_cd19(infusions: Sequence[tuple[CarTProduct, datetime]]) -> bool:
    """The sequential design: every BCMA infusion comes at or after a CD19 infusion."""
    cd19_times = [at for product, at in infusions if product is CarTProduct.CD19]
    first_cd19 = min(cd19_times) if cd19_times else None
    return all(first_cd19 is not None and first_cd19 <= at for product, at in infusions if product is CarTProduct.BCMA)


BCMA_ORDER_MESSAGE = "the protocol gives BCMA CAR-T only after the subject's CD19 CAR-T infusion"


def check_car_t_infusion(
    *,
    infused_at: datetime,
    car_positive_cells_per_kg: float | None,
    total_car_positive_cells: float | None,
    lot_number: str,
    infusions_after_change: Sequence[tuple[CarTProduct, datetime]],
    parameters: ProtocolParameters,
    now: datetime,
) -> list[Problem]:
    problems = check_not_future(infused_at, now, ("infusedAt",))
    problems += check_range(car_positive_cells_per_kg, 1e3, 1e9, ("carPositiveCellsPerKg",), "CAR+ cells/kg")
    problems += check_range(total_car_positive_cells, 1e5, 1e11, ("totalCarPositiveCells",), "total CAR+ cells")
    if not lot_number.strip():
        problems.append(Problem(("lotNumber",), ProblemCode.REQUIRED, "the lot number is required"))
    problems += check_text(lot_number, ("lotNumber",))
    if not parameters.allow_bcma_before_cd19 and not bcma_follows_cd19(infusions_after_change):
        problems.append(Problem(("product",), ProblemCode.NOT_ALLOWED, BCMA_ORDER_MESSAGE))
    return problems


def check_lymphodepletion(
    *, start_date: date, end_date: date, agents: Sequence[tuple[str, float, int]], now: datetime
) -> list[Problem]:
    """agents: (name, dose per day, number of days); the name is the agent's or, for an agent
    outside the list, the one given in otherName."""
    problems: list[Problem] = []
    if end_date < start_date:
        problems.append(Problem(("endDate",), ProblemCode.INVALID_ORDER, "the course cannot end before it started"))
    elif (end_date - start_date).days > 14:
        problems.append(
            Problem(("endDate",), ProblemCode.OUT_OF_RANGE, "a lymphodepletion course lasts at most 14 days")
        )
    problems += check_not_future(start_date, now, ("startDate",))
    if not agents:
        problems.append(Problem(("agents",), ProblemCode.REQUIRED, "at least one agent is required"))
    for i, (name, dose, days) in enumerate(agents):
        problems += check_text(name, ("agents", str(i), "otherName"))
        problems += check_range(dose, 0.001, 5000, ("agents", str(i), "dosePerDay"), "dose per day")
        problems += check_range(days, 1, 14, ("agents", str(i), "days"), "days")
    return problems


PHONE_CHARACTERS = frozenset("0123456789 -()")


def check_phone(phone: str | None, field: tuple[str, ...] = ("phone",)) -> list[Problem]:
    """A site's telephone number as the diary app dials it (E.164-ish): an optional leading '+', then
    digits, spaces, '-', '(' and ')'; 6-20 characters with at least 6 digits."""
    if phone is None:
        return []
    body = phone[1:] if phone.startswith("+") else phone
    digits = sum(ch.isdigit() for ch in body)
    if not 6 <= len(phone) <= 20 or not set(body) <= PHONE_CHARACTERS or digits < 6:
        return [
            Problem(
                field,
                ProblemCode.INVALID_FORMAT,
                "a phone number: optional '+', then digits, spaces, '-', '(' or ')'; 6-20 characters",
            )
        ]
    return []


# A diary report's id, generated on the phone: the canonical 8-4-12 hex form or 32 hex digits,
# either case. uuid.UUID() alone also takes "urn:uuid:...", braces and other spellings (some
# longer than the stored 36 characters), and the same UUID spelled two ways would count as two
# reports, defeating exactly-once submission; so ids are checked strictly and stored canonical.
CLIENT_REPORT_ID = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$"
)


def check_client_report_id(value: str, field: tuple[str, ...] = ("clientReportId",)) -> list[Problem]:
    if CLIENT_REPORT_ID.match(value):
        return []
    return [Problem(field, ProblemCode.INVALID_FORMAT, "a UUID generated on the device (8-4-4-4-12 or 32 hex digits)")]


def canonical_client_report_id(value: str) -> str:
    """The lower-case hyphenated form of a valid id (see check_client_report_id); others unchanged."""
    if not CLIENT_REPORT_ID.match(value):
        return value
    digits = value.replace("-", "").lower()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
