"""Sessions recorded as asciicast v2 on the worker's host, listed and streamed through
front ends, kept for the retention period, and shown only to those allowed."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import PASSWORD, add_user
from tests.support.http import call, cookie_of, sign_in, wait_hosts_up
from tests.support.metrics import fetch, metric
from tests.support.processes import (
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    start_frontend,
    start_worker,
)
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import eventually, wait_until


def bearer(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


def recordings_of(stack: Stack, session: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    listed = call(stack, "/api/recordings", headers=headers).json()["recordings"]
    return [r for r in listed if r["session"] == session]


def parse_cast(text: str) -> tuple[dict[str, Any], list[list[Any]]]:
    lines = text.splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


async def test_recording_is_asciicast_v2_with_exactly_the_output(
    stack: Stack, busybox: Any, tmp_path: Path
) -> None:
    """Colours, a resize and a multi-byte character: every line parses, the header says
    what it is of, the output events give back exactly the bytes the client got, and
    `asciinema cat` prints the same."""
    terminal = await TerminalClient.connect(stack)
    script = ("printf '\\033[31mred\\033[0m '; read x; stty size; "
              "printf '\\342\\202\\254 euro\\n'; exit 4")  # fmt: skip
    opened = await terminal.open(busybox.name, host="local", cmd=["sh", "-c", script],
                                 cols=90, rows=30)  # fmt: skip
    await terminal.expect(b"red")
    terminal.send_control({"type": "resize", "cols": 120, "rows": 40})
    terminal.send_keys(b"\r")
    await terminal.wait_exit()
    await terminal.close()
    [entry] = recordings_of(stack, opened["session"], bearer(stack))
    assert entry["host"] == "local" and entry["container"] == busybox.name
    cast = await asyncio.to_thread(
        call, stack, f"/api/recordings/local/{entry['name']}", headers=bearer(stack)
    )
    assert cast.status == 200
    header, events = parse_cast(cast.body.decode())
    assert header["version"] == 2 and (header["width"], header["height"]) == (90, 30)
    assert header["dterm"]["session"] == opened["session"]
    assert header["dterm"]["person"] == "dev" and header["dterm"]["host"] == "local"
    assert header["env"]["TERM"] == "xterm-256color" and header["timestamp"] > 0
    output = "".join(e[2] for e in events if e[1] == "o")
    assert output.encode() == bytes(terminal.output)
    assert "€ euro" in output and "\x1b[31mred" in output
    assert ["r", "120x40"] in [e[1:] for e in events]
    assert events[-1][1:] == ["m", "exit 4 exited"]
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(events))
    path = tmp_path / entry["name"]
    path.write_bytes(cast.body)
    argv = [sys.executable, "-m", "asciinema", "cat", str(path)]
    run = partial(subprocess.run, capture_output=True, timeout=30, start_new_session=True)
    shown = await asyncio.to_thread(run, argv)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == output.encode()
    download = await asyncio.to_thread(
        call, stack, f"/api/recordings/local/{entry['name']}?download=1", headers=bearer(stack)
    )
    assert "attachment" in download.headers["Content-Disposition"]


async def test_killed_worker_leaves_a_readable_recording(busybox: Any) -> None:
    """kill -9 mid-session: the file parses and holds the output of all but the last second."""
    worker = start_worker("crashy")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    try:
        (await asyncio.to_thread(wait_hosts_up, stack, {"crashy"}))
        terminal = await TerminalClient.connect(stack)
        await terminal.open(
            busybox.name, host="crashy", cmd=["sh", "-c", "echo early-words; sleep 100"]
        )
        await terminal.expect(b"early-words")
        folder = Path(worker.argv[worker.argv.index("--recordings-dir") + 1])
        await eventually(
            lambda: b"early-words" in b"".join(p.read_bytes() for p in folder.glob("*.cast")),
            10,
            "the output on disk",
        )
        worker.kill()
        [path] = list(folder.glob("*.cast"))
        lines = [line for line in path.read_text().split("\n") if line]
        records = [json.loads(line) for line in lines]  # every complete line parses
        assert records[0]["version"] == 2
        assert "early-words" in "".join(r[2] for r in records[1:] if r[1] == "o")
        await terminal.close()
    finally:
        worker.kill()
        frontend.stop()


def test_retention_deletes_old_recordings(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    old, new = folder / "20200101T000000Z-h-c-old.cast", folder / "20990101T000000Z-h-c-new.cast"
    for path in (old, new):
        path.write_text('{"version": 2, "width": 80, "height": 24}\n')
    os.utime(old, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    worker = start_worker("keeper", "--recordings-dir", str(folder),
                          "--recording-retention-days", "2")  # fmt: skip
    try:
        wait_until(lambda: not old.exists(), 10, "the old recording deleted")
        assert new.exists()
    finally:
        worker.stop()


@pytest.fixture
def replays_policy(tmp_path: Path, worker: ManagedProcess) -> Stack:
    users = str(tmp_path / "users.json")
    for name in ("ann", "bob", "cid"):
        add_user(users, name)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[[roles]]\nusers = ["ann"]\nrecordings = "own"\n  [[roles.rules]]\n'
        '[[roles]]\nusers = ["bob"]\nrecordings = "all"\n  [[roles.rules]]\n'
        '[[roles]]\nusers = ["cid"]\n  [[roles.rules]]\n'
    )
    frontend = start_frontend([worker.match["endpoint"]], "--users-file", users,
                              "--policy", str(policy))  # fmt: skip
    stack = Stack(frontend.match["url"])
    yield stack
    frontend.stop()


async def test_only_allowed_people_list_and_fetch_recordings(
    replays_policy: Stack, busybox: Any
) -> None:
    """recordings = none: nothing; own: only one's own; all: everyone's."""
    stack = replays_policy
    who = {
        n: {"Cookie": cookie_of(await asyncio.to_thread(sign_in, stack, n, PASSWORD))}
        for n in ("ann", "bob", "cid")
    }
    terminal = await TerminalClient.connect(stack, token="", headers=who["ann"])
    deadline = time.monotonic() + 15
    while True:  # the front end learns the worker's containers a moment after it starts
        terminal.send_control({"type": "open", "host": "local", "container": busybox.name,
                               "cmd": ["echo", "anns-secret"]})  # fmt: skip
        reply = await terminal.wait_for(lambda: terminal.controls and terminal.controls[-1], 10)
        if reply["type"] == "opened" or time.monotonic() > deadline:
            break
        terminal.controls.clear()
    session = reply["session"]
    await terminal.wait_exit()
    await terminal.close()
    assert (
        await asyncio.to_thread(call, stack, "/api/recordings", headers=who["cid"])
    ).status == 403
    assert recordings_of(stack, session, who["ann"])
    assert recordings_of(stack, session, who["bob"])
    name = recordings_of(stack, session, who["ann"])[0]["name"]
    url = f"/api/recordings/local/{name}"
    assert (await asyncio.to_thread(call, stack, url, headers=who["ann"])).status == 200
    assert (await asyncio.to_thread(call, stack, url, headers=who["bob"])).status == 200
    assert (await asyncio.to_thread(call, stack, url, headers=who["cid"])).status == 403
    bob_session_recordings = (
        await asyncio.to_thread(call, stack, "/api/recordings?person=bob", headers=who["ann"])
    ).json()
    assert all(r["person"] == "ann" for r in bob_session_recordings["recordings"])


async def test_policy_requires_or_forbids_recording(tmp_path: Path, containers: Any) -> None:
    """A rule may require a recording (no session on a host that cannot make one) or
    forbid it (the session runs unrecorded)."""
    users = str(tmp_path / "users.json")
    await asyncio.to_thread(add_user, users, "ann")
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[[roles]]\nusers = ["ann"]\nrecordings = "own"\n'
        '  [[roles.rules]]\n  containers = ["*-audited"]\n  recording = "required"\n'
        '  [[roles.rules]]\n  containers = ["*-private"]\n  recording = "forbidden"\n'
    )
    audited = containers.run(name="dterm-test-audited")
    private = containers.run(name="dterm-test-private")
    silent = start_worker("silent", "--no-record")
    recording = start_worker("recording")
    frontend = start_frontend([silent.match["endpoint"], recording.match["endpoint"]],
                              "--users-file", users, "--policy", str(policy))  # fmt: skip
    stack = Stack(frontend.match["url"])
    try:
        ann = {"Cookie": cookie_of(await asyncio.to_thread(sign_in, stack, "ann", PASSWORD))}
        (await asyncio.to_thread(wait_hosts_up, stack, {"silent", "recording"}, headers=ann))

        async def open_on(host: str, container: str) -> dict[str, Any]:
            terminal = await TerminalClient.connect(stack, token="", headers=ann)
            terminal.send_control({"type": "open", "host": host, "container": container,
                                   "cmd": ["echo", "hi"]})  # fmt: skip
            reply: dict[str, Any] = await terminal.wait_for(
                lambda: terminal.controls and terminal.controls[-1], 10, "an answer"
            )
            if reply["type"] == "opened":
                await terminal.wait_exit()
            await terminal.close()
            return reply

        refused = await open_on("silent", audited.name)
        assert refused["code"] == "unavailable" and "requires a recording" in refused["message"]
        recorded = await open_on("recording", audited.name)
        assert recordings_of(stack, recorded["session"], ann)
        unrecorded = await open_on("recording", private.name)
        assert unrecorded["type"] == "opened"
        assert recordings_of(stack, unrecorded["session"], ann) == []
    finally:
        frontend.stop()
        silent.stop()
        recording.stop()


async def test_recordings_stay_within_the_hosts_disk_budget(busybox: Any) -> None:
    """Past `recordings_max_total_bytes` the oldest finished recordings are removed (the
    newest stays), and the removal is counted."""
    worker = start_worker("budget", "--recordings-max-total-bytes", "400000")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"], host="budget")
    try:
        (await asyncio.to_thread(wait_hosts_up, stack, {"budget"}))
        sessions = []
        for _ in range(4):  # about 200 kB of output each, more as recorded
            terminal = await TerminalClient.connect(stack)
            opened = await terminal.open(busybox.name, host="budget", cmd=["seq", "1", "32000"])
            await terminal.wait_exit()
            await terminal.close()
            sessions.append(opened["session"])
        folder = Path(worker.argv[worker.argv.index("--recordings-dir") + 1])

        def total() -> int:
            return sum(p.stat().st_size for p in folder.glob("*.cast"))

        await eventually(lambda: total() <= 400_000, 30, "the recordings within the budget")
        kept = {
            r["session"]
            for r in (
                await asyncio.to_thread(call, stack, "/api/recordings", headers=bearer(stack))
            ).json()["recordings"]
        }
        assert sessions[-1] in kept and sessions[0] not in kept
        assert "oldest recordings to stay within 400000 bytes" in worker.log()
        _, text = await asyncio.to_thread(
            fetch, f"{worker.match['http']}/metrics", WORKER_METRICS_TOKEN
        )
        removed = metric(text, "dterm_worker_recordings_removed_total", why="budget")
        assert removed == len(sessions) - len(kept & set(sessions)) > 0
    finally:
        frontend.stop()
        worker.stop()
