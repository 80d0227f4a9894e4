"""Sessions without a tty over the browser protocol: Docker's multiplexed stream passed
through as output bytes, the end of input, input acknowledged as the program takes it,
resume counts of input, and recordings of the programs' own bytes."""

from __future__ import annotations

import json
from typing import Any

from exec_worker.multiplex import Demux, Stream
from tests.support.http import call
from tests.support.terminal_client import Stack, TerminalClient

WINDOW = 256 * 1024


def split(output: bytes) -> tuple[bytes, bytes]:
    """stdout and stderr of a multiplexed stream."""
    parts = {Stream.STDOUT: bytearray(), Stream.STDERR: bytearray()}
    for stream, piece in Demux().feed(output):
        parts[stream] += piece
    return bytes(parts[Stream.STDOUT]), bytes(parts[Stream.STDERR])


async def test_output_is_dockers_multiplexed_stream(client: TerminalClient, busybox: Any) -> None:
    """stdout and stderr arrive apart in Docker's frames, bytes as they are, and the exit
    code follows; `opened` says the session has no tty."""
    script = "printf 'out\\000\\377'; printf 'err' >&2; exit 3"
    opened = await client.open(busybox.name, host="local", cmd=["sh", "-c", script], tty=False)
    assert opened["tty"] is False and opened["input"] == 0 and opened["ended"] is False
    exit_message = await client.wait_exit()
    assert exit_message["code"] == 3
    assert split(bytes(client.output)) == (b"out\x00\xff", b"err")


async def test_eof_ends_the_programs_input(client: TerminalClient, busybox: Any) -> None:
    """Keystrokes and `eof` sent before the session runs are held and delivered in order:
    `cat` echoes the bytes, reads the end of its input and exits 0."""
    client.send_control(
        {"type": "open", "host": "local", "container": busybox.name, "cmd": ["cat"], "tty": False}
    )
    client.send_keys(b"first \x00 bytes\n")
    client.send_control({"type": "eof"})
    exit_message = await client.wait_exit()
    assert exit_message["code"] == 0, client.controls
    assert split(bytes(client.output)) == (b"first \x00 bytes\n", b"")


async def test_input_after_eof_is_refused(client: TerminalClient, busybox: Any) -> None:
    """Bytes sent after `eof` are answered with `conflict`, not delivered."""
    await client.open(busybox.name, host="local", cmd=["sh", "-c", "cat; sleep 5"], tty=False)
    client.send_keys(b"one\n")
    client.send_control({"type": "eof"})
    client.send_keys(b"two\n")
    error = await client.next_control("error")
    assert error["code"] == "conflict" and "eof" in error["message"]
    client.send_control({"type": "close"})
    await client.wait_exit()
    assert split(bytes(client.output))[0] == b"one\n"


async def test_eof_on_a_session_with_a_tty_is_refused(client: TerminalClient, busybox: Any) -> None:
    """A tty has no end of input: `eof` is a bad request and the shell goes on."""
    await client.open(busybox.name, host="local", cmd=["cat"])
    client.send_control({"type": "eof"})
    error = await client.next_control("error")
    assert error["code"] == "bad_request" and "Ctrl-D" in error["message"]
    client.send_keys(b"still here\r")
    await client.expect(b"still here\r\nstill here")
    client.send_control({"type": "close"})
    await client.wait_exit()


async def test_a_session_without_a_tty_needs_a_command(
    client: TerminalClient, busybox: Any
) -> None:
    """The shell chooser is for terminals: `tty: false` without `cmd` is a bad request."""
    client.send_control({"type": "open", "host": "local", "container": busybox.name, "tty": False})
    error = await client.next_control("error")
    assert error["code"] == "bad_request" and "needs a command" in error["message"]


async def test_input_is_acknowledged_as_the_program_takes_it(stack: Stack, busybox: Any) -> None:
    """A client that keeps at most a window of input unacknowledged can pipe 4 MiB into a
    program that reads nothing for a second: `input-ack` messages pace it, nothing is
    refused (the worker holds 1 MiB at most), and every byte arrives."""
    client = await TerminalClient.connect(stack)
    script = "sleep 1; wc -c"
    await client.open(busybox.name, host="local", cmd=["sh", "-c", script], tty=False)
    total, sent, chunk = 4 << 20, 0, b"\x00\xff" * (32 * 1024)
    while sent < total:
        acked = max([c["offset"] for c in client.controls if c["type"] == "input-ack"] or [0])
        if sent - acked + len(chunk) > WINDOW:
            count = len(client.controls)
            await client.wait_for(lambda n=count: len(client.controls) > n, 20, "an input-ack")
            continue
        client.send_keys(chunk)
        sent += len(chunk)
    client.send_control({"type": "eof"})
    exit_message = await client.wait_exit(timeout=60)
    assert [c for c in client.controls if c["type"] == "error"] == []
    assert exit_message["code"] == 0
    assert split(bytes(client.output))[0].strip() == str(total).encode()
    await client.close()


async def test_resume_tells_how_much_input_the_session_took(stack: Stack, busybox: Any) -> None:
    """`opened` for a resuming owner counts the input the session has taken, so the
    owner knows what to send again; it says whether the program has ended."""
    first = await TerminalClient.connect(stack)
    opened = await first.open(busybox.name, host="local", cmd=["cat"], tty=False)
    first.send_keys(b"0123456789")
    await first.wait_for(lambda: split(bytes(first.output))[0] == b"0123456789", 10, "echo")
    await first.close()
    second = await TerminalClient.connect(stack)
    resumed = await second.attach(opened["session"], offset=first.offset)
    assert (resumed["input"], resumed["ended"], resumed["tty"]) == (10, False, False)
    second.send_control({"type": "eof"})
    assert (await second.wait_exit())["code"] == 0
    await second.close()
    third = await TerminalClient.connect(stack)
    late = await third.attach(opened["session"], offset=first.offset)
    assert late["ended"] is True
    await third.close()


async def test_recording_holds_the_programs_bytes_without_frames(
    stack: Stack, busybox: Any
) -> None:
    """The recording of a session without a tty says so and holds stdout and stderr as
    output events, never Docker's frame headers."""
    client = await TerminalClient.connect(stack)
    opened = await client.open(
        busybox.name, host="local", tty=False, cmd=["sh", "-c", "echo to-out; echo to-err >&2"]
    )
    await client.wait_exit()
    await client.close()
    auth = {"Authorization": f"Bearer {stack.token}"}
    listed = call(stack, "/api/recordings", headers=auth).json()["recordings"]
    [entry] = [r for r in listed if r["session"] == opened["session"]]
    cast = call(stack, f"/api/recordings/local/{entry['name']}", headers=auth).body.decode()
    header, *events = [json.loads(line) for line in cast.splitlines()]
    assert header["dterm"]["tty"] is False
    output = "".join(e[2] for e in events if e[1] == "o")
    assert sorted(output.splitlines()) == ["to-err", "to-out"]


async def test_a_missing_command_is_command_not_found(client: TerminalClient, busybox: Any) -> None:
    """Docker's start failure, framed on a stream without a tty, still reads as
    `command_not_found` with its text, and the exit code follows (126 or 127, by Docker)."""
    await client.open(busybox.name, host="local", cmd=["no-such-program"], tty=False)
    error = await client.next_control("error")
    assert error["code"] == "command_not_found"
    assert error["message"].startswith("no-such-program: command not found in the container: ")
    assert "\x01" not in error["message"] and "\x00" not in error["message"]
    assert (await client.wait_exit())["code"] in (126, 127)
