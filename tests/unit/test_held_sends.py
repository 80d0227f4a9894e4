"""What a front end holds while its worker hands over: in order, bounded, once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontend_server.held_sends import MAX_HELD_BYTES, HeldSends
from shared.errors import Unavailable

FRAMES = st.lists(st.binary(max_size=64), min_size=1, max_size=3)


@given(st.lists(FRAMES, max_size=30), st.lists(FRAMES, max_size=30))
def test_what_is_held_comes_back_once_in_order(
    first: list[list[bytes]], then: list[list[bytes]]
) -> None:
    held = HeldSends()
    assert not held.holding
    held.start()
    for frames in first:
        held.hold(frames, "db-1")
    held.start()  # a second Pause before the Welcome keeps what is held
    for frames in then:
        held.hold(frames, "db-1")
    assert held.release() == first + then
    assert not held.holding and held.release() == []


def test_past_the_bound_sends_are_refused_and_what_was_held_stays() -> None:
    held = HeldSends()
    held.start()
    half = [b"x" * (MAX_HELD_BYTES // 2)]
    held.hold(half, "db-1")
    held.hold(half, "db-1")
    with pytest.raises(Unavailable, match="db-1 is being upgraded"):
        held.hold([b"x"], "db-1")
    assert held.release() == [half, half]


def test_the_bound_starts_again_with_each_pause() -> None:
    held = HeldSends()
    for _ in range(3):
        held.start()
        held.hold([b"x" * MAX_HELD_BYTES], "db-1")
        assert len(held.release()) == 1
