"""Random frames thrown at the real processes: answers or errors, never a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.messages import Hello, Welcome
from shared.protocol import _SPECS, OLDEST_PROTOCOL, PROTOCOL_VERSION, decode, encode
from tests.support.processes import ManagedProcess, client_keys
from tests.support.strategies import json_values, packable

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def dealer(worker: ManagedProcess) -> Iterator[zmq.Socket[bytes]]:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    client_keys().apply(socket)
    socket.connect(worker.match["endpoint"])
    yield socket
    socket.close()


def drain(socket: zmq.Socket[bytes]) -> None:
    while socket.poll(0):
        socket.recv_multipart()


@FUZZ
@given(
    st.sampled_from(sorted(_SPECS)),
    st.lists(packable, max_size=10),
    st.lists(st.binary(max_size=30), max_size=2),
)
def test_worker_survives_random_messages(
    dealer: zmq.Socket[bytes], tag: str, fields: list[Any], extra: list[bytes]
) -> None:
    """Whatever comes, the worker still welcomes the next Hello."""
    drain(dealer)
    dealer.send_multipart([msgpack.packb([tag, *fields]), *extra])
    assert_welcomed(dealer)


def assert_welcomed(dealer: zmq.Socket[bytes]) -> None:
    """A Hello now is answered with Welcome (answers to what came before may precede it)."""
    dealer.send_multipart(encode(Hello("probe", PROTOCOL_VERSION, OLDEST_PROTOCOL)))
    assert dealer.poll(10_000)
    replies = [decode(dealer.recv_multipart())]
    while not isinstance(replies[-1], Welcome) and dealer.poll(5_000):
        replies.append(decode(dealer.recv_multipart()))
    assert isinstance(replies[-1], Welcome)


control_frames = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda kind, body: json.dumps({"type": kind, **body}),
        st.sampled_from(["open", "attach", "resize", "ack", "close", "zzz"]),
        st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    ),
)


@FUZZ
@given(st.lists(st.one_of(control_frames, st.binary(max_size=100)), min_size=1, max_size=8))
async def test_front_end_survives_random_frames(stack: Any, frames: list[str | bytes]) -> None:
    """Whatever frames come, the connection still answers the next message (and the
    process logs no traceback: its fixture checks that when it stops)."""
    from tests.support.terminal_client import TerminalClient

    terminal = await TerminalClient.connect(stack)
    for frame in frames:
        terminal.conn.write_message(frame, binary=isinstance(frame, bytes))
    terminal.send_control({"type": "nonsense-to-end-with"})
    await terminal.wait_for(
        lambda: any(
            c.get("message", "").startswith("unknown message type 'nonsense")
            for c in terminal.controls
        ),
        10,
        "the last answer",
    )
    await terminal.close()
