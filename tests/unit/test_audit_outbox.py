"""The audit sinks' outbox: order kept, bounded, every drop counted, backoff."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from shared.audit_outbox import Backoff, Outbox


class OutboxMachine(RuleBasedStateMachine):
    """Any interleaving of new events, batches taken, successes, failures (partial
    ones included) and refusals, checked against a plain model after every step."""

    @initialize(capacity=st.integers(1, 8), batch=st.integers(1, 5))
    def make(self, capacity: int, batch: int) -> None:
        self.outbox: Outbox[int] = Outbox(capacity, batch, Backoff(jitter=0.0))
        self.capacity, self.batch = capacity, batch
        self.next_id = 0
        self.model_waiting: list[int] = []
        self.out: list[int] = []
        self.delivered: list[int] = []
        self.dropped: list[int] = []
        self.refused = 0
        self.reported = 0
        self.now = 0.0

    @rule(count=st.integers(1, 12))
    def add(self, count: int) -> None:
        for _ in range(count):
            self.outbox.add(self.next_id)
            self.model_waiting.append(self.next_id)
            self.next_id += 1
            self._trim()

    @rule()
    def refuse(self) -> None:
        self.outbox.refuse()
        self.refused += 1
        self.next_id += 1  # it had a place in the order, and is gone

    @precondition(lambda self: not self.out)
    @rule()
    def take(self) -> None:
        self.out = self.outbox.take()
        assert self.out == self.model_waiting[: self.batch]
        self.model_waiting = self.model_waiting[len(self.out) :]

    @precondition(lambda self: bool(self.out))
    @rule()
    def succeed(self) -> None:
        self.outbox.succeeded()
        self.delivered += self.out
        self.out = []
        assert self.outbox.failures == 0

    @precondition(lambda self: bool(self.out))
    @rule(done=st.integers(0, 6))
    def fail(self, done: int) -> None:
        failures = self.outbox.failures
        delay = self.outbox.failed(done)
        done = min(done, len(self.out))
        self.delivered += self.out[:done]
        self.model_waiting = self.out[done:] + self.model_waiting
        self.out = []
        self._trim()
        assert self.outbox.failures == failures + 1
        assert 0 < delay <= self.outbox.backoff.cap

    @rule(seconds=st.floats(0, 30))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self.reported += self.outbox.drops_to_report(self.now)

    def _trim(self) -> None:
        while len(self.model_waiting) > self.capacity:
            self.dropped.append(self.model_waiting.pop(0))

    @invariant()
    def matches_the_model(self) -> None:
        assert self.outbox.waiting == len(self.model_waiting)
        assert self.outbox.held == len(self.model_waiting) + len(self.out)
        assert self.outbox.delivered == len(self.delivered)
        assert self.outbox.dropped == len(self.dropped) + self.refused

    @invariant()
    def bounded(self) -> None:
        assert self.outbox.waiting <= self.capacity
        assert self.outbox.held <= self.capacity + self.batch

    @invariant()
    def order_is_kept_and_nothing_twice(self) -> None:
        assert self.delivered == sorted(set(self.delivered))

    @invariant()
    def every_event_is_accounted_for(self) -> None:
        outbox = self.outbox
        assert outbox.added == outbox.delivered + outbox.dropped + outbox.held

    @invariant()
    def reports_never_exceed_the_drops(self) -> None:
        assert self.reported <= len(self.dropped)

    def teardown(self) -> None:
        """What was reported and what is left to report add up to the drops, exactly."""
        if hasattr(self, "outbox"):
            assert self.reported + self.outbox.unreported_drops() == len(self.dropped)


TestOutbox = OutboxMachine.TestCase
TestOutbox.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


def test_failed_batch_goes_back_to_the_head_in_order() -> None:
    """Events that came while a batch was out wait behind it after it fails."""
    outbox: Outbox[str] = Outbox(10, 2)
    for item in "abc":
        outbox.add(item)
    assert outbox.take() == ["a", "b"]
    outbox.add("d")
    outbox.failed()
    assert outbox.take() == ["a", "b"]
    outbox.succeeded()
    assert outbox.take() == ["c", "d"]


def test_overflow_drops_the_oldest() -> None:
    outbox: Outbox[int] = Outbox(3, 10)
    for item in range(5):
        outbox.add(item)
    assert outbox.dropped == 2 and outbox.take() == [2, 3, 4]


def test_a_failure_that_overflows_drops_the_oldest_of_the_returned_batch() -> None:
    """A batch that fails while the buffer filled behind it loses its oldest first."""
    outbox: Outbox[int] = Outbox(3, 2)
    outbox.add(0)
    outbox.add(1)
    assert outbox.take() == [0, 1]
    for item in (2, 3, 4):
        outbox.add(item)
    outbox.failed()
    assert outbox.dropped == 2 and outbox.take() == [2, 3]


def test_partly_delivered_batch_keeps_only_the_rest() -> None:
    outbox: Outbox[int] = Outbox(10, 3)
    for item in range(4):
        outbox.add(item)
    outbox.take()
    outbox.failed(done=2)
    assert outbox.delivered == 2 and outbox.take() == [2, 3]


def test_taking_twice_without_an_outcome_is_a_mistake() -> None:
    outbox: Outbox[int] = Outbox(2, 1)
    outbox.add(1)
    outbox.take()
    with pytest.raises(RuntimeError):
        outbox.take()


def test_drops_are_reported_at_once_then_at_most_every_interval() -> None:
    """The first drop is said at once; later ones wait for the interval, summed."""
    outbox: Outbox[int] = Outbox(1, 1, report_every=10.0)
    outbox.add(0)
    outbox.add(1)
    assert outbox.drops_to_report(100.0) == 1
    outbox.add(2)
    outbox.add(3)
    assert outbox.drops_to_report(105.0) == 0
    assert outbox.report_due() == 110.0
    assert outbox.drops_to_report(110.0) == 2
    assert outbox.report_due() is None and outbox.unreported_drops() == 0


@given(
    failures=st.integers(1, 2000),
    first=st.floats(0.01, 5),
    cap=st.floats(5, 600),
    jitter=st.floats(0, 0.9),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_backoff_doubles_up_to_its_cap_with_bounded_jitter(
    failures: int, first: float, cap: float, jitter: float, draw: float
) -> None:
    """Never above the cap, never below (1 - jitter) of the plain doubling, no overflow."""
    plain = Backoff(first, cap, 0.0)
    shaken = Backoff(first, cap, jitter, rng=lambda: draw)
    expected = min(cap, first * 2.0 ** min(failures - 1, 64))
    assert plain.delay(failures) == pytest.approx(expected)
    assert (1 - jitter) * expected - 1e-9 <= shaken.delay(failures) <= expected + 1e-9
    assert plain.delay(failures + 1) >= plain.delay(failures)


def test_backoff_starts_over_after_a_success() -> None:
    outbox: Outbox[int] = Outbox(5, 1, Backoff(1.0, 30.0, 0.0))
    outbox.add(1)
    delays = []
    for _ in range(4):
        outbox.take()
        delays.append(outbox.failed())
    assert delays == [1.0, 2.0, 4.0, 8.0]
    outbox.take()
    outbox.succeeded()
    assert outbox.retry_delay() == 0.0
    outbox.add(2)
    outbox.take()
    assert outbox.failed() == 1.0
