"""The worker's ZeroMQ side, talked to by a raw pyzmq client as a broken peer would."""

from __future__ import annotations

from collections.abc import Iterator

import msgpack
import pytest
import zmq

from shared.messages import Failed, Hello, Input, Message, Welcome
from shared.protocol import OLDEST_PROTOCOL, PROTOCOL_VERSION, decode, encode
from shared.security import load_secret_key, make_curve_server
from tests.support.http import wait_hosts_up
from tests.support.processes import ManagedProcess, client_keys, run_keys, start_frontend
from tests.support.terminal_client import Stack


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
    pytest.param(
        [msgpack.packb(["welcome", "h", "i", 3, "v", "1.41", 0, 0, "", 5000])], id="reply-type"
    ),
]


@pytest.mark.parametrize("frames", BROKEN)
def test_broken_message_is_answered_and_the_worker_goes_on(
    dealer: zmq.Socket[bytes], frames: list[bytes]
) -> None:
    """A malformed message gets Failed(bad_request); the next Hello is still welcomed."""
    reply = ask(dealer, frames)
    assert isinstance(reply, Failed) and reply.code == "bad_request", reply
    welcome = ask(dealer, encode(Hello("probe", PROTOCOL_VERSION, OLDEST_PROTOCOL)))
    assert isinstance(welcome, Welcome) and welcome.host == "local"


def test_versions_are_agreed_and_fields_of_a_newer_peer_left_unread(
    dealer: zmq.Socket[bytes],
) -> None:
    """A newer front end (its range reaching past ours, its messages carrying fields we
    do not know) is welcomed in the newest version both know; ranges that do not meet
    are refused as version_mismatch."""
    newer = msgpack.packb(
        ["hello", "newer", PROTOCOL_VERSION + 1, OLDEST_PROTOCOL, "a field of v+1"]
    )
    welcome = ask(dealer, [newer])
    assert isinstance(welcome, Welcome) and welcome.protocol == PROTOCOL_VERSION
    listed = ask(dealer, [msgpack.packb(["sessions", "r1", "dev", {"new": "field"}])])
    assert listed.TAG == "sessions-listed"
    for oldest, newest in ((PROTOCOL_VERSION + 1, PROTOCOL_VERSION + 2),
                           (OLDEST_PROTOCOL - 2, OLDEST_PROTOCOL - 1)):  # fmt: skip
        reply = ask(dealer, encode(Hello("other", newest, oldest)))
        assert isinstance(reply, Failed) and reply.code == "version_mismatch"


def test_a_front_end_works_with_a_newer_worker(worker: ManagedProcess) -> None:
    """A worker of the next release (here a raw socket speaking it) that answers in the
    version the front end knows, with fields the front end does not: the host is up."""
    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.RCVTIMEO, 10_000)
    keys = run_keys()
    make_curve_server(router, load_secret_key(str(keys.worker_secret)))
    port = router.bind_to_random_port("tcp://127.0.0.1")
    frontend = start_frontend([f"tcp://127.0.0.1:{port}"])
    try:
        peer, header = router.recv_multipart()
        hello = msgpack.unpackb(header)
        assert hello[0] == "hello" and hello[2] >= OLDEST_PROTOCOL
        welcome = ["welcome", "next", "i-1", hello[2], "99.0", "1.99", 0, 0, "", 5000,
                   "a field of the next release"]  # fmt: skip
        router.send_multipart([peer, msgpack.packb(welcome)])
        while (message := msgpack.unpackb(router.recv_multipart()[1]))[0] != "list":
            router.send_multipart([peer, msgpack.packb(welcome)])
        router.send_multipart([peer, msgpack.packb(["listed", message[1], 0, [], "more"])])
        stack = Stack(frontend.match["url"])
        wait_hosts_up(stack, {"next"})
    finally:
        frontend.stop()
        router.close()


def test_input_for_unknown_session_is_not_found(dealer: zmq.Socket[bytes]) -> None:
    """Keystrokes for an attachment this peer does not hold are refused."""
    reply = ask(dealer, encode(Input("nobody", b"ls\r")))
    assert isinstance(reply, Failed) and reply.code == "not_found" and reply.ref == "nobody"
