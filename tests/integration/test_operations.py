"""Running dterm: one CLI, settings from file < environment < flags, metrics, health,
JSON logs, and front ends that stop gracefully."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from frontend_server.__main__ import parse_config
from tests.support.daemons import ExtraDaemon
from tests.support.http import wait_hosts_up
from tests.support.images import docker_url
from tests.support.metrics import fetch, metric
from tests.support.processes import (
    FRONTEND_READY,
    REPO,
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    run_keys,
    start_frontend,
    start_worker,
)
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import wait_until

DTERM = [sys.executable, "-m", "dterm_cli"]


def dterm(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DTERM, *args], input=stdin, capture_output=True, text=True,
                          cwd=REPO, timeout=60, env={**os.environ, **(env or {})})  # fmt: skip


# --- the command line ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["up", "worker", "frontend", "keys", "users", "tokens"])
def test_every_command_has_help(command: str) -> None:
    result = dterm(command, "--help")
    assert result.returncode == 0 and "usage: dterm" in result.stdout, result.stderr


def test_top_level_help_and_version() -> None:
    assert "dterm up" in dterm("--help").stdout
    assert re.match(r"dterm \d+\.\d+", dterm("version").stdout)
    unknown = dterm("frobnicate")
    assert unknown.returncode == 2 and "no command 'frobnicate'" in unknown.stderr


def test_keys_users_and_tokens_commands(tmp_path: Path) -> None:
    assert dterm("keys", "w", "--out", str(tmp_path)).returncode == 0
    assert (tmp_path / "w.key").exists() and (tmp_path / "w.key_secret").exists()
    users = str(tmp_path / "users.json")
    added = dterm("users", "--users-file", users, "add", "ann", "--password-stdin",
                  "--groups", "ops", stdin="long-password\n")  # fmt: skip
    assert added.returncode == 0
    assert dterm("users", "--users-file", users, "list").stdout.strip() == "ann ops"
    tokens = str(tmp_path / "tokens.json")
    assert dterm("tokens", "--tokens-file", tokens, "issue", "ann").stdout.startswith("dterm_")
    assert "ann" in dterm("tokens", "--tokens-file", tokens, "list").stdout


def test_up_starts_both_and_stops_on_sigterm(busybox: Any, tmp_path: Path) -> None:
    """`dterm up` checks Docker, starts worker and front end, prints the URL, stops both."""
    config = tmp_path / "dterm.toml"
    config.write_text("[worker]\nhttp_port = 0\n")  # the default port may be taken here
    proc = subprocess.Popen([*DTERM, "up", "--port", "0", "--worker-port", "*",
                             "--state-dir", str(tmp_path), "--docker-url", docker_url(),
                             "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO, start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "dterm up: open http" in line:
            break
    url = re.search(r"open (http://\S+)", lines[-1])
    assert url, "".join(lines)
    assert any("checking the Docker daemon" in line for line in lines)
    stack = Stack(url.group(1))
    wait_hosts_up(stack, {os.uname().nodename})
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    rest = proc.stdout.read()
    assert "Traceback" not in "".join(lines) + rest


def free_port() -> int:
    """A TCP port nobody listens on now on loopback (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_second_dterm_up_on_other_ports_runs_beside_the_first(
    busybox: Any, tmp_path: Path
) -> None:
    """Two `dterm up` in one state folder, each told its own ports and given no config
    file, both serve: nothing else they listen on (the workers' metrics) is shared."""
    ups = []
    try:
        for _ in range(2):
            ups.append(ManagedProcess(
                "dterm-up", [*DTERM, "up", "--port", str(free_port()),
                             "--worker-port", str(free_port()), "--state-dir", str(tmp_path),
                             "--docker-url", docker_url()],
                re.compile(r"dterm up: open (?P<url>http://\S+)"), timeout=90,
            ))  # fmt: skip
        for up in ups:
            wait_hosts_up(Stack(up.match["url"]), {os.uname().nodename}, timeout=30)
        assert all(up.proc.poll() is None for up in ups)
    finally:
        for up in reversed(ups):
            up.stop(30)


# --- settings -------------------------------------------------------------------------------


def test_settings_precedence_file_env_flag(tmp_path: Path) -> None:
    """A config file is overridden by DTERM_* variables, which flags override."""
    config = tmp_path / "dterm.toml"
    config.write_text("[frontend]\nlogin_ttl = 100\nport = 9001\nworkers = ['tcp://a:1']\n")
    file_only, _ = parse_config(["--config", str(config)], {})
    assert (file_only.login_ttl, file_only.port, file_only.workers) == (100, 9001, ("tcp://a:1",))
    env = {"DTERM_LOGIN_TTL": "200", "DTERM_WORKERS": "tcp://b:2,tcp://c:3"}
    with_env, _ = parse_config(["--config", str(config)], env)
    assert (with_env.login_ttl, with_env.port) == (200, 9001)
    assert with_env.workers == ("tcp://b:2", "tcp://c:3")
    with_flag, _ = parse_config(["--config", str(config), "--login-ttl", "300"], env)
    assert with_flag.login_ttl == 300
    via_env_file, _ = parse_config([], {"DTERM_CONFIG": str(config)})
    assert via_env_file.port == 9001


def test_settings_precedence_in_a_running_front_end(tmp_path: Path, worker: ManagedProcess) -> None:
    """The same order holds for a real process (seen through its printed sign-in token)."""
    config = tmp_path / "dterm.toml"
    config.write_text('[frontend]\ntoken = "from-file"\n')

    def token(*flags: str, env: dict[str, str] | None = None) -> str:
        process = ManagedProcess(
            "frontend", [*DTERM, "frontend", "--port", "0", "--worker", worker.match["endpoint"],
                         *run_keys().frontend_flags(), "--config", str(config), *flags],
            FRONTEND_READY, env=env,
        )  # fmt: skip
        process.stop()
        return Stack(process.match["url"]).token

    assert token() == "from-file"
    assert token(env={"DTERM_TOKEN": "from-env"}) == "from-env"
    assert token("--token", "from-flag", env={"DTERM_TOKEN": "from-env"}) == "from-flag"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "[frontend]\nport = 8080\nprot = 9000\n",
            "line 3: unknown setting 'prot' in [frontend] (did you mean 'port'?)",
        ),
        ("[frontend]\nport = 'eighty'\n", "line 2: port: expected an integer, got 'eighty'"),
        ("[frontend]\nport = \n", "line 2"),
        ("[frontend]\nworkers = 'tcp://x:1'\nlogin_ttl = true\n", "line 3: login_ttl"),
    ],
)
def test_broken_config_file_is_refused_with_line_and_reason(
    tmp_path: Path, text: str, says: str
) -> None:
    config = tmp_path / "broken.toml"
    config.write_text(text)
    result = dterm("frontend", "--config", str(config))
    assert result.returncode == 2
    assert says in result.stderr, result.stderr


def test_bad_environment_value_is_refused() -> None:
    result = dterm("frontend", env={"DTERM_PORT": "lots"})
    assert result.returncode == 2 and "DTERM_PORT" in result.stderr


# --- metrics, health, logs ---------------------------------------------------------------


async def test_metrics_parse_and_move_when_a_session_runs(
    stack: Stack, worker: ManagedProcess, busybox: Any
) -> None:
    front = f"{stack.base}/metrics"
    back = f"{worker.match['http']}/metrics"
    before = (
        (await asyncio.to_thread(fetch, front, stack.token))[1],
        (await asyncio.to_thread(fetch, back, WORKER_METRICS_TOKEN))[1],
    )
    terminal = await TerminalClient.connect(stack)
    await terminal.open(busybox.name, host="local")
    await terminal.expect(rb"[#$] ")
    await terminal.run("echo metered")
    terminal.send_keys("exit 0\r")
    await terminal.wait_exit()
    await terminal.close()
    after = (
        (await asyncio.to_thread(fetch, front, stack.token))[1],
        (await asyncio.to_thread(fetch, back, WORKER_METRICS_TOKEN))[1],
    )
    for name, labels in (
        ("dterm_frontend_sessions_opened_total", {"mode": "rw"}),
        ("dterm_frontend_bytes_total", {"direction": "out"}),
        ("dterm_frontend_bytes_total", {"direction": "in"}),
        ("dterm_frontend_keystroke_seconds_count", {}),
        ("dterm_frontend_open_seconds_count", {}),
        ("dterm_frontend_sessions_closed_total", {"reason": "exited"}),
    ):
        assert metric(after[0], name, **labels) > metric(before[0], name, **labels), name
    for name, labels in (
        ("dterm_worker_sessions_opened_total", {}),
        ("dterm_worker_bytes_total", {"direction": "out"}),
        ("dterm_worker_sessions_closed_total", {"reason": "exited"}),
    ):
        assert metric(after[1], name, **labels) > metric(before[1], name, **labels), name
    assert metric(after[0], "dterm_frontend_workers", state="up") == 1


def test_ready_follows_the_worker_and_the_daemon(docker_client: Any) -> None:
    """Front end: ready while a worker is up. Worker: ready while Docker answers."""
    daemon = ExtraDaemon("readiness")
    worker = start_worker("ready-host", docker_url=daemon.url)
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    try:
        wait_hosts_up(stack, {"ready-host"})
        assert fetch(f"{stack.base}/readyz")[0] == 200
        assert fetch(f"{worker.match['http']}/readyz")[0] == 200
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(30)
        status, body = fetch(f"{worker.match['http']}/readyz")
        assert status == 503 and "Docker" in body
        assert fetch(f"{worker.match['http']}/healthz")[0] == 200
        worker.kill()
        wait_until(lambda: fetch(f"{stack.base}/readyz")[0] == 503, 10, "front end not ready")
        assert fetch(f"{stack.base}/healthz")[0] == 200
    finally:
        worker.kill()
        frontend.stop()
        daemon.stop()


async def test_json_logs_parse_and_name_sessions(busybox: Any) -> None:
    worker = start_worker("json-logs", "--log-format", "json")
    frontend = start_frontend([worker.match["endpoint"]], "--log-format", "json")
    stack = Stack(frontend.match["url"])
    try:
        (await asyncio.to_thread(wait_hosts_up, stack, {"json-logs"}))
        terminal = await TerminalClient.connect(stack)
        opened = await terminal.open(busybox.name, host="json-logs", cmd=["echo", "logged"])
        await terminal.wait_exit()
        await terminal.close()
    finally:
        frontend.stop()
        worker.stop()
    for process in (worker, frontend):
        records = [json.loads(line) for line in process.log().splitlines()
                   if line.startswith("{")]  # fmt: skip
        assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
        non_json = [line for line in process.log().splitlines()
                    if not line.startswith("{") and "ready:" not in line]  # fmt: skip
        assert non_json == []
    session_lines = [json.loads(line) for line in worker.log().splitlines()
                     if line.startswith("{") and opened["session"] in line]  # fmt: skip
    assert session_lines and all(r.get("session") == opened["session"] for r in session_lines)


# --- graceful restarts ------------------------------------------------------------------------


async def test_sigterm_on_a_front_end_hands_sessions_to_another(
    worker: ManagedProcess, busybox: Any
) -> None:
    """A front end stopping tells its browsers to resume elsewhere; they lose no byte."""
    leaving = start_frontend([worker.match["endpoint"]])
    staying = start_frontend([worker.match["endpoint"]])
    first, second = Stack(leaving.match["url"]), Stack(staying.match["url"])
    (await asyncio.to_thread(wait_hosts_up, first, {"local"}))
    (await asyncio.to_thread(wait_hosts_up, second, {"local"}))
    script = "echo start; read go; seq 1 50000; echo done-$((6*7))"
    terminal = await TerminalClient.connect(first)
    opened = await terminal.open(busybox.name, host="local", cmd=["sh", "-c", script])
    await terminal.expect(b"start\r\n")
    started = time.monotonic()
    leaving.proc.send_signal(signal.SIGTERM)
    await terminal.wait_for(lambda: terminal.closed, 15, "the connection to close")
    assert leaving.proc.wait(15) == 0
    assert time.monotonic() - started < 12
    assert any(c["type"] == "reconnect" for c in terminal.controls)
    kept = terminal.offset
    resumed = await TerminalClient.connect(second)
    await resumed.attach(opened["session"], offset=kept)
    resumed.send_keys(b"\r")
    await resumed.wait_exit(timeout=30)
    everything = bytes(terminal.output) + bytes(resumed.output)
    expected = b"start\r\n\r\n" + b"".join(b"%d\r\n" % i for i in range(1, 50001)) + b"done-42\r\n"
    assert everything == expected
    await resumed.close()
    staying.stop()
    leaving.stop()


async def test_sigterm_with_a_drain_timeout_lets_sessions_finish_then_ends_the_rest(
    busybox: Any,
) -> None:
    """With --drain-timeout (as the Kubernetes workers run), SIGTERM refuses new opens at
    once, lets a session that ends by itself meanwhile finish with all its output and
    its code, ends the one still running when the time is up, saying why, and exits."""
    worker = start_worker("draining", "--drain-timeout", "4")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"])
    try:
        (await asyncio.to_thread(wait_hosts_up, stack, {"draining"}))
        finishing = await TerminalClient.connect(stack)
        script = "echo start; read go; seq 1 20000; echo finished-$((6*7)); exit 5"
        await finishing.open(busybox.name, host="draining", cmd=["sh", "-c", script])
        await finishing.expect("start")
        lasting = await TerminalClient.connect(stack)
        await lasting.open(busybox.name, host="draining", cmd=["sh", "-c", "echo up; sleep 1000"])
        await lasting.expect("up")
        worker.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait_log, r"draining 2 sessions for up to 4")
        late = await TerminalClient.connect(stack)
        refused = await late.answer({"type": "open", "host": "draining", "container": busybox.name})
        await late.close()
        assert (refused["type"], refused.get("code")) == ("error", "unavailable"), refused
        assert "shutting down" in refused["message"]
        finishing.send_keys("go\r")
        finished = await finishing.wait_exit(timeout=10)
        assert (finished["reason"], finished["code"]) == ("exited", 5)
        await finishing.expect("finished-42")
        assert b"".join(b"%d\r\n" % i for i in range(1, 20001)) in bytes(finishing.output)
        ended = await lasting.wait_exit(timeout=4 + 15)
        assert ended["reason"] == "closed" and "shutting down" in ended["message"], ended
        assert await asyncio.to_thread(worker.proc.wait, 20) == 0
    finally:
        frontend.stop()
        worker.stop()
