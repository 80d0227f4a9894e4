"""The session lifecycle: every event in every phase, and any sequence of events."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exec_worker.lifecycle import Do, Input, Phase, SessionLifecycle
from shared.errors import Conflict, DtermError, NotFound
from shared.messages import ExitReason

ORDER = [Phase.STARTING, Phase.RUNNING, Phase.ENDING, Phase.ENDED, Phase.GONE]

EVENTS: dict[str, Callable[[SessionLifecycle], list[Do]]] = {
    "started": SessionLifecycle.started,
    "start_failed": SessionLifecycle.start_failed,
    "stream_ended": SessionLifecycle.stream_ended,
    "exit_found": SessionLifecycle.exit_found,
    "close": SessionLifecycle.close,
    "idle": lambda m: m.end(ExitReason.IDLE, "idle"),
    "container_stopped": lambda m: m.end(ExitReason.CONTAINER_STOPPED),
    "docker_lost": lambda m: m.end(ExitReason.HOST_LOST, "Docker stopped answering"),
    "grace_over": SessionLifecycle.grace_over,
    "stopping": SessionLifecycle.stopping,
    "owner_left": SessionLifecycle.owner_left,
    "owner_back": SessionLifecycle.owner_back,
}


def in_phase(phase: Phase, owner: bool = True) -> SessionLifecycle:
    """A machine brought to `phase` by the ordinary way there."""
    machine = SessionLifecycle()
    steps = {
        Phase.STARTING: [],
        Phase.RUNNING: ["started"],
        Phase.ENDING: ["started", "close"],
        Phase.ENDED: ["started", "stream_ended", "exit_found"],
        Phase.GONE: ["start_failed"],
    }[phase]
    for step in steps:
        EVENTS[step](machine)
    if not owner:
        machine.owner_left()
    assert machine.phase is phase
    return machine


# Phase, event -> (phase after, effects). Every pair is listed: nothing is undefined.
EXPECTED: dict[tuple[Phase, str], tuple[Phase, list[Do]]] = {
    (Phase.STARTING, "started"): (Phase.RUNNING, []),
    (Phase.STARTING, "start_failed"): (Phase.GONE, [Do.FAIL_OPEN, Do.FORGET]),
    (Phase.STARTING, "stream_ended"): (Phase.STARTING, []),
    (Phase.STARTING, "exit_found"): (Phase.STARTING, []),
    (Phase.STARTING, "close"): (Phase.STARTING, [Do.ABORT_START]),
    (Phase.STARTING, "idle"): (Phase.STARTING, [Do.ABORT_START]),
    (Phase.STARTING, "container_stopped"): (Phase.STARTING, [Do.ABORT_START]),
    (Phase.STARTING, "docker_lost"): (Phase.STARTING, [Do.ABORT_START]),
    (Phase.STARTING, "grace_over"): (Phase.STARTING, []),
    (Phase.STARTING, "stopping"): (Phase.STARTING, [Do.ABORT_START]),
    (Phase.STARTING, "owner_left"): (Phase.STARTING, []),
    (Phase.STARTING, "owner_back"): (Phase.STARTING, [Do.STOP_WAITING]),
    (Phase.RUNNING, "started"): (Phase.RUNNING, []),
    (Phase.RUNNING, "start_failed"): (Phase.RUNNING, []),
    (Phase.RUNNING, "stream_ended"): (
        Phase.ENDING,
        [Do.STOP_WAITING, Do.END_PROCESSES, Do.FIND_EXIT],
    ),
    (Phase.RUNNING, "exit_found"): (Phase.RUNNING, []),
    (Phase.RUNNING, "close"): (Phase.ENDING, [Do.STOP_WAITING, Do.END_PROCESSES]),
    (Phase.RUNNING, "idle"): (Phase.ENDING, [Do.STOP_WAITING, Do.END_PROCESSES]),
    (Phase.RUNNING, "container_stopped"): (Phase.ENDING, [Do.STOP_WAITING, Do.END_PROCESSES]),
    (Phase.RUNNING, "docker_lost"): (Phase.ENDING, [Do.STOP_WAITING, Do.END_PROCESSES]),
    (Phase.RUNNING, "grace_over"): (Phase.RUNNING, []),  # the owner is attached
    (Phase.RUNNING, "stopping"): (Phase.ENDING, [Do.STOP_WAITING, Do.END_PROCESSES]),
    (Phase.RUNNING, "owner_left"): (Phase.RUNNING, [Do.WAIT_FOR_OWNER]),
    (Phase.RUNNING, "owner_back"): (Phase.RUNNING, [Do.STOP_WAITING]),
    (Phase.ENDING, "started"): (Phase.ENDING, []),
    (Phase.ENDING, "start_failed"): (Phase.ENDING, []),
    (Phase.ENDING, "stream_ended"): (Phase.ENDING, [Do.FIND_EXIT]),
    (Phase.ENDING, "exit_found"): (Phase.ENDING, []),  # FIND_EXIT was not asked for yet
    (Phase.ENDING, "close"): (Phase.ENDING, []),
    (Phase.ENDING, "idle"): (Phase.ENDING, []),
    (Phase.ENDING, "container_stopped"): (Phase.ENDING, []),
    (Phase.ENDING, "docker_lost"): (Phase.ENDING, []),
    (Phase.ENDING, "grace_over"): (Phase.ENDING, []),
    (Phase.ENDING, "stopping"): (Phase.ENDING, []),
    (Phase.ENDING, "owner_left"): (Phase.ENDING, []),
    (Phase.ENDING, "owner_back"): (Phase.ENDING, []),
    (Phase.ENDED, "started"): (Phase.ENDED, []),
    (Phase.ENDED, "start_failed"): (Phase.ENDED, []),
    (Phase.ENDED, "stream_ended"): (Phase.ENDED, []),
    (Phase.ENDED, "exit_found"): (Phase.ENDED, []),
    (Phase.ENDED, "close"): (Phase.GONE, [Do.FORGET]),
    (Phase.ENDED, "idle"): (Phase.ENDED, []),
    (Phase.ENDED, "container_stopped"): (Phase.ENDED, []),
    (Phase.ENDED, "docker_lost"): (Phase.ENDED, []),
    (Phase.ENDED, "grace_over"): (Phase.GONE, [Do.FORGET]),
    (Phase.ENDED, "stopping"): (Phase.GONE, [Do.FORGET]),
    (Phase.ENDED, "owner_left"): (Phase.ENDED, []),
    (Phase.ENDED, "owner_back"): (Phase.ENDED, []),
    (Phase.GONE, "started"): (Phase.GONE, [Do.END_PROCESSES]),
    **{(Phase.GONE, event): (Phase.GONE, []) for event in EVENTS if event != "started"},
}


def test_every_event_in_every_phase_is_listed() -> None:
    assert set(EXPECTED) == {(phase, event) for phase in Phase for event in EVENTS}


@pytest.mark.parametrize(("phase", "event"), sorted(EXPECTED, key=str), ids=str)
def test_each_event_in_each_phase(phase: Phase, event: str) -> None:
    """The outcome of every event in every phase, with the owner attached."""
    machine = in_phase(phase)
    effects = EVENTS[event](machine)
    assert (machine.phase, effects) == EXPECTED[(phase, event)]


def test_an_ending_session_ends_once_its_stream_closed_and_its_exit_is_found() -> None:
    machine = in_phase(Phase.ENDING)
    assert machine.stream_ended() == [Do.FIND_EXIT]
    assert machine.stream_ended() == []
    assert machine.exit_found() == [Do.REPORT_EXIT, Do.KEEP]
    assert machine.phase is Phase.ENDED


def test_without_its_owner_a_session_ends_when_the_grace_period_is_over() -> None:
    machine = in_phase(Phase.RUNNING, owner=False)
    assert machine.grace_over() == [Do.STOP_WAITING, Do.END_PROCESSES]
    assert machine.reason(ExitReason.EXITED) == (ExitReason.CLOSED, "nobody resumed it in time")


def test_an_open_abandoned_while_starting_ends_as_soon_as_it_runs() -> None:
    """A close that comes while the exec starts is honoured the moment it runs."""
    machine = SessionLifecycle()
    assert machine.close() == [Do.ABORT_START]
    assert machine.started() == [Do.END_PROCESSES]
    assert machine.phase is Phase.ENDING
    assert machine.reason(ExitReason.EXITED) == (ExitReason.CLOSED, "")


def test_an_owner_gone_while_it_starts_is_waited_for_once_it_runs() -> None:
    machine = SessionLifecycle()
    machine.owner_left()
    assert machine.started() == [Do.WAIT_FOR_OWNER]


def test_the_first_reason_to_end_is_the_one_reported() -> None:
    machine = in_phase(Phase.RUNNING)
    machine.end(ExitReason.HOST_LOST, "Docker stopped answering")
    machine.close()
    machine.stream_ended()
    machine.exit_found()
    assert machine.reason(ExitReason.EXITED) == (ExitReason.HOST_LOST, "Docker stopped answering")


def test_a_program_that_ends_by_itself_reports_its_own_reason() -> None:
    machine = in_phase(Phase.RUNNING)
    machine.stream_ended()
    machine.end(ExitReason.CLOSED)  # a close racing the end changes nothing
    machine.exit_found()
    assert machine.reason(ExitReason.CONTAINER_STOPPED) == (ExitReason.CONTAINER_STOPPED, "")


CHECKS = {
    Phase.STARTING: (Conflict, Input.HOLD),
    Phase.RUNNING: (None, Input.WRITE),
    Phase.ENDING: (None, Conflict),
    Phase.ENDED: (None, Conflict),
    Phase.GONE: (NotFound, NotFound),
}


@pytest.mark.parametrize("phase", list(Phase), ids=str)
def test_what_may_be_done_in_each_phase(phase: Phase) -> None:
    """Attaching and typing: allowed, held, or refused with a typed error."""
    machine = in_phase(phase)
    attach, write = CHECKS[phase]
    if attach is None:
        machine.check_attach()
    else:
        with pytest.raises(attach):
            machine.check_attach()
    if isinstance(write, Input):
        assert machine.check_input() is write
    else:
        with pytest.raises(write):
            machine.check_input()


@given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=40))
def test_any_sequence_keeps_the_rules(events: list[str]) -> None:
    """Phases only move forward; a session that ran has its processes ended before it
    is forgotten; its exit is reported at most once, and only after its processes were
    ended; nothing but ending leftovers happens once it is gone."""
    machine = SessionLifecycle()
    seen: list[Do] = []
    ran = False
    for event in events:
        before = machine.phase
        effects = EVENTS[event](machine)
        assert ORDER.index(machine.phase) >= ORDER.index(before)
        if before is Phase.GONE:
            assert effects in ([], [Do.END_PROCESSES])
        ran = ran or (event == "started" and before is Phase.STARTING)
        seen += effects
        if Do.FORGET in effects and ran:
            assert Do.END_PROCESSES in seen[: len(seen) - len(effects) + effects.index(Do.FORGET)]
    assert seen.count(Do.REPORT_EXIT) <= 1
    if Do.REPORT_EXIT in seen:
        assert seen.index(Do.END_PROCESSES) < seen.index(Do.REPORT_EXIT)
        assert seen.index(Do.FIND_EXIT) < seen.index(Do.REPORT_EXIT)


@given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=40))
def test_no_event_raises_anything_but_a_refusal(events: list[str]) -> None:
    machine = SessionLifecycle()
    for event in events:
        EVENTS[event](machine)
        for check in (machine.check_attach, machine.check_input):
            with contextlib.suppress(DtermError):
                check()


HANDED_OVER = {
    (Phase.RUNNING, True): [],
    (Phase.RUNNING, False): [Do.WAIT_FOR_OWNER],
    (Phase.ENDED, True): [Do.KEEP],
    (Phase.ENDED, False): [Do.KEEP],
}


@pytest.mark.parametrize("owner", [True, False])
@pytest.mark.parametrize(("here", "handed"), [(a, b) for a in Phase for b in Phase], ids=str)
def test_a_handed_over_session_comes_only_into_a_new_machine(
    here: Phase, handed: Phase, owner: bool
) -> None:
    """A successor takes a running or ended session into a machine that has done
    nothing yet; anything else is refused and changes nothing."""
    machine = in_phase(here)
    if here is Phase.STARTING and (handed, owner) in HANDED_OVER:
        assert machine.handed_over(handed, owner) == HANDED_OVER[(handed, owner)]
        assert (machine.phase, machine.owner_attached) == (handed, owner)
        return
    with pytest.raises(Conflict):
        machine.handed_over(handed, owner)
    assert machine.phase is here


@given(
    st.sampled_from([Phase.RUNNING, Phase.ENDED]),
    st.booleans(),
    st.lists(st.sampled_from(sorted(EVENTS)), max_size=30),
)
def test_a_handed_over_session_keeps_the_rules_after(
    handed: Phase, owner: bool, events: list[str]
) -> None:
    """After a handover the machine goes on as if it had run here: phases only move
    forward, and an exit is reported at most once, after the processes were ended."""
    machine = SessionLifecycle()
    machine.handed_over(handed, owner)
    seen: list[Do] = []
    for event in events:
        before = machine.phase
        seen += EVENTS[event](machine)
        assert ORDER.index(machine.phase) >= ORDER.index(before)
    assert seen.count(Do.REPORT_EXIT) <= (1 if handed is Phase.RUNNING else 0)
    if Do.REPORT_EXIT in seen:
        assert seen.index(Do.END_PROCESSES) < seen.index(Do.REPORT_EXIT)
