"""Files give no more power than a shell: transfers act as the shell's user, the policy
grants them (none, download, upload), and no upload holds the worker without a deadline.

The containers run as uid 1000 (`alice`), with a root-only file in /srv and a file
of alice's own in /home/alice; the policy lets its people act as the default user only.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.containers import Containers
from tests.support.http import Reply, call, wait_hosts_up
from tests.support.images import BUSYBOX_IMAGE, NOSH_IMAGE
from tests.support.processes import (
    REPO,
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    start_frontend,
    start_worker,
)
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import wait_until

SECRET = b"root only\n"
MINE = b"alice's own\n"
POLICY = """
[[roles]]
users = ["dana"]
  [[roles.rules]]
  containers = ["dterm-test-files-*"]
  run_as = ["default"]
  files = "upload"

[[roles]]
users = ["reader"]
  [[roles.rules]]
  containers = ["dterm-test-files-*"]
  run_as = ["default"]
  files = "download"

[[roles]]
users = ["nofiles"]
  [[roles.rules]]
  containers = ["dterm-test-files-*"]

[[roles]]
users = ["admin"]
  [[roles.rules]]
  files = "upload"
"""
PEOPLE = ("dana", "reader", "nofiles", "admin")


@dataclass
class Setup:
    stack: Stack
    worker: ManagedProcess
    frontend: ManagedProcess
    folder: Path
    tokens: dict[str, str]
    boxes: dict[str, Any]

    def as_(self, person: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[person]}"}

    def audit(self, which: str) -> list[dict[str, Any]]:
        path = self.folder / f"{which}-audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def url(self, box: str, path: str, user: str | None = None) -> str:
        name = self.boxes[box].name
        extra = f"&user={quote(user)}" if user else ""
        return f"/api/files?host=files-host&container={name}&path={quote(path)}{extra}"

    def get(self, person: str, url: str) -> Reply:
        return call(self.stack, url, headers=self.as_(person))

    def put(self, person: str, url: str, data: bytes) -> Reply:
        return call(self.stack, url, "PUT", self.as_(person), raw=data)


def issue_token(tokens: Path, person: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dterm_cli", "tokens", "--tokens-file", str(tokens), "issue",
         person],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def seed(box: Any) -> None:
    """A root-only file in /srv and a file of alice's in her home, written as root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo("srv")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, data, uid, mode in (
            ("srv/secret.txt", SECRET, 0, 0o600),
            ("home/alice/mine.txt", MINE, 1000, 0o600),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid, info.mode = len(data), uid, uid, mode
            tar.addfile(info, io.BytesIO(data))
    assert box.put_archive("/", buffer.getvalue())


def read_as_root(box: Any, path: str) -> bytes:
    """A file's bytes as Docker reads them (as root), not through dterm."""
    stream, _ = box.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        assert member is not None
        extracted = tar.extractfile(member)
        assert extracted is not None
        return extracted.read()


def owner_and_mode(box: Any, path: str) -> str:
    result = box.exec_run(["/bin/busybox", "stat", "-c", "%u %a", path], user="root")
    return str(result.output.decode().strip())


def listing(box: Any, folder: str) -> list[str]:
    result = box.exec_run(["/bin/busybox", "ls", "-a", folder], user="root")
    return result.output.decode().split()


def worker_metric(worker: ManagedProcess, name: str) -> float:
    with contextlib.closing(http.client.HTTPConnection(urlsplit(worker.match["http"]).netloc,
                                                       timeout=10)) as conn:  # fmt: skip
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {WORKER_METRICS_TOKEN}"})
        text = conn.getresponse().read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"the worker has no metric {name}")


def start_pair(setup: Setup, host: str, worker_flags: list[str], frontend_flags: list[str]) -> (
    tuple[ManagedProcess, ManagedProcess, Stack]
):  # fmt: skip
    folder = setup.folder
    worker = start_worker(host, "--audit-log", str(folder / f"{host}-worker-audit.jsonl"),
                          *worker_flags)  # fmt: skip
    frontend = start_frontend(
        [worker.match["endpoint"]], "--tokens-file", str(folder / "tokens.json"),
        "--policy", str(folder / "policy.toml"),
        "--audit-log", str(folder / f"{host}-fe-audit.jsonl"), *frontend_flags,
    )  # fmt: skip
    stack = Stack(frontend.match["url"])
    wait_hosts_up(stack, {host}, headers=setup.as_("admin"))
    return worker, frontend, stack


@pytest.fixture(scope="module")
def setup(containers: Containers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("file-rights")
    (folder / "policy.toml").write_text(POLICY)
    tokens = {person: issue_token(folder / "tokens.json", person) for person in PEOPLE}
    bare = ["/bin/busybox", "sleep", "1000000"]
    boxes = {
        "app": containers.run(BUSYBOX_IMAGE, name="dterm-test-files-app", user="1000"),
        "root": containers.run(BUSYBOX_IMAGE, name="dterm-test-files-root"),
        "bare": containers.run(NOSH_IMAGE, name="dterm-test-files-bare", command=bare),
        "bare-app": containers.run(
            NOSH_IMAGE, name="dterm-test-files-bare-app", command=bare, user="1000"
        ),
    }
    for box in boxes.values():
        seed(box)
    worker = start_worker("files-host", "--audit-log", str(folder / "worker-audit.jsonl"),
                          "--max-uploads-per-person", "2")  # fmt: skip
    frontend = start_frontend(
        [worker.match["endpoint"]], "--tokens-file", str(folder / "tokens.json"),
        "--policy", str(folder / "policy.toml"), "--audit-log", str(folder / "fe-audit.jsonl"),
    )  # fmt: skip
    setup = Setup(Stack(frontend.match["url"]), worker, frontend, folder, tokens, boxes)
    wait_hosts_up(setup.stack, {"files-host"}, headers=setup.as_("admin"))
    yield setup
    frontend.stop()
    worker.stop()


@contextlib.contextmanager
def stalled_upload(
    stack: Stack, headers: dict[str, str], url: str, announced: int, first: bytes
) -> Iterator[http.client.HTTPConnection]:
    """A PUT that announces `announced` bytes, sends `first`, and then nothing."""
    parts = urlsplit(stack.base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20)
    conn.putrequest("PUT", url)
    for name, value in {**headers, "Content-Length": str(announced)}.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(first)
    try:
        yield conn
    finally:
        conn.close()


# --- the shell's user ---------------------------------------------------------------------


def test_a_root_only_file_is_refused_to_the_default_user(setup: Setup) -> None:
    """uid 1000 cannot read /srv/secret.txt (root, 600) in a shell, nor through files."""
    reply = setup.get("dana", setup.url("app", "/srv/secret.txt"))
    assert reply.status == 403, reply.body
    assert reply.json()["error"] == "forbidden" and "Permission denied" in reply.json()["message"]
    assert SECRET not in reply.body
    [record] = [r for r in setup.audit("worker") if r["event"] == "file-get"
                and r["path"] == "/srv/secret.txt" and r["person"] == "dana"]  # fmt: skip
    assert record["ok"] is False and record["run_as"] == "1000" and record["address"]


def test_etc_passwd_cannot_be_written_by_the_default_user(setup: Setup) -> None:
    """Writing /etc/passwd as uid 1000 is refused, and the file stays as it was."""
    box = setup.boxes["app"]
    before = read_as_root(box, "/etc/passwd")
    forged = before + b"dana:x:0:0::/root:/bin/sh\n"
    reply = setup.put("dana", setup.url("app", "/etc/passwd"), forged)
    assert reply.status == 403 and reply.json()["error"] == "forbidden", reply.body
    assert "/etc/passwd" in reply.json()["message"]
    assert read_as_root(box, "/etc/passwd") == before
    assert not [name for name in listing(box, "/etc") if name.startswith(".dterm-upload")]


def test_own_files_go_both_ways_byte_exact(setup: Setup) -> None:
    """Every byte value and several MiB go in as uid 1000 and come back identical."""
    box = setup.boxes["app"]
    for name, data in (("all-bytes.bin", bytes(range(256)) * 64),
                       ("big.bin", os.urandom(5 << 20)), ("empty", b"")):  # fmt: skip
        path = f"/home/alice/{name}"
        stored = setup.put("dana", setup.url("app", path), data)
        assert stored.status == 200 and stored.json()["size"] == len(data), stored.body
        assert owner_and_mode(box, path).split()[0] == "1000"
        fetched = setup.get("dana", setup.url("app", path))
        assert fetched.status == 200 and fetched.body == data
        if data:  # its size unknown ahead, a file goes out in chunks
            assert fetched.headers["Transfer-Encoding"] == "chunked"
    assert setup.get("dana", setup.url("app", "/home/alice/mine.txt")).body == MINE
    assert not [n for n in listing(box, "/home/alice") if n.startswith(".dterm-upload")]


def test_missing_paths_and_folders_as_the_default_user(setup: Setup) -> None:
    """As uid 1000 too: a missing file or folder is not_found, a folder is a bad path."""
    missing = setup.get("dana", setup.url("app", "/home/alice/nope"))
    assert missing.status == 404 and missing.json()["error"] == "not_found", missing.body
    no_folder = setup.put("dana", setup.url("app", "/no/such/dir/x.txt"), b"x")
    assert no_folder.status == 404, no_folder.body
    assert no_folder.json()["message"] == "no folder /no/such/dir in dterm-test-files-app"
    folder = setup.get("dana", setup.url("app", "/home/alice"))
    assert folder.status == 400 and "directory" in folder.json()["message"], folder.body
    onto_folder = setup.put("dana", setup.url("app", "/home/alice"), b"x")
    assert onto_folder.status == 400, onto_folder.body


def test_root_transfers_still_go_through_the_archive_api(setup: Setup) -> None:
    """As root, also in a container without a shell, files move as before."""
    data = os.urandom(300_000)
    for box in ("root", "bare"):
        assert setup.put("admin", setup.url(box, "/srv/blob.bin"), data).status == 200
        fetched = setup.get("admin", setup.url(box, "/srv/secret.txt"))
        assert fetched.status == 200 and fetched.body == SECRET
        assert fetched.headers["Content-Length"] == str(len(SECRET))
        assert read_as_root(setup.boxes[box], "/srv/blob.bin") == data


def test_a_container_without_a_shell_says_what_it_needs(setup: Setup) -> None:
    """As uid 1000 in a container without sh and cat: a clear 422 both ways."""
    got = setup.get("dana", setup.url("bare-app", "/home/alice/mine.txt"))
    assert got.status == 422 and got.json()["error"] == "command_not_found", got.body
    assert got.json()["message"] == "file transfers as user 1000 need sh and cat in the container"
    put = setup.put("dana", setup.url("bare-app", "/home/alice/new.txt"), b"x")
    assert put.status == 422 and "need sh, cat" in put.json()["message"], put.body


def test_the_user_asked_for_is_judged_by_run_as(setup: Setup) -> None:
    """dana may act as the default user only; an admin may ask for root or uid 1000."""
    refused = setup.get("dana", setup.url("app", "/srv/secret.txt", user="root"))
    assert refused.status == 403 and "as root" in refused.json()["message"], refused.body
    assert any(r["event"] == "denied" and r["action"] == "file-get" and r["run_as"] == "root"
               and r["user"] == "dana" for r in setup.audit("fe"))  # fmt: skip
    as_root = setup.get("admin", setup.url("app", "/srv/secret.txt", user="root"))
    assert as_root.status == 200 and as_root.body == SECRET
    as_alice = setup.get("admin", setup.url("root", "/srv/secret.txt", user="1000"))
    assert as_alice.status == 403, as_alice.body


# --- the policy ------------------------------------------------------------------------------


def test_files_none_refuses_both_ways(setup: Setup) -> None:
    """Without `files`, a person who may open shells may not move files, and it is audited."""
    got = setup.get("nofiles", setup.url("app", "/home/alice/mine.txt"))
    put = setup.put("nofiles", setup.url("app", "/home/alice/x.txt"), b"x")
    assert (got.status, put.status) == (403, 403), (got.body, put.body)
    denials = [r for r in setup.audit("fe") if r["event"] == "denied" and r["user"] == "nofiles"]
    assert {r["action"] for r in denials} >= {"file-get", "file-put"}
    assert all(r["address"] and r["reason"] for r in denials)
    assert "x.txt" not in listing(setup.boxes["app"], "/home/alice")


def test_download_only_refuses_uploads(setup: Setup) -> None:
    assert setup.get("reader", setup.url("app", "/home/alice/mine.txt")).body == MINE
    refused = setup.put("reader", setup.url("app", "/home/alice/y.txt"), b"y")
    assert refused.status == 403 and "upload" in refused.json()["message"], refused.body


def test_container_entries_say_what_files_allow(setup: Setup) -> None:
    """The page learns per container whether to offer downloads and uploads."""
    for person, files in (("dana", "upload"), ("reader", "download"), ("nofiles", "none")):
        listed = call(setup.stack, "/api/containers", headers=setup.as_(person)).json()
        offered = {c["name"]: c["files"] for c in listed["containers"]}
        assert offered["dterm-test-files-app"] == files


async def test_session_transfers_act_as_the_sessions_user(setup: Setup) -> None:
    """Into and out of a shell's directory, the shell's user (uid 1000) decides."""
    terminal = await TerminalClient.connect(setup.stack, token="", headers=setup.as_("dana"))
    opened = await terminal.open(setup.boxes["app"].name, host="files-host")
    await terminal.expect(PROMPT)
    session = quote(opened["session"])
    await terminal.run("cd /srv")
    secret = setup.get("dana", f"/api/files?session={session}&name=secret.txt")
    assert secret.status == 403 and SECRET not in secret.body, secret.body
    await terminal.run("cd /home/alice")
    stored = setup.put("dana", f"/api/files?session={session}&name=dropped.bin", b"\x00\xff" * 9)
    assert stored.status == 200 and stored.json()["path"] == "/home/alice/dropped.bin"
    assert owner_and_mode(setup.boxes["app"], "/home/alice/dropped.bin").startswith("1000 ")
    back = setup.get("dana", f"/api/files?session={session}&name=dropped.bin")
    assert back.body == b"\x00\xff" * 9
    await terminal.close()


# --- transfers in flight --------------------------------------------------------------------


def test_a_download_cut_short_is_audited(setup: Setup) -> None:
    """A browser that leaves midway leaves an audit record saying so, both ways of reading."""
    data = os.urandom(6 << 20)
    for person, box in (("dana", "app"), ("admin", "root")):
        assert setup.put(person, setup.url(box, "/tmp/cut.bin"), data).status == 200
        parts = urlsplit(setup.stack.base)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        conn.request("GET", setup.url(box, "/tmp/cut.bin"), headers=setup.as_(person))
        assert conn.getresponse().read(100_000)
        conn.close()
        record = wait_until(lambda b=box: next((r for r in setup.audit("worker")
                            if r["event"] == "file-get" and r["path"] == "/tmp/cut.bin"
                            and r["container"] == setup.boxes[b].name), None),
                            10, "the audit of the cut download")  # fmt: skip
        assert record["ok"] is False and 0 < record["size"] < len(data), record
        assert record["reason"] == "the browser went away"


def test_uploads_per_person_are_limited(setup: Setup) -> None:
    """A third upload of one person at once on a host is refused with limit_reached."""
    url = setup.url("root", "/tmp/held.bin")
    with stalled_upload(setup.stack, setup.as_("dana"), url, 1 << 20, b"x" * 1000), \
            stalled_upload(setup.stack, setup.as_("dana"), url, 1 << 20, b"x" * 1000):  # fmt: skip
        wait_until(lambda: worker_metric(setup.worker, "dterm_worker_uploads") == 2, 10,
                   "two uploads running")  # fmt: skip
        third = setup.put("dana", setup.url("root", "/tmp/third.bin"), b"z")
        assert third.status == 429 and third.json()["error"] == "limit_reached", third.body
        assert setup.put("admin", setup.url("root", "/tmp/other.bin"), b"z").status == 200
    wait_until(lambda: worker_metric(setup.worker, "dterm_worker_uploads") == 0, 10,
               "the stalled uploads given up once their browser left")  # fmt: skip


def test_a_stalled_upload_is_given_up_by_the_worker(setup: Setup) -> None:
    """Nothing for upload_idle_timeout: the worker frees the spool, the browser gets 408."""
    worker, frontend, stack = start_pair(setup, "files-idle", ["--upload-idle-timeout", "1"], [])
    try:
        for person, box, path in (("admin", "root", "/tmp/stalled.bin"),
                                  ("dana", "app", "/home/alice/stalled.bin")):  # fmt: skip
            url = setup.url(box, path).replace("files-host", "files-idle")
            with stalled_upload(stack, setup.as_(person), url, 10 << 20, b"s" * 200_000) as conn:
                if box == "root":
                    wait_until(lambda: worker_metric(worker, "dterm_worker_upload_spool_bytes")
                               >= 200_000, 10, "the spool holds the bytes sent")  # fmt: skip
                reply = conn.getresponse()
                assert reply.status == 408, reply.read()
                assert json.loads(reply.read())["error"] == "timeout"
            assert worker_metric(worker, "dterm_worker_upload_spool_bytes") == 0
            assert worker_metric(worker, "dterm_worker_uploads") == 0
            folder = path.rsplit("/", 1)[0]
            wait_until(lambda f=folder, b=box: not [n for n in listing(setup.boxes[b], f)
                       if n.startswith(".dterm-upload") or n == "stalled.bin"], 10,
                       "no half file left behind")  # fmt: skip
        records = [
            json.loads(line)
            for line in (setup.folder / "files-idle-worker-audit.jsonl").read_text().splitlines()
        ]
        given_up = [r for r in records if r["event"] == "file-put" and not r["ok"]]
        assert len(given_up) == 2 and all("no progress" in r["reason"] for r in given_up)
    finally:
        frontend.stop()
        worker.stop()


def test_a_stalled_upload_is_answered_by_the_front_end(setup: Setup) -> None:
    """The front end's own idle timeout answers 408, audits, and frees the worker's upload."""
    frontend = start_frontend(
        [setup.worker.match["endpoint"]], "--tokens-file", str(setup.folder / "tokens.json"),
        "--policy", str(setup.folder / "policy.toml"), "--upload-idle-timeout", "1",
        "--audit-log", str(setup.folder / "idle-fe-audit.jsonl"),
    )  # fmt: skip
    stack = Stack(frontend.match["url"])
    try:
        wait_hosts_up(stack, {"files-host"}, headers=setup.as_("admin"))
        url = setup.url("root", "/tmp/fe-stalled.bin")
        with stalled_upload(stack, setup.as_("admin"), url, 10 << 20, b"f" * 1000) as conn:
            reply = conn.getresponse()
            assert reply.status == 408 and json.loads(reply.read())["error"] == "timeout"
        wait_until(lambda: worker_metric(setup.worker, "dterm_worker_uploads") == 0, 10,
                   "the worker told to give the upload up")  # fmt: skip
        records = (setup.folder / "idle-fe-audit.jsonl").read_text().splitlines()
        [record] = [json.loads(r) for r in records if '"file-put"' in r]
        assert record["ok"] is False and record["user"] == "admin" and record["size"] == 1000
    finally:
        frontend.stop()


def test_a_container_that_reads_slowly_slows_the_upload(setup: Setup) -> None:
    """While the program in the container reads nothing (paused), the browser is held
    back after a bounded amount, worker memory stays flat, and the upload then completes."""
    box, size = setup.boxes["app"], 48 << 20
    data = os.urandom(1 << 20) * 48
    url = setup.url("app", "/home/alice/slow.bin")
    with stalled_upload(setup.stack, setup.as_("dana"), url, size, data[: 1 << 20]) as conn:
        wait_until(lambda: any(n.startswith(".dterm-upload") for n in listing(box, "/home/alice")),
                   10, "the upload's program running")  # fmt: skip
        box.pause()
        try:
            before = setup.worker.rss()
            pushed = push_until_held(conn.sock, data, 1 << 20)
            grown = setup.worker.rss() - before
        finally:
            box.unpause()
        assert pushed < 16 << 20, f"{pushed} bytes went in while nothing was read"
        assert grown < 16 << 20, f"the worker grew by {grown} bytes"
        conn.sock.settimeout(60)
        conn.sock.sendall(data[(1 << 20) + pushed :])
        reply = conn.getresponse()
        assert reply.status == 200, reply.read()
    fetched = setup.get("dana", url)
    assert hashlib.sha256(fetched.body).digest() == hashlib.sha256(data).digest()


def push_until_held(sock: socket.socket, data: bytes, start: int) -> int:
    """Send from `start` until the receiver has taken nothing for 2 s; bytes sent."""
    sock.settimeout(0.2)
    sent, held_since = 0, time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() - held_since < 2 and start + sent < len(data):
        assert time.monotonic() < deadline, "the upload was never held back"
        try:
            n = sock.send(data[start + sent : start + sent + (256 << 10)])
        except TimeoutError:
            continue
        sent += n
        held_since = time.monotonic()
    return sent
