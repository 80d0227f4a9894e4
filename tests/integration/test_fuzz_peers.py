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
from tests.unit.test_fuzz_decoders import json_values, packable

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
    dealer.send_multipart([msgpack.packb([tag, *fields]), *extra])


def test_worker_still_answers_after_the_fuzzing(
    dealer: zmq.Socket[bytes], worker: ManagedProcess
) -> None:
    """After all that, a Hello is welcomed and the worker logged no traceback."""
    drain(dealer)
    dealer.send_multipart(encode(Hello("after-fuzz", PROTOCOL_VERSION, OLDEST_PROTOCOL)))
    assert dealer.poll(10_000)
    replies = [decode(dealer.recv_multipart())]
    while not isinstance(replies[-1], Welcome) and dealer.poll(5_000):
        replies.append(decode(dealer.recv_multipart()))
    assert isinstance(replies[-1], Welcome)
    assert "Traceback" not in worker.log()


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


def test_front_end_still_serves_after_the_fuzzing(frontend: ManagedProcess) -> None:
    assert "Traceback" not in frontend.log()
