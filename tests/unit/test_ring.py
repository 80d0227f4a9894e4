"""OutputRing keeps exactly the last `capacity` bytes, addressed by absolute offset."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exec_worker.ring import OutputRing


@given(
    capacity=st.integers(1, 64),
    chunks=st.lists(st.binary(max_size=150), max_size=30),
    data=st.data(),
)
def test_matches_the_tail_of_everything_written(
    capacity: int, chunks: list[bytes], data: st.DataObject
) -> None:
    """Any read within [start, end) equals the same slice of the whole history."""
    ring = OutputRing(capacity)
    history = b""
    for chunk in chunks:
        ring.append(chunk)
        history += chunk
        assert ring.end == len(history)
        assert ring.start == max(0, len(history) - capacity)
        start = data.draw(st.integers(ring.start, ring.end))
        end = data.draw(st.integers(start, ring.end))
        assert ring.read(start, end) == history[start:end]


def test_quiet_ring_allocates_only_what_it_holds() -> None:
    """A ring that received little holds little, whatever its capacity."""
    ring = OutputRing(1 << 20)
    ring.append(b"prompt$ ")
    assert len(ring._buffer) == 8


def test_reads_outside_the_kept_range_are_refused() -> None:
    ring = OutputRing(4)
    ring.append(b"abcdefgh")
    assert ring.read(4, 8) == b"efgh"
    with pytest.raises(ValueError):
        ring.read(3, 8)
    with pytest.raises(ValueError):
        ring.read(4, 9)


@given(before=st.binary(max_size=100), after=st.binary(max_size=100))
def test_a_released_ring_keeps_counting_and_holds_only_what_came_after(
    before: bytes, after: bytes
) -> None:
    ring = OutputRing(16)
    ring.append(before)
    ring.release()
    assert (ring.start, ring.end, len(ring._buffer)) == (len(before), len(before), 0)
    ring.append(after)
    assert ring.end == len(before) + len(after)
    assert ring.read(ring.start, ring.end) == after[-16:]
