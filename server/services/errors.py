"""Expected failures of a use case. The GraphQL layer turns them into typed error results."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from ..domain.validation import Problem


class ErrorCode(str, Enum):
    # Input problems (see domain.validation.ProblemCode).
    REQUIRED = "required"
    OUT_OF_RANGE = "out_of_range"
    INVALID_FORMAT = "invalid_format"
    INVALID_ORDER = "invalid_order"
    IN_FUTURE = "in_future"
    TOO_LONG = "too_long"
    UNIT_SUSPECT = "unit_suspect"
    NOT_ALLOWED = "not_allowed"
    # Other expected outcomes.
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    DUPLICATE = "duplicate"
    INVALID_TRANSITION = "invalid_transition"
    ALREADY_VOIDED = "already_voided"
    NO_CHANGE = "no_change"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"


class ServiceError(Exception):
    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = tuple(field)


class InvalidInput(ServiceError):
    """One or more fields are wrong; `problems` lists them all, the first one is the headline."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        first = problems[0]
        super().__init__(ErrorCode(first.code.value), first.message, first.field)
        self.problems = list(problems)


class NotFound(ServiceError):
    def __init__(self, what: str, field: Sequence[str] = ()) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found", field)


class PermissionDenied(ServiceError):
    def __init__(self, message: str = "your role or sites do not allow this") -> None:
        super().__init__(ErrorCode.PERMISSION_DENIED, message)


class Conflict(ServiceError):
    pass


def raise_if(problems: Sequence[Problem]) -> None:
    if problems:
        raise InvalidInput(problems)
