"""Values that whoever runs a container (its labels) or whoever sends a request (its
query) chooses, against real workers and a front end: a replica number in a digit
Python's isdigit() takes but int() refuses, a logs tail written in such digits, a
host the policy hides from the person. Each must be answered as bad input, as
nothing there, or ignored; never break a listing or an open for everyone else,
never tell a host the person may not see from one that does not exist."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from frontend_server.bridge import NEW_CONTAINER_WAIT
from tests.support.accounts import add_user
from tests.support.containers import Containers
from tests.support.http import call, cookie_of, sign_in, wait_hosts_up
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import wait_until

PASSWORD = "correct horse battery"
PROJECT = f"hostile{os.getpid()}"
HIDDEN = "hidden-host"
POLICY = """
[[roles]]
users = ["admin"]
recordings = "own"
  [[roles.rules]]
  observe = "logs"

[[roles]]
users = ["bob"]
  [[roles.rules]]
  hosts = ["local"]
  containers = ["nothing-of-bob-*"]
"""


@dataclass
class Setup:
    stack: Stack
    headers: dict[str, dict[str, str]]
    container: Any
    audit_path: Path

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]


@pytest.fixture(scope="module")
def setup(
    worker: ManagedProcess, containers: Containers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    folder: Path = tmp_path_factory.mktemp("hostile")
    users = folder / "users.json"
    for name in ("admin", "bob"):
        add_user(users, name, PASSWORD)
    (folder / "policy.toml").write_text(POLICY)
    labels = {
        "com.docker.compose.project": PROJECT,
        "com.docker.compose.service": "web",
        "com.docker.compose.container-number": "\u00b2",  # SUPERSCRIPT TWO: isdigit() is True
    }
    container = containers.run(name=f"dterm-test-{PROJECT}", labels=labels)
    hidden = start_worker(HIDDEN)
    frontend = start_frontend([worker.match["endpoint"], hidden.match["endpoint"]],
                              "--users-file", str(users), "--audit-log", str(folder / "audit"),
                              "--policy", str(folder / "policy.toml"))  # fmt: skip
    stack = Stack(frontend.match["url"])
    headers = {u: {"Cookie": cookie_of(sign_in(stack, u, PASSWORD))} for u in ("admin", "bob")}
    wait_hosts_up(stack, {"local", HIDDEN}, headers=headers["admin"])
    yield Setup(stack, headers, container, folder / "audit")
    frontend.stop()
    hidden.stop()
    container.remove(force=True)


def test_a_replica_number_int_cannot_read_does_not_break_the_list(setup: Setup) -> None:
    """A container labelled with replica number "²" is listed (replica 0), and the
    list of everyone who sees it still loads."""

    def listed() -> dict[str, Any] | None:
        reply = call(setup.stack, "/api/containers", headers=setup.headers["admin"])
        assert reply.status == 200, reply.body
        return next((c for c in reply.json()["containers"] if c["id"] == setup.container.id),
                    None)  # fmt: skip

    found = wait_until(listed, 15, "the labelled container listed")
    assert found["service"] == {"kind": "compose", "project": PROJECT, "service": "web",
                                "replica": 0}  # fmt: skip


def test_a_replica_number_int_cannot_read_does_not_break_opening_by_service(
    setup: Setup,
) -> None:
    """/api/replica over such a replica answers: the chosen one for who may open it,
    not_found for someone who may not even see it."""
    query = f"/api/replica?project={PROJECT}&service=web"
    chosen = call(setup.stack, query, headers=setup.headers["admin"])
    assert chosen.status == 200, chosen.body
    assert chosen.json()["id"] == setup.container.id
    hidden = call(setup.stack, query, headers=setup.headers["bob"])
    assert hidden.status == 404 and hidden.json()["error"] == "not_found", hidden.body


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "-1", "1e3"])
def test_a_logs_tail_that_is_no_ascii_number_is_bad_input(setup: Setup, value: str) -> None:
    """tail= in other digits than 0-9 (or signed, or in exponent form) is 400 bad_request."""
    path = f"/api/containers/local/{setup.container.id[:12]}/logs?tail={quote(value)}"
    reply = call(setup.stack, path, headers=setup.headers["admin"])
    assert reply.status == 400 and reply.json()["error"] == "bad_request", reply.body


@pytest.mark.parametrize("query", ["since=abc", "until=\u00b2", "since=1" + "0" * 5000])
def test_a_recordings_time_that_is_no_number_is_bad_input(setup: Setup, query: str) -> None:
    """since= and until= of the recordings list that are not whole numbers are 400."""
    reply = call(setup.stack, f"/api/recordings?{quote(query, safe='=')}",
                 headers=setup.headers["admin"])  # fmt: skip
    assert reply.status == 400 and reply.json()["error"] == "bad_request", reply.body


def _answer(setup: Setup, path: str) -> tuple[int, str, str]:
    reply = call(setup.stack, path, headers=setup.headers["bob"])
    body = reply.json()
    return reply.status, body["error"], body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/containers/{host}/{id}/logs",
        "/api/containers/{host}/{id}/stats",
        "/api/files?host={host}&container={id}&path=/etc/hostname",
    ],
)
def test_a_hidden_host_answers_as_one_that_does_not_exist(setup: Setup, path: str) -> None:
    """Logs, stats and files on a host no rule of the person names answer exactly as
    on a host that does not exist: its name, its containers and whether it is up
    stay unknown to them."""
    cid = setup.container.id[:12]
    hidden = _answer(setup, path.format(host=HIDDEN, id=cid))
    absent = _answer(setup, path.format(host="no-such-host", id=cid))
    assert hidden == (absent[0], absent[1], absent[2].replace("no-such-host", HIDDEN))
    assert hidden[:2] == (404, "not_found")
    denied = [r for r in setup.audit() if r["event"] == "denied" and r["user"] == "bob"]
    assert denied[-1]["host"] == HIDDEN and denied[-1]["hidden"] == "host"
    assert not any(r["host"] == "no-such-host" for r in denied)


async def test_opening_on_a_hidden_host_answers_as_on_one_that_does_not_exist(
    setup: Setup,
) -> None:
    """A WebSocket open naming a hidden host is refused as one naming no host."""
    said = []
    for host in (HIDDEN, "no-such-host"):
        terminal = await TerminalClient.connect(setup.stack, token="", headers=setup.headers["bob"])
        terminal.send_control({"type": "open", "host": host, "container": "whatever"})
        error = await terminal.wait_for(
            lambda t=terminal: next((c for c in t.controls if c["type"] == "error"), None),
            10, "an error",
        )  # fmt: skip
        said.append((error["code"], error["message"].replace(host, "HOST")))
        await terminal.close()
    assert said[0] == said[1] and said[0][0] == "not_found"


async def _open_refusal(setup: Setup, fields: dict[str, str]) -> tuple[str, float]:
    """The code of the error answering bob's open, and how long it took."""
    terminal = await TerminalClient.connect(setup.stack, token="", headers=setup.headers["bob"])
    began = time.monotonic()
    error = await terminal.answer({"type": "open", "host": "local", **fields})
    took = time.monotonic() - began
    await terminal.close()
    return error.get("code", error["type"]), took


@pytest.mark.parametrize("by", ["name", "service"])
async def test_a_hidden_container_takes_as_long_to_refuse_as_an_absent_one(
    setup: Setup, by: str
) -> None:
    """An open of a container (or service) hidden from the person waits for it to
    appear as an open of one that does not exist does, so the time of the answer does
    not tell them it exists."""
    if by == "name":
        hidden, absent = {"container": setup.container.name}, {"container": "no-such-name"}
    else:
        hidden = {"project": PROJECT, "service": "web"}
        absent = {"project": "no-such-project", "service": "web"}
    code_hidden, took_hidden = await _open_refusal(setup, hidden)
    code_absent, took_absent = await _open_refusal(setup, absent)
    assert code_hidden == code_absent == "not_found"
    assert took_absent >= NEW_CONTAINER_WAIT * 0.9
    assert took_hidden >= NEW_CONTAINER_WAIT * 0.9, f"answered in {took_hidden:.2f} s"
