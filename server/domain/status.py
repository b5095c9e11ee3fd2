"""Subject status: the path a subject takes through the trial, and which steps are allowed."""

from __future__ import annotations

from .enums import SubjectStatus as S

INITIAL_STATUSES = frozenset({S.SCREENING, S.ENROLLED})
# No longer taking part: no phone is connected, no diary report accepted, devices are revoked.
PARTICIPATION_ENDED = frozenset({S.COMPLETED, S.WITHDRAWN, S.SCREEN_FAILED})

# Withdrawal is possible from any non-terminal status; screen failure only before enrolment.
ALLOWED_TRANSITIONS: dict[S, frozenset[S]] = {
    S.SCREENING: frozenset({S.ENROLLED, S.SCREEN_FAILED, S.WITHDRAWN}),
    S.ENROLLED: frozenset({S.LYMPHODEPLETED, S.WITHDRAWN}),
    S.LYMPHODEPLETED: frozenset({S.INFUSED, S.WITHDRAWN}),
    S.INFUSED: frozenset({S.FOLLOW_UP, S.WITHDRAWN}),
    S.FOLLOW_UP: frozenset({S.COMPLETED, S.WITHDRAWN}),
    S.COMPLETED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.SCREEN_FAILED: frozenset(),
}


def may_change_status(current: S, new: S) -> bool:
    return new in ALLOWED_TRANSITIONS[current]
