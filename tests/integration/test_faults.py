"""Faults, injected for real: opens abandoned while they start, programs that end while
nobody is attached, a worker killed with -9, a worker stopped while Docker does not
answer, a Docker daemon killed under live sessions, and an overload of opens."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.containers import Containers
from tests.support.daemons import ExtraDaemon
from tests.support.docker_proxy import DockerProxy
from tests.support.http import get_json, wait_hosts_up
from tests.support.processes import OUTPUT, RUN, start_frontend, start_worker
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import eventually


def processes_with(marker: str) -> list[int]:
    """Host PIDs of processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def marker() -> str:
    """A number no other process has on its command line (a `sleep` argument)."""
    return str(10_000_000 + secrets.randbelow(80_000_000))


class Host:
    """A worker of its own (its host id, its state folder) behind a front end."""

    def __init__(self, name: str, *extra: str, docker_url: str | None = None) -> None:
        self.name, self.extra, self.docker_url = name, extra, docker_url
        self.worker = start_worker(name, *extra, docker_url=docker_url)
        self.frontend = start_frontend([self.worker.match["endpoint"]])
        self.stack = Stack(self.frontend.match["url"], host=name)
        wait_hosts_up(self.stack, {name})

    def records(self) -> int:
        """Process records the worker keeps on disk (one per session whose process it
        found)."""
        return len(list((OUTPUT / "state" / RUN / self.name / "processes").glob("*.json")))

    def restart_worker(self) -> None:
        """A new worker process for the same host, at the same endpoint."""
        self.restart_worker_with()

    def restart_worker_with(self, *extra: str) -> None:
        endpoint = self.worker.match["endpoint"]
        self.extra = (*self.extra, *extra)
        self.worker = start_worker(self.name, *self.extra, docker_url=self.docker_url,
                                   bind=endpoint)  # fmt: skip
        wait_hosts_up(self.stack, {self.name})

    async def client(self) -> TerminalClient:
        return await TerminalClient.connect(self.stack)

    def stop(self) -> None:
        self.frontend.stop()
        self.worker.stop()


@pytest.fixture
def host(request: pytest.FixtureRequest, docker_client: Any) -> Iterator[Host]:
    made = Host(f"faults-{request.node.name[5:25]}".replace("_", "-"), "--grace", "30")
    yield made
    made.stop()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[DockerProxy]:
    made = DockerProxy(tmp_path)
    yield made
    made.close()


# --- sessions whose connection went ------------------------------------------------------


async def test_an_open_abandoned_while_it_starts_never_runs(
    proxy: DockerProxy, busybox: Any, docker_client: Any
) -> None:
    """Tabs closed while their sessions start (Docker slow to answer): the front end's
    close reaches each session while it starts, and none of them ever runs."""
    host = Host("faults-abandoned", docker_url=proxy.url)
    mark = marker()
    try:
        proxy.stall(True)
        clients = [await host.client() for _ in range(5)]
        for client in clients:
            client.send_control({"type": "open", "host": host.name, "container": busybox.name,
                                 "cmd": ["sleep", mark]})  # fmt: skip
        await eventually(lambda: len(get_json(host.stack, "/api/sessions")["sessions"]) == 5,
                         10, "five sessions starting")  # fmt: skip
        for client in clients:
            await client.close()
        await eventually(lambda: host.worker.log().count("closed by its owner while starting") == 5,
                         10, "five closes while starting")  # fmt: skip
        proxy.stall(False)
        await eventually(lambda: host.worker.log().count("closed before it ran") == 5, 20,
                         "five opens given up")  # fmt: skip
        assert not processes_with(mark)
        assert not re.search(r"exec [0-9a-f]{12} in ", host.worker.log())
    finally:
        proxy.stall(False)
        host.stop()


async def test_an_exit_while_detached_is_kept_for_the_owner(host: Host, busybox: Any) -> None:
    """A program that ends while nobody is attached: its owner, back within the grace
    period, gets the rest of its output and its exit code."""
    client = await host.client()
    script = "echo started; read x; seq 1 60000; exit 7"
    opened = await client.open(busybox.name, host=host.name, cmd=["sh", "-c", script])
    await client.expect(b"started\r\n")
    client.send_keys(b"\r")
    await client.close()
    received = bytes(client.output)
    (
        await asyncio.to_thread(
            host.worker.wait_log, rf"session {opened['session']}: ended \(exited, code 7\)", 20
        )
    )
    back = await host.client()
    resumed = await back.attach(opened["session"], offset=len(received))
    assert resumed["skipped"] == 0
    exit_message = await back.wait_exit(timeout=20)
    assert (exit_message["code"], exit_message["reason"]) == (7, "exited")
    everything = received + bytes(back.output)
    assert everything.endswith(b"59999\r\n60000\r\n")
    assert everything.count(b"\r\n") == 60000 + 2
    await back.close()


# --- a worker that dies ------------------------------------------------------------------


async def test_a_worker_killed_leaves_no_process_after_it_restarts(
    host: Host, busybox: Any
) -> None:
    """kill -9 of the worker under live sessions: once it runs again, nothing the
    sessions started is left in the containers."""
    mark = marker()
    clients = []
    for _ in range(4):
        client = await host.client()
        await client.open(busybox.name, host=host.name, cmd=["sleep", mark])
        clients.append(client)
    await eventually(lambda: len(processes_with(mark)) == 4, 10, "four sleeps")
    await eventually(lambda: host.records() == 4, 10, "their processes recorded")
    host.worker.kill()
    assert len(processes_with(mark)) == 4  # a worker's death alone ends nothing
    host.restart_worker()
    await eventually(lambda: not processes_with(mark), 10, "no sleep of the earlier run")
    assert "ended 4 processes" in host.worker.log()
    for client in clients:
        await client.close()


async def test_a_worker_stopped_while_docker_does_not_answer_ends_every_process(
    proxy: DockerProxy, busybox: Any, docker_client: Any
) -> None:
    """SIGTERM while every Docker call hangs: the worker ends its sessions' processes
    from /proc without waiting for Docker, and exits within seconds."""
    host = Host("faults-stalled", docker_url=proxy.url)
    mark = marker()
    try:
        clients = []
        for _ in range(6):
            client = await host.client()
            await client.open(busybox.name, host=host.name, cmd=["sleep", mark])
            clients.append(client)
        await eventually(lambda: host.records() == 6, 10, "their processes found")
        proxy.stall(True)
        started = time.monotonic()
        host.worker.stop(timeout=20)
        took = time.monotonic() - started
        assert not processes_with(mark), "processes outlived the worker"
        assert took < 15, f"the worker took {took:.1f} s to stop"
        for client in clients:
            await client.close()
    finally:
        proxy.stall(False)
        host.frontend.stop()


async def test_a_docker_daemon_killed_under_live_sessions(busybox: Any) -> None:
    """A host's Docker daemon dies: its sessions end as `host-lost` and their processes
    are ended; the host shows down with the reason; once the daemon is back, the host
    is up again and opens work, without restarting the worker."""
    daemon = ExtraDaemon("faults")
    box = daemon.client.containers.run("dterm-test/busybox:2", ["sleep", "1000000"],
                                       detach=True, network_mode="none",
                                       restart_policy={"Name": "always"})  # fmt: skip
    host = Host("faults-dockerd", docker_url=daemon.url)
    mark = marker()
    try:
        clients = []
        for _ in range(3):
            client = await host.client()
            await client.open(box.name, host=host.name, cmd=["sleep", mark])
            clients.append(client)
        await eventually(lambda: host.records() == 3, 10, "their processes found")
        daemon.kill()
        for client in clients:
            exit_message = await client.wait_exit(timeout=20)
            assert exit_message["reason"] == "host-lost" and "Docker" in exit_message["message"]
        await eventually(lambda: not processes_with(mark), 10, "no process left")

        def state() -> tuple[str, str | None]:
            [entry] = get_json(host.stack, "/api/hosts")["hosts"]
            return entry["state"], entry["reason"]

        down = await eventually(lambda: state()[0] == "down" and state(), 15, "host down")
        assert "Docker" in str(down[1])
        daemon.restart()
        await eventually(lambda: state() == ("up", None), 30, "the host up again")
        again = await host.client()
        await again.open(box.name, host=host.name, cmd=["echo", "back"])
        await again.expect(b"back")
        for client in [*clients, again]:
            await client.close()
    finally:
        host.stop()
        daemon.stop()


# --- overload ---------------------------------------------------------------------------


async def test_three_hundred_chatty_opens_at_once(host: Host, containers: Containers) -> None:
    """300 opens at once of programs that print without end, on a small machine: every
    open is answered within the front end's deadline (opened, or refused as unavailable),
    a session already open keeps echoing keystrokes meanwhile (they pass neither the
    gate of opens nor the queue of Docker calls), every session opened ends within
    seconds of its close, no exec is started for an open the worker refused, and
    nothing is left running."""
    host.worker.stop()
    host.restart_worker_with("--max-sessions-per-person", "301")
    boxes = [containers.run() for _ in range(4)]
    typist = await TerminalClient.connect(host.stack)
    await typist.open(boxes[0].name, host=host.name, cmd=["cat"])
    mark = marker()
    clients = [await TerminalClient.connect(host.stack, auto_ack=False) for _ in range(300)]
    started = time.monotonic()
    for i, client in enumerate(clients):
        client.send_control({"type": "open", "host": host.name, "container": boxes[i % 4].name,
                             "cmd": ["sh", "-c", f"while :; do echo {mark}; done"]})  # fmt: skip

    def answered(client: TerminalClient) -> dict[str, Any] | None:
        return next((c for c in client.controls if c["type"] in ("opened", "error")), None)

    async def type_while_opening() -> list[float]:
        """A word every half second until every open is answered: each echo's wait."""
        waits: list[float] = []
        while len(waits) < 3 or not all(answered(c) for c in clients):
            word, sent = f"word{len(waits)}", time.monotonic()
            typist.send_keys(f"{word}\r")
            await typist.expect(f"{word}\r\n{word}\r\n", timeout=15)
            waits.append(time.monotonic() - sent)
            await asyncio.sleep(0.5)  # the typist's pace, not a wait for something
        return waits

    typing = asyncio.create_task(type_while_opening())
    answers = await asyncio.gather(*(c.wait_for(lambda c=c: answered(c), 40, "an answer")
                                     for c in clients))  # fmt: skip
    took = time.monotonic() - started
    waits = await typing
    opened = [c for c, a in zip(clients, answers, strict=True) if a["type"] == "opened"]
    refused = [a for a in answers if a["type"] == "error"]
    print(f"300 opens: {len(opened)} opened, {len(refused)} refused, all answered in {took:.1f} s;"
          f" {len(waits)} words echoed meanwhile, the slowest in {max(waits):.2f} s")  # fmt: skip
    # refused as busy, or (on a machine loaded past it) as a Docker call out of time
    assert all(a["code"] == "unavailable" for a in refused), refused[:3]
    assert opened
    closing = time.monotonic()
    for client in opened:
        client.send_control({"type": "close"})
    await asyncio.gather(*(c.wait_exit(timeout=30) for c in opened))
    print(f"closes: every exit within {time.monotonic() - closing:.1f} s")
    await eventually(lambda: not processes_with(mark), 20, "no chatty process left")
    # An open the front end stopped waiting for (its request deadline, 30 s, came
    # first) is closed at once: if its exec was already being started it runs, and is
    # ended (the check above). Every open the worker refused itself started nothing.
    gave_up = sum(a["message"] == "the worker did not answer" for a in refused)
    print(f"opens the front end stopped waiting for: {gave_up}")
    execs = re.findall(r"exec [0-9a-f]{12} in ", host.worker.log())
    ours = len(opened) + 1  # and the typist's
    assert ours <= len(execs) <= ours + gave_up, "an exec for a refused open"
    for client in [*clients, typist]:
        await client.close()


# --- records on disk are not trusted ------------------------------------------------------


def test_a_planted_process_record_ends_nothing_of_the_host(
    docker_client: Any, tmp_path: Path
) -> None:
    """A record in the state folder naming a host process (as anyone who could write
    there might plant) ends nothing: only processes carrying a record's marker are
    ended at start."""
    from exec_worker.host_processes import process_ref
    from exec_worker.leftovers import ProcessRecord, ProcessRecords

    host = subprocess.Popen(["sleep", "300"])
    try:
        victim = process_ref(host.pid)
        assert victim is not None
        state = tmp_path / "state"
        ProcessRecords(str(state)).keep(ProcessRecord("planted@x", "exec", "m" * 24, victim))
        worker = start_worker("faults-planted", "--state-dir", str(state))
        worker.stop()
        assert host.poll() is None, "the worker ended a host process a record named"
        assert not list((state / "processes").glob("*.json"))
    finally:
        host.kill()
        host.wait()


@pytest.mark.parametrize("how", ["others-may-write", "another-owner"])
def test_a_state_folder_someone_else_could_change_is_refused(
    docker_client: Any, tmp_path: Path, how: str
) -> None:
    """The worker acts on what its state folder holds: one that another user owns or may
    write to is refused at start, with the folder named."""
    state = tmp_path / "state"
    state.mkdir()
    if how == "others-may-write":
        state.chmod(0o777)
    else:
        os.chown(state, 65534, 65534)
    with pytest.raises(RuntimeError, match=r"the state folder .* must be this user's"):
        start_worker("faults-open-state", "--state-dir", str(state))
