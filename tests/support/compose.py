"""Compose projects and Swarm stacks, started with the real tools against a test daemon.

`docker-compose` is Debian's package (Compose v1, the Python one), run with
DOCKER_HOST set to the daemon under test; stacks are deployed with `docker stack
deploy`. Both read their files from tests/compose/.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
from pathlib import Path

from tests.support.containers import require
from tests.support.images import docker_url

FILES = Path(__file__).resolve().parent.parent / "compose"


def _run(argv: list[str], url: str, timeout: float = 120) -> str:
    env = {**os.environ, "DOCKER_HOST": url}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class ComposeProject:
    """One project of tests/compose/<file>, named `name`, on the daemon at `url`."""

    def __init__(self, name: str, file: str = "shop.yml", url: str = "") -> None:
        require(shutil.which("docker-compose") is not None,
                "docker-compose is missing: apt-get install docker-compose")  # fmt: skip
        self.name, self.url = name, url or docker_url()
        self._base = ["docker-compose", "--project-name", name, "--file", str(FILES / file)]

    def up(self, *extra: str) -> str:
        return _run([*self._base, "up", "--detach", *extra], self.url)

    def down(self) -> None:
        _run([*self._base, "down", "--timeout", "1"], self.url)


def free_port(below: int = 65536) -> int:
    """A port free on loopback now, under `below` (Swarm's data path port must be
    at most 49151)."""
    for port in random.sample(range(20000, below), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below {below}")


def docker_cli(url: str, *args: str) -> str:
    """The `docker` command line against the daemon at `url`."""
    return _run(["docker", *args], url)
