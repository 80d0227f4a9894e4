"""The output fan-out: windows, skips, acks and how much a session may read."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exec_worker.fanout import OutputFanOut, Send

WINDOW = 16
RING = 64


def test_output_goes_to_each_attachment_within_its_window() -> None:
    fan = OutputFanOut(WINDOW, RING)
    fan.join("owner", 0, owner=True)
    fan.join("watcher", 0, owner=False)
    sends = fan.output(b"x" * 20)
    assert sends == [Send("owner", 0, b"x" * 16), Send("watcher", 0, b"x" * 16)]
    assert fan.ack("owner", 16) == Send("owner", 16, b"x" * 4)
    assert fan.room() == WINDOW - 4


def test_an_ack_counts_for_no_more_than_was_sent() -> None:
    """An ack beyond what was sent cannot open the window further (nor freeze it)."""
    fan = OutputFanOut(WINDOW, RING)
    fan.join("owner", 0, owner=True)
    fan.output(b"a" * 10)
    assert fan.ack("owner", 10**12) is None
    assert fan.positions["owner"].acked == 10
    assert fan.output(b"b" * 30) == [Send("owner", 10, b"b" * 16)]
    assert fan.ack("owner", 26) == Send("owner", 26, b"b" * 14)


def test_without_its_owner_a_session_reads_until_the_ring_holds_all_it_missed() -> None:
    """Detached, the session keeps reading into the ring, then holds its program back, so
    the owner who comes back finds everything since its last ack."""
    fan = OutputFanOut(WINDOW, RING)
    fan.join("owner", 0, owner=True)
    fan.output(b"a" * 8)
    fan.ack("owner", 8)
    fan.leave("owner")
    assert fan.room() == RING
    fan.output(b"b" * RING)
    assert fan.room() == 0
    start, skipped = fan.join("again", 8, owner=True)
    assert (start, skipped) == (8, 0)
    assert fan.pump("again") == Send("again", 8, b"b" * WINDOW)


def test_a_watcher_that_falls_behind_skips_after_it_caught_up_with_what_it_has() -> None:
    fan = OutputFanOut(WINDOW, RING)
    fan.join("owner", 0, owner=True)
    fan.join("slow", 0, owner=False)
    for _ in range(8):
        fan.output(b"z" * 16)
        fan.ack("owner", fan.end)
    assert fan.ack("slow", 8) is None  # still has 8 bytes in flight: no skip yet
    skipped = fan.ack("slow", 16)
    assert skipped is not None and skipped.offset == fan.ring.start


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, int]]:
    kinds = st.sampled_from(["out", "ack-owner", "ack-watcher", "leave", "rejoin", "lie"])
    return draw(st.lists(st.tuples(kinds, st.integers(0, 80)), max_size=60))


@given(operations())
def test_any_sequence_keeps_windows_and_bytes_exact(ops: list[tuple[str, int]]) -> None:
    """Whatever happens, nobody has more than a window unacknowledged, every byte sent
    is the program's byte at that offset, each attachment's bytes come in order (only
    ever skipping forward), and a session with its owner away never reads past what
    the ring can hold of what the owner has not acknowledged."""
    fan = OutputFanOut(WINDOW, RING)
    history = bytearray()
    received: dict[str, int] = {"owner": 0, "watcher": 0}
    fan.join("owner", 0, owner=True)
    fan.join("watcher", 0, owner=False)

    def deliver(sends: list[Send | None]) -> None:
        for send in sends:
            if send is None:
                continue
            assert send.offset >= received[send.attachment]
            assert bytes(history[send.offset : send.offset + len(send.data)]) == send.data
            received[send.attachment] = send.offset + len(send.data)

    for kind, n in ops:
        if kind == "out":
            size = max(0, min(n, fan.room()))
            chunk = bytes((len(history) + i) % 251 for i in range(size))
            history += chunk
            deliver(list(fan.output(chunk)))
        elif kind in ("ack-owner", "ack-watcher") and kind[4:] in fan.positions:
            who = kind[4:]
            deliver([fan.ack(who, min(received[who], fan.positions[who].acked + n))])
        elif kind == "lie" and "owner" in fan.positions:
            deliver([fan.ack("owner", 10**9)])
        elif kind == "leave":
            fan.leave("owner")
        elif kind == "rejoin" and "owner" not in fan.positions:
            start, _ = fan.join("owner", received["owner"], owner=True)
            received["owner"] = start
            deliver([fan.pump("owner")])
        for position in fan.positions.values():
            assert position.acked <= position.sent <= fan.end
            assert position.sent - position.acked <= WINDOW
        if fan.owner is None:
            assert fan.end - fan.owner_acked <= fan.ring.capacity


def test_an_ended_session_gives_its_ring_back_once_its_owner_has_every_byte() -> None:
    fan = OutputFanOut(WINDOW, RING)
    fan.join("owner", 0, owner=True)
    fan.output(b"q" * 40)  # the owner was sent a window; the rest waits for acks
    fan.release_if_delivered()
    assert fan.ring.start == 0
    fan.ack("owner", 16)
    fan.ack("owner", 32)
    fan.release_if_delivered()
    assert (fan.ring.start, fan.end) == (40, 40)
    assert fan.join("late", 0, owner=False) == (40, 40)
