"""A worker hands its sessions to a successor (`--take-over`, or SIGHUP): the execs'
connections pass between the processes and every byte goes on exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.support.http import wait_hosts_up
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import PROMPT, Stack, TerminalClient

LAST = 2_000_000


def seq_output(last: int) -> bytes:
    return b"".join(b"%d\r\n" % i for i in range(1, last + 1))


def recorded_output(folder: Path, session: str) -> str:
    """The output events of a session's recording, all parts, put together."""
    short = session.partition("@")[0][:8]
    text = []
    for path in sorted(folder.glob(f"*{short}*.cast")):
        for line in path.read_text().splitlines()[1:]:
            _, code, data = json.loads(line)
            if code == "o":
                text.append(data)
    return "".join(text)


async def throttled_acks(client: TerminalClient, every: float) -> None:
    """Ack what arrived every `every` seconds: the program runs for seconds, not a blink."""
    while True:
        await asyncio.sleep(every)
        if client.offset > client.acked:
            client.ack(client.offset)


@contextlib.asynccontextmanager
async def acking(client: TerminalClient, every: float) -> AsyncIterator[None]:
    task = asyncio.create_task(throttled_acks(client, every))
    try:
        yield
    finally:
        task.cancel()


def handed_over(old: ManagedProcess) -> None:
    """The old worker exits by itself once the successor serves, ending no session."""
    assert old.proc.wait(30) == 0, old.log()
    assert "handed over" in old.log(), old.log()
    assert "ended (" not in old.log(), old.log()


async def test_takeover_mid_stream_loses_and_doubles_nothing(busybox: Any) -> None:
    """`seq 1 2000000` streaming and a shell with a watcher: a successor takes over
    mid-stream; owner and watcher get exact bytes, the shell answers at its size, the
    recording has no gap."""
    worker = start_worker("relay")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    await asyncio.to_thread(wait_hosts_up, stack, {"relay"})
    streaming = await TerminalClient.connect(stack, auto_ack=False)
    seq = await streaming.open(busybox.name, host="relay", cmd=["seq", "1", str(LAST)])
    shell = await TerminalClient.connect(stack)
    opened = await shell.open(busybox.name, host="relay", cols=97, rows=31)
    await shell.expect(PROMPT)
    watcher = await TerminalClient.connect(stack)
    await watcher.attach(opened["session"], mode="ro", token=opened["watch"])
    assert (await shell.run("stty size")).strip() == b"31 97"
    successor: ManagedProcess | None = None
    async with acking(streaming, 0.1):
        await streaming.wait_for(lambda: streaming.offset > 500_000, 30, "some output")
        successor = start_worker("relay", "--take-over")
        await asyncio.to_thread(handed_over, worker)
        at_handover = streaming.offset
        exit_message = await streaming.wait_exit(120)
    assert at_handover < len(seq_output(LAST)), "the stream ended before the takeover"
    assert exit_message["code"] == 0
    assert bytes(streaming.output) == seq_output(LAST)
    assert (await shell.run("stty size")).strip() == b"31 97"
    assert (await shell.run("echo $((6*7))")).endswith(b"42\r\n")
    await watcher.wait_for(lambda: len(watcher.output) == len(shell.output), 10, "the watcher")
    assert bytes(watcher.output) == bytes(shell.output)
    folder = Path(worker.argv[worker.argv.index("--recordings-dir") + 1])
    assert recorded_output(folder, seq["session"]) == seq_output(LAST).decode()
    for client in (streaming, shell, watcher):
        await client.close()
    frontend.stop()
    successor.stop()


async def type_lines(client: TerminalClient, sent: list[str], stop: asyncio.Event) -> None:
    """Type numbered lines every few milliseconds until told to stop."""
    while not stop.is_set():
        line = f"k{len(sent):05d}"
        client.send_keys(line + "\r")
        sent.append(line)
        await asyncio.sleep(0.004)


async def test_keystrokes_typed_during_a_takeover_arrive_once_in_order(busybox: Any) -> None:
    """Lines typed all through a takeover into `cat > file`: the file holds each line
    once, in order, and no keystroke was refused."""
    worker = start_worker("typist")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    await asyncio.to_thread(wait_hosts_up, stack, {"typist"})
    client = await TerminalClient.connect(stack)
    target = f"/tmp/typed-{id(client)}"
    await client.open(busybox.name, host="typist", cmd=["sh", "-c", f"cat > {target}"])
    sent: list[str] = []
    stop = asyncio.Event()
    typing = asyncio.create_task(type_lines(client, sent, stop))
    await client.wait_for(lambda: len(sent) > 50, 10, "some typing")
    successor = start_worker("typist", "--take-over")
    await asyncio.to_thread(handed_over, worker)
    await client.wait_for(lambda: len(sent) > 50 + 100, 10, "typing after the takeover")
    stop.set()
    await typing
    client.send_keys(b"\x04")
    exit_message = await client.wait_exit(20)
    assert exit_message["code"] == 0, exit_message
    assert client.control("error") is None, client.controls
    typed = busybox.exec_run(["cat", target]).output.decode()
    assert typed.split("\n")[:-1] == sent
    await client.close()
    frontend.stop()
    successor.stop()
