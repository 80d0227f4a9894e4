"""The handover plan: every event in every step, and any sequence of events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exec_worker.takeover_plan import Do, HandoverPlan, Step
from shared.errors import Conflict

EVENTS: dict[str, Callable[[HandoverPlan], list[Do]]] = {
    "successor": HandoverPlan.successor,
    "peers_paused": HandoverPlan.peers_paused,
    "state_sent": HandoverPlan.state_sent,
    "adopted": HandoverPlan.adopted,
    "bound": HandoverPlan.bound,
    "failed": lambda plan: plan.failed("the successor died"),
}
HAPPY = ["successor", "peers_paused", "state_sent", "adopted", "bound"]
UNDO = {Do.PAUSE_PEERS: Do.WELCOME_PEERS, Do.FREEZE: Do.THAW, Do.RELEASE: Do.REBIND}


def test_the_happy_path_pauses_freezes_sends_releases_and_finishes() -> None:
    """Each step's effects, in order, and FINISHED at the end."""
    plan = HandoverPlan()
    effects = [EVENTS[name](plan) for name in HAPPY]
    assert effects == [[Do.PAUSE_PEERS], [Do.FREEZE, Do.SEND_STATE], [], [Do.RELEASE],
                       [Do.FINISH]]  # fmt: skip
    assert plan.step is Step.FINISHED


@pytest.mark.parametrize("done", range(1, len(HAPPY)))
def test_a_failure_undoes_exactly_what_was_done_in_reverse(done: int) -> None:
    """Failed after `done` steps: tell the successor, then undo the latest first."""
    plan = HandoverPlan()
    did = [effect for name in HAPPY[:done] for effect in EVENTS[name](plan)]
    undo = plan.failed("no answer")
    assert undo[0] is Do.ABORT and undo[-1] is Do.LOG_FAILURE
    assert undo[1:-1] == [UNDO[e] for e in reversed(did) if e in UNDO]
    assert plan.step is Step.SERVING and plan.reason == "no answer"


def test_a_failure_once_finished_changes_nothing() -> None:
    """The successor serves: this worker has nothing left to undo."""
    plan = HandoverPlan()
    for name in HAPPY:
        EVENTS[name](plan)
    assert plan.failed("late") == [] and plan.step is Step.FINISHED


@given(st.lists(st.sampled_from(sorted(EVENTS)), max_size=40))
def test_any_sequence_keeps_the_books_balanced(names: list[str]) -> None:
    """Whatever happens: out-of-turn events are refused and change nothing; FINISH
    comes only right after an adoption and a bind; back in SERVING, every pause,
    freeze and release was undone; only one handover at a time."""
    plan = HandoverPlan()
    counts: Counter[Do] = Counter()
    previous: list[str] = []
    for name in names:
        before = plan.step
        try:
            effects = EVENTS[name](plan)
        except Conflict:
            assert plan.step is before
            continue
        counts.update(effects)
        if Do.FINISH in effects:
            assert previous[-3:] == ["peers_paused", "state_sent", "adopted"]
        previous.append(name)
        if plan.step is Step.SERVING:
            for done, undone in UNDO.items():
                assert counts[done] == counts[undone], (names, counts)
    assert counts[Do.FINISH] <= 1
    if plan.step is Step.FINISHED:
        assert counts[Do.FINISH] == 1
