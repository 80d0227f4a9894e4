"""Container logs and stats beside the shell, against a real worker, front end and dockerd:
tail, follow, download, stats of a busy container, the `observe` permission in the
front end and the host's rules in the worker, and a follower that stops reading."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import zmq
from prometheus_client.parser import text_string_to_metric_families

from shared.messages import Failed, Message
from shared.observe_messages import ReadLogs, ReadStats
from shared.protocol import decode, encode
from tests.support.containers import Containers
from tests.support.http import Reply, call, wait_hosts_up
from tests.support.images import BUSYBOX_IMAGE
from tests.support.processes import (
    REPO,
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    client_keys,
    start_frontend,
    start_worker,
)
from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until

HOST = "logs-host"
POLICY = """
[[roles]]
users = ["olga"]
  [[roles.rules]]
  containers = ["dterm-test-logs-*"]
  observe = "logs"

[[roles]]
users = ["stan"]
  [[roles.rules]]
  containers = ["dterm-test-logs-*"]
  access = "ro"
  observe = "stats"

[[roles]]
users = ["nobody"]
  [[roles.rules]]
  containers = ["dterm-test-logs-*"]

[[roles]]
users = ["admin"]
  [[roles.rules]]
  observe = "logs"
"""
PEOPLE = ("olga", "stan", "nobody", "admin")
PRINTER = "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.2; done"
FIXED = r"printf 'caf\303\251 \377\376 bytes\n'; echo to-stderr >&2; seq 1 40"
LONG_LINE = "x" * 1000
FLOOD_LINES = 12_000  # 12 MB of log: more than every buffer between worker and client


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

    def get(self, person: str, box: str, what: str, query: str = "") -> Reply:
        name = quote(self.boxes[box].name)
        return call(self.stack, f"/api/containers/{HOST}/{name}/{what}{query}",
                    headers=self.as_(person))  # fmt: skip

    def audit(self, which: str) -> list[dict[str, Any]]:
        path = self.folder / f"{which}-audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


def issue_token(tokens: Path, person: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dterm_cli", "tokens", "--tokens-file", str(tokens), "issue",
         person],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.fixture(scope="module")
def setup(containers: Containers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("logs-stats")
    (folder / "policy.toml").write_text(POLICY)
    tokens = {person: issue_token(folder / "tokens.json", person) for person in PEOPLE}
    flood = ["sh", "-c", f'yes "$0" | head -n {FLOOD_LINES}; exec sleep 1000000', LONG_LINE]
    boxes = {
        "printer": containers.run(name="dterm-test-logs-printer", command=["sh", "-c", PRINTER]),
        "fixed": containers.run(name="dterm-test-logs-fixed", command=["sh", "-c", FIXED]),
        # Half a core at most, and only while this module runs: a spinning container
        # left for the rest of the suite would slow every later test down.
        "busy": containers.run(
            name="dterm-test-logs-busy",
            nano_cpus=500_000_000,
            command=["sh", "-c", "while :; do :; done"],
        ),
        "flood": containers.run(name="dterm-test-logs-flood", command=flood),
        "denied": containers.run(
            BUSYBOX_IMAGE, name="dterm-test-logs-denied", labels={"dterm.deny": "true"}
        ),
    }
    worker = start_worker(HOST, "--audit-log", str(folder / "worker-audit.jsonl"),
                          "--log-stall-timeout", "2", "--max-log-tail", "20000",
                          "--max-log-streams-per-person", "3")  # fmt: skip
    frontend = start_frontend(
        [worker.match["endpoint"]], "--tokens-file", str(folder / "tokens.json"),
        "--policy", str(folder / "policy.toml"), "--audit-log", str(folder / "fe-audit.jsonl"),
    )  # fmt: skip
    setup = Setup(Stack(frontend.match["url"]), worker, frontend, folder, tokens, boxes)
    wait_hosts_up(setup.stack, {HOST}, headers=setup.as_("admin"))
    wait_until(lambda: boxes["fixed"].reload() or boxes["fixed"].status == "exited", 15,
               "the fixed printer to finish")  # fmt: skip
    yield setup
    frontend.stop()
    worker.stop()
    for box in boxes.values():
        box.remove(force=True)


class Follower:
    """A streamed logs request read as it comes, on a plain HTTP connection."""

    def __init__(self, setup: Setup, person: str, box: str, query: str) -> None:
        parts = urlsplit(setup.stack.base)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        name = quote(setup.boxes[box].name)
        self.conn.request("GET", f"/api/containers/{HOST}/{name}/logs{query}",
                          headers=setup.as_(person))  # fmt: skip
        self.response = self.conn.getresponse()
        self.body = b""

    def read_until(self, wanted: bytes, timeout: float = 15) -> bytes:
        deadline = time.monotonic() + timeout
        while wanted not in self.body:
            assert time.monotonic() < deadline, f"no {wanted!r} in {self.body[-300:]!r}"
            chunk = self.response.read1(65536)
            assert chunk, f"the stream ended before {wanted!r}"
            self.body += chunk
        return self.body

    def close(self) -> None:
        self.conn.close()


def streams_cut(worker: ManagedProcess, code: str) -> float:
    """dterm_worker_log_streams_cut_total of one error code, from the worker's /metrics."""
    parts = urlsplit(worker.match["http"])
    with contextlib.closing(http.client.HTTPConnection(parts.netloc, timeout=10)) as conn:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {WORKER_METRICS_TOKEN}"})
        text = conn.getresponse().read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "dterm_worker_log_streams_cut_total" and sample.labels["code"] == code
    )


def numbers(body: bytes) -> list[int]:
    return [int(line.split()[1]) for line in body.decode().splitlines() if line.startswith("line ")]


# --- logs ---------------------------------------------------------------------------------


def test_tail_gives_the_last_lines(setup: Setup) -> None:
    """tail=3 without follow answers the last three lines and ends."""
    wait_until(lambda: len(numbers(setup.get("olga", "printer", "logs", "?tail=100").body)) > 5,
               15, "the printer to print")  # fmt: skip
    reply = setup.get("olga", "printer", "logs", "?tail=3")
    assert reply.status == 200, reply.body
    got = numbers(reply.body)
    assert len(got) == 3 and got == list(range(got[0], got[0] + 3))
    assert reply.headers["Content-Type"].startswith("text/plain")


def test_follow_sees_new_lines(setup: Setup) -> None:
    """A follower gets the tail at once and then each line the container prints later."""
    follower = Follower(setup, "olga", "printer", "?tail=1&follow=1")
    try:
        assert follower.response.status == 200
        first = numbers(follower.read_until(b"\n"))[0]
        follower.read_until(f"line {first + 5}\n".encode())
        assert numbers(follower.body)[:6] == list(range(first, first + 6))
    finally:
        follower.close()


def test_download_gives_the_bytes_docker_keeps(setup: Setup) -> None:
    """download=1 is an attachment holding exactly the bytes Docker keeps (its json-file
    log has already replaced invalid UTF-8), stdout and stderr in Docker's order."""
    reply = setup.get("olga", "fixed", "logs", "?tail=1000&download=1")
    assert reply.status == 200, reply.body
    expected = setup.boxes["fixed"].logs(stdout=True, stderr=True, tail=1000)
    assert reply.body == expected
    assert b"caf\xc3\xa9 " in reply.body and b"to-stderr\n" in reply.body
    disposition = reply.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "dterm-test-logs-fixed" in disposition
    [ended] = [r for r in setup.audit("worker") if r["event"] == "logs" and r["tail"] == 1000]
    assert ended["ok"] is True and ended["size"] == len(expected) and ended["person"] == "olga"


def test_a_tail_over_the_hosts_limit_is_refused(setup: Setup) -> None:
    """The worker caps the tail (here 20000 lines): more is a clear 400."""
    reply = setup.get("olga", "printer", "logs", "?tail=20001")
    assert reply.status == 400 and "20000" in reply.json()["message"]


# --- stats --------------------------------------------------------------------------------


def test_stats_of_a_busy_container(setup: Setup) -> None:
    """A container spinning in a loop shows CPU use well above zero, and sane memory
    and process figures."""

    def busy() -> dict[str, Any] | None:
        reply = setup.get("stan", "busy", "stats")
        assert reply.status == 200, reply.body
        found: dict[str, Any] = reply.json()
        return found if (found["cpu_percent"] or 0) > 20 else None

    stats = wait_until(busy, 20, "CPU use of the busy container", every=0.5)
    assert stats["cpu_percent"] <= 100 * stats["online_cpus"] + 5
    assert 0 < stats["memory"] <= stats["memory_limit"]
    assert stats["pids"] >= 1 and stats["read_at"] > 0


def test_stats_of_a_quiet_container_are_low(setup: Setup) -> None:
    """A container that mostly sleeps uses next to no CPU."""

    def figure() -> float | None:
        found: float | None = setup.get("stan", "printer", "stats").json()["cpu_percent"]
        return found

    assert wait_until(figure, 10, "a CPU figure") < 10


# --- who may ------------------------------------------------------------------------------


def test_the_policy_grants_logs_and_stats_apart(setup: Setup) -> None:
    """`observe = "stats"` gives stats but not logs; no `observe` gives neither; each
    refusal is 403 and audited by the front end; container entries say what is allowed."""
    assert setup.get("stan", "printer", "stats").status == 200
    refused = setup.get("stan", "printer", "logs", "?tail=5")
    assert refused.status == 403 and refused.json()["error"] == "forbidden"
    assert setup.get("nobody", "printer", "stats").status == 403
    assert setup.get("nobody", "printer", "logs").status == 403
    denials = [r for r in setup.audit("fe") if r["event"] == "denied"]
    assert {("stan", "logs"), ("nobody", "stats"), ("nobody", "logs")} <= {
        (r["user"], r["action"]) for r in denials
    }
    listed = {
        (person, c["name"]): c["observe"]
        for person in ("olga", "stan", "nobody")
        for c in call(setup.stack, "/api/containers", headers=setup.as_(person)).json()[
            "containers"
        ]
    }
    assert listed[("olga", "dterm-test-logs-printer")] == "logs"
    assert listed[("stan", "dterm-test-logs-printer")] == "stats"
    assert listed[("nobody", "dterm-test-logs-printer")] == "none"


def ask_worker(setup: Setup, message: Message) -> Message:
    """Send one request to the worker directly, as a front end would, and get its answer."""
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    client_keys().apply(dealer)
    dealer.connect(setup.worker.match["endpoint"])
    try:
        dealer.send_multipart(encode(message))
        assert dealer.poll(10_000), "the worker did not answer"
        return decode(dealer.recv_multipart())
    finally:
        dealer.close()


def test_the_worker_enforces_its_host_rules(setup: Setup) -> None:
    """A container with the host's deny label gets neither logs nor stats from the
    worker, even when a front end asks directly; each refusal is audited there."""
    denied = setup.boxes["denied"].id
    logs = ReadLogs(request="raw-logs", person="admin", address="198.51.100.9",
                    container=denied, tail=10, since=0, follow=False)  # fmt: skip
    stats = ReadStats(request="raw-stats", person="admin", address="198.51.100.9",
                      container=denied)  # fmt: skip
    for message in (logs, stats):
        reply = ask_worker(setup, message)
        assert isinstance(reply, Failed) and reply.code == "forbidden", reply
        assert "dterm.deny" in reply.message
    refusals = [r for r in setup.audit("worker")
                if r["event"] == "denied" and r.get("address") == "198.51.100.9"]  # fmt: skip
    assert len(refusals) == 2 and all(r["by"] == "host rules" for r in refusals)
    assert setup.get("admin", "denied", "logs").status == 404  # hidden by the front end too


# --- bounds -------------------------------------------------------------------------------


def raw_follow(setup: Setup, box: str, query: str) -> socket.socket:
    """A logs request on a socket with a tiny receive buffer, which then reads nothing."""
    parts = urlsplit(setup.stack.base)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname or "", parts.port or 80))
    name = quote(setup.boxes[box].name)
    sock.sendall(
        f"GET /api/containers/{HOST}/{name}/logs{query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {setup.tokens['olga']}\r\n\r\n".encode()
    )
    return sock


def test_a_follower_that_stops_reading_is_cut(setup: Setup) -> None:
    """A follower that reads nothing while megabytes wait is cut after the stall timeout,
    with the reason in the worker's audit log; its response never looks complete, and
    the worker and front end serve others on."""
    wait_until(lambda: setup.boxes["flood"].logs(tail=1) == LONG_LINE.encode() + b"\n", 30,
               "the flood to be written")  # fmt: skip
    sock = raw_follow(setup, "flood", f"?tail={FLOOD_LINES}&follow=1")
    with contextlib.closing(sock):

        def cut() -> dict[str, Any] | None:
            return next((r for r in setup.audit("worker")
                         if r["event"] == "logs" and r["container"] == "dterm-test-logs-flood"
                         and r["ok"] is False), None)  # fmt: skip

        ended = wait_until(cut, 30, "the slow follower to be cut")
        assert "took nothing for 2 s" in ended["reason"]
        assert streams_cut(setup.worker, "timeout") == 1
        assert 0 < ended["size"] < FLOOD_LINES * (len(LONG_LINE) + 1)
        sock.settimeout(10)
        received = b""
        while chunk := sock.recv(1 << 20):
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        assert not received.endswith(b"0\r\n\r\n"), "a cut stream must not look complete"
    assert len(numbers(setup.get("olga", "printer", "logs", "?tail=2").body)) == 2


def test_streams_per_person_are_limited(setup: Setup) -> None:
    """A person's fourth follower on the host (the limit here is 3) is refused with 429."""
    followers = [Follower(setup, "olga", "printer", "?tail=1&follow=1") for _ in range(3)]
    try:
        for follower in followers:
            follower.read_until(b"\n")
        refused = setup.get("olga", "printer", "logs", "?tail=1&follow=1")
        assert refused.status == 429 and refused.json()["error"] == "limit_reached"
    finally:
        for follower in followers:
            follower.close()
    wait_until(lambda: setup.get("olga", "printer", "logs", "?tail=1").status == 200, 10,
               "the followers' streams to end")  # fmt: skip
