"""The front end's HTTP surface refuses by default, against real processes: slow and
stalled clients, running out of descriptors, credentials in logs, foreign Origins and
Host names, missing security headers, cookies without Secure, open /metrics, and
hosts shown to people who may not use them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import re
import selectors
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.accounts import PASSWORD, accounts
from tests.support.events_client import EventStream
from tests.support.http import Reply, call, cookie_of, sign_in, wait_hosts_up
from tests.support.processes import (
    FRONTEND_READY,
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    key_flags,
    start_frontend,
    start_worker,
)
from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")


def port_of(stack: Stack) -> int:
    return urlsplit(stack.base).port or 80


def upgrade(stack: Stack, headers: dict[str, str]) -> int:
    """Status of a WebSocket upgrade of /ws/exec with these headers (101: accepted)."""
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": key}  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port_of(stack), timeout=10)
    try:
        conn.request("GET", "/ws/exec", headers={**handshake, **headers})
        return conn.getresponse().status
    finally:
        conn.close()


def new_lines(process: ManagedProcess, before: int) -> list[str]:
    return process.log().splitlines()[before:]


# --- slow clients and descriptors -----------------------------------------------------------


@pytest.fixture
def capped(worker: ManagedProcess) -> Iterator[tuple[Stack, ManagedProcess]]:
    """A front end with a cap of 200 connections and 4 s deadlines on request heads."""
    frontend = start_frontend(
        [worker.match["endpoint"]], "--max-http-connections", "200", "--header-timeout", "4",
        "--idle-timeout", "2", "--body-timeout", "2",
    )  # fmt: skip
    stack = Stack(frontend.match["url"])
    wait_hosts_up(stack, {"local"})
    yield stack, frontend
    frontend.stop()


def stall(stack: Stack, count: int) -> list[socket.socket]:
    """`count` connections that send part of a request head and then nothing."""
    stalled = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        stalled.append(sock)
    return stalled


def wait_all_closed(socks: list[socket.socket], timeout: float) -> None:
    """Every socket reads end of file (or a reset) within `timeout` seconds."""
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    open_left = len(socks)
    while open_left and time.monotonic() < deadline:
        for key, _ in selector.select(deadline - time.monotonic()):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1024) == b"", "the server answered a request never finished"
            selector.unregister(sock)
            open_left -= 1
    selector.close()
    assert open_left == 0, f"{open_left} stalled connections still open after {timeout} s"


def still_open(sock: socket.socket) -> bool:
    """The server has neither closed nor reset this connection (nothing to read yet)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False
    finally:
        sock.setblocking(True)


def test_stalled_request_heads_are_cut_and_healthz_still_answers(
    capped: tuple[Stack, ManagedProcess],
) -> None:
    """300 connections stall inside their request head, past a cap of 200: a fresh
    client's /healthz answers while the newest stalled ones still hold their places
    (room is made by closing the oldest, not by waiting for the head deadline), the
    server closes every stalled one within the 4 s head deadline, and all that costs
    the log a line or two."""
    stack, frontend = capped
    before = len(frontend.log().splitlines())
    stalled = stall(stack, 300)
    try:
        assert call(stack, "/healthz").status == 200
        held = sum(map(still_open, stalled))
        # Room made by closing the oldest leaves 199 of them open; waiting for the head
        # deadline would have cut the first 200 before /healthz got its place.
        assert 150 < held <= 200, f"{held} stalled connections open past a cap of 200"
        wait_all_closed(stalled, timeout=4 + 3)
    finally:
        for sock in stalled:
            sock.close()
    assert call(stack, "/healthz").status == 200
    lines = new_lines(frontend, before)
    assert len(lines) <= 4, lines


def test_an_idle_kept_alive_connection_is_closed(worker: ManagedProcess) -> None:
    """After a response, a kept-alive connection that sends nothing more is closed
    within the idle deadline (1 s here), not the longer one of first heads (30 s)."""
    frontend = start_frontend(
        [worker.match["endpoint"]], "--header-timeout", "30", "--idle-timeout", "1"
    )
    stack = Stack(frontend.match["url"])
    sock = socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_until(lambda: b'"ok"' in sock.recv(4096), 5, "the /healthz answer")
        wait_all_closed([sock], timeout=1 + 3)
    finally:
        sock.close()
        frontend.stop()


def event_stream_socket(stack: Stack) -> socket.socket:
    """A connection holding GET /api/events open, once its snapshot has come."""
    sock = socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5)
    sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Authorization: Bearer {stack.token}\r\n\r\n".encode())  # fmt: skip
    received = bytearray()

    def snapshot_came() -> bool:
        received.extend(sock.recv(65536))
        return b"event: snapshot" in received

    wait_until(snapshot_came, 10, "the snapshot")
    return sock


def test_past_the_cap_with_every_connection_busy_new_ones_are_refused(
    worker: ManagedProcess,
) -> None:
    """With a cap of 2 held by two event streams (busy, not waiting for a request), a
    new connection is closed at once and counted; once a stream ends, /healthz answers."""
    frontend = start_frontend([worker.match["endpoint"]], "--max-http-connections", "2")
    stack = Stack(frontend.match["url"])
    streams = [event_stream_socket(stack) for _ in range(2)]
    try:
        refused = socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5)
        try:
            wait_all_closed([refused], 3)
        finally:
            refused.close()
        streams.pop().close()
        wait_until(lambda: healthz_answers(stack), 10, "/healthz answers")
        # The server may count the /healthz connection a moment after the client has
        # closed it, and refuse the next one meanwhile: that is the cap at work.
        scraped = wait_until(lambda: metrics_text(stack), 10, "/metrics answers")
        shed = re.search(
            r'dterm_frontend_http_connections_shed_total\{how="refused"\} (\S+)', scraped
        )
        assert shed and float(shed[1]) >= 1  # and any /healthz tried before a slot was free
    finally:
        for sock in streams:
            sock.close()
        frontend.stop()


async def slow_upload(stack: Stack, path: str, pieces: int, every: float) -> tuple[int, Any]:
    """PUT `pieces` pieces of 4 kB, one every `every` seconds; (status, JSON body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(stack))
    head = (f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {4096 * pieces}\r\n"
            f"Authorization: Bearer {stack.token}\r\nConnection: close\r\n\r\n")  # fmt: skip
    writer.write(head.encode())
    for _ in range(pieces):
        writer.write(b"x" * 4096)
        await writer.drain()
        await asyncio.sleep(every)  # the pace of a slow link, not a wait for something
    answer = await asyncio.wait_for(reader.read(), 20)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


async def test_long_uploads_and_event_streams_outlast_the_deadlines(
    capped: tuple[Stack, ManagedProcess], busybox: Any
) -> None:
    """An upload that keeps sending for longer than the 2 s body deadline is stored, and
    an event stream opened before it is still open after it."""
    stack, _ = capped
    events = EventStream(stack)
    try:
        await events.wait_for(lambda name, _: name == "snapshot", 10, "the snapshot")
        path = f"/api/files?host=local&container={busybox.name}&path=/tmp/slow-upload"
        started = time.monotonic()
        status, body = await slow_upload(stack, path, pieces=16, every=0.2)
        assert time.monotonic() - started > 3
        assert status == 200 and body["size"] == 4096 * 16, body
        assert not events._fetch.done(), "the event stream was closed"
    finally:
        events.close()


def test_running_out_of_descriptors_pauses_accepting_quietly(worker: ManagedProcess) -> None:
    """With a low open-file limit, connections past it make accept fail (EMFILE): the
    front end pauses accepting and logs a line per pause, not per failure, and answers
    /healthz again once the clients leave."""
    argv = ["prlimit", "--nofile=64:64", sys.executable, "-m", "frontend_server", "--port", "0",
            "--worker", worker.match["endpoint"], "--header-timeout", "60",
            *key_flags(None, True, "frontend")]  # fmt: skip
    frontend = ManagedProcess("frontend-few-files", argv, FRONTEND_READY)
    stack = Stack(frontend.match["url"])
    clients: list[socket.socket] = []
    try:
        for _ in range(120):
            clients.append(socket.create_connection(("127.0.0.1", port_of(stack)), timeout=5))
        frontend.wait_log(r"cannot accept connections \(Too many open files\)")
        wait_until(
            lambda: frontend.log().count("pausing accept") >= 4, 10, "four pauses of accepting"
        )
        assert len(frontend.log().splitlines()) < 30, frontend.log()[-3000:]
        assert frontend.proc.poll() is None
    finally:
        for sock in clients:
            sock.close()
    wait_until(lambda: healthz_answers(stack), 15, "/healthz answers again")
    frontend.stop()
    assert "Traceback" not in frontend.log()


def healthz_answers(stack: Stack) -> bool:
    try:
        return call(stack, "/healthz").status == 200
    except OSError:
        return False


def metrics_text(stack: Stack) -> str | None:
    try:
        return call(
            stack, "/metrics", headers={"Authorization": f"Bearer {stack.token}"}
        ).body.decode()
    except OSError:
        return None


# --- credentials in logs -----------------------------------------------------------------------


def test_the_dev_token_and_wrong_guesses_stay_out_of_the_log(worker: ManagedProcess) -> None:
    """A sign-in with /?token=, a wrong guess, and a token on a refused WebSocket: the
    log shows the requests with the token redacted, never a token itself."""
    token, guess, other = "real-token-5s8f2k", "wrong-guess-x9q1", "ws-guess-p4m7"
    frontend = start_frontend([worker.match["endpoint"]], f"--token={token}")
    stack = Stack(frontend.match["url"])
    try:
        assert call(stack, f"/?token={token}").status == 302
        assert call(stack, f"/?token={guess}").status == 403
        assert call(stack, f"/ws/exec?token={other}").status == 401
        frontend.wait_log(r"403 GET /\?token=\[redacted\]")
        frontend.wait_log(r"401 GET /ws/exec\?token=\[redacted\]")
    finally:
        frontend.stop()
    logged = "\n".join(line for line in frontend.log().splitlines() if "ready:" not in line)
    assert "302 GET /?token=[redacted]" in logged
    for secret in (token, guess, other):
        assert secret not in logged


# --- Origin and Host -------------------------------------------------------------------------


def test_a_rebound_host_name_is_refused(stack: Stack) -> None:
    """Bound to loopback, the front end refuses a page or a WebSocket asked for under
    another host name (DNS rebinding), with a matching Origin and a valid token too."""
    port = port_of(stack)
    evil = f"evil.example:{port}"
    bearer = {"Authorization": f"Bearer {stack.token}"}
    assert upgrade(stack, {**bearer, "Host": evil, "Origin": f"http://{evil}"}) == 403
    assert call(stack, "/", headers={"Host": evil}).status == 403
    assert call(stack, "/api/hosts", headers={**bearer, "Host": evil}).status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", "localhost"):
        assert call(stack, "/", headers={"Host": host}).status == 200, host
    assert call(stack, "/healthz", headers={"Host": evil}).status == 200


def test_the_origin_must_match_scheme_host_and_port(stack: Stack) -> None:
    """An https Origin against an http page, or another port, is refused; the page's own
    origin is accepted."""
    port = port_of(stack)
    bearer = {"Authorization": f"Bearer {stack.token}"}
    assert upgrade(stack, {**bearer, "Origin": f"https://127.0.0.1:{port}"}) == 403
    assert upgrade(stack, {**bearer, "Origin": f"http://127.0.0.1:{port + 1}"}) == 403
    assert upgrade(stack, {**bearer, "Origin": f"http://localhost:{port}"}) == 403
    assert upgrade(stack, {**bearer, "Origin": f"http://127.0.0.1:{port}"}) == 101


def test_allowed_hosts_are_answered(worker: ManagedProcess) -> None:
    """A name listed in --allowed-host is answered (pages and WebSockets) besides
    loopback names; other names still are not."""
    frontend = start_frontend([worker.match["endpoint"]], "--allowed-host", "dterm.example")
    stack = Stack(frontend.match["url"])
    try:
        named = {"Host": "dterm.example", "Authorization": f"Bearer {stack.token}"}
        assert call(stack, "/", headers={"Host": "dterm.example"}).status == 200
        assert upgrade(stack, {**named, "Origin": "http://dterm.example"}) == 101
        assert call(stack, "/", headers={"Host": "other.example"}).status == 403
    finally:
        frontend.stop()


# --- headers and cookies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/api/auth", "/api/hosts", "/static/app.js", "/vendor/xterm/css/xterm.css", "/nope"],
)
def test_every_response_carries_the_security_headers(stack: Stack, path: str) -> None:
    """The page, the API (signed in or refused), static files and a 404 all carry the
    CSP, X-Frame-Options, nosniff and no-referrer."""
    reply = call(stack, path)
    assert reply.status in (200, 401, 404)
    for name in SECURITY_HEADERS:
        assert reply.headers.get(name), (path, name)
    csp = reply.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp and "object-src 'none'" in csp
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "no-referrer"


POLICY = """
[[roles]]
users = ["admin"]
  [[roles.rules]]
  hosts = ["*"]

[[roles]]
users = ["elsewhere"]
  [[roles.rules]]
  hosts = ["other-*"]
"""


@pytest.fixture(scope="module")
def proxied(worker: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A front end with accounts and a policy that trusts a proxy on 127.0.0.1, so
    these tests can say what the proxy says (X-Forwarded-Proto, X-Forwarded-User)."""
    folder = tmp_path_factory.mktemp("proxied")
    users = folder / "users.json"
    for name in ("admin", "elsewhere", "nobody"):
        accounts("users", "--users-file", str(users), "add", name, "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip
    (folder / "policy.toml").write_text(POLICY)
    frontend = start_frontend(
        [worker.match["endpoint"]], "--users-file", str(users), "--policy",
        str(folder / "policy.toml"), "--trusted-proxy", "127.0.0.1/32",
        "--sso-user-header", "X-Forwarded-User", "--sso-proxy", "127.0.0.1/32",
    )  # fmt: skip
    stack = Stack(frontend.match["url"])
    wait_hosts_up(stack, {"local"}, headers={"X-Forwarded-User": "admin"})
    yield stack
    frontend.stop()


def xsrf_cookie(reply: Reply) -> str:
    return next(h for h in reply.headers.get_all("Set-Cookie") or [] if h.startswith("_xsrf="))


def test_the_xsrf_cookie_is_secure_behind_an_https_proxy(proxied: Stack) -> None:
    """Behind a trusted proxy that says https the _xsrf cookie is Secure; over plain
    http it is not; SameSite=Strict either way."""
    behind_tls = xsrf_cookie(call(proxied, "/api/auth", headers={"X-Forwarded-Proto": "https"}))
    assert "Secure" in behind_tls and "SameSite=Strict" in behind_tls
    plain = xsrf_cookie(call(proxied, "/api/auth"))
    assert "Secure" not in plain and "SameSite=Strict" in plain


def test_behind_an_https_proxy_the_page_origin_is_https(proxied: Stack) -> None:
    """Through a trusted proxy that says https, the page's origin is https: an https
    Origin is accepted, the same host over http refused."""
    port = port_of(proxied)
    person = {"X-Forwarded-User": "admin", "X-Forwarded-Proto": "https"}
    assert upgrade(proxied, {**person, "Origin": f"https://127.0.0.1:{port}"}) == 101
    assert upgrade(proxied, {**person, "Origin": f"http://127.0.0.1:{port}"}) == 403


# --- /metrics --------------------------------------------------------------------------------


def metrics_status(url: str, token: str = "") -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_metrics_need_the_token_on_both_processes(
    stack: Stack, worker: ManagedProcess, proxied: Stack
) -> None:
    """Front end in dev mode: the dev token reads /metrics, nothing else does; with
    accounts and no metrics token: nobody; worker: only its metrics token."""
    assert metrics_status(stack.base) == 403
    assert metrics_status(stack.base, "guess") == 403
    assert metrics_status(stack.base, stack.token) == 200
    assert metrics_status(proxied.base) == 403
    assert metrics_status(worker.match["http"]) == 403
    assert metrics_status(worker.match["http"], "guess") == 403
    assert metrics_status(worker.match["http"], WORKER_METRICS_TOKEN) == 200


def test_a_metrics_token_is_required_when_set(docker_client: Any) -> None:
    """With --metrics-token, /metrics answers that token only (not the dev token); a
    worker without one answers nobody; /healthz and /readyz stay open."""
    worker = start_worker("metrics-host")
    frontend = start_frontend([worker.match["endpoint"]], "--metrics-token", "scrape-me")
    stack = Stack(frontend.match["url"])
    try:
        wait_hosts_up(stack, {"metrics-host"})
        assert metrics_status(stack.base, "scrape-me") == 200
        assert metrics_status(stack.base, stack.token) == 403
        assert metrics_status(worker.match["http"], "scrape-me") == 403
        for base in (stack.base, worker.match["http"]):
            for probe in ("/healthz", "/readyz"):
                assert call(Stack(base), probe).status == 200, (base, probe)
        ready = call(stack, "/readyz").body.decode()
        assert "metrics-host" not in ready and "tcp://" not in ready
    finally:
        frontend.stop()
        worker.stop()


# --- hosts --------------------------------------------------------------------------------------


async def test_hosts_are_shown_only_to_people_who_may_use_them(
    proxied: Stack, worker: ManagedProcess
) -> None:
    """A person with no role sees no host (API, event stream, container errors); one
    whose rules name other hosts does not see this one; an admin does; nobody ever
    sees a worker's endpoint."""
    endpoint = worker.match["endpoint"]
    as_admin = {"Cookie": cookie_of(await asyncio.to_thread(sign_in, proxied, "admin", PASSWORD))}
    admin_hosts = await asyncio.to_thread(call, proxied, "/api/hosts", headers=as_admin)
    assert [h["host"] for h in admin_hosts.json()["hosts"]] == ["local"]
    assert endpoint not in admin_hosts.body.decode()
    assert "endpoint" not in admin_hosts.json()["hosts"][0]
    for user in ("nobody", "elsewhere"):
        person = {"Cookie": cookie_of(await asyncio.to_thread(sign_in, proxied, user, PASSWORD))}
        assert (await asyncio.to_thread(call, proxied, "/api/hosts", headers=person)).json() == {
            "hosts": []
        }
        assert (await asyncio.to_thread(call, proxied, "/api/containers", headers=person)).json()[
            "errors"
        ] == []
        stream = EventStream(proxied, headers=person)
        try:
            _, _, snapshot = await stream.wait_for(
                lambda name, _: name == "snapshot", 10, "the snapshot"
            )
        finally:
            stream.close()
        assert snapshot["hosts"] == [] and endpoint not in json.dumps(snapshot)
