"""Every bad input gets a clear error and harms nothing else."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from frontend_server.bridge import NEW_CONTAINER_WAIT
from tests.support.containers import Containers
from tests.support.images import NOSH_IMAGE
from tests.support.processes import ManagedProcess
from tests.support.terminal_client import PROMPT, Stack, TerminalClient


async def open_error(client: TerminalClient, **fields: Any) -> dict[str, Any]:
    start = len(client.controls)
    client.send_control({"type": "open", **fields})
    return await client.next_control("error", start=start)


async def test_unknown_container_is_not_found(client: TerminalClient, busybox: Any) -> None:
    """Opening a container that does not exist says so, after waiting a little for one that
    may have just started; the connection can open another."""
    asked = time.monotonic()
    error = await open_error(client, host="local", container="no-such-container-x")
    assert error["code"] == "not_found" and "no-such-container-x" in error["message"]
    assert time.monotonic() - asked >= NEW_CONTAINER_WAIT
    await client.open(busybox.name, host="local", cmd=["echo", "still-fine"])
    await client.expect("still-fine")


async def test_stopped_container_is_not_running(
    client: TerminalClient, containers: Containers
) -> None:
    """Opening a stopped container gives `not_running`."""
    stopped = containers.run(command=["true"])
    stopped.wait(timeout=30)
    error = await open_error(client, host="local", container=stopped.name)
    assert error["code"] == "not_running", error


async def test_missing_command_is_command_not_found(client: TerminalClient, busybox: Any) -> None:
    """A command missing from the container gives `command_not_found`, then the exit."""
    await client.open(busybox.name, host="local", cmd=["no-such-program", "--flag"])
    error = await client.next_control("error")
    assert error["code"] == "command_not_found"
    assert "no-such-program" in error["message"]
    exit_message = await client.wait_exit()
    assert exit_message["code"] in (126, 127)


async def test_container_without_a_shell(client: TerminalClient, containers: Containers) -> None:
    """The default command in a container with no /bin/sh says there is no shell."""
    bare = containers.run(NOSH_IMAGE, command=["/bin/busybox", "sleep", "1000000"])
    await client.open(bare.name, host="local")
    error = await client.next_control("error")
    assert error["code"] == "command_not_found" and "no shell" in error["message"]


async def test_unknown_host_is_not_found(client: TerminalClient) -> None:
    """A host no worker serves gives `not_found`."""
    error = await open_error(client, host="nowhere", container="x")
    assert error["code"] == "not_found" and "nowhere" in error["message"]


BAD_FRAMES = [
    pytest.param("{not json", "bad_request", id="malformed-json"),
    pytest.param(json.dumps({"type": "launch-missiles"}), "bad_request", id="unknown-type"),
    pytest.param(json.dumps(["open"]), "bad_request", id="not-an-object"),
    pytest.param("ls -l\r", "bad_request", id="keystrokes-as-text"),
    pytest.param(
        json.dumps({"type": "resize", "cols": 0, "rows": 24}), "bad_request", id="zero-cols"
    ),
    pytest.param(
        json.dumps({"type": "resize", "cols": 100000, "rows": 24}), "bad_request", id="huge-cols"
    ),
    pytest.param(
        json.dumps({"type": "resize", "cols": "80", "rows": 24}), "bad_request", id="string-cols"
    ),
    pytest.param(json.dumps({"type": "ack", "offset": -1}), "bad_request", id="negative-ack"),
    pytest.param(json.dumps({"type": "open", "container": "x"}), "bad_request", id="second-open"),
    pytest.param("x" * 100_000, "too_large", id="oversized-text"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_bad_frame_gets_an_error_and_the_session_survives(
    client: TerminalClient, busybox: Any, frame: str, code: str
) -> None:
    """A bad control frame is answered with an error; the open session goes on."""
    await client.open(busybox.name, host="local")
    await client.expect(PROMPT)
    start = len(client.controls)
    client.send_text_frame(frame)
    error = await client.next_control("error", start=start)
    assert error["code"] == code, error
    assert error["message"]
    assert (await client.run("echo survived")).strip() == b"survived"


async def test_oversized_input_frame_is_refused(client: TerminalClient, busybox: Any) -> None:
    """A keystroke frame over the limit is refused with `too_large`; the session goes on."""
    await client.open(busybox.name, host="local")
    await client.expect(PROMPT)
    client.send_keys(b"x" * (2 << 20))
    error = await client.next_control("error")
    assert error["code"] == "too_large"
    assert (await client.run("echo survived")).strip() == b"survived"


async def test_input_before_open_is_refused(client: TerminalClient) -> None:
    """Keystrokes or resize before `open` get an error, not a crash."""
    client.send_keys(b"ls\r")
    client.send_control({"type": "resize", "cols": 80, "rows": 24})
    await client.wait_for(lambda: len(client.controls) >= 2, 10, "two errors")
    assert [c["code"] for c in client.controls] == ["bad_request", "bad_request"]


async def test_server_keeps_serving_after_bad_input(stack: Stack, busybox: Any) -> None:
    """After a burst of bad frames on one connection, a fresh connection works normally."""
    bad = await TerminalClient.connect(stack)
    for frame, _ in [p.values for p in BAD_FRAMES]:
        bad.send_text_frame(frame)
    await bad.wait_for(lambda: len(bad.controls) >= len(BAD_FRAMES) - 1, 10, "errors")
    await bad.close()
    good = await TerminalClient.connect(stack)
    await good.open(busybox.name, host="local", cmd=["echo", "fine"])
    await good.expect("fine")
    await good.close()


async def test_client_gone_during_the_upgrade(
    stack: Stack, frontend: ManagedProcess, busybox: Any
) -> None:
    """A client that leaves as soon as it has its upgrade (or before) costs the front
    end nothing: no traceback in its log, and the next connection works."""
    address = urlsplit(stack.base)
    host, port = address.hostname, address.port
    request = (
        f"GET /ws/exec HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {stack.token}\r\n\r\n"
    ).encode()
    for wait_for_answer in (False, True) * 5:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(request)
            if wait_for_answer:
                assert sock.recv(1024).startswith(b"HTTP/1.1 101 ")
    good = await TerminalClient.connect(stack)
    await good.open(busybox.name, host="local", cmd=["echo", "fine"])
    await good.expect("fine")
    await good.close()
    assert "Traceback" not in frontend.log()
