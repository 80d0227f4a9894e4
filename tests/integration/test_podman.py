"""A worker that owns a Podman host (its Docker-compatible API service): the same
shell, sizes, keys, exit codes, teardown, files, recordings and live list as on
Docker Engine, and the host list says which engine runs where."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.containers import TEST_LABEL, require
from tests.support.events_client import EventStream
from tests.support.http import call, get_json, wait_hosts_up
from tests.support.images import BUSYBOX_IMAGE
from tests.support.podman import PodmanService, podman_host, run_box
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import eventually

HOST = "pod"


@pytest.fixture(scope="module")
def podman_parts() -> Iterator[tuple[PodmanService, ManagedProcess]]:
    require(shutil.which("podman") is not None, "podman is missing: apt-get install podman")
    with podman_host(HOST, "--grace", "1", "--kill-grace", "1") as parts:
        yield parts


@pytest.fixture(scope="module")
def podman(podman_parts: tuple[PodmanService, ManagedProcess]) -> PodmanService:
    return podman_parts[0]


@pytest.fixture(scope="module")
def podman_worker(podman_parts: tuple[PodmanService, ManagedProcess]) -> ManagedProcess:
    return podman_parts[1]


@pytest.fixture(scope="module")
def both(worker: ManagedProcess, podman_worker: ManagedProcess) -> Iterator[Stack]:
    """One front end before the shared Docker worker (`local`) and the Podman one."""
    frontend = start_frontend([worker.match["endpoint"], podman_worker.match["endpoint"]])
    stack = Stack(frontend.match["url"], host=HOST)
    wait_hosts_up(stack, {"local", HOST}, timeout=30)
    yield stack
    frontend.stop()


@pytest.fixture(scope="module")
def box(podman: PodmanService) -> Any:
    return run_box(podman)


@pytest.fixture
async def terminal(both: Stack) -> AsyncIterator[TerminalClient]:
    client = await TerminalClient.connect(both)
    yield client
    await client.close()


def bearer(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


def sleepers(box: Any) -> list[int]:
    """Host PIDs of live `sleep 1000` processes in the container's PID namespace, read
    from the host's /proc (a zombie has ended already)."""
    box.reload()
    namespace = os.readlink(f"/proc/{box.attrs['State']['Pid']}/ns/pid")
    found = []
    for entry in Path("/proc").iterdir():
        try:
            same = entry.name.isdigit() and os.readlink(entry / "ns/pid") == namespace
            if same and (entry / "cmdline").read_bytes() == b"sleep\x001000\x00":
                stat = (entry / "stat").read_text()
                if stat[stat.rindex(")") + 2] not in "ZX":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_host_list_names_engine_and_version(
    both: Stack, podman: PodmanService, docker_client: Any
) -> None:
    """/api/hosts says Docker and its version for the Docker host, Podman and its
    version for the Podman host, as each daemon's /version tells."""
    hosts = {h["host"]: h for h in get_json(both, "/api/hosts")["hosts"]}
    assert hosts["local"]["engine"] == "Docker"
    assert hosts["local"]["docker_version"] == docker_client.version()["Version"]
    assert hosts[HOST]["engine"] == "Podman"
    assert hosts[HOST]["docker_version"] == podman.client.version()["Version"]
    assert hosts[HOST]["state"] == "up" and hosts[HOST]["api_version"]


async def test_shell_runs_commands_and_reports_exit_code(
    terminal: TerminalClient, box: Any
) -> None:
    """The default shell answers on Podman, and `exit 3` ends it with code 3."""
    await terminal.open(box.name, host=HOST)
    await terminal.expect(PROMPT)
    assert (await terminal.run("echo hello-$((6*7))")).strip() == b"hello-42"
    terminal.send_keys("exit 3\r")
    assert await terminal.wait_exit() == {"type": "exit", "code": 3, "reason": "exited"}


async def test_first_size_and_resize_are_seen_by_stty(terminal: TerminalClient, box: Any) -> None:
    """The shell starts at the size of `open` and sees a resize."""
    await terminal.open(box.name, host=HOST, cols=123, rows=45)
    await terminal.expect(PROMPT)
    assert (await terminal.run("stty size")).strip() == b"45 123"
    terminal.send_control({"type": "resize", "cols": 200, "rows": 50})
    for _ in range(50):  # the resize travels on another connection to the daemon
        if (await terminal.run("stty size")).strip() == b"50 200":
            break
    else:
        raise AssertionError("stty never saw 50 200")


async def test_ctrl_c_interrupts_the_foreground_program(terminal: TerminalClient, box: Any) -> None:
    """Ctrl-C stops `sleep` and returns to the prompt; the shell survives."""
    await terminal.open(box.name, host=HOST)
    await terminal.expect(PROMPT)
    since = len(terminal.output)
    terminal.send_keys("sleep 999\r")
    await terminal.expect("sleep 999", since=since)
    terminal.send_keys(b"\x03")
    await terminal.expect(PROMPT, since=since)
    assert (await terminal.run("echo alive")).strip() == b"alive"


async def test_exit_127_of_a_program_that_ran_is_its_exit(
    terminal: TerminalClient, box: Any
) -> None:
    """Podman forgets an ended exec's PID: a program that ran and exited with 127 is
    still reported as its exit, not as a command that could not start."""
    await terminal.open(box.name, host=HOST, cmd=["sh", "-c", "echo ran; exit 127"])
    await terminal.expect("ran")
    assert await terminal.wait_exit() == {"type": "exit", "code": 127, "reason": "exited"}
    assert terminal.control("error") is None


async def test_missing_command_is_command_not_found(terminal: TerminalClient, box: Any) -> None:
    """A command the container lacks is told as command_not_found, from Podman's words."""
    await terminal.open(box.name, host=HOST, cmd=["no-such-program"])
    error = await terminal.next_control("error")
    assert error["code"] == "command_not_found", error
    assert (await terminal.wait_exit())["code"] == 127


async def test_stopped_container_is_not_running(
    terminal: TerminalClient, podman: PodmanService
) -> None:
    """A shell in a stopped container is refused as not_running, as on Docker (Podman
    answers the exec with HTTP 500 where Docker answers 409)."""
    stopped = await asyncio.to_thread(
        podman.client.containers.create, BUSYBOX_IMAGE, ["sleep", "1000"],
        network_mode="none", labels={TEST_LABEL: "1"},
    )  # fmt: skip
    terminal.send_control({"type": "open", "host": HOST, "container": stopped.id,
                           "cmd": None, "cols": 80, "rows": 24})  # fmt: skip
    error = await terminal.next_control("error")
    assert error["code"] == "not_running", error


async def test_session_ended_leaves_no_process_behind(both: Stack, box: Any) -> None:
    """Processes of sessions ended by `close` and by a closed tab (past the grace
    period), one of them deaf to SIGHUP, are gone from the container afterwards."""
    clients = [await TerminalClient.connect(both) for _ in range(3)]
    await clients[0].open(box.name, host=HOST)
    await clients[0].expect(PROMPT)
    clients[0].send_keys("sleep 1000\r")
    await clients[1].open(
        box.name, host=HOST, cmd=["sh", "-c", "trap '' HUP; echo ready; sleep 1000"]
    )
    await clients[2].open(box.name, host=HOST, cmd=["sh", "-c", "echo ready; sleep 1000"])
    await clients[1].expect("ready")
    await clients[2].expect("ready")
    await eventually(lambda: len(sleepers(box)) == 3, 10, "three sleepers", every=0.1)
    for client in clients[:2]:
        client.send_control({"type": "close"})
        assert (await client.wait_exit())["reason"] == "closed"
    await clients[2].close()  # the tab goes: the session ends after the 1 s grace
    await eventually(lambda: not sleepers(box), 15, "no sleepers left", every=0.2)
    for client in clients[:2]:
        await client.close()


def test_upload_then_download_bytes_exactly(both: Stack, box: Any) -> None:
    """Bytes uploaded through Podman's archive API come back identical."""
    data = os.urandom(1_500_000)
    url = f"/api/files?host={HOST}&container={box.name}&path={quote('/tmp/blob.bin')}"
    stored = call(both, url, "PUT", bearer(both), raw=data)
    assert stored.status == 200, stored.body
    assert stored.json()["size"] == len(data)
    fetched = call(both, url, headers=bearer(both))
    assert fetched.status == 200 and fetched.body == data
    box.exec_run(["ln", "-s", "/tmp/blob.bin", "/tmp/link.bin"])
    link = f"/api/files?host={HOST}&container={box.name}&path=/tmp/link.bin"
    refused = call(both, link, headers=bearer(both))
    assert refused.status == 400 and b"is a link to /tmp/blob.bin" in refused.body


async def test_live_list_follows_start_stop_and_removal(both: Stack, podman: PodmanService) -> None:
    """A container started, stopped and removed on Podman shows up, changes state and
    goes in the live list, from Podman's events."""
    stream = EventStream(both)
    try:
        await stream.wait_for(lambda name, _: name == "snapshot", 10, "snapshot")

        def seen(state: str | None) -> Any:
            def match(name: str, data: Any) -> bool:
                if name != "container" or data["host"] != HOST or data["id"] != started.id:
                    return False
                container = data["container"]
                return container is None if state is None else (
                    container is not None and container["state"] == state)  # fmt: skip

            return match

        started = await asyncio.to_thread(
            podman.client.containers.run, BUSYBOX_IMAGE, ["sleep", "1000000"], detach=True,
            network_mode="none", labels={TEST_LABEL: "1"},
        )  # fmt: skip
        await stream.wait_for(seen("running"), 10, "the started container")
        await asyncio.to_thread(started.stop, timeout=1)
        await stream.wait_for(seen("exited"), 10, "the stopped container")
        await asyncio.to_thread(started.remove)
        await stream.wait_for(seen(None), 10, "the removed container")
    finally:
        stream.close()


async def test_session_is_recorded(both: Stack, terminal: TerminalClient, box: Any) -> None:
    """The session's output is recorded as asciicast on the Podman host, with its exit."""
    opened = await terminal.open(
        box.name, host=HOST, cmd=["sh", "-c", "echo recorded-$((2*21)); exit 5"]
    )
    await terminal.wait_exit()

    def listed() -> list[dict[str, Any]]:
        found = call(both, "/api/recordings", headers=bearer(both)).json()["recordings"]
        return [r for r in found if r["session"] == opened["session"]]

    [entry] = await eventually(listed, 10, "the recording listed")
    assert entry["host"] == HOST and entry["container"] == box.name
    cast = await asyncio.to_thread(call, both, f"/api/recordings/{HOST}/{entry['name']}",
                                   headers=bearer(both))  # fmt: skip
    lines = [json.loads(line) for line in cast.body.decode().splitlines()]
    output = "".join(e[2] for e in lines[1:] if e[1] == "o")
    assert output.encode() == bytes(terminal.output) and "recorded-42" in output
    assert lines[-1][1:] == ["m", "exit 5 exited"]
