"""`dterm exec` and its friends against real front ends, workers and Docker: a session in
a real pty (raw mode, size, Ctrl-C, exit code, the terminal restored), surviving a
front end killed with -9 and a cut network, pipes without a tty (binary, stdout and
stderr apart, stdin's end), every error with its exit code, and the lists."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import termios
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dterm_cli.credentials import Credential, CredentialStore
from tests.conftest import Containers, get_json, require, wait_hosts_up
from tests.support.accounts import accounts, add_user
from tests.support.cli import Cli
from tests.support.http import call
from tests.support.nginx import nginx_binary, start_nginx
from tests.support.processes import OUTPUT, REPO, ManagedProcess, start_frontend, start_worker
from tests.support.tcp_proxy import TcpProxy
from tests.support.terminal_client import PROMPT, Stack
from tests.support.waiting import wait_until

PASSWORD = "a password of ann's"


@pytest.fixture
def cli(stack: Stack, tmp_path: Path) -> Cli:
    """The client, signed in to the shared stack with its sign-in URL."""
    client = Cli(tmp_path / "config")
    client.login(f"{stack.base}/?token={stack.token}")
    return client


def seq_output(last: int) -> bytes:
    return b"".join(b"%d\n" % i for i in range(1, last + 1))


def read_all(stream: Any, into: bytearray) -> threading.Thread:
    """Read a pipe to its end on a thread (the test reads the other one meanwhile)."""

    def pump() -> None:
        while chunk := stream.read(65536):
            into.extend(chunk)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


# --- a terminal ---------------------------------------------------------------------


def until_size(term: Any, size: bytes) -> None:
    """`stty size` until it says `size`: the resize travels on its own, beside the keys."""
    for _ in range(20):
        since = len(term.output)
        term.send(b"stty size\r")
        found = term.expect(rb"(\d+ \d+)\r\n", since=since)
        if found[1] == size:
            return
    raise AssertionError(f"stty size never said {size!r}")


def running(container: Any, command: str) -> None:
    """Wait until the program runs in the container (a key sent before it starts would
    reach the shell instead)."""
    wait_until(lambda: any(command in row[-1] for row in container.top()["Processes"]),
               10, f"{command} to run")  # fmt: skip


def test_exec_in_a_terminal(cli: Cli, busybox: Any) -> None:
    """In a pty: the prompt, raw mode meanwhile, the size at start and after a resize,
    Ctrl-C stops `sleep`, Ctrl-Z reaches the shell, `exit 5` ends dterm with status 5,
    and the terminal's own mode is back afterwards."""
    term = cli.pty("exec", "--host", "local", busybox.name, cols=100, rows=30)
    try:
        term.expect(PROMPT)
        lflag = term.mode()[3]
        assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)
        until_size(term, b"30 100")
        term.resize(120, 40)
        until_size(term, b"40 120")
        since = len(term.output)
        term.send(b"sleep 1001\r")
        running(busybox, "sleep 1001")
        term.send(b"\x03")
        term.expect(PROMPT, timeout=5, since=since)
        term.send(b"echo alive-$((20+3))\r")
        term.expect(rb"alive-23\r\n", timeout=5, since=since)
        since = len(term.output)
        term.send(b"sleep 1002\r")
        running(busybox, "sleep 1002")
        term.send(b"\x1a")
        term.expect(rb"Stopped", timeout=5, since=since)
        since = len(term.output)
        term.send(b"fg\r")
        term.expect(rb"sleep 1002\r\n", since=since)
        term.send(b"\x03")
        term.expect(PROMPT, timeout=5, since=since)
        term.send(b"exit 5\r")
        assert term.wait(30) == 5
        assert term.mode() == term.initial_mode
    finally:
        term.close()


def test_the_terminal_is_restored_when_dterm_is_ended(cli: Cli, busybox: Any, stack: Stack) -> None:
    """SIGTERM to dterm closes the session (its shell ends) and puts the terminal back;
    the status is 128 + 15."""
    term = cli.pty("exec", "--host", "local", busybox.name)
    try:
        term.expect(PROMPT)
        assert term.mode() != term.initial_mode
        mine = get_json(stack, "/api/sessions")["sessions"]
        term.proc.terminate()
        assert term.wait(15) == 143
        assert term.mode() == term.initial_mode
        gone = {s["session"] for s in mine}
        wait_until(lambda: not gone & {s["session"] for s in get_json(stack, "/api/sessions")["sessions"]},
                   15, "the session closed")  # fmt: skip
    finally:
        term.close()


# --- surviving the network ------------------------------------------------------------


@dataclass
class Balanced:
    url: str
    worker: ManagedProcess
    frontends: list[ManagedProcess]


@pytest.fixture(scope="module")
def balanced(docker_client: Any) -> Iterator[Balanced]:
    """Two front ends (one token, one cookie secret) behind the repository's nginx."""
    require(Path(nginx_binary()).exists(), "nginx is missing: apt-get install nginx")
    token, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
    worker = start_worker("cli-lb", "--grace", "60")
    frontends = [start_frontend([worker.match["endpoint"]], f"--token={token}",
                                f"--cookie-secret={secret}") for _ in range(2)]  # fmt: skip
    for frontend in frontends:
        wait_hosts_up(Stack(frontend.match["url"]), {"cli-lb"})
    ports = [int(f.match["url"].split(":")[2].split("/")[0]) for f in frontends]
    proc, listen = start_nginx(OUTPUT / "nginx-cli", ports)
    yield Balanced(f"http://127.0.0.1:{listen}/?token={token}", worker, frontends)
    proc.terminate()
    proc.wait(10)
    for process in [*frontends, worker]:
        if process.proc.poll() is None:
            process.stop()


def test_output_is_exact_after_the_front_end_is_killed(
    balanced: Balanced, busybox: Any, tmp_path: Path
) -> None:
    """`seq 1 300000` through nginx; the front end holding the connection is killed with
    -9 mid-stream; dterm says so, resumes through the other one behind the same URL,
    and its stdout is exact: nothing lost, nothing doubled."""
    client = Cli(tmp_path / "config")
    client.login(balanced.url)
    before = [f.log().count("101 GET /ws/exec") for f in balanced.frontends]
    dterm = client.start("exec", "-T", "--host", "cli-lb", busybox.name, "--", "seq", "1", "300000")
    assert dterm.stdout is not None and dterm.stderr is not None
    got = bytearray(dterm.stdout.read(100_000))  # then stop reading: the session is held
    holder = wait_until(
        lambda: next((f for f, n in zip(balanced.frontends, before, strict=True)
                      if f.log().count("101 GET /ws/exec") > n), None),
        10, "the front end holding the connection",
    )  # fmt: skip
    holder.kill()
    errors = bytearray()
    reader = read_all(dterm.stderr, errors)
    got += dterm.stdout.read()
    assert dterm.wait(60) == 0
    reader.join(10)
    assert got == seq_output(300000)
    assert b"connection lost" in errors and b"reconnected" in errors, errors


@pytest.fixture(scope="module")
def steady(docker_client: Any) -> Iterator[Stack]:
    """A worker that keeps sessions without their owner for a minute, and its front end."""
    worker = start_worker("cli-steady", "--grace", "60")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"], host="cli-steady")
    wait_hosts_up(stack, {"cli-steady"})
    yield stack
    frontend.stop()
    worker.stop()


@pytest.fixture
def proxied(steady: Stack, tmp_path: Path) -> Iterator[tuple[Cli, TcpProxy]]:
    """The client signed in through a TCP proxy in front of the steady stack."""
    proxy = TcpProxy(int(steady.base.rsplit(":", 1)[1]))
    client = Cli(tmp_path / "config")
    client.login(f"http://127.0.0.1:{proxy.port}/?token={steady.token}")
    yield client, proxy
    proxy.close()


def test_keys_typed_while_reconnecting_arrive_once(
    proxied: tuple[Cli, TcpProxy], busybox: Any
) -> None:
    """The network is cut under a live session: dterm says so, keeps the keys typed
    meanwhile, and once it is back resumes and delivers them exactly once."""
    client, proxy = proxied
    term = client.pty("exec", busybox.name)
    try:
        term.expect(PROMPT)
        proxy.cut()
        term.expect(rb"dterm: connection lost")
        since = len(term.output)
        term.send(b"echo typed-$((6*7))\r")
        tried = proxy.accepted
        wait_until(lambda: proxy.accepted > tried, 15, "an attempt to reconnect after the keys")
        proxy.mend()
        term.expect(rb"dterm: reconnected", timeout=30, since=since)
        term.expect(rb"typed-42\r\n", since=since)
        term.send(b"echo marker-$((1+1))\r")
        term.expect(rb"marker-2\r\n", since=since)
        assert term.output.count(b"echo typed-$((6*7))") == 1
        assert term.output.count(b"typed-42\r\n") == 1
        term.send(b"exit\r")
        assert term.wait(30) == 0
    finally:
        term.close()


def test_keys_for_a_program_that_ended_meanwhile_are_reported(
    proxied: tuple[Cli, TcpProxy], busybox: Any, steady: Stack
) -> None:
    """Keys typed while the connection is down, for a program that ends meanwhile, are
    reported on stderr as not delivered; the rest of the output and the exit code
    still arrive when dterm gets back."""
    client, proxy = proxied
    script = "echo ready; sleep 3; echo bye; exit 4"
    term = client.pty("exec", busybox.name, "--", "sh", "-c", script)
    try:
        term.expect(rb"ready\r\n")
        proxy.cut()
        [session] = [s["session"] for s in get_json(steady, "/api/sessions")["sessions"]
                     if s["command"] == ["sh", "-c", script]]  # fmt: skip
        term.expect(rb"dterm: connection lost")
        term.send(b"abc")
        wait_until(lambda: session not in {s["session"] for s in
                                           get_json(steady, "/api/sessions")["sessions"]},
                   15, "the program to end")  # fmt: skip
        tried = proxy.accepted
        wait_until(lambda: proxy.accepted > tried, 20, "an attempt to reconnect after the end")
        proxy.mend()
        term.expect(rb"3 bytes of input were not delivered: the program had ended", timeout=30)
        term.expect(rb"bye\r\n")
        assert term.wait(30) == 4
    finally:
        term.close()


def test_giving_up_after_reconnect_for_is_lost(proxied: tuple[Cli, TcpProxy], busybox: Any) -> None:
    """A network that stays down past --reconnect-for ends dterm with 255, saying how
    to come back to the session, which lives on."""
    client, proxy = proxied
    dterm = client.start("exec", "-T", "--reconnect-for", "1", busybox.name,
                         "--", "sh", "-c", "echo ready; sleep 60")  # fmt: skip
    assert dterm.stdout is not None and dterm.stderr is not None
    assert dterm.stdout.readline() == b"ready\n"
    proxy.cut()
    assert dterm.wait(60) == 255
    said = dterm.stderr.read().decode()
    assert "could not reconnect within 1 s" in said and "dterm attach " in said, said
