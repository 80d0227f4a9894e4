"""A worker hands its sessions to a successor (`--take-over`, or SIGHUP): the execs'
connections pass between the processes and every byte goes on exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http.client
import json
import os
import re
import signal
import socket
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import zmq

from exec_worker.takeover import Channel, HandoverFailed, socket_path
from shared.messages import (
    ContainersListed,
    Failed,
    Hello,
    Input,
    ListContainers,
    Message,
    OpenSession,
    Output,
    Pause,
    RecordingPolicy,
    SessionOpened,
    Welcome,
)
from shared.protocol import decode, encode
from shared.security import load_secret_key, make_curve_server
from shared.transfer_messages import FileData, FileEnd, FileOpened, FileStored, PutFile
from tests.support.containers import require
from tests.support.http import wait_hosts_up
from tests.support.processes import (
    ManagedProcess,
    client_keys,
    run_keys,
    start_frontend,
    start_worker,
)
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import wait_until

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
    assert "ended (" not in old.log().rpartition("takeover: successor")[2], old.log()


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


@pytest.mark.parametrize("step", ["nonsense", "after-state", "after-release"])
async def test_a_successor_that_dies_midway_leaves_the_worker_serving(
    busybox: Any, step: str
) -> None:
    """The successor talks nonsense, or dies holding every session's socket (before
    or after the worker let go of its endpoint): the worker logs why and serves on,
    the shell answers, its watcher gets exact bytes; a later takeover still works."""
    host = f"phoenix-{step}"
    worker = start_worker(host)
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    await asyncio.to_thread(wait_hosts_up, stack, {host})
    shell = await TerminalClient.connect(stack)
    opened = await shell.open(busybox.name, host=host, cols=88, rows=22)
    await shell.expect(PROMPT)
    watcher = await TerminalClient.connect(stack)
    await watcher.attach(opened["session"], mode="ro", token=opened["watch"])
    state_dir = worker.argv[worker.argv.index("--state-dir") + 1]
    dying = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.dying_successor", state_dir, step
    )
    assert await asyncio.wait_for(dying.wait(), 30) != 0 or step == "nonsense"
    await asyncio.to_thread(worker.wait_log, "takeover failed, serving on: ", 20)
    assert worker.proc.poll() is None
    assert (await shell.run("stty size", timeout=20)).strip() == b"22 88"
    await watcher.wait_for(lambda: len(watcher.output) == len(shell.output), 10, "the watcher")
    assert bytes(watcher.output) == bytes(shell.output)
    successor = start_worker(host, "--take-over")
    await asyncio.to_thread(handed_over, worker)
    assert (await shell.run("echo still-$((40+2))", timeout=20)).endswith(b"still-42\r\n")
    for client in (shell, watcher):
        await client.close()
    frontend.stop()
    successor.stop()


async def test_two_hundred_idle_sessions_all_survive_a_takeover(busybox: Any) -> None:
    """200 idle sessions (`cat` under a tty) handed over: each one echoes afterwards,
    and the time the handover took is in both workers' logs (printed here)."""
    count = 200
    worker = start_worker("crowd", "--max-sessions-per-person", str(count))
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    await asyncio.to_thread(wait_hosts_up, stack, {"crowd"})
    gate = asyncio.Semaphore(10)

    async def one() -> TerminalClient:
        async with gate:
            client = await TerminalClient.connect(stack)
            await client.open(busybox.name, host="crowd", cmd=["sh", "-c", "echo up; exec cat"])
            await client.expect(b"up\r\n", 20)
            return client

    clients = await asyncio.gather(*(one() for _ in range(count)))
    successor = start_worker("crowd", "--take-over", "--max-sessions-per-person", str(count))
    await asyncio.to_thread(handed_over, worker)
    took = re.search(r"(\d+) sessions handed over in ([\d.]+) s", worker.log())
    assert took is not None and int(took[1]) == count, worker.log()[-2000:]
    print(f"{count} sessions handed over in {took[2]} s")
    for i, client in enumerate(clients):
        client.send_keys(f"alive-{i}\r")
    await asyncio.gather(*(c.expect(f"alive-{i}\r\n", 20) for i, c in enumerate(clients)))
    assert not [c.controls for c in clients if c.control("error") or c.control("exit")]
    await asyncio.gather(*(c.close() for c in clients))
    frontend.stop()
    successor.stop()


async def test_sighup_starts_a_successor_that_takes_the_sessions_over(busybox: Any) -> None:
    """SIGHUP (what `systemctl reload` sends): the worker starts its own successor with
    the same command line; the shell goes on in it at its size."""
    worker = start_worker("reloaded")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    await asyncio.to_thread(wait_hosts_up, stack, {"reloaded"})
    shell = await TerminalClient.connect(stack)
    await shell.open(busybox.name, host="reloaded", cols=91, rows=27)
    await shell.expect(PROMPT)
    worker.proc.send_signal(signal.SIGHUP)
    await asyncio.to_thread(handed_over, worker)
    successor = int(re.findall(r"successor \(pid (\d+)\)", worker.log())[-1])
    try:
        assert (await shell.run("stty size", timeout=20)).strip() == b"27 91"
        await shell.close()
    finally:
        os.kill(successor, signal.SIGTERM)
    await asyncio.to_thread(
        worker.wait_log, r"ended \(closed, code", 20
    )  # the successor ended the session at its stop, in the same log
    frontend.stop()


class OldFrontEnd:
    """A front end of protocol version 3 (the one before Pause), as a raw socket."""

    def __init__(self, endpoint: str) -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RECONNECT_IVL, 100)
        client_keys().apply(self.socket)
        self.socket.connect(endpoint)
        self.received: list[Message] = []

    def send(self, message: Message) -> None:
        self.socket.send_multipart(encode(message))

    def wait(self, found: Callable[[Message], bool], within: float = 20) -> Message:
        """Say Hello every 0.2 s (as a front end does, so a worker that comes back hears
        of it) until a message that `found` likes arrives."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.send(Hello("old-frontend", 3, 3))
            if self.socket.poll(200):
                while self.socket.poll(0):
                    self.received.append(decode(self.socket.recv_multipart()))
            hit = next((m for m in self.received if found(m)), None)
            if hit is not None:
                return hit
        raise AssertionError(f"not within {within} s; got {self.received[-5:]}")

    def output(self) -> bytes:
        return b"".join(m.data for m in self.received if isinstance(m, Output))


def test_a_front_end_of_the_version_before_keeps_its_session_through_a_takeover(
    busybox: Any,
) -> None:
    """Protocol 3 (no Pause) and a worker that speaks 4: they agree on 3, the worker
    never sends Pause to it, and its session goes on in the successor."""
    worker = start_worker("mixed")
    old = OldFrontEnd(worker.match["endpoint"])
    welcome = old.wait(lambda m: isinstance(m, Welcome))
    assert isinstance(welcome, Welcome) and welcome.protocol == 3
    old.send(OpenSession(session="mixed-1@mixed", attachment="a1", person="dev", address="",
                         container=busybox.id, cmd=["sh"], user=None, workdir=None, cols=80,
                         rows=24, recording=RecordingPolicy.DEFAULT,
                         record_input=False))  # fmt: skip
    old.wait(lambda m: isinstance(m, SessionOpened))
    old.send(Input("a1", b"echo before-$((1+1))\r"))
    old.wait(lambda m: b"before-2" in old.output())
    successor = start_worker("mixed", "--take-over")
    handed_over(worker)
    old.send(Input("a1", b"echo after-$((2+2))\r"))
    old.wait(lambda m: b"after-4" in old.output())
    assert not [m for m in old.received if isinstance(m, Pause | Failed)], old.received
    old.socket.close()
    successor.stop()


def test_a_front_end_of_this_version_works_with_a_worker_of_the_version_before(
    busybox: Any,
) -> None:
    """A worker that speaks only protocol 3 (a raw socket here) answers a front end of
    version 4 in 3: the host is up, and the front end never needs Pause."""
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.RCVTIMEO, 10_000)
    make_curve_server(router, load_secret_key(str(run_keys().worker_secret)))
    port = router.bind_to_random_port("tcp://127.0.0.1")
    frontend = start_frontend([f"tcp://127.0.0.1:{port}"])
    try:
        peer, header = router.recv_multipart()
        hello = decode([header])
        assert isinstance(hello, Hello) and hello.oldest <= 3 < hello.protocol
        welcome = Welcome(host="older", instance="i-3", protocol=3, docker_version="20.10",
                          api_version="1.41", containers=0, running=0, docker_problem="",
                          peer_timeout_ms=5000)  # fmt: skip
        router.send_multipart([peer, *encode(welcome)])
        while not isinstance(asked := decode(router.recv_multipart()[1:]), ListContainers):
            router.send_multipart([peer, *encode(welcome)])
        router.send_multipart([peer, *encode(ContainersListed(asked.request, 0, []))])
        wait_hosts_up(Stack(frontend.match["url"]), {"older"})
    finally:
        frontend.stop()
        router.close()


async def test_an_ended_session_is_handed_over_with_its_output_and_exit(busybox: Any) -> None:
    """A session that ended while its owner was away, kept for its grace period, goes
    to the successor too: the owner, back after the takeover, gets its output and exit."""
    worker = start_worker("afterlife", "--grace", "60")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    await asyncio.to_thread(wait_hosts_up, stack, {"afterlife"})
    first = await TerminalClient.connect(stack)
    opened = await first.open(
        busybox.name, host="afterlife", cmd=["sh", "-c", "sleep 1; echo bye-$((3*3))"]
    )
    await first.close()  # it ends while nobody is attached: its output is kept
    await asyncio.to_thread(worker.wait_log, r"ended \(exited, code 0\)", 20)
    successor = start_worker("afterlife", "--take-over")
    await asyncio.to_thread(handed_over, worker)
    again = await TerminalClient.connect(stack)
    resumed = await again.attach(opened["session"])
    assert resumed["ended"] is True
    assert (await again.wait_exit(20))["code"] == 0
    assert b"bye-9" in bytes(again.output)
    await again.close()
    frontend.stop()
    successor.stop()


def test_an_upload_under_way_keeps_the_worker_from_handing_over(busybox: Any) -> None:
    """An upload that goes on is not cut: the takeover waits for it (5 s at most), then
    fails with the reason, and the worker serves on; the upload still finishes."""
    worker = start_worker("porter")
    old = OldFrontEnd(worker.match["endpoint"])
    old.wait(lambda m: isinstance(m, Welcome))
    old.send(PutFile(request="up-1", person="dev", address="", container=busybox.id,
                     session="", path="/tmp/carried.txt", size=6, user=None))  # fmt: skip
    old.wait(lambda m: isinstance(m, FileOpened))
    successor = start_worker("porter", "--take-over", wait=False)
    # saying Hello meanwhile, as a front end does: a silent one would be dropped,
    # and its upload with it, before the takeover gives up
    old.wait(lambda _: successor.proc.poll() is not None, within=30)
    assert successor.proc.returncode != 0
    worker.wait_log("takeover failed, serving on: file transfers were still running")
    old.send(FileData("up-1", 0, b"cargo\n"))
    old.send(FileEnd("up-1", 6))
    old.wait(lambda m: isinstance(m, FileStored))
    assert busybox.exec_run(["cat", "/tmp/carried.txt"]).output == b"cargo\n"
    old.socket.close()
    worker.stop()


def test_a_followed_log_ends_saying_the_host_is_upgraded(containers: Any) -> None:
    """Logs streams are not handed over: one being followed ends, saying why, when its
    worker hands over, and following again works through the successor."""
    printer = containers.run(
        command=["sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done"]
    )
    worker = start_worker("chronicle")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    wait_hosts_up(stack, {"chronicle"})
    parts = urlsplit(stack.base)
    path = f"/api/containers/chronicle/{printer.name}/logs?tail=1&follow=1"
    headers = {"Authorization": f"Bearer {stack.token}"}

    def follow() -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert b"tick" in response.read1(65536)
        return conn, response

    conn, response = follow()
    successor = start_worker("chronicle", "--take-over")
    handed_over(worker)
    with contextlib.suppress(http.client.IncompleteRead):  # cut: no final chunk
        while response.read1(65536):
            pass  # what was printed before the handover, then the end
    assert "being upgraded: follow again" in worker.log()
    conn.close()
    again, _ = follow()  # through the successor
    again.close()
    frontend.stop()
    successor.stop()


def connect_as_nobody(address: str) -> int:
    """Connect to a unix socket (`@name`: an abstract one) from a child process of
    another user (65534); the child's errno, 0 once connected. A fork: any program
    file could be out of that user's reach. The connection waits in the listener's
    backlog after the child has gone, with the credentials it was made with."""
    pid = os.fork()
    if pid == 0:  # the child makes only system calls, then leaves at once
        code = 0
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(address.replace("@", "\0", 1))
        except OSError as exc:
            code = exc.errno or 255
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_the_takeover_socket_answers_only_the_workers_own_user() -> None:
    """Another user cannot reach a worker's takeover socket (0600 in a 0700 folder),
    and one that reaches a handover connection anyway is refused by the credentials
    the kernel gives: a successor must be the worker's own user."""
    require(os.geteuid() == 0, "run as root: the test connects as another user")
    worker = start_worker("guarded")
    try:
        state_dir = worker.argv[worker.argv.index("--state-dir") + 1]
        path = socket_path(state_dir)
        wait_until(path.exists, 10, "the takeover socket")
        assert (stat.S_IMODE(path.stat().st_mode), path.stat().st_uid) == (0o600, os.geteuid())
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert connect_as_nobody(str(path)) == errno.EACCES
        assert worker.proc.poll() is None
    finally:
        worker.stop()
    # Reached all the same (an abstract socket has no folder to stop anyone).
    with socket.socket(socket.AF_UNIX) as listener:
        address = f"@dterm-takeover-test-{os.getpid()}"
        listener.bind(address.replace("@", "\0", 1))
        listener.listen(1)
        listener.settimeout(20)
        assert connect_as_nobody(address) == 0
        conn, _ = listener.accept()
        with conn, pytest.raises(HandoverFailed, match="of uid 65534 may not take part"):
            Channel(conn).check_peer()
