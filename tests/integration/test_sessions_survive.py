"""Sessions outlive connections: byte-exact resume through another front end, a ring
of recent output, read-only watchers, and memory bounded by flow control."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.http import get_json, wait_hosts_up
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import eventually

RING = 1 << 20  # the worker's default ring
WINDOW = 256 * 1024


@dataclass
class Pair:
    worker: ManagedProcess
    frontends: list[ManagedProcess]
    stacks: list[Stack]


@pytest.fixture(scope="module")
def pair(docker_client: Any) -> Iterator[Pair]:
    """One worker (host `keep`) behind two front ends."""
    worker = start_worker("keep", "--grace", "60")
    frontends = [start_frontend([worker.match["endpoint"]]) for _ in range(2)]
    stacks = [Stack(f.match["url"]) for f in frontends]
    for stack in stacks:
        wait_hosts_up(stack, {"keep"})
    yield Pair(worker, frontends, stacks)
    for process in [*frontends, worker]:
        process.stop()


def seq_output(last: int) -> bytes:
    return b"".join(b"%d\r\n" % i for i in range(1, last + 1))


async def test_resume_through_another_front_end_after_kill_9(pair: Pair, busybox: Any) -> None:
    """`seq 1 300000`: kill -9 the front end mid-stream, resume through the other one
    from the last offset: the output is exact, nothing lost, nothing doubled."""
    doomed = start_frontend([pair.worker.match["endpoint"]])
    stack = Stack(doomed.match["url"])
    (await asyncio.to_thread(wait_hosts_up, stack, {"keep"}))
    first = await TerminalClient.connect(stack, auto_ack=False)
    opened = await first.open(busybox.name, host="keep", cmd=["seq", "1", "300000"])
    for _ in range(3):  # take a few windows, then stop acking: mid-stream for sure
        await first.wait_for(lambda: first.offset - first.acked >= WINDOW, 20, "a window")
        first.ack(first.offset)
    await first.wait_for(lambda: first.offset - first.acked >= WINDOW, 20, "a window")
    doomed.kill()
    await first.wait_for(lambda: first.closed, 10, "the connection to drop")
    received = bytes(first.output)
    assert 0 < len(received) < len(seq_output(300000))

    second = await TerminalClient.connect(pair.stacks[1])
    resumed = await second.attach(opened["session"], offset=len(received))
    assert resumed["offset"] == len(received) and resumed["skipped"] == 0
    exit_message = await second.wait_exit(timeout=60)
    assert exit_message["code"] == 0
    assert received + bytes(second.output) == seq_output(300000)
    await second.close()


async def test_a_detached_session_holds_its_program_once_the_ring_is_full(
    pair: Pair, busybox: Any
) -> None:
    """Detached while its program would print 10x the ring: the session keeps what its
    owner has not seen and then holds the program (it reads and records no further),
    so the owner who comes back gets every byte, nothing skipped."""
    last = 1_300_000  # about 10 MiB of `seq` output
    script = f"echo ready; read x; seq 1 {last}; echo all-done; read y"
    owner = await TerminalClient.connect(pair.stacks[0])
    opened = await owner.open(busybox.name, host="keep", cmd=["sh", "-c", script])
    await owner.expect(b"ready\r\n")
    owner.send_keys(b"\r")
    await owner.expect(b"\r\n\r\n")  # the tty echoes the newline
    await owner.close()  # detach: the session goes on alone
    kept = owner.offset

    # A watcher sees how far the program got without holding the session back.
    watcher = await TerminalClient.connect(pair.stacks[1])
    await watcher.attach(opened["session"], mode="ro")
    await watcher.wait_for(lambda: watcher.offset >= kept + RING - WINDOW, 30, "a ring more")
    held = time.monotonic() + 2
    while time.monotonic() < held:  # the program stays held: no more than a ring past the owner
        assert watcher.offset <= kept + RING
        await asyncio.sleep(0.1)
    await watcher.close()

    everything = b"ready\r\n\r\n" + seq_output(last) + b"all-done\r\n"
    assert bytes(owner.output) == everything[:kept]
    back = await TerminalClient.connect(pair.stacks[0])
    resumed = await back.attach(opened["session"], offset=kept)
    assert resumed["skipped"] == 0 and resumed["offset"] == kept
    await back.expect(b"all-done\r\n", timeout=60)
    assert bytes(owner.output) + bytes(back.output) == everything
    back.send_keys(b"\r")
    await back.wait_exit()
    await back.close()


async def test_a_watcher_that_never_acks_is_sent_one_window(pair: Pair, busybox: Any) -> None:
    """The owner's program prints 10x the ring while a watcher acknowledges nothing: the
    watcher skips ahead, is never sent more than one window, and the owner gets it all."""
    last = 1_300_000
    script = f"echo ready; read x; seq 1 {last}; echo all-done; read y"
    owner = await TerminalClient.connect(pair.stacks[0])
    opened = await owner.open(busybox.name, host="keep", cmd=["sh", "-c", script])
    await owner.expect(b"ready\r\n")
    watcher = await TerminalClient.connect(pair.stacks[1], auto_ack=False)
    await watcher.attach(opened["session"], mode="ro")
    owner.send_keys(b"\r")
    await owner.expect(b"all-done\r\n", timeout=60)
    assert bytes(owner.output).endswith(seq_output(last)[-100_000:] + b"all-done\r\n")
    assert 0 < len(watcher.output) <= WINDOW, len(watcher.output)
    owner.send_keys(b"\r")
    await owner.wait_exit()
    for each in (owner, watcher):
        await each.close()


async def test_watchers_see_what_the_owner_sees_and_cannot_type(pair: Pair, busybox: Any) -> None:
    """Two read-only watchers on two front ends see the owner's bytes exactly; their
    keystrokes and resizes are refused; the owner sees who watches."""
    owner = await TerminalClient.connect(pair.stacks[0])
    opened = await owner.open(busybox.name, host="keep", cols=100, rows=30)
    assert opened["mode"] == "rw" and opened["watch"]
    await owner.expect(rb"[#$] ")
    watchers = [await TerminalClient.connect(stack) for stack in pair.stacks]
    for watcher in watchers:
        seen = await watcher.attach(opened["session"], mode="ro", token=opened["watch"])
        assert seen["mode"] == "ro" and "watch" not in seen
        assert (seen["cols"], seen["rows"]) == (100, 30)
    listed = await owner.wait_for(
        lambda: [c for c in owner.controls if c["type"] == "watchers" and len(c["watchers"]) == 2],
        10,
        "two watchers listed",
    )
    assert {w["user"] for w in listed[-1]["watchers"]} == {"dev"}
    await owner.run("seq 1 2000 | tr '\\n' ' '")
    owner.send_keys("echo the-end\r")
    # up to the next prompt: nothing more comes, so both can be compared whole
    await owner.expect(rb"the-end\r\n.*the-end\r\n[^\n]*" + PROMPT)
    for watcher in watchers:
        await watcher.wait_for(lambda w=watcher: len(w.output) >= len(owner.output), 10, "all")
        assert bytes(watcher.output) == bytes(owner.output)
        watcher.send_keys(b"rm -rf /\r")
        watcher.send_control({"type": "resize", "cols": 10, "rows": 10})
        errors = await watcher.wait_for(
            lambda w=watcher: [c for c in w.controls if c["type"] == "error"][1:], 10, "errors"
        )
        assert all(e["code"] == "forbidden" for e in errors)
    owner.send_control({"type": "resize", "cols": 120, "rows": 40})
    for watcher in watchers:
        await watcher.next_control("size")
    assert b"rm -rf" not in bytes(owner.output)
    for client in [owner, *watchers]:
        await client.close()


async def test_reattach_offer_lists_running_sessions(pair: Pair, busybox: Any) -> None:
    """A person's running sessions are listed (to offer reattaching after a reload)."""
    owner = await TerminalClient.connect(pair.stacks[0])
    opened = await owner.open(busybox.name, host="keep")
    await owner.close()

    def mine() -> list[dict[str, Any]]:
        listed = get_json(pair.stacks[1], "/api/sessions")["sessions"]
        return [s for s in listed if s["session"] == opened["session"]]

    [session] = mine()
    assert session["host"] == "keep" and session["container"] == busybox.name
    # The worker hears of the closed connection a moment after the client closed it.
    await eventually(lambda: not mine()[0]["attached"], 5, "the session shown detached")


async def test_flood_to_a_slow_client_keeps_memory_bounded(pair: Pair, busybox: Any) -> None:
    """Full-speed output to a client that acks every 64 ms, for 20 s: worker and front end
    grow by less than the stated bound; Ctrl-C then ends it quickly."""
    frontend = pair.frontends[0]
    terminal = await TerminalClient.connect(pair.stacks[0], auto_ack=False)
    await terminal.open(busybox.name, host="keep")
    await terminal.expect(rb"[#$] ")
    terminal.ack(terminal.offset)
    base = {"worker": pair.worker.rss(), "frontend": frontend.rss()}
    peak = dict(base)
    terminal.send_keys("yes 0123456789abcdef0123456789abcdef\r")
    started = time.monotonic()
    while time.monotonic() - started < 20:
        terminal.ack(terminal.offset)  # the slow reader: acks only every 64 ms
        await asyncio.sleep(0.064)
        peak = {
            "worker": max(peak["worker"], pair.worker.rss()),
            "frontend": max(peak["frontend"], frontend.rss()),
        }
    flood = terminal.offset
    terminal.auto_ack = True
    terminal.ack(terminal.offset)
    interrupted = time.monotonic()
    terminal.send_keys(b"\x03")
    await terminal.expect(PROMPT, since=len(terminal.output) - 1, timeout=10)
    after = time.monotonic() - interrupted
    growth = {name: peak[name] - base[name] for name in base}
    print(
        f"flood: {flood / 20 / 1e6:.2f} MB/s to the slow client; RSS growth {growth}; "
        f"Ctrl-C to prompt {after:.2f} s"
    )
    assert flood > 5_000_000  # the client really was reading all along
    assert growth["worker"] < 16 << 20 and growth["frontend"] < 16 << 20, growth
    assert after < 5
    await terminal.close()
