"""Attacks on sign-in, sign-out, attaching and flow control, run for real: the shipped
nginx example in front of two front ends set up for single sign-on, a login flood,
old cookies after sign-out and account changes, watchers without a role, lying acks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from frontend_server.throttle import FREE_ATTEMPTS, NAME_MAX_WAIT
from tests.support.accounts import accounts, add_user
from tests.support.containers import Containers, require
from tests.support.http import call, cookie_of, sign_in, wait_hosts_up, xsrf
from tests.support.nginx import nginx_binary, start_nginx
from tests.support.processes import OUTPUT, ManagedProcess, start_frontend, start_worker
from tests.support.raw_websocket import RawWebSocket
from tests.support.terminal_client import Stack, TerminalClient, expect_http_error
from tests.support.waiting import eventually, wait_until

PASSWORD = "a long enough password"
POLICY = """
[[roles]]
users = ["alice"]
recordings = "own"
  [[roles.rules]]
  containers = ["dterm-test-trust-*"]

[[roles]]
groups = ["ops"]
recordings = "all"
  [[roles.rules]]
  hosts = ["*"]
"""


@dataclass
class Trust:
    folder: Path
    worker: ManagedProcess
    frontends: list[ManagedProcess]
    stacks: list[Stack]
    proxied: Stack
    box: Any
    hidden: Any

    @property
    def users(self) -> Path:
        return self.folder / "users.json"

    def audit(self, which: str) -> list[dict[str, Any]]:
        path = self.folder / f"{which}-audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def cookie(self, user: str, stack: Stack | None = None) -> dict[str, str]:
        reply = sign_in(stack or self.stacks[0], user, PASSWORD)
        assert reply.status == 200, reply.body
        return {"Cookie": cookie_of(reply)}


def frontend_args(folder: Path, name: str, secret: str) -> list[str]:
    """A front end as the README advises behind nginx with TLS and single sign-on."""
    return ["--users-file", str(folder / "users.json"), "--policy", str(folder / "policy.toml"),
            "--audit-log", str(folder / f"{name}-audit.jsonl"), f"--cookie-secret={secret}",
            "--trusted-proxy", "127.0.0.1/32", "--sso-user-header", "X-Forwarded-User",
            "--sso-groups-header", "X-Forwarded-Groups", "--sso-proxy", "127.0.0.1/32"]  # fmt: skip


@pytest.fixture(scope="module")
def trust(containers: Containers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trust]:
    require(Path(nginx_binary()).exists(), "nginx is missing: apt-get install nginx")
    folder = tmp_path_factory.mktemp("trust")
    for name, groups in (("alice", ""), ("olga", "ops"), ("eve", ""), ("tim", "ops")):
        add_user(folder / "users.json", name, PASSWORD, groups)
    (folder / "policy.toml").write_text(POLICY)
    box = containers.run(name="dterm-test-trust-1")
    hidden = containers.run(name="dterm-test-hidden-1")
    worker = start_worker("trust-host", "--audit-log", str(folder / "worker-audit.jsonl"))
    endpoint = worker.match["endpoint"]
    frontends = [start_frontend([endpoint], *frontend_args(folder, f"fe{i}", "s" * 32))
                 for i in (1, 2)]  # fmt: skip
    stacks = [Stack(fe.match["url"], host="trust-host") for fe in frontends]
    ports = [int(stack.base.rsplit(":", 1)[1]) for stack in stacks]
    nginx, listen = start_nginx(OUTPUT / "nginx-trust", ports)
    trust = Trust(folder, worker, frontends, stacks,
                  Stack(f"http://127.0.0.1:{listen}", host="trust-host"), box, hidden)  # fmt: skip
    for stack in stacks:
        wait_hosts_up(stack, {"trust-host"}, headers=trust.cookie("olga", stack))
    yield trust
    nginx.terminate()
    nginx.wait(10)
    for frontend in frontends:
        frontend.stop()
    worker.stop()


# --- identity headers -------------------------------------------------------------------


async def test_identity_headers_sent_by_a_client_through_nginx_sign_in_nobody(
    trust: Trust,
) -> None:
    """Behind the shipped nginx example, X-Forwarded-User from a client is removed: the
    front end, which believes that header from nginx's address, sees nobody."""
    forged = {"X-Forwarded-User": "olga", "X-Forwarded-Groups": "ops"}
    assert (await asyncio.to_thread(call, trust.proxied, "/api/auth", headers=forged)).json()[
        "user"
    ] is None
    assert (
        await asyncio.to_thread(call, trust.proxied, "/api/containers", headers=forged)
    ).status == 401
    from tornado.httpclient import HTTPRequest

    upgrade = HTTPRequest(trust.proxied.ws_url(), headers=forged)
    assert await expect_http_error(upgrade) == 401
    for frontend in trust.frontends:
        assert "WARNING: people are signed in by the X-Forwarded-User header" in frontend.log()


# --- sign-in floods ------------------------------------------------------------------------


def peak_rss(process: ManagedProcess) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_login_flood_is_counted_before_hashing(trust: Trust) -> None:
    """60 wrong passwords sent at once: only the free attempts are checked (401), the
    rest are refused at once (429); memory stays flat; the person whose name was
    guessed signs in from their own address within a minute."""
    frontend = start_frontend([trust.worker.match["endpoint"]],
                              *frontend_args(trust.folder, "flood", "f" * 32))  # fmt: skip
    stack = Stack(frontend.match["url"])
    try:
        before = peak_rss(frontend)
        with ThreadPoolExecutor(60) as pool:
            statuses = list(pool.map(
                lambda i: sign_in(stack, "tim", f"guess {i}", "127.0.0.33").status, range(60)
            ))  # fmt: skip
        assert statuses.count(401) <= FREE_ATTEMPTS and statuses.count(429) >= 60 - FREE_ATTEMPTS
        assert peak_rss(frontend) - before < 200 << 20
        first = sign_in(stack, "tim", PASSWORD, "127.0.0.34")
        if first.status == 429:
            wait = int(first.headers["Retry-After"])
            assert wait <= NAME_MAX_WAIT + 1
            time.sleep(wait)
            first = sign_in(stack, "tim", PASSWORD, "127.0.0.34")
        assert first.status == 200
    finally:
        frontend.stop()


# --- sign-ins that end ------------------------------------------------------------------


def test_a_signed_out_cookie_is_refused_by_every_front_end(trust: Trust) -> None:
    """After POST /logout the old cookie works nowhere: at once where it signed out,
    within seconds on the other front end (the news travels through the worker)."""
    one, two = trust.stacks
    cookie = trust.cookie("alice", one)
    assert call(two, "/api/containers", headers=cookie).status == 200
    token = xsrf(one)
    headers = {**token, "Cookie": f"{cookie['Cookie']}; {token['Cookie']}"}
    assert call(one, "/logout", "POST", headers, body={}).status == 200
    assert call(one, "/api/containers", headers=cookie).status == 401
    wait_until(
        lambda: call(two, "/api/containers", headers=cookie).status == 401,
        10,
        "the other front end refuses the signed-out cookie",
        every=0.1,
    )
    assert call(one, "/api/containers", headers=trust.cookie("alice", one)).status == 200


def test_account_changes_apply_to_the_next_request(trust: Trust) -> None:
    """A new password or the account's removal ends its sign-ins; new groups apply at
    once to a person already signed in."""
    users = str(trust.users)
    add_user(trust.users, "carl", PASSWORD)
    cookie = trust.cookie("carl")
    assert call(trust.stacks[0], "/api/auth", headers=cookie).json()["groups"] == []
    accounts("users", "--users-file", users, "groups", "carl", "ops")
    assert call(trust.stacks[0], "/api/auth", headers=cookie).json()["groups"] == ["ops"]
    accounts("users", "--users-file", users, "passwd", "carl", "--password-stdin",
             stdin="another long password\n")  # fmt: skip
    assert call(trust.stacks[0], "/api/containers", headers=cookie).status == 401
    add_user(trust.users, "dora", PASSWORD)
    cookie = trust.cookie("dora")
    accounts("users", "--users-file", users, "remove", "dora")
    assert call(trust.stacks[1], "/api/containers", headers=cookie).status == 401


# --- attaching -----------------------------------------------------------------------------


async def watch(trust: Trust, user: str, session: str, token: str) -> dict[str, Any]:
    """The first `opened` or `error` answering a watch request."""
    watcher = await TerminalClient.connect(trust.stacks[1], token="", headers=trust.cookie(user))
    try:
        return await watcher.answer({"type": "attach", "session": session, "mode": "ro",
                                     "token": token, "offset": 0})  # fmt: skip
    finally:
        await watcher.close()


async def test_the_policy_is_checked_before_the_worker_attaches_anyone(trust: Trust) -> None:
    """eve, with a watch link but no role, is refused by the front end: the worker never
    attaches her, and both refusals (no role; a wrong token) are audited with reasons."""
    owner = await TerminalClient.connect(trust.stacks[0], token="", headers=trust.cookie("alice"))
    opened = await owner.open(trust.box.name, host="trust-host")
    answer = await watch(trust, "eve", opened["session"], opened["watch"])
    assert answer["type"] == "error" and answer["code"] == "not_found"
    assert not await watch_attempted(trust, "eve")
    wrong = await watch(trust, "olga", opened["session"], "ünïcødé-token")
    assert wrong["type"] == "error" and wrong["code"] == "forbidden"
    unknown = await watch(trust, "olga", "no-such-session@trust-host", "x")
    assert unknown["type"] == "error" and unknown["code"] == "not_found"
    await owner.close()
    denied = [r for r in trust.audit("fe2") if r["event"] == "denied" and r["user"] == "eve"]
    assert any(r["action"] == "attach-ro" and r["reason"] == "hidden" for r in denied)
    assert denied[0]["address"] == "127.0.0.1"
    failed = await eventually(
        lambda: [r for r in trust.audit("worker")
                 if r["event"] == "attach" and r["person"] == "olga" and not r["ok"]],
        5, "the worker's audit of the refused attach",
    )  # fmt: skip
    assert "watch link" in failed[0]["reason"] and failed[0]["address"] == "127.0.0.1"
    assert any(r["event"] == "attach" and not r["ok"] and r["session"].startswith("no-such")
               for r in trust.audit("fe2"))  # fmt: skip


async def watch_attempted(trust: Trust, person: str) -> bool:
    """Whether the worker's audit log shows any attach by this person."""
    return any(r["event"] == "attach" and r["person"] == person for r in trust.audit("worker"))


# --- the audit of refusals -------------------------------------------------------------


async def test_refusals_are_audited_where_they_happen(trust: Trust) -> None:
    """An open of a hidden container, refused WebSocket upgrades, and recordings listed,
    played and refused, each with person, address and reason."""
    from tornado.httpclient import HTTPRequest

    alice = trust.cookie("alice")
    terminal = await TerminalClient.connect(trust.stacks[0], token="", headers=alice)
    terminal.send_control({"type": "open", "host": "trust-host", "container": trust.hidden.name})
    error = await terminal.next_control("error")
    assert error["code"] == "not_found"
    await terminal.close()
    assert await expect_http_error(HTTPRequest(trust.stacks[0].ws_url())) == 401
    foreign = HTTPRequest(trust.stacks[0].ws_url(), headers={**alice, "Origin": "http://evil.test"})
    assert await expect_http_error(foreign) == 403
    assert (
        await asyncio.to_thread(
            call, trust.stacks[0], "/api/recordings", headers=trust.cookie("eve")
        )
    ).status == 403
    listed = await asyncio.to_thread(call, trust.stacks[0], "/api/recordings", headers=alice)
    assert listed.status == 200
    for name in ("none-such.cast", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
        played = await asyncio.to_thread(
            call, trust.stacks[0], f"/api/recordings/trust-host/{name}", headers=alice
        )
        assert played.status in (400, 404) and b"root:" not in played.body, name
    records = trust.audit("fe1")
    assert any(r["event"] == "recording-play" and r["user"] == "alice" and not r["ok"]
               and r["name"] == "none-such.cast" for r in records)  # fmt: skip
    assert any(r["event"] == "denied" and r["user"] == "alice" and r["action"] == "open"
               and r["reason"] == "hidden" and r["container"] == trust.hidden.name
               for r in records)  # fmt: skip
    upgrades = [r for r in records if r["event"] == "denied" and r["action"] == "websocket"]
    assert {r["user"] for r in upgrades} >= {None, "alice"}
    assert all(r["address"] == "127.0.0.1" and r["reason"] for r in upgrades)
    assert any(r["event"] == "recordings-list" and r["user"] == "eve" and not r["ok"]
               for r in records)  # fmt: skip
    assert any(r["event"] == "recordings-list" and r["user"] == "alice" and r["ok"]
               for r in records)  # fmt: skip


# --- flow control against a lying client -------------------------------------------------


async def test_an_ack_beyond_what_was_sent_does_not_freeze_the_output(trust: Trust) -> None:
    """An ack for bytes never sent is counted as no more than was sent: the output goes on
    once the client acks truthfully."""
    client = await TerminalClient.connect(
        trust.stacks[0], token="", headers=trust.cookie("alice"), auto_ack=False
    )
    opened = await client.open(trust.box.name, host="trust-host", cmd=["seq", "1", "150000"])
    client.send_control({"type": "ack", "offset": opened["offset"] + 10**12})
    deadline = time.monotonic() + 30
    while client.control("exit") is None and time.monotonic() < deadline:
        await client.wait_for(lambda: client.offset > client.acked or client.control("exit"),
                              max(0.1, deadline - time.monotonic()), "more output")  # fmt: skip
        client.ack(client.offset)
    assert client.control("exit") is not None, "the output stopped"
    assert client.output.endswith(b"149999\r\n150000\r\n")
    await client.close()


def test_a_client_that_acks_what_it_never_reads_cannot_grow_the_front_end(
    trust: Trust,
) -> None:
    """A client that never reads its socket but acks everything: the front end holds the
    acks while its socket is full, so its memory stays within a window or two."""
    frontend = trust.frontends[0]
    raw = RawWebSocket(trust.stacks[0], trust.cookie("alice"))
    try:
        raw.send_control({"type": "open", "host": "trust-host", "container": trust.box.name,
                          "cmd": ["yes", "x" * 200]})  # fmt: skip
        before = frontend.rss()
        grown = 0
        lie = 0
        for _ in range(80):  # 8 s of lies, stopped early once the growth is plain
            for _ in range(10):
                lie += 1 << 18  # a window more each time, as if the client had read it
                raw.send_control({"type": "ack", "offset": lie})
                time.sleep(0.01)
            grown = frontend.rss() - before
            if grown > 100 << 20:
                break
        assert grown < 24 << 20, f"the front end grew by {grown >> 20} MiB"
    finally:
        raw.close()
