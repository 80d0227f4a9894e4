"""Real worker and front-end processes for tests, each with its own log file.

A child prints a ready line once it has bound its port (it binds port 0); the
starter waits for that line with a deadline and never guesses free ports. Stopping
sends SIGTERM and fails the test if the process does not end in time. A process
whose log holds a Python traceback fails the test at stop, unless told to allow it.

Workers and front ends get this run's CurveZMQ keys (run_keys(), made once under
OUTPUT) unless a test passes other keys, or `curve=False` to see a refusal.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.keys import LinkKeys, link_keys
from shared.security import ClientKeys
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"
_counter = itertools.count(1)
RUN = time.strftime("%Y%m%d-%H%M%S-") + str(os.getpid())
"""This test run's log folder: runs side by side never share log files."""

WORKER_METRICS_TOKEN = "scraper-token-of-the-test-workers"
"""What test workers ask of their scrapers (a test may give another one)."""
WORKER_READY = re.compile(
    r"dterm worker ready: host=(?P<host>\S+) endpoint=(?P<endpoint>\S+) http=(?P<http>\S+)"
)
FRONTEND_READY = re.compile(r"dterm frontend ready: open (?P<url>https?://\S+)")
_run_keys: LinkKeys | None = None
_started: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftovers() -> None:
    """A run cut short (SIGTERM, Ctrl-C, a failed fixture) leaves no process behind."""
    for proc in _started:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def run_keys() -> LinkKeys:
    """The worker-link keys of this run, made on first use (folder 0700, secrets 0600)."""
    global _run_keys
    if _run_keys is None:
        _run_keys = link_keys(OUTPUT / "keys" / RUN)[0]
    return _run_keys


def client_keys(keys: LinkKeys | None = None) -> ClientKeys:
    """A front end's keys, for a raw ZeroMQ client of a worker in a test."""
    chosen = keys or run_keys()
    return ClientKeys.load(str(chosen.frontend_secret), str(chosen.worker_public))


def key_flags(keys: LinkKeys | None, curve: bool, side: str) -> list[str]:
    if not curve:
        return []
    chosen = keys or run_keys()
    return chosen.worker_flags() if side == "worker" else chosen.frontend_flags()


@dataclass(frozen=True)
class RunAs:
    """A child run as another user, as a service manager would start it: those ids,
    a working directory of its own, and none of the test's environment."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    cwd: Path = Path("/")

    def popen_options(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


class ManagedProcess:
    """A child process of the test, with its output in test-output/logs/."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        ready: re.Pattern[str],
        timeout: float = 30,
        wait: bool = True,
        env: dict[str, str] | None = None,
        run_as: RunAs | None = None,
    ):
        logs = OUTPUT / "logs" / RUN
        logs.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.argv = argv
        self.log_path = logs / f"{next(_counter):03d}-{name}.log"
        self.allow_traceback = False
        inherited = os.environ if run_as is None else {"PATH": "/usr/bin:/bin"}
        env = {**inherited, "PYTHONUNBUFFERED": "1", **(env or {})}
        who = {} if run_as is None else run_as.popen_options()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO if run_as is None else run_as.cwd,
                env=env,
                start_new_session=True,
                **who,
            )
        _started.append(self.proc)
        self._ready, self._timeout = ready, timeout
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for the ready line (spawn many with wait=False, then wait for each)."""
        self.match = self._wait_for_line(self._ready, self._timeout)

    def _wait_for_line(self, ready: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = ready.search(self.log())
            if found:
                return found
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"{self.name} exited early (code {code}):\n{self.log()}")
            time.sleep(0.02)
        self.kill()
        raise TimeoutError(f"{self.name} not ready within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """Wait until the log matches a regular expression."""
        return wait_until(
            lambda: re.search(pattern, self.log()), timeout, f"{self.name} logs {pattern!r}", 0.02
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        """Resident memory in bytes, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"{self.name} has no VmRSS")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"{self.name} ignored SIGTERM for {timeout}s") from None
        if not self.allow_traceback and "Traceback" in self.log():
            raise AssertionError(f"{self.name} logged a traceback:\n{self.log()}")


def terminate(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `grace` seconds: for daemons the
    tests start but do not judge (dockerd, podman), which may be slow to stop."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def start_worker(
    host_id: str,
    *extra: str,
    docker_url: str | None = None,
    bind: str = "tcp://127.0.0.1:*",
    wait: bool = True,
    keys: LinkKeys | None = None,
    curve: bool = True,
) -> ManagedProcess:
    recordings = OUTPUT / "recordings" / RUN / host_id
    state = OUTPUT / "state" / RUN / host_id  # a restarted worker of this host finds it
    argv = [sys.executable, "-m", "exec_worker", "--host-id", host_id, "--bind", bind,
            "--http-port", "0", "--recordings-dir", str(recordings), "--state-dir", str(state),
            "--metrics-token", WORKER_METRICS_TOKEN, *key_flags(keys, curve, "worker"),
            *extra]  # fmt: skip
    if docker_url:
        argv += ["--docker-url", docker_url]
    return ManagedProcess(f"worker-{host_id}", argv, WORKER_READY, wait=wait)


def start_frontend(
    workers: list[str], *extra: str, keys: LinkKeys | None = None, curve: bool = True
) -> ManagedProcess:
    state = OUTPUT / "state" / RUN / "frontends"  # one cookie secret, as a fleet shares
    argv = [sys.executable, "-m", "frontend_server", "--port", "0", "--state-dir", str(state),
            *key_flags(keys, curve, "frontend"), *extra]  # fmt: skip
    for endpoint in workers:
        argv += ["--worker", endpoint]
    return ManagedProcess("frontend", argv, FRONTEND_READY)
