"""Recordings in an S3-compatible bucket (moto's server, a process of its own): a
finished recording goes up, is listed once and played through the front end, stays
listed and playable once gone from the host, survives a store that is down and a
worker killed before its upload, and nothing the bucket says is believed blindly."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exec_worker.__main__ import parse_config as parse_worker_args
from tests.support.accounts import PASSWORD, add_user
from tests.support.http import call, cookie_of, sign_in, wait_hosts_up
from tests.support.metrics import fetch, metric
from tests.support.processes import (
    REPO,
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    start_frontend,
    start_worker,
)
from tests.support.s3_server import PREFIX, S3Server, credentials_file, storage_flags
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import eventually, wait_until


@pytest.fixture
def s3() -> Iterator[S3Server]:
    server = S3Server()
    server.make_bucket()
    yield server
    server.stop()


class Host:
    """A worker with a bucket, behind a front end of its own."""

    def __init__(self, name: str, s3: S3Server, tmp_path: Path, *extra: str) -> None:
        self.name = name
        self.flags = storage_flags(s3, credentials_file(tmp_path), *extra)
        self.worker = start_worker(name, *self.flags)
        self.folder = Path(self.worker.argv[self.worker.argv.index("--recordings-dir") + 1])
        self.frontend: ManagedProcess | None = None

    def serve(self, *extra: str) -> Stack:
        self.frontend = start_frontend([self.worker.match["endpoint"]], *extra)
        stack = Stack(self.frontend.match["url"], host=self.name)
        return stack

    def restart_worker(self) -> None:
        self.worker = start_worker(self.name, *self.flags)

    def metric(self, name: str) -> float:
        status, text = fetch(self.worker.match["http"] + "/metrics", WORKER_METRICS_TOKEN)
        assert status == 200
        return metric(text, name)

    def stop(self) -> None:
        if self.frontend is not None:
            self.frontend.stop()
        self.worker.stop()


def bearer(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


async def record_session(stack: Stack, container: str, words: str) -> str:
    """Run `echo words` in a session on the stack's host until it ends; its id."""
    await asyncio.to_thread(wait_hosts_up, stack, {stack.host})
    terminal = await TerminalClient.connect(stack)
    opened = await terminal.open(container, host=stack.host, cmd=["echo", words])
    await terminal.wait_exit()
    await terminal.close()
    return str(opened["session"])


def listed(stack: Stack, session: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    reply = call(stack, "/api/recordings", headers=headers)
    assert reply.status == 200, reply.body
    return [r for r in reply.json()["recordings"] if r["session"] == session]


async def uploaded(s3: S3Server, host: str, timeout: float = 20) -> dict[str, int]:
    """The host's objects, once there is one."""
    return await eventually(lambda: s3.keys(f"{PREFIX}{host}/"), timeout, f"an object of {host}")


async def test_an_ended_session_goes_up_and_is_listed_once_and_played(
    s3: S3Server, tmp_path: Path, busybox: Any
) -> None:
    """The object holds the file's bytes exactly; a recording both here and there is
    listed once; playing gives the same bytes; the metrics count it."""
    host = Host("s3-keep", s3, tmp_path)
    stack = host.serve()
    try:
        session = await record_session(stack, busybox.name, "kept-words")
        [(key, size)] = (await uploaded(s3, host.name)).items()
        local = host.folder / key.rsplit("/", 1)[1]
        assert s3.get(key) == local.read_bytes() and size == local.stat().st_size
        assert b"kept-words" in local.read_bytes()
        await eventually(lambda: host.metric("dterm_recordings_uploaded_total") == 1, 10,
                         "the upload counted")  # fmt: skip
        assert host.metric("dterm_recordings_upload_pending") == 0
        [entry] = await asyncio.to_thread(listed, stack, session, bearer(stack))
        assert entry["name"] == local.name and entry["size"] == size
        played = await asyncio.to_thread(
            call, stack, f"/api/recordings/{host.name}/{entry['name']}", headers=bearer(stack)
        )
        assert played.status == 200 and played.body == local.read_bytes()
    finally:
        host.stop()


async def test_a_recording_gone_from_the_host_is_listed_and_played_from_the_bucket(
    s3: S3Server, tmp_path: Path, busybox: Any
) -> None:
    """With storage_keep_local off the file goes once confirmed; the front end still
    lists it (with its duration, from the marker) and streams it from the bucket."""
    host = Host("s3-drop", s3, tmp_path, "--no-storage-keep-local")
    stack = host.serve()
    try:
        session = await record_session(stack, busybox.name, "dropped-words")
        [key] = await uploaded(s3, host.name)
        name = key.rsplit("/", 1)[1]
        await eventually(lambda: not (host.folder / name).exists(), 10, "the local copy gone")
        [entry] = await asyncio.to_thread(listed, stack, session, bearer(stack))
        assert entry["name"] == name and entry["duration"] is not None
        played = await asyncio.to_thread(
            call, stack, f"/api/recordings/{host.name}/{name}", headers=bearer(stack)
        )
        assert played.status == 200 and played.body == s3.get(key)
        assert b"dropped-words" in played.body
        assert int(played.headers["Content-Length"]) == len(played.body)
    finally:
        host.stop()


async def test_the_policy_applies_to_stored_recordings_as_to_local_ones(
    s3: S3Server, tmp_path: Path, busybox: Any
) -> None:
    """Own: only one's own, listed and played; all: everyone's; none: 403."""
    users = str(tmp_path / "users.json")
    for name in ("ann", "bob", "cid"):
        await asyncio.to_thread(add_user, users, name)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[[roles]]\nusers = ["ann"]\nrecordings = "own"\n  [[roles.rules]]\n'
        '[[roles]]\nusers = ["bob"]\nrecordings = "all"\n  [[roles.rules]]\n'
        '[[roles]]\nusers = ["cid"]\n  [[roles.rules]]\n'
    )
    host = Host("s3-policy", s3, tmp_path, "--no-storage-keep-local")
    stack = host.serve("--users-file", users, "--policy", str(policy))
    try:
        who = {n: {"Cookie": cookie_of(await asyncio.to_thread(sign_in, stack, n, PASSWORD))}
               for n in ("ann", "bob", "cid")}  # fmt: skip
        session = await record_as(stack, who["bob"], busybox.name)
        [key] = await uploaded(s3, host.name)
        name = key.rsplit("/", 1)[1]
        await eventually(lambda: not (host.folder / name).exists(), 10, "the local copy gone")
        url = f"/api/recordings/{host.name}/{name}"
        assert await asyncio.to_thread(listed, stack, session, who["bob"])
        assert (await asyncio.to_thread(call, stack, url, headers=who["bob"])).status == 200
        assert await asyncio.to_thread(listed, stack, session, who["ann"]) == []
        assert (await asyncio.to_thread(call, stack, url, headers=who["ann"])).status == 404
        ann_asks = await asyncio.to_thread(call, stack, "/api/recordings?person=bob",
                                           headers=who["ann"])  # fmt: skip
        assert ann_asks.json()["recordings"] == []
        assert (await asyncio.to_thread(call, stack, "/api/recordings",
                                        headers=who["cid"])).status == 403  # fmt: skip
        assert (await asyncio.to_thread(call, stack, url, headers=who["cid"])).status == 403
    finally:
        host.stop()


async def record_as(stack: Stack, headers: dict[str, str], container: str) -> str:
    """A session of the person signed in by `headers`, until it ends; its id."""
    await asyncio.to_thread(wait_hosts_up, stack, {stack.host}, headers=headers)
    terminal = await TerminalClient.connect(stack, token="", headers=headers)
    deadline = time.monotonic() + 15
    while True:  # the front end learns the worker's containers a moment after it starts
        terminal.send_control({"type": "open", "host": stack.host, "container": container,
                               "cmd": ["echo", "bobs-words"]})  # fmt: skip
        reply = await terminal.wait_for(lambda: terminal.controls and terminal.controls[-1], 10)
        if reply["type"] == "opened" or time.monotonic() > deadline:
            break
        terminal.controls.clear()
    assert reply["type"] == "opened", reply
    await terminal.wait_exit()
    await terminal.close()
    return str(reply["session"])


async def test_a_store_that_is_down_gets_the_recording_once_it_is_back(
    s3: S3Server, tmp_path: Path, busybox: Any
) -> None:
    """Failures are logged and counted, the file stays, and the retry uploads it."""
    host = Host("s3-down", s3, tmp_path, "--no-storage-keep-local")
    stack = host.serve()
    try:
        await asyncio.to_thread(wait_hosts_up, stack, {host.name})
        s3.stop()
        await record_session(stack, busybox.name, "patient-words")
        await eventually(lambda: host.metric("dterm_recordings_upload_failures_total") >= 2, 20,
                         "uploads failing and retried")  # fmt: skip
        assert host.metric("dterm_recordings_upload_pending") == 1
        [name] = [p.name for p in host.folder.glob("*.cast")]
        assert "upload of recording" in host.worker.log()
        s3.restart()
        s3.make_bucket()
        [key] = await uploaded(s3, host.name)
        assert key.endswith(name) and b"patient-words" in s3.get(key)
        await eventually(lambda: host.metric("dterm_recordings_upload_pending") == 0, 10,
                         "nothing pending")  # fmt: skip
        await eventually(lambda: not (host.folder / name).exists(), 10, "the local copy gone")
    finally:
        host.stop()


async def test_a_worker_killed_before_the_upload_uploads_at_its_next_start(
    s3: S3Server, tmp_path: Path, busybox: Any
) -> None:
    """The bucket is missing while the session ends, the worker is killed (-9); the next
    run of the same host finds the finished recording and uploads it."""
    s3.client().delete_bucket(Bucket="recordings")
    host = Host("s3-crash", s3, tmp_path)
    stack = host.serve()
    try:
        await record_session(stack, busybox.name, "survivor-words")
        await eventually(lambda: host.metric("dterm_recordings_upload_failures_total") >= 1, 20,
                         "an upload failed")  # fmt: skip
        host.worker.kill()
        [path] = list(host.folder.glob("*.cast"))
        s3.make_bucket()
        host.restart_worker()
        [key] = await uploaded(s3, host.name)
        assert key.endswith(path.name) and s3.get(key) == path.read_bytes()
        assert (host.folder / ".uploaded" / (path.name + ".json")).exists()
    finally:
        host.stop()


def put_recording(s3: S3Server, key: str, **dterm: Any) -> None:
    """An object that looks like a recording, with these header fields changed."""
    ours = {"session": "forged@x", "host": "s3-bad", "person": "dev",
            "container": {"id": "i", "name": "forged"}, "part": 1} | dterm  # fmt: skip
    header = {"version": 2, "width": 80, "height": 24, "timestamp": 1_700_000_000,
              "dterm": ours}  # fmt: skip
    s3.put(key, json.dumps(header).encode() + b'\n[0.1, "o", "forged"]\n')


async def test_what_the_bucket_holds_is_checked_like_a_local_file(
    s3: S3Server, tmp_path: Path
) -> None:
    """Objects outside the host's folder, deeper, with names no recording has, not ours,
    or claiming another host are neither listed nor played; a good one is."""
    folder = f"{PREFIX}s3-bad/"
    good = "20231114T221320Z-s3-bad-forged-aaaa.cast"
    put_recording(s3, folder + good)
    put_recording(s3, folder + "sub/20231114T221320Z-x.cast")
    put_recording(s3, folder + ".hidden.cast")
    put_recording(s3, folder + "20231114T221320Z-notcast.txt")
    put_recording(s3, folder + "20231114T221320Z-other-host.cast", host="elsewhere")
    put_recording(s3, f"{PREFIX}s3-other/20231114T221320Z-theirs.cast", host="s3-bad")
    put_recording(s3, folder + "20231114T221320Z-huge-person.cast", person="p" * 5000)
    s3.put(folder + "20231114T221320Z-not-ours.cast", b"just some bytes\n")
    host = Host("s3-bad", s3, tmp_path)
    stack = host.serve()
    try:
        await asyncio.to_thread(wait_hosts_up, stack, {host.name})
        reply = await asyncio.to_thread(call, stack, "/api/recordings", headers=bearer(stack))
        assert [r["name"] for r in reply.json()["recordings"]] == [good]
        assert reply.json()["recordings"][0]["duration"] is None  # not read: not cheap
        for name in ("20231114T221320Z-other-host.cast", "20231114T221320Z-not-ours.cast",
                     "20231114T221320Z-theirs.cast", "..%2F..%2Fetc%2Fpasswd"):  # fmt: skip
            url = f"/api/recordings/{host.name}/{name}"
            played = await asyncio.to_thread(call, stack, url, headers=bearer(stack))
            assert played.status in (400, 404), (name, played.status)
        played = await asyncio.to_thread(
            call, stack, f"/api/recordings/{host.name}/{good}", headers=bearer(stack)
        )
        assert played.status == 200 and played.body == s3.get(folder + good)
    finally:
        host.stop()


def test_a_credentials_file_others_may_read_stops_the_start(tmp_path: Path) -> None:
    """Like a secret key: the worker refuses it and says why."""
    server_less = ["--storage-bucket", "b", "--storage-endpoint", "http://127.0.0.1:9"]
    loose = credentials_file(tmp_path)
    loose.chmod(0o644)
    worker = start_worker("s3-loose", *server_less, "--storage-credentials-file", str(loose),
                          wait=False)  # fmt: skip
    wait_until(lambda: worker.proc.poll() is not None, 15, "the worker to exit")
    assert worker.proc.returncode == 1
    assert "open to group or others" in worker.log()


def test_the_example_configs_storage_settings_are_real_settings(tmp_path: Path) -> None:
    """Uncommented, the example's storage lines parse as the worker's settings."""
    example = (REPO / "deploy" / "dterm.example.toml").read_text()
    lines = [line.removeprefix("# ").split("  #")[0] for line in example.splitlines()
             if line.startswith("# storage_")]  # fmt: skip
    assert len(lines) >= 8
    config = tmp_path / "storage.toml"
    config.write_text("[worker]\n" + "\n".join(lines) + "\n")
    worker, _ = parse_worker_args(["--config", str(config)])
    assert worker.storage_bucket and worker.storage_path_style and not worker.storage_keep_local
