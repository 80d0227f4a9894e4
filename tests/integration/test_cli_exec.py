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
import shlex
import subprocess
import termios
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dterm_cli.credentials import Credential, CredentialStore
from tests.support.accounts import accounts, add_user
from tests.support.cli import DTERM, Cli
from tests.support.containers import Containers, require
from tests.support.http import call, get_json, wait_hosts_up
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
        while chunk := stream.read1(65536):
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
    wait_until(
        lambda: any(command in row[-1] for row in container.top()["Processes"]),
        10,
        f"{command} to run",
    )


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


def live_sessions(stack: Stack) -> set[str]:
    return {s["session"] for s in get_json(stack, "/api/sessions")["sessions"]}


def test_the_terminal_is_restored_when_dterm_is_ended(cli: Cli, busybox: Any, stack: Stack) -> None:
    """SIGTERM to dterm closes the session (its shell ends) and puts the terminal back;
    the status is 128 + 15."""
    before = live_sessions(stack)
    term = cli.pty("exec", "--host", "local", busybox.name)
    try:
        term.expect(PROMPT)
        assert term.mode() != term.initial_mode
        [mine] = live_sessions(stack) - before
        term.proc.terminate()
        assert term.wait(15) == 143
        assert term.mode() == term.initial_mode
        wait_until(lambda: mine not in live_sessions(stack), 15, "the session closed")
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
    frontends = [
        start_frontend([worker.match["endpoint"]], f"--token={token}", f"--cookie-secret={secret}")
        for _ in range(2)
    ]
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
        lambda: next(
            (
                f
                for f, n in zip(balanced.frontends, before, strict=True)
                if f.log().count("101 GET /ws/exec") > n
            ),
            None,
        ),
        10,
        "the front end holding the connection",
    )
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


def test_keys_beyond_what_dterm_keeps_while_away_are_reported(
    proxied: tuple[Cli, TcpProxy], busybox: Any
) -> None:
    """70 KiB typed while the network is down: the first 64 KiB reach the program once
    dterm is back, and the rest is reported on stderr as not delivered."""
    client, proxy = proxied
    term = client.pty("exec", busybox.name, "--", "sh", "-c", "stty -echo; echo ready; wc -c")
    try:
        term.expect(rb"ready\r\n")
        proxy.cut()
        term.expect(rb"dterm: connection lost")
        term.send((b"x" * 99 + b"\n") * (70 * 1024 // 100) + b"x" * (70 * 1024 % 100))
        tried = proxy.accepted
        wait_until(lambda: proxy.accepted > tried, 15, "an attempt to reconnect after the keys")
        proxy.mend()
        term.expect(rb"6144 bytes typed while reconnecting were not delivered", timeout=30)
        term.send(b"\n\x04")
        term.expect(rb"65537\r\n")
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
        [session] = [
            s["session"]
            for s in get_json(steady, "/api/sessions")["sessions"]
            if s["command"] == ["sh", "-c", script]
        ]
        term.expect(rb"dterm: connection lost")
        term.send(b"abc")
        wait_until(
            lambda: (
                session not in {s["session"] for s in get_json(steady, "/api/sessions")["sessions"]}
            ),
            15,
            "the program to end",
        )
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
    dterm = client.start(
        "exec", "-T", "--reconnect-for", "1", busybox.name, "--", "sh", "-c", "echo ready; sleep 60"
    )
    assert dterm.stdout is not None and dterm.stderr is not None
    assert dterm.stdout.readline() == b"ready\n"
    proxy.cut()
    assert dterm.wait(60) == 255
    said = dterm.stderr.read().decode()
    assert "could not reconnect within 1 s" in said and "dterm attach " in said, said


# --- without a terminal -----------------------------------------------------------------


def test_20_mb_of_random_bytes_through_cat(cli: Cli, busybox: Any, tmp_path: Path) -> None:
    """20 MB of random bytes piped in and out of `cat` come back identical: stdin's end
    reaches `cat`, which exits 0, and nothing is lost, added or translated."""
    source = tmp_path / "random.bin"
    source.write_bytes(os.urandom(20_000_000))
    with source.open("rb") as stdin:
        done = cli.run(
            "exec", "--host", "local", busybox.name, "--", "cat", stdin=stdin, timeout=120
        )
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(done.stdout).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert done.stderr == b""


def test_stdout_and_stderr_stay_apart(cli: Cli, busybox: Any) -> None:
    """Without a tty the program's stdout and stderr reach dterm's own, unmixed, and the
    exit code is the program's."""
    script = "echo out-1; echo err-1 >&2; printf 'out-\\000-2'; echo err-2 >&2; exit 3"
    done = cli.run("exec", "-T", "--host", "local", busybox.name, "--", "sh", "-c", script)
    assert (done.returncode, done.stdout, done.stderr) == (
        3,
        b"out-1\nout-\x00-2",
        b"err-1\nerr-2\n",
    )


def test_the_user_and_folder_asked_for_are_the_programs(cli: Cli, busybox: Any) -> None:
    """`-u` and `-w` reach the exec: the program runs as that user, in that folder."""
    done = cli.run("exec", "-u", "1000:1000", "-w", "/tmp", "--host", "local", busybox.name,
                   "--", "sh", "-c", "id -u; id -g; pwd")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, b"1000\n1000\n/tmp\n"), done.stderr


def test_tar_through_a_pipe(cli: Cli, busybox: Any, tmp_path: Path) -> None:
    """`tar c . | dterm exec -T c -- tar x` unpacks in the container; the way back gives
    the same files."""
    source = tmp_path / "tree"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "data.bin").write_bytes(os.urandom(300_000))
    (source / "notes.txt").write_text("ünïcode notes\n")
    target = f"/tmp/tar-{secrets.token_hex(4)}"
    packed = subprocess.run(
        ["tar", "c", "-C", str(source), "."], capture_output=True, check=True
    ).stdout
    done = cli.run(
        "exec",
        "-T",
        "--host",
        "local",
        busybox.name,
        "--",
        "sh",
        "-c",
        f"mkdir {target} && tar x -C {target}",
        input=packed,
    )
    assert done.returncode == 0, done.stderr
    back = cli.run(
        "exec", "-T", "-n", "--host", "local", busybox.name, "--", "tar", "c", "-C", target, "."
    )
    assert back.returncode == 0, back.stderr
    unpacked = tmp_path / "back"
    unpacked.mkdir()
    subprocess.run(["tar", "x", "-C", str(unpacked)], input=back.stdout, check=True)
    assert (unpacked / "sub" / "data.bin").read_bytes() == (
        source / "sub" / "data.bin"
    ).read_bytes()
    assert (unpacked / "notes.txt").read_text() == "ünïcode notes\n"


def test_without_a_command_and_a_tty_the_shell_reads_stdin(cli: Cli, busybox: Any) -> None:
    """A script piped into `dterm exec C` runs in the container's sh."""
    done = cli.run("exec", "--host", "local", busybox.name, input=b"echo in-$((3*3))\nexit 2\n")
    assert (done.returncode, done.stdout) == (2, b"in-9\n")


# --- errors -----------------------------------------------------------------------------


def test_not_signed_in(busybox: Any, tmp_path: Path) -> None:
    """Without `dterm login`: a clear message and status 254."""
    done = Cli(tmp_path / "nobody").run("exec", busybox.name, "--", "true")
    assert done.returncode == 254
    assert b"not signed in: run `dterm login URL`" in done.stderr


def test_a_refused_credential_is_not_signed_in(stack: Stack, busybox: Any, tmp_path: Path) -> None:
    """A token the front end does not take: `dterm login` refuses to keep it, and a kept
    one that stopped working ends `exec` with 254 too."""
    client = Cli(tmp_path / "config")
    done = client.run("login", f"{stack.base}/?token=not-the-token")
    assert done.returncode == 254 and b"refused the token" in done.stderr
    CredentialStore(tmp_path / "config" / "dterm").save(
        Credential(stack.base, "bearer", "dev", "a-token-since-revoked")
    )
    done = client.run("exec", "--host", "local", busybox.name, "--", "true")
    assert done.returncode == 254 and b"refused the sign-in" in done.stderr
    assert b"a-token-since-revoked" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("args", "status", "said"),
    [
        pytest.param(
            ["no-such-container", "--", "true"],
            252,
            b"not_found: no container 'no-such-container'",
            id="no-container",
        ),
        pytest.param(
            ["--host", "no-such-host", "c", "--", "true"],
            252,
            b"not_found: no host 'no-such-host'",
            id="no-host",
        ),
        pytest.param(
            ["BOX", "--", "no-such-program"],
            127,
            b"command_not_found: no-such-program: command not found",
            id="no-command",
        ),
        pytest.param(
            ["-u", "nobody-here", "BOX", "--", "true"],
            126,
            b"start_failed: unable to find user nobody-here",
            id="no-user",
        ),
        pytest.param(
            ["-w", "/no/such/dir", "BOX", "--", "true"],
            126,
            b"start_failed: the working directory does not exist",
            id="no-workdir",
        ),
        pytest.param(
            ["-w", "relative", "BOX"],
            2,
            b"--workdir must be an absolute path",
            id="relative-workdir",
        ),
    ],
)
def test_errors_say_what_and_end_with_their_status(
    cli: Cli, busybox: Any, args: list[str], status: int, said: bytes
) -> None:
    """Each failure to start says why on stderr, with its documented exit status (and
    no other complaint, such as input refused after the end)."""
    args = [busybox.name if a == "BOX" else a for a in args]
    host = [] if "--host" in args else ["--host", "local"]
    done = cli.run("exec", *host, *args)
    assert done.returncode == status, done.stderr
    assert said in done.stderr
    assert b"conflict" not in done.stderr


def test_a_stopped_container_is_not_running(cli: Cli, containers: Any) -> None:
    """A container that exists but is stopped: `not_running`, status 251."""
    stopped = containers.run(command=["true"])
    stopped.wait(timeout=30)
    done = cli.run("exec", "--host", "local", stopped.name, "--", "true")
    assert done.returncode == 251 and b"not_running" in done.stderr, done.stderr


def test_an_unreachable_front_end_is_lost(tmp_path: Path, busybox: Any) -> None:
    """A front end nobody answers for: status 255, saying which."""
    client = Cli(tmp_path / "config")
    CredentialStore(tmp_path / "config" / "dterm").save(
        Credential("http://127.0.0.1:9", "bearer", "dev", "token")
    )
    done = client.run("exec", busybox.name, "--", "true")
    assert done.returncode == 255 and b"cannot reach http://127.0.0.1:9" in done.stderr


def test_a_lost_host_is_lost(busybox: Any, tmp_path: Path) -> None:
    """The worker is killed under a running session: the session ends as host-lost and
    dterm with 255."""
    worker = start_worker("cli-doomed")
    frontend = start_frontend([worker.match["endpoint"]])
    try:
        stack = Stack(frontend.match["url"])
        wait_hosts_up(stack, {"cli-doomed"})
        client = Cli(tmp_path / "config")
        client.login(frontend.match["url"])
        dterm = client.start("exec", "-T", busybox.name, "--", "sh", "-c", "echo up; sleep 100")
        assert dterm.stdout is not None and dterm.stderr is not None
        assert dterm.stdout.readline() == b"up\n"
        worker.kill()
        assert dterm.wait(30) == 255
        assert b"host-lost" in dterm.stderr.read()
    finally:
        frontend.stop()
        worker.stop()


# --- lists, resuming, watching ------------------------------------------------------------


def test_ls_lists_containers_as_a_table_and_json(cli: Cli, busybox: Any) -> None:
    """`dterm ls`: a table with a header; `--json`: the front end's answer for scripts."""
    table = cli.run("ls")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.decode().splitlines()
    assert lines[0].split() == ["HOST", "NAME", "STATE", "IMAGE", "ID"]
    assert ["local", busybox.name, "running"] in [line.split()[:3] for line in lines[1:]]
    listed = json.loads(cli.run("ls", "--json", "--host", "local").stdout)
    assert busybox.name in {c["name"] for c in listed["containers"]}
    assert listed["errors"] == []


def test_attach_resumes_a_session_after_dterm_died(cli: Cli, busybox: Any) -> None:
    """dterm killed with -9 leaves its session running; `dterm sessions` lists it as not
    attached, and `dterm attach` resumes it: its output from the start, stdin, exit code."""
    script = 'echo started; read line; echo "got $line"; exit 6'
    first = cli.start(
        "exec",
        "-T",
        "--host",
        "local",
        busybox.name,
        "--",
        "sh",
        "-c",
        script,
        stdin=subprocess.PIPE,
    )
    assert first.stdout is not None
    assert first.stdout.readline() == b"started\n"
    first.kill()
    first.wait(10)

    def detached() -> dict[str, Any] | None:
        listed = json.loads(cli.run("sessions", "--json").stdout)["sessions"]
        return next(
            (s for s in listed if s["cmd"] == ["sh", "-c", script] and not s["attached"]), None
        )

    session = wait_until(detached, 15, "the session listed as detached")
    assert session["tty"] is False
    table = cli.run("sessions").stdout.decode()
    assert session["session"] in table and "ATTACHED" in table.splitlines()[0]
    done = cli.run("attach", session["session"], input=b"hello\n")
    assert (done.returncode, done.stdout) == (6, b"started\ngot hello\n"), done.stderr


def test_watch_follows_a_shared_session_read_only(cli: Cli, busybox: Any) -> None:
    """`dterm exec --share` says the watch link; `dterm watch LINK` shows the session as
    it goes and ends with its exit code; the watcher's keys go nowhere."""
    owner = cli.pty("exec", "--share", "--host", "local", busybox.name)
    try:
        link = owner.expect(rb"watch link: (\S+)\r\n")[1].decode()
        owner.expect(PROMPT)
        watcher = cli.start("watch", link, stdin=subprocess.PIPE)
        assert watcher.stdout is not None and watcher.stdin is not None
        seen = bytearray()
        reader = read_all(watcher.stdout, seen)
        wait_until(lambda: b"# " in seen, 15, "the watcher to see the prompt")
        watcher.stdin.write(b"echo from-the-watcher\n")
        watcher.stdin.flush()
        owner.send(b"echo shared-$((2+3))\r")
        wait_until(lambda: b"shared-5\r\n" in seen, 15, "the watcher to see the output")
        owner.send(b"exit 3\r")
        assert owner.wait(30) == 3
        assert watcher.wait(30) == 3
        reader.join(10)
        assert b"from-the-watcher" not in owner.output + seen
    finally:
        owner.close()


# --- signing in -----------------------------------------------------------------------------

POLICY = """
[[roles]]
users = ["ann"]
  [[roles.rules]]
  hosts = ["cli-sec"]
  containers = ["dterm-test-busybox"]
  [[roles.rules]]
  hosts = ["cli-sec"]
  containers = ["dterm-test-cli-ro-*"]
  access = "ro"
"""


@dataclass
class Secured:
    base: str
    tokens: Path


@pytest.fixture(scope="module")
def secured(containers: Containers, busybox: Any, tmp_path_factory: Any) -> Iterator[Secured]:
    """A front end with password sign-in, issued tokens and a policy: ann may open
    sessions in the busybox container and only watch in dterm-test-cli-ro-*."""
    folder = tmp_path_factory.mktemp("cli-secured")
    users, tokens = folder / "users.json", folder / "tokens.json"
    add_user(users, "ann", PASSWORD)
    (folder / "policy.toml").write_text(POLICY)
    containers.run(name="dterm-test-cli-ro-1")
    worker = start_worker("cli-sec")
    frontend = start_frontend(
        [worker.match["endpoint"]],
        "--users-file",
        str(users),
        "--tokens-file",
        str(tokens),
        "--policy",
        str(folder / "policy.toml"),
    )
    yield Secured(frontend.match["url"].split("/?")[0].rstrip("/"), tokens)
    frontend.stop()
    worker.stop()


def test_password_sign_in_is_kept_private_and_logout_ends_it(
    secured: Secured, tmp_path: Path
) -> None:
    """`dterm login --user` keeps the login cookie in a 0600 file in a 0700 folder and
    never prints it; `dterm logout` ends that sign-in at the front end and forgets it."""
    client = Cli(tmp_path / "config")
    done = client.login(
        secured.base, "--user", "ann", "--password-stdin", input=f"{PASSWORD}\n".encode()
    )
    assert done.stdout.startswith(f"signed in to {secured.base} as ann".encode())
    folder = tmp_path / "config" / "dterm"
    assert (
        folder.stat().st_mode & 0o777,
        (folder / "credentials.json").stat().st_mode & 0o777,
    ) == (0o700, 0o600)
    [kept] = CredentialStore(folder).load().values()
    assert kept.kind == "cookie" and kept.secret not in (done.stdout + done.stderr).decode()
    wait_until(lambda: b"dterm-test-busybox" in client.run("ls").stdout, 15, "ann's containers")
    out = client.run("logout")
    assert out.returncode == 0 and b"signed out" in out.stdout
    assert CredentialStore(folder).load() == {}
    stack = Stack(secured.base)
    assert call(stack, "/api/auth", headers=kept.headers()).json()["user"] is None
    assert client.run("ls").returncode == 254


def test_wrong_password_is_not_signed_in(secured: Secured, tmp_path: Path) -> None:
    done = Cli(tmp_path / "config").run(
        "login", secured.base, "--user", "ann", "--password-stdin", input=b"not it\n"
    )
    assert done.returncode == 254 and b"wrong name or password" in done.stderr


def test_an_issued_token_and_a_forbidden_container(
    secured: Secured, tmp_path: Path, busybox: Any
) -> None:
    """A token read from stdin signs in as its user; a container the policy lets ann
    only watch refuses `exec` with `forbidden` and status 253."""
    token = accounts("tokens", "--tokens-file", str(secured.tokens), "issue", "ann")
    client = Cli(tmp_path / "config")
    client.login(secured.base, "--token-stdin", input=f"{token}\n".encode())
    wait_until(lambda: b"dterm-test-cli-ro-1" in client.run("ls").stdout, 15, "the containers")
    done = client.run("exec", "dterm-test-cli-ro-1", "--", "true")
    assert done.returncode == 253 and b"forbidden" in done.stderr, done.stderr
    assert client.run("exec", busybox.name, "--", "true").returncode == 0


# --- the README's terminal session ----------------------------------------------------------

TRANSCRIPT = REPO / "docs" / "dterm-exec.txt"
README = REPO / "README.md"
BLOCK = re.compile(r"(<!-- dterm-exec transcript -->\n```text\n)(.*?)(```\n)", re.S)
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def test_a_terminal_session_for_the_readme(stack: Stack, bash_box: Any, tmp_path: Path) -> None:
    """A session as a person types it, recorded as text: sign in, list, a shell in a pty
    with its exit code, and a command without a tty. DTERM_UPDATE_TRANSCRIPT=1 renews
    docs/dterm-exec.txt and the README's copy of it (`make transcript`); the two agree."""
    client = Cli(tmp_path / "config")
    shown: list[bytes] = []
    login = client.login(f"{stack.base}/?token={stack.token}").stdout
    shown += [b"$ dterm login 'http://127.0.0.1:8080/?token=...'\n", login]
    listed = client.run("ls", "--host", "local").stdout.splitlines(keepends=True)
    shown += [
        b"$ dterm ls\n",
        listed[0],
        *[line for line in listed if bash_box.name.encode() in line],
    ]
    term = client.pty("exec", bash_box.name)
    try:
        term.expect(rb"# $")
        term.send(b"echo $TERM; stty size\r")
        term.expect(rb"\d+ \d+\r\n.*# $")
        term.send(b"exit 3\r")
        assert term.wait(30) == 3
        term.expect(rb"exit\r\n$")
    finally:
        term.close()
    shown += [
        f"$ dterm exec {bash_box.name}\n".encode(),
        ESCAPES.sub(b"", bytes(term.output)),
        b"$ echo $?\n3\n",
    ]
    piped = f"exec {bash_box.name} -- sh -c 'echo to stdout; echo to stderr >&2' 2>/dev/null"
    line = f"{shlex.join(DTERM)} {piped} | tr a-z A-Z"
    done = subprocess.run(["sh", "-c", line], env=client.env, capture_output=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"TO STDOUT\n", b"")
    shown += [f"$ dterm {piped} | tr a-z A-Z\n".encode(), done.stdout]
    text = b"".join(shown).decode().replace(stack.base, "http://127.0.0.1:8080")
    text = text.replace(str(tmp_path / "config"), "~/.config")
    (OUTPUT / "dterm-exec.txt").write_text(text)
    if os.environ.get("DTERM_UPDATE_TRANSCRIPT") == "1":
        TRANSCRIPT.write_text(text)
        README.write_text(BLOCK.sub(lambda m: m[1] + text + m[3], README.read_text(), count=1))
    block = BLOCK.search(README.read_text())
    assert block is not None and block[2] == TRANSCRIPT.read_text()
