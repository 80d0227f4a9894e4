"""What comes over the takeover socket is trusted in nothing but its shape: frames are
bounded and typed, session states are checked field by field."""

from __future__ import annotations

import copy
import os
import socket
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exec_worker.session_state import check
from exec_worker.takeover import Channel, HandoverFailed
from shared.errors import ProtocolError, TooLarge


def pair(max_frame: int = 1 << 20) -> tuple[Channel, Channel]:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return Channel(left, max_frame), Channel(right, max_frame)


def test_a_frame_and_a_file_descriptor_travel_together() -> None:
    """A session frame, then its exec's socket beside it, arrive as they were sent."""
    sender, receiver = pair()
    spare_a, spare_b = socket.socketpair()
    sender.send("session", {"fd": True, "n": 7}, spare_a.fileno())
    assert receiver.receive("session") == {"t": "session", "fd": True, "n": 7}
    passed = receiver.receive_fd()
    passed.sendall(b"through the copy")
    assert spare_b.recv(100) == b"through the copy"
    for s in (passed, spare_a, spare_b):
        s.close()
    sender.close()
    receiver.close()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        pytest.param(struct.pack(">I", 1 << 30), TooLarge, id="oversized"),
        pytest.param(struct.pack(">I", 2) + b"\xc1\xc1", ProtocolError, id="not-msgpack"),
        pytest.param(struct.pack(">I", 1) + b"\x01", ProtocolError, id="not-a-map"),
        pytest.param(b"\x00\x00", HandoverFailed, id="cut-short"),
    ],
)
def test_broken_frames_end_the_handover_with_a_reason(raw: bytes, error: type) -> None:
    """An oversized, malformed or cut frame raises a typed error, never anything else."""
    sender, receiver = pair()
    sender.sock.sendall(raw)
    sender.sock.shutdown(socket.SHUT_WR)
    with pytest.raises(error):
        receiver.receive("hello")
    sender.close()
    receiver.close()


def test_a_frame_out_of_turn_or_an_abort_is_refused() -> None:
    """The wrong kind of frame is a protocol error; `abort` says why the peer gave up."""
    sender, receiver = pair()
    sender.send("bound")
    with pytest.raises(ProtocolError, match="expected 'adopted'"):
        receiver.receive("adopted")
    sender.send("abort", {"reason": "disk full"})
    with pytest.raises(HandoverFailed, match="disk full"):
        receiver.receive("adopted")
    sender.close()
    receiver.close()


def test_a_frame_without_a_descriptor_where_one_was_promised_is_refused() -> None:
    """receive_fd wants exactly one descriptor beside its marker byte."""
    sender, receiver = pair()
    sender.sock.sendall(b"F")
    with pytest.raises(ProtocolError, match="one file descriptor"):
        receiver.receive_fd()
    sender.close()
    receiver.close()


def valid_state() -> dict[str, Any]:
    owner = ["a1", b"fe-1", "ann", "rw", 1.5]
    watcher = ["a2", b"fe-2", "bob", "ro", 2.5]
    return {
        "id": "s@h", "person": "ann", "phase": "running", "container": "c" * 64,
        "container_name": "web", "run_as": "", "address": "10.0.0.1", "command": ["sh"],
        "cmd": None, "workdir": None, "tty": True, "started": 1.0, "size": [80, 24],
        "watch_token": "t", "watched_by": ["bob"], "exit": [], "told_exit": [],
        "said": b"$ ", "owner": owner, "watchers": [watcher], "window": 262144,
        "ring": [10, b"0123456789"], "positions": {"a1": [20, 15], "a2": [12, 10]},
        "owner_acked": 15, "written": 3, "input_ended": False, "received": 3, "told": 0,
        "idle": [0.5, False], "exec": "e" * 64, "marker": "m" * 24, "process": [],
        "recorder": None, "demux": [], "ring_bytes": 1 << 20,
    }  # fmt: skip


def test_an_exit_code_no_program_returns_is_refused() -> None:
    state = valid_state() | {"phase": "ended", "exit": [1 << 40, "exited", ""]}
    with pytest.raises(ProtocolError, match="exit code"):
        check(state)
    check(state | {"exit": [-(1 << 31), "exited", ""]})


def test_a_valid_state_passes() -> None:
    """The shape a running worker sends is read as it is."""
    assert check(valid_state()) == valid_state()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phase", "starting"),
        ("size", [0, 24]),
        ("ring", [0, b"x" * ((1 << 20) + 1)]),
        ("positions", {"a1": [30, 15], "a2": [12, 10]}),
        ("positions", {"a2": [12, 10]}),
        ("owner", ["a1", "not-bytes", "ann", "rw", 1.5]),
        ("exit", [0, "exited", ""]),
        ("window", -1),
        ("said", b"x" * 5000),
        ("idle", [1 << 64, False]),
        ("idle", ["soon", False]),
        ("started", float("nan")),
        ("owner", ["a1", b"p", "ann", "rw", -(1 << 63) - 1]),
        ("process", [1, 2]),
        ("process", [-1, 2, "ns"]),
        ("demux", [b"", 7, 0]),
        ("demux", [b"12345678", 1, 0]),
        ("recorder", "file.cast"),
    ],
)
def test_states_no_worker_makes_are_refused(field: str, value: Any) -> None:
    """A running session with an exit, a position past the output, an owner without a
    position, a ring larger than any ring...: ProtocolError."""
    state = valid_state()
    state[field] = value
    with pytest.raises(ProtocolError):
        check(state)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=8,
)


@given(st.sampled_from(sorted(valid_state())), VALUES)
def test_any_field_replaced_by_anything_is_read_or_refused_cleanly(field: str, value: Any) -> None:
    """Whatever replaces a field, check() returns or raises ProtocolError, nothing else;
    and msgpack carries what it returns."""
    state = copy.deepcopy(valid_state())
    state[field] = value
    try:
        checked = check(state)
    except ProtocolError:
        return
    msgpack.packb(checked, use_bin_type=True)


def test_descriptors_sent_for_nothing_are_closed() -> None:
    """Two descriptors where one is expected: both are closed, none leaks."""
    sender, receiver = pair()
    a, b = socket.socketpair()
    before = len(os.listdir("/proc/self/fd"))
    socket.send_fds(sender.sock, [b"F"], [a.fileno(), b.fileno()])
    with pytest.raises(ProtocolError):
        receiver.receive_fd()
    assert len(os.listdir("/proc/self/fd")) == before
    for s in (a, b):
        s.close()
    sender.close()
    receiver.close()
