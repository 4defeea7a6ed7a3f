"""Job state machine: every (source, target) pair against a table written out by hand.

ARCHITECTURE section 5: PENDING -> COMPILING -> QUEUED -> RUNNING -> DONE; CANCELLED, ERROR
and TIMEOUT are reachable from every non-terminal state; RUNNING -> QUEUED is allowed (a
job running when its server stopped is run again); terminal states never change.
"""

from __future__ import annotations

import itertools

import pytest

from eigen.models.state import TERMINAL_STATES, JobState, can_transition

P = JobState.PENDING
C = JobState.COMPILING
Q = JobState.QUEUED
R = JobState.RUNNING
D = JobState.DONE
E = JobState.ERROR
X = JobState.CANCELLED
T = JobState.TIMEOUT

# The expected table, spelled out (not derived from eigen.models.state.TRANSITIONS).
LEGAL: set[tuple[JobState, JobState]] = {
    (P, C),
    (P, E),
    (P, X),
    (P, T),
    (C, Q),
    (C, P),
    (C, E),
    (C, X),
    (C, T),
    (Q, R),
    (Q, E),
    (Q, X),
    (Q, T),
    (R, D),
    (R, Q),
    (R, E),
    (R, X),
    (R, T),
}

ALL_STATES = [P, C, Q, R, D, E, X, T]
NON_TERMINAL = [P, C, Q, R]
TERMINAL = [D, E, X, T]
ENDINGS = [E, X, T]

ALL_PAIRS = list(itertools.product(ALL_STATES, ALL_STATES))


def _pair_id(pair: tuple[JobState, JobState]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_table_covers_every_state() -> None:
    assert set(ALL_STATES) == set(JobState)
    assert len(ALL_PAIRS) == 64


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=[_pair_id(p) for p in ALL_PAIRS])
def test_can_transition_matches_table(pair: tuple[JobState, JobState]) -> None:
    source, target = pair
    assert can_transition(source, target) is (pair in LEGAL)


@pytest.mark.parametrize("source", TERMINAL, ids=lambda s: s.value)
def test_terminal_states_have_no_way_out(source: JobState) -> None:
    assert source.terminal
    assert [t for t in ALL_STATES if can_transition(source, t)] == []


@pytest.mark.parametrize("source", NON_TERMINAL, ids=lambda s: s.value)
@pytest.mark.parametrize("ending", ENDINGS, ids=lambda s: s.value)
def test_every_non_terminal_state_reaches_each_ending(source: JobState, ending: JobState) -> None:
    assert not source.terminal
    assert can_transition(source, ending)


@pytest.mark.parametrize("state", ALL_STATES, ids=lambda s: s.value)
def test_no_self_transitions(state: JobState) -> None:
    assert not can_transition(state, state)


def test_terminal_set() -> None:
    assert set(TERMINAL_STATES) == set(TERMINAL)
    assert [s for s in ALL_STATES if s.terminal] == TERMINAL


def test_happy_path_is_legal_step_by_step() -> None:
    path = [P, C, Q, R, D]
    for source, target in itertools.pairwise(path):
        assert can_transition(source, target), (source, target)


ILLEGAL_MOVES = [(P, Q), (P, R), (P, D), (C, R), (C, D), (Q, D), (Q, C), (R, C), (R, P), (Q, P)]


@pytest.mark.parametrize("pair", ILLEGAL_MOVES, ids=[_pair_id(p) for p in ILLEGAL_MOVES])
def test_skips_and_backward_moves_are_illegal(pair: tuple[JobState, JobState]) -> None:
    assert pair not in LEGAL
    assert not can_transition(*pair)


def test_rerun_after_restart_is_legal() -> None:
    assert can_transition(R, Q)
    assert can_transition(Q, R)


def test_a_compile_whose_worker_vanished_goes_back_to_pending_and_compiles_again() -> None:
    assert can_transition(C, P)
    assert can_transition(P, C)


def test_states_are_strings_with_stable_values() -> None:
    assert [s.value for s in ALL_STATES] == [
        "PENDING",
        "COMPILING",
        "QUEUED",
        "RUNNING",
        "DONE",
        "ERROR",
        "CANCELLED",
        "TIMEOUT",
    ]
    assert JobState("RUNNING") is R
    assert R == "RUNNING"
