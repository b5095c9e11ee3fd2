"""Subject status: the full transition table, every (current, new) pair."""

from __future__ import annotations

import itertools

import pytest

from server.domain.enums import SubjectStatus as S
from server.domain.status import ALLOWED_TRANSITIONS, INITIAL_STATUSES, may_change_status

TERMINAL = {S.COMPLETED, S.WITHDRAWN, S.SCREEN_FAILED}
NON_TERMINAL = set(S) - TERMINAL

ALLOWED = {
    (S.SCREENING, S.ENROLLED),
    (S.SCREENING, S.SCREEN_FAILED),
    (S.SCREENING, S.WITHDRAWN),
    (S.ENROLLED, S.LYMPHODEPLETED),
    (S.ENROLLED, S.WITHDRAWN),
    (S.LYMPHODEPLETED, S.INFUSED),
    (S.LYMPHODEPLETED, S.WITHDRAWN),
    (S.INFUSED, S.FOLLOW_UP),
    (S.INFUSED, S.WITHDRAWN),
    (S.FOLLOW_UP, S.COMPLETED),
    (S.FOLLOW_UP, S.WITHDRAWN),
}


@pytest.mark.parametrize(
    ("current", "new"),
    list(itertools.product(S, S)),
    ids=lambda s: s.value,
)
def test_transition_table(current: S, new: S) -> None:
    assert may_change_status(current, new) is ((current, new) in ALLOWED)


def test_every_status_has_a_row() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(S)


@pytest.mark.parametrize("status", sorted(TERMINAL, key=lambda s: s.value), ids=lambda s: s.value)
def test_terminal_states_have_no_exit(status: S) -> None:
    assert ALLOWED_TRANSITIONS[status] == frozenset()
    assert not any(may_change_status(status, new) for new in S)


@pytest.mark.parametrize("status", sorted(NON_TERMINAL, key=lambda s: s.value), ids=lambda s: s.value)
def test_withdrawal_from_every_non_terminal_state(status: S) -> None:
    assert may_change_status(status, S.WITHDRAWN)


@pytest.mark.parametrize("status", list(S), ids=lambda s: s.value)
def test_no_self_transition(status: S) -> None:
    assert not may_change_status(status, status)


@pytest.mark.parametrize("status", list(S), ids=lambda s: s.value)
def test_screen_failure_only_from_screening(status: S) -> None:
    assert may_change_status(status, S.SCREEN_FAILED) is (status is S.SCREENING)


def test_initial_statuses() -> None:
    assert frozenset({S.SCREENING, S.ENROLLED}) == INITIAL_STATUSES


def test_every_status_reachable_from_an_initial_one() -> None:
    seen = set(INITIAL_STATUSES)
    frontier = list(INITIAL_STATUSES)
    while frontier:
        for nxt in ALLOWED_TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(S)


def test_no_way_back() -> None:
    # The path only moves forward: no cycle in the transition graph.
    order = [S.SCREENING, S.ENROLLED, S.LYMPHODEPLETED, S.INFUSED, S.FOLLOW_UP]
    for current, new in ALLOWED:
        if current in order and new in order:
            assert order.index(new) == order.index(current) + 1
