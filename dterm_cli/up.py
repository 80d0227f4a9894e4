"""dterm up: a worker and a front end on this machine, on loopback, for one person.

What `make run` starts. It checks the Docker daemon first (saying so), makes the
CurveZMQ keys of the link between the two on first run (a worker pair and a
front-end pair in STATE_DIR/keys, folder 0700, secret files 0600; reused after,
refused if their modes were opened), starts the worker, waits for its ready line,
starts the front end pointed at it, and prints the sign-in URL. Ctrl-C or SIGTERM
stops both; if one of them dies, so does the other. The children's output is
passed through, each line marked with its name.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import docker

from shared.keys import LinkKeys, link_keys
from shared.security import KeyFileError
from shared.settings import DOCKER_URL, FRONTEND_PORT, WORKER_PORT

READY = {
    "worker": re.compile(r"dterm worker ready: host=\S+ endpoint=(\S+)"),
    "frontend": re.compile(r"dterm frontend ready: open (\S+)"),
}


def say(text: str) -> None:
    print(f"dterm up: {text}", flush=True)


def check_docker(url: str) -> None:
    say(f"checking the Docker daemon at {url}")
    try:
        client = docker.DockerClient(base_url=url, timeout=10)
        version = client.version().get("Version", "?")
        client.close()
    except Exception as exc:
        raise SystemExit(
            f"dterm up: cannot reach Docker at {url}: {exc}\n"
            "Is dockerd running, and may this user use its socket?"
        ) from None
    say(f"Docker {version} answers")


def default_state_dir() -> Path:
    """$XDG_STATE_HOME/dterm, else ~/.local/state/dterm."""
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec says relative values are to be ignored
        base = str(Path.home() / ".local" / "state")
    return Path(base) / "dterm"


def keys_in(state_dir: Path) -> LinkKeys:
    try:
        keys, made = link_keys(state_dir / "keys")
    except (KeyFileError, OSError) as exc:
        raise SystemExit(f"dterm up: {exc}") from None
    say(f"worker link keys {'made' if made else 'reused'} in {keys.folder}")
    return keys


class Child:
    """One child process whose output is passed on; `ready` holds its ready-line match."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.ready: re.Match[str] | None = None
        self._seen = threading.Event()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)  # fmt: skip
        threading.Thread(target=self._pass_on, args=(self.proc.stdout,), daemon=True).start()

    def _pass_on(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            found = READY[self.name].search(line)
            if found and self.ready is None:
                self.ready = found
                self._seen.set()
            print(f"{self.name:8} | {line}", end="", flush=True)
        self._seen.set()

    def wait_ready(self, timeout: float) -> str:
        if not self._seen.wait(timeout) or self.ready is None:
            self.stop()
            raise SystemExit(f"dterm up: the {self.name} did not start (see its lines above)")
        return self.ready.group(1)

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="dterm up", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    made.add_argument("--port", type=int, default=FRONTEND_PORT,
                      help="HTTP port of the page [%(default)s]")  # fmt: skip
    made.add_argument("--worker-port", default=str(WORKER_PORT),
                      help="ZeroMQ port of the worker [%(default)s]")  # fmt: skip
    made.add_argument("--docker-url", default=DOCKER_URL,
                      help="the host's Docker API [%(default)s]")  # fmt: skip
    made.add_argument("--config", help="TOML config file, passed to both processes")
    made.add_argument("--state-dir", type=Path, default=default_state_dir(),
                      help="where the link's keys (keys/), the worker's state and the "
                           "recordings (up-PORT/) are kept [%(default)s]")  # fmt: skip
    return made


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    check_docker(args.docker_url)
    keys = keys_in(args.state_dir)
    shared = ["--config", args.config] if args.config else []
    say("starting the worker")
    own = args.state_dir / f"up-{args.port}"  # a second `dterm up` on another port keeps apart
    worker = Child("worker", [sys.executable, "-m", "exec_worker", *shared, *keys.worker_flags(),
                              "--bind", f"tcp://127.0.0.1:{args.worker_port}",
                              "--docker-url", args.docker_url,
                              "--state-dir", str(own / "state"),
                              "--recordings-dir", str(own / "recordings"),
                              "--http-port", "0"])  # fmt: skip
    children = [worker]
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        endpoint = worker.wait_ready(60)
        say("starting the front end")
        frontend = Child("frontend", [sys.executable, "-m", "frontend_server", *shared,
                                      *keys.frontend_flags(), "--port", str(args.port),
                                      "--worker", endpoint,
                                      "--state-dir", str(own / "frontend")])  # fmt: skip
        children.append(frontend)
        say(f"open {frontend.wait_ready(60)}")
        _wait(stopping, lambda: any(c.proc.poll() is not None for c in children))
    finally:
        say("stopping")
        for child in reversed(children):
            child.stop()
    return 0


def _wait(stopping: threading.Event, ended: Callable[[], bool]) -> None:
    while not stopping.is_set() and not ended():
        time.sleep(0.2)
