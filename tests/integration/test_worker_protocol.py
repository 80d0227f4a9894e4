"""The worker's ZeroMQ side, talked to by a raw pyzmq client as a broken peer would."""

from __future__ import annotations

from collections.abc import Iterator

import msgpack
import pytest
import zmq

from shared.messages import Failed, Hello, Input, Message, Welcome
from shared.protocol import PROTOCOL_VERSION, decode, encode
from tests.support.processes import ManagedProcess, client_keys


@pytest.fixture
def dealer(worker: ManagedProcess) -> Iterator[zmq.Socket[bytes]]:
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 10_000)
    client_keys().apply(socket)
    socket.connect(worker.match["endpoint"])
    yield socket
    socket.close()


def ask(socket: zmq.Socket[bytes], frames: list[bytes]) -> Message:
    socket.send_multipart(frames)
    return decode(socket.recv_multipart())


BROKEN = [
    pytest.param([b"\xc1garbage"], id="not-msgpack"),
    pytest.param([msgpack.packb({"type": "hello"})], id="a-map"),
    pytest.param([msgpack.packb(["teleport", 1])], id="unknown-tag"),
    pytest.param([msgpack.packb(["hello", "fe"])], id="too-few-fields"),
    pytest.param([msgpack.packb(["hello", "fe", "1"])], id="wrong-type"),
    pytest.param([msgpack.packb(["in", "s"])], id="missing-data-frame"),
    pytest.param([msgpack.packb(["resize", "s", 0, 24])], id="zero-size"),
    pytest.param([msgpack.packb(["welcome", "h", "i", 2, "v", "1.41", 0, 0])], id="reply-type"),
]


@pytest.mark.parametrize("frames", BROKEN)
def test_broken_message_is_answered_and_the_worker_goes_on(
    dealer: zmq.Socket[bytes], frames: list[bytes]
) -> None:
    """A malformed message gets Failed(bad_request); the next Hello is still welcomed."""
    reply = ask(dealer, frames)
    assert isinstance(reply, Failed) and reply.code == "bad_request", reply
    welcome = ask(dealer, encode(Hello("probe", PROTOCOL_VERSION)))
    assert isinstance(welcome, Welcome) and welcome.host == "local"


def test_other_protocol_version_is_refused(dealer: zmq.Socket[bytes]) -> None:
    """A front end speaking another protocol version is told so."""
    reply = ask(dealer, encode(Hello("future", PROTOCOL_VERSION + 1)))
    assert isinstance(reply, Failed) and reply.code == "version_mismatch"


def test_input_for_unknown_session_is_not_found(dealer: zmq.Socket[bytes]) -> None:
    """Keystrokes for an attachment this peer does not hold are refused."""
    reply = ask(dealer, encode(Input("nobody", b"ls\r")))
    assert isinstance(reply, Failed) and reply.code == "not_found" and reply.ref == "nobody"
