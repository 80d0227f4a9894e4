"""Who may do what, against real processes: sign-in three ways, bearer tokens, the
policy's rules, hidden containers, host rules that win, limits, and the audit log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq

from shared.messages import Failed, OpenSession, RecordingPolicy
from shared.protocol import decode, encode
from tests.support.accounts import PASSWORD, accounts, add_user
from tests.support.containers import Containers
from tests.support.events_client import EventStream
from tests.support.http import call, cookie_of, sign_in, wait_hosts_up, xsrf
from tests.support.processes import ManagedProcess, client_keys, start_frontend, start_worker
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import eventually, wait_until

POLICY = """
[[roles]]
users = ["alice"]
  [[roles.rules]]
  hosts = ["sec-*"]
  containers = ["dterm-test-pay-*"]
  labels = { team = "payments" }
  commands = ["sh", "echo *", "cat /tmp/*"]
  run_as = ["default", "alice"]
  [[roles.rules]]
  hosts = ["sec-host"]
  containers = ["dterm-test-prod-*"]
  access = "ro"

[[roles]]
groups = ["ops"]
  [[roles.rules]]
  hosts = ["other-*"]

[[roles]]
groups = ["admins"]
  [[roles.rules]]
  hosts = ["*"]
"""


@dataclass
class Secured:
    stack: Stack
    frontend: ManagedProcess
    worker: ManagedProcess
    folder: Path
    boxes: dict[str, Any]

    def audit(self, which: str) -> list[dict[str, Any]]:
        path = self.folder / f"{which}-audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def secured(containers: Containers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    folder = tmp_path_factory.mktemp("secured")
    users, tokens = folder / "users.json", folder / "tokens.json"
    for name, groups in (
        ("alice", "payments"),
        ("carol", "ops"),
        ("root-admin", "admins"),
        ("eve", ""),
        ("frank", ""),
    ):
        add_user(users, name, PASSWORD, groups)
    (folder / "policy.toml").write_text(POLICY)
    boxes = {
        "pay": containers.run(name="dterm-test-pay-1", labels={"team": "payments"}),
        "pay-other-team": containers.run(name="dterm-test-pay-2", labels={"team": "search"}),
        "prod": containers.run(name="dterm-test-prod-1", labels={"team": "payments"}),
        "secret": containers.run(name="dterm-test-secret-1"),
        "denied": containers.run(name="dterm-test-denied-1", labels={"dterm.deny": "true"}),
    }
    worker = start_worker(
        "sec-host",
        "--audit-log",
        str(folder / "worker-audit.jsonl"),
        "--max-sessions-per-person",
        "3",
    )
    frontend = start_frontend(
        [worker.match["endpoint"]],
        "--users-file",
        str(users),
        "--tokens-file",
        str(tokens),
        "--policy",
        str(folder / "policy.toml"),
        "--audit-log",
        str(folder / "fe-audit.jsonl"),
        "--trusted-proxy",
        "127.0.0.2/32",
        "--sso-user-header",
        "X-Forwarded-User",
        "--sso-groups-header",
        "X-Forwarded-Groups",
        "--sso-proxy",
        "127.0.0.5/32",
    )
    stack = Stack(frontend.match["url"])
    assert stack.token == ""  # no dev token once accounts are configured
    admin = {"Cookie": cookie_of(sign_in(stack, "root-admin", PASSWORD))}
    wait_hosts_up(stack, {"sec-host"}, headers=admin)  # its containers started before it
    yield Secured(stack, frontend, worker, folder, boxes)
    frontend.stop()
    worker.stop()


def as_user(secured: Secured, user: str) -> dict[str, str]:
    reply = sign_in(secured.stack, user, PASSWORD)
    assert reply.status == 200, reply.body
    return {"Cookie": cookie_of(reply)}


def listed(secured: Secured, headers: dict[str, str]) -> set[str]:
    reply = call(secured.stack, "/api/containers", headers=headers)
    return {c["name"] for c in reply.json()["containers"]}


async def try_open(
    secured: Secured, headers: dict[str, str], container: str, **fields: Any
) -> dict[str, Any]:
    """The first `opened` or `error` answering an open request (an opened session is
    closed again at once)."""
    terminal = await TerminalClient.connect(secured.stack, token="", headers=headers)
    try:
        request = {"type": "open", "host": "sec-host", "container": container, **fields}
        answer = await terminal.answer(request)
        if answer["type"] == "opened":
            terminal.send_control({"type": "close"})
            await terminal.wait_exit()
        return answer
    finally:
        await terminal.close()


# --- sign-in ---------------------------------------------------------------------------


def test_refused_without_valid_sign_in(secured: Secured) -> None:
    """No cookie, a forged cookie, a wrong bearer token: 401 everywhere."""
    assert call(secured.stack, "/api/containers").status == 401
    forged = {
        "Cookie": 'dterm_login="2|1:0|10:1700000000|11:dterm_login|24:eyJ1IjogInJvb3QifQ==|'
        + "0" * 64
        + '"'
    }
    assert call(secured.stack, "/api/containers", headers=forged).status == 401
    bearer = {"Authorization": "Bearer dterm_0000_guess"}
    assert call(secured.stack, "/api/containers", headers=bearer).status == 401


def test_password_sign_in_needs_xsrf_and_sets_a_safe_cookie(secured: Secured) -> None:
    """POST /login without the XSRF token is refused; with it, a good password signs in."""
    bare = call(secured.stack, "/login", "POST", {}, {"user": "alice", "password": PASSWORD})
    assert bare.status == 403
    reply = sign_in(secured.stack, "alice", PASSWORD)
    assert reply.status == 200 and reply.json() == {"user": "alice"}
    cookie = next(h for h in reply.headers.get_all("Set-Cookie") if h.startswith("dterm_login"))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    me = call(secured.stack, "/api/auth", headers={"Cookie": cookie_of(reply)}).json()
    assert me["user"] == "alice" and me["groups"] == ["payments"]


def test_brute_force_is_slowed(secured: Secured) -> None:
    """After a few wrong passwords each try must wait, even with the right password."""
    attacker = "127.0.0.3"  # its own address, so other tests are not slowed down
    statuses = [sign_in(secured.stack, "frank", f"guess-{i}", attacker).status for i in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    throttled = sign_in(secured.stack, "frank", PASSWORD, attacker)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) >= 1


def test_expired_cookie_is_refused(secured: Secured, tmp_path: Path) -> None:
    """A sign-in lasts --login-ttl seconds; after that its cookie is refused."""
    short = start_frontend(
        [secured.worker.match["endpoint"]],
        "--users-file",
        str(secured.folder / "users.json"),
        "--policy",
        str(secured.folder / "policy.toml"),
        "--login-ttl",
        "2",
    )
    stack = Stack(short.match["url"])
    try:
        cookie = {"Cookie": cookie_of(sign_in(stack, "alice", PASSWORD))}
        assert call(stack, "/api/hosts", headers=cookie).status == 200
        wait_until(
            lambda: call(stack, "/api/hosts", headers=cookie).status == 401,
            10,
            "the cookie expired",
            every=0.2,
        )
    finally:
        short.stop()


def test_identity_headers_only_from_single_sign_on_proxies(secured: Secured) -> None:
    """X-Forwarded-User signs in only from an address listed with --sso-proxy: neither
    from anyone else nor from a proxy trusted only for X-Forwarded-For/-Proto."""
    headers = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "payments,audit"}
    assert call(secured.stack, "/api/auth", headers=headers).json()["user"] is None
    tls_proxy = call(secured.stack, "/api/auth", headers=headers, source="127.0.0.2")
    assert tls_proxy.json()["user"] is None
    me = call(secured.stack, "/api/auth", headers=headers, source="127.0.0.5").json()
    assert me["user"] == "alice" and me["groups"] == ["audit", "payments"]
    assert "signed in by the X-Forwarded-User header" in secured.frontend.log()


async def test_bearer_tokens_are_issued_and_revoked(secured: Secured) -> None:
    """An admin-issued token works for the API and the WebSocket until it is revoked."""
    tokens = str(secured.folder / "tokens.json")
    token = accounts("tokens", "--tokens-file", tokens, "issue", "alice", "--groups", "payments")
    bearer = {"Authorization": f"Bearer {token}"}
    assert "dterm-test-pay-1" in (await asyncio.to_thread(listed, secured, bearer))
    answer = await try_open(secured, bearer, "dterm-test-pay-1", cmd=["echo", "by-token"])
    assert answer["type"] == "opened"
    accounts("tokens", "--tokens-file", tokens, "revoke", token.split("_")[1])
    assert (
        await asyncio.to_thread(call, secured.stack, "/api/containers", headers=bearer)
    ).status == 401


# --- the policy -----------------------------------------------------------------------


def test_lists_show_only_what_the_policy_lets_see(secured: Secured) -> None:
    """Containers a person may not see are absent from the list and the event stream."""
    alice = as_user(secured, "alice")
    assert listed(secured, alice) >= {"dterm-test-pay-1", "dterm-test-prod-1"}
    assert not listed(secured, alice) & {"dterm-test-pay-2", "dterm-test-secret-1"}
    assert not listed(secured, as_user(secured, "carol")) & {"dterm-test-pay-1"}
    admin = listed(secured, as_user(secured, "root-admin"))
    assert "dterm-test-secret-1" in admin and "dterm-test-denied-1" not in admin


async def test_event_stream_hides_what_the_policy_hides(secured: Secured) -> None:
    stream = EventStream(
        secured.stack, headers=(await asyncio.to_thread(as_user, secured, "alice"))
    )
    try:
        _, _, snapshot = await stream.wait_for(lambda n, _: n == "snapshot", 10, "snapshot")
        names = {c["name"] for c in snapshot["containers"]}
        assert "dterm-test-pay-1" in names and "dterm-test-secret-1" not in names
    finally:
        stream.close()


@pytest.mark.parametrize(
    ("container", "fields", "outcome"),
    [
        pytest.param("dterm-test-pay-1", {}, "opened", id="default-shell-counts-as-sh"),
        pytest.param("dterm-test-pay-1", {"cmd": ["echo", "hi"]}, "opened", id="listed-command"),
        pytest.param("dterm-test-pay-1", {"cmd": ["id"]}, "forbidden", id="unlisted-command"),
        # A rule is matched argument by argument: as many arguments, one glob each, a
        # path's `*` within its segment, and `..` never matched.
        pytest.param("dterm-test-pay-1", {"cmd": ["echo", "x && id"]}, "opened", id="one-arg"),
        pytest.param(
            "dterm-test-pay-1",
            {"cmd": ["echo", "x", "&&", "id"]},
            "forbidden",
            id="more-args-than-globs",
        ),
        pytest.param("dterm-test-pay-1", {"cmd": ["echo"]}, "forbidden", id="fewer-args"),
        pytest.param(
            "dterm-test-pay-1", {"cmd": ["sh", "-c", "id"]}, "forbidden", id="shell-with-arguments"
        ),
        pytest.param("dterm-test-pay-1", {"cmd": ["cat", "/tmp/notes"]}, "opened", id="path-glob"),
        pytest.param(
            "dterm-test-pay-1",
            {"cmd": ["cat", "/tmp/a/b"]},
            "forbidden",
            id="glob-stays-in-its-segment",
        ),
        pytest.param(
            "dterm-test-pay-1",
            {"cmd": ["cat", "/tmp/../etc/shadow"]},
            "forbidden",
            id="dot-dot-climbs-out",
        ),
        pytest.param("dterm-test-pay-1", {"user": "alice"}, "opened", id="allowed-user"),
        pytest.param("dterm-test-pay-1", {"user": "root"}, "forbidden", id="other-user"),
        pytest.param("dterm-test-prod-1", {}, "forbidden", id="read-only-rule"),
        pytest.param("dterm-test-pay-2", {}, "not_found", id="label-selector"),
        pytest.param("dterm-test-secret-1", {}, "not_found", id="name-glob"),
    ],
)
async def test_open_is_judged_by_the_rules(
    secured: Secured, container: str, fields: dict[str, Any], outcome: str
) -> None:
    answer = await try_open(
        secured, (await asyncio.to_thread(as_user, secured, "alice")), container, **fields
    )
    assert (answer["type"] if answer["type"] == "opened" else answer["code"]) == outcome, answer


async def test_host_glob_that_does_not_match(secured: Secured) -> None:
    """carol's rules are for other-* hosts: on sec-host she sees and opens nothing."""
    answer = await try_open(
        secured, (await asyncio.to_thread(as_user, secured, "carol")), "dterm-test-pay-1"
    )
    assert answer["code"] == "not_found"


async def test_id_and_name_are_judged_the_same(secured: Secured) -> None:
    """By full id, id prefix or name, the same container gets the same answer."""
    alice = await asyncio.to_thread(as_user, secured, "alice")
    for box, outcome in (("pay", "opened"), ("secret", "not_found"), ("prod", "forbidden")):
        container = secured.boxes[box]
        answers = [
            await try_open(secured, alice, ref, cmd=["echo", "x"])
            for ref in (container.name, container.id, container.id[:12])
        ]
        kinds = {a["type"] if a["type"] == "opened" else a["code"] for a in answers}
        assert kinds == {outcome}, (box, answers)


async def test_watch_needs_read_access(secured: Secured) -> None:
    """A watch link lets alice (read-only there) watch; eve (no rule) gets nothing."""
    admin = await TerminalClient.connect(
        secured.stack, token="", headers=(await asyncio.to_thread(as_user, secured, "root-admin"))
    )
    opened = await admin.open("dterm-test-prod-1", host="sec-host")
    for user, expected in (("alice", "opened"), ("eve", "not_found")):
        watcher = await TerminalClient.connect(
            secured.stack, token="", headers=(await asyncio.to_thread(as_user, secured, user))
        )
        answer = await watcher.answer(
            {
                "type": "attach",
                "session": opened["session"],
                "mode": "ro",
                "token": opened["watch"],
                "offset": 0,
            }
        )
        assert (answer["type"] if answer["type"] == "opened" else answer["code"]) == expected
        await watcher.close()
    await admin.close()


# --- the host's own rules ----------------------------------------------------------------


async def test_worker_deny_label_wins_over_the_front_end(secured: Secured) -> None:
    """A container with the deny label is refused by the worker itself, even when a
    front end (here a raw ZeroMQ peer) asks for it directly; the refusal is audited with
    the person and the address the front end gave."""
    assert (
        await try_open(
            secured,
            (await asyncio.to_thread(as_user, secured, "root-admin")),
            "dterm-test-denied-1",
        )
    )["code"] == "not_found"
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    client_keys().apply(socket)
    socket.connect(secured.worker.match["endpoint"])
    request = OpenSession(
        session="raw@sec-host", attachment="raw-1", person="root-admin",
        address="198.51.100.7", container=secured.boxes["denied"].id, cmd=None, user=None,
        workdir=None, cols=80, rows=24, recording=RecordingPolicy.DEFAULT, record_input=False,
    )  # fmt: skip
    try:
        socket.send_multipart(encode(request))
        assert socket.poll(10_000)
        reply = decode(socket.recv_multipart())
        assert isinstance(reply, Failed) and reply.code == "forbidden"
        assert "dterm.deny" in reply.message
    finally:
        socket.close()
    [refusal] = [r for r in secured.audit("worker")
                 if r["event"] == "denied" and r.get("by") == "host rules"]  # fmt: skip
    assert refusal["person"] == "root-admin" and refusal["address"] == "198.51.100.7"
    assert "dterm.deny" in refusal["reason"]


async def test_sessions_per_person_limit(secured: Secured) -> None:
    """A fourth session of the same person on the host gets a clear limit error."""
    alice = await asyncio.to_thread(as_user, secured, "alice")
    terminals = []
    for _ in range(3):
        terminal = await TerminalClient.connect(secured.stack, token="", headers=alice)
        await terminal.open("dterm-test-pay-1", host="sec-host")
        terminals.append(terminal)
    answer = await try_open(secured, alice, "dterm-test-pay-1")
    assert answer["code"] == "limit_reached" and "limit" in answer["message"]
    for terminal in terminals:
        terminal.send_control({"type": "close"})
        await terminal.wait_exit()
        await terminal.close()


# --- the audit log --------------------------------------------------------------------------


async def test_audit_log_records_sign_ins_sessions_and_denials(secured: Secured) -> None:
    assert (
        await asyncio.to_thread(sign_in, secured.stack, "alice", "not her password", "127.0.0.4")
    ).status == 401
    alice = await asyncio.to_thread(as_user, secured, "alice")
    terminal = await TerminalClient.connect(secured.stack, token="", headers=alice)
    await terminal.open("dterm-test-pay-1", host="sec-host", cmd=["echo", "audited"], user="alice")
    await terminal.wait_exit()
    await terminal.close()
    await try_open(secured, alice, "dterm-test-pay-1", cmd=["id"])

    front = secured.audit("fe")
    assert any(r["event"] == "sign-in" and r["ok"] and r["user"] == "alice" for r in front)
    assert any(r["event"] == "sign-in" and not r["ok"] for r in front)
    assert any(
        r["event"] == "denied" and r["user"] == "alice" and r["cmd"] == ["id"] for r in front
    )
    [end] = await eventually(
        lambda: [
            r
            for r in secured.audit("worker")
            if r["event"] == "session-end" and r["command"] == ["echo", "audited"]
        ],
        10,
        "the worker's audit of the session's end",
    )
    assert end["person"] == "alice" and end["address"] == "127.0.0.1"
    assert end["host"] == "sec-host" and end["container"] == "dterm-test-pay-1"
    assert end["run_as"] == "alice" and end["exit_code"] == 0 and end["reason"] == "exited"
    assert end["bytes_out"] == len(b"audited\r\n") and end["bytes_in"] == 0
    assert {"started", "duration", "watchers", "time"} <= set(end)
    starts = [r for r in secured.audit("worker") if r["event"] == "session-start"]
    assert any(r["session"] == end["session"] for r in starts)


def test_cookie_is_secure_behind_a_tls_proxy(secured: Secured) -> None:
    """A trusted proxy that terminates TLS gets a Secure cookie; others cannot ask for one."""
    proxied = {**xsrf(secured.stack), "X-Forwarded-Proto": "https"}
    body = {"user": "alice", "password": PASSWORD}
    direct = call(secured.stack, "/login", "POST", proxied, body)
    assert "Secure" not in str(direct.headers.get_all("Set-Cookie"))
    via_proxy = call(secured.stack, "/login", "POST", proxied, body, source="127.0.0.2")
    assert via_proxy.status == 200
    login = next(h for h in via_proxy.headers.get_all("Set-Cookie") if "dterm_login" in h)
    assert "Secure" in login


def test_host_counts_tell_only_of_containers_the_person_sees(secured: Secured) -> None:
    """A host's container counts, as shown to a person, count only what they may see:
    the host's own totals would tell of containers hidden from them."""
    alice = as_user(secured, "alice")
    [host] = call(secured.stack, "/api/hosts", headers=alice).json()["hosts"]
    seen = [c for c in call(secured.stack, "/api/containers", headers=alice).json()["containers"]
            if c["host"] == "sec-host"]  # fmt: skip
    assert host["containers"] == len(seen) < len(secured.boxes)
    assert host["running"] == sum(1 for c in seen if c["state"] == "running")
