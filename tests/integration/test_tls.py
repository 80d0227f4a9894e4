"""A front end serving TLS itself: HTTPS and WSS with a certificate made here, cookies
and the Origin check as over TLS, and certificates renewed on disk without a restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.http import call, wait_hosts_up
from tests.support.processes import ManagedProcess, key_flags, start_frontend
from tests.support.pty_process import PtyProcess
from tests.support.terminal_client import Stack, TerminalClient, expect_http_error
from tests.support.tls import Pair, make_pair, trusting
from tests.support.waiting import wait_until


def install(pair: Pair, live: Pair) -> None:
    """Put a pair where the front end reads it, each file replaced at once (as certbot
    and Kubernetes do), the certificate first."""
    for source, target in ((pair.cert, live.cert), (pair.key, live.key)):
        temp = target.with_suffix(".new")
        shutil.copyfile(source, temp)
        os.replace(temp, target)


def served_name(stack: Stack) -> str:
    """The common name of the certificate a new connection is served."""
    parts = urlsplit(stack.base)
    assert stack.tls is not None
    with (
        socket.create_connection((parts.hostname, parts.port), timeout=10) as raw,
        stack.tls.wrap_socket(raw, server_hostname=parts.hostname) as tls,
    ):
        subject = dict(item[0] for item in tls.getpeercert()["subject"])  # type: ignore[index]
        return str(subject["commonName"])


@dataclass
class TlsSetup:
    one: Pair
    two: Pair
    live: Pair
    """Where the front end reads its certificate and key."""
    frontend: ManagedProcess
    stack: Stack


@pytest.fixture
def tls_frontend(worker: ManagedProcess, tmp_path: Path) -> Iterator[TlsSetup]:
    """A front end given its pair through the config file's keys (tls_cert, tls_key)."""
    one, two = make_pair(tmp_path, "one"), make_pair(tmp_path, "two")
    live = Pair(tmp_path / "live" / "dterm.crt", tmp_path / "live" / "dterm.key")
    live.cert.parent.mkdir()
    install(one, live)
    config = tmp_path / "dterm.toml"
    config.write_text(f'[frontend]\ntls_cert = "{live.cert}"\ntls_key = "{live.key}"\n')
    frontend = start_frontend([worker.match["endpoint"]], "--config", str(config))
    stack = Stack(frontend.match["url"], host="local", tls=trusting(one, two))
    try:
        yield TlsSetup(one, two, live, frontend, stack)
    finally:
        frontend.stop()


def test_the_ready_line_says_https(tls_frontend: TlsSetup) -> None:
    """The address the front end prints is an https one, and it answers there."""
    assert tls_frontend.stack.base.startswith("https://127.0.0.1:")
    assert served_name(tls_frontend.stack) == "one"
    page = call(tls_frontend.stack, "/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")


def test_cookies_are_secure_over_tls(tls_frontend: TlsSetup) -> None:
    """The login and _xsrf cookies set over the front end's own TLS are Secure."""
    stack = tls_frontend.stack
    signed_in = call(stack, f"/?token={stack.token}")
    cookies = {
        header.split("=", 1)[0]: header for header in signed_in.headers.get_all("Set-Cookie") or []
    }
    assert "; Secure" in cookies["dterm_login"]
    xsrf = call(stack, "/api/auth").headers.get_all("Set-Cookie") or []
    assert xsrf and all("; Secure" in header for header in xsrf)


async def test_a_terminal_over_wss(tls_frontend: TlsSetup, busybox: Any) -> None:
    """A WSS session with the page's https Origin opens a shell, runs a command and
    gets megabytes of output whole."""
    stack = tls_frontend.stack
    await asyncio.to_thread(wait_hosts_up, stack, {"local"})
    terminal = await TerminalClient.connect(stack, headers={"Origin": stack.base})
    try:
        await terminal.open(busybox.name, host="local", cmd=["sh"])
        assert b"over-tls-42" in await terminal.run("echo over-tls-$((6*7))")
        # More than the window: output is held and resumed as acks come back over TLS.
        burst = await terminal.run("head -c 3000000 /dev/zero | tr '\\0' x; echo", timeout=60)
        assert burst.count(b"x") == 3_000_000
    finally:
        await terminal.close()


async def test_a_plain_http_origin_is_refused_over_tls(tls_frontend: TlsSetup) -> None:
    """The page's origin is https: the same host and port over http is another origin."""
    from tornado.httpclient import HTTPRequest

    stack = tls_frontend.stack
    foreign = stack.base.replace("https://", "http://")
    request = HTTPRequest(
        stack.ws_url(),
        headers={"Authorization": f"Bearer {stack.token}", "Origin": foreign},
        ssl_options=stack.tls,
    )
    assert await expect_http_error(request) == 403


async def test_a_renewed_certificate_is_served_without_a_restart(
    tls_frontend: TlsSetup, busybox: Any
) -> None:
    """New connections get the new certificate within seconds; a terminal opened before
    goes on over the old session."""
    setup = tls_frontend
    await asyncio.to_thread(wait_hosts_up, setup.stack, {"local"})
    terminal = await TerminalClient.connect(setup.stack, headers={"Origin": setup.stack.base})
    try:
        await terminal.open(busybox.name, host="local", cmd=["sh"])
        install(setup.two, setup.live)
        await asyncio.to_thread(
            wait_until, lambda: served_name(setup.stack) == "two", 15, "the new certificate"
        )
        setup.frontend.wait_log(r"TLS: certificate \S+ and key \S+ loaded")
        assert b"still-here-42" in await terminal.run("echo still-here-$((6*7))")
    finally:
        await terminal.close()


def test_a_broken_pair_keeps_the_one_before(tls_frontend: TlsSetup) -> None:
    """A key that is not the certificate's is logged with the reason and the pair in
    use stays; once the files make a pair again, it is served."""
    setup = tls_frontend
    install(Pair(setup.two.cert, setup.one.key), setup.live)
    setup.frontend.wait_log(
        r"TLS: the new certificate was not loaded, the one before stays: "
        r"the private key \S+ is not the key of the certificate"
    )
    assert served_name(setup.stack) == "one"
    assert call(setup.stack, "/healthz").status == 200
    install(setup.two, setup.live)
    wait_until(lambda: served_name(setup.stack) == "two", 15, "the mended pair served")


@pytest.mark.parametrize("kind", ["missing-key", "mismatch", "cert-only"])
def test_a_pair_that_does_not_load_stops_the_start(tmp_path: Path, kind: str) -> None:
    """At start, a pair that cannot serve TLS is refused with the file and the reason."""
    one, two = make_pair(tmp_path, "one"), make_pair(tmp_path, "two")
    flags, said = {
        "missing-key": (["--tls-cert", str(one.cert), "--tls-key", str(tmp_path / "none.key")],
                        f"cannot read {tmp_path / 'none.key'}: No such file or directory"),
        "mismatch": (["--tls-cert", str(one.cert), "--tls-key", str(two.key)],
                     f"the private key {two.key} is not the key of the certificate {one.cert}"),
        "cert-only": (["--tls-cert", str(one.cert)], "TLS needs both --tls-cert and --tls-key"),
    }[kind]  # fmt: skip
    with pytest.raises(RuntimeError) as caught:
        start_frontend([], *flags)
    assert said in str(caught.value) and "Traceback" not in str(caught.value)


@pytest.mark.parametrize("sends", [b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])
def test_a_stalled_handshake_is_closed_at_the_head_deadline(
    worker: ManagedProcess, tmp_path: Path, sends: bytes
) -> None:
    """A client that connects and never finishes its TLS handshake (silent, or stopped
    inside its ClientHello) is closed by the first request's head deadline."""
    pair = make_pair(tmp_path, "dterm")
    frontend = start_frontend([worker.match["endpoint"]], "--tls-cert", str(pair.cert),
                              "--tls-key", str(pair.key), "--header-timeout", "2")  # fmt: skip
    try:
        parts = urlsplit(frontend.match["url"])
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
            raw.sendall(sends)
            started = time.monotonic()
            assert raw.recv(1) == b""  # closed by the front end (10 s: the socket's timeout)
            assert time.monotonic() - started < 8
        assert served_name(Stack(frontend.match["url"], tls=trusting(pair))) == "dterm"
    finally:
        frontend.stop()


def test_a_key_under_a_passphrase_is_refused_not_asked_for(tmp_path: Path) -> None:
    """A front end started on a terminal with a passphrase-protected key stops with the
    reason: OpenSSL would otherwise ask for the passphrase on that terminal and hold
    the start (or, for a renewal, the running front end's loop) until someone types."""
    one = make_pair(tmp_path, "one")
    locked = tmp_path / "locked.key"
    key = serialization.load_pem_private_key(one.key.read_bytes(), None)
    locked.touch(mode=0o600)
    locked.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"the passphrase"),
    ))  # fmt: skip
    argv = [sys.executable, "-m", "frontend_server", "--port", "0",
            "--state-dir", str(tmp_path / "state"), *key_flags(None, True, "frontend"),
            "--tls-cert", str(one.cert), "--tls-key", str(locked)]  # fmt: skip
    terminal = PtyProcess(argv, {**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        terminal.expect(rb"locked\.key is encrypted")
        assert terminal.wait(15) != 0
        assert b"pass phrase" not in terminal.output, bytes(terminal.output)
    finally:
        terminal.close()
