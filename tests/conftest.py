"""Fixtures for every suite: the Docker daemon, test images and containers, and one
shared stack (a real worker and a real front end) for tests that do not kill it.

Without a Docker daemon a local run skips loudly; under CI (CI=true) it fails.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import Any

import docker
import pytest

from tests.support.containers import TEST_LABEL, Containers, require
from tests.support.http import wait_hosts_up
from tests.support.images import BASH_IMAGE, BUSYBOX_IMAGE, ensure_images
from tests.support.processes import (
    ManagedProcess,
    start_frontend,
    start_worker,
)
from tests.support.swarm import Swarm, running_swarm
from tests.support.terminal_client import Stack, TerminalClient


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped with SIGTERM tears its fixtures down as Ctrl-C does."""
    signal.signal(signal.SIGTERM, _interrupted)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        require(False, f"no Docker daemon reachable: {exc}")
    _remove_test_containers(client)
    ensure_images(client)
    yield client
    _remove_test_containers(client)
    client.close()


def _remove_test_containers(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={"label": TEST_LABEL}):
        container.remove(force=True)


@pytest.fixture(scope="session")
def containers(docker_client: docker.DockerClient) -> Containers:
    return Containers(docker_client)


@pytest.fixture(scope="session")
def busybox(containers: Containers) -> Any:
    """A running container with busybox sh and no bash."""
    return containers.run(BUSYBOX_IMAGE, name="dterm-test-busybox")


@pytest.fixture(scope="session")
def bash_box(containers: Containers) -> Any:
    """A running container that has bash."""
    return containers.run(BASH_IMAGE, name="dterm-test-bash")


@pytest.fixture(scope="session")
def worker(docker_client: docker.DockerClient) -> Iterator[ManagedProcess]:
    process = start_worker("local", "--grace", "10")
    yield process
    process.stop()


@pytest.fixture(scope="session")
def frontend(worker: ManagedProcess) -> Iterator[ManagedProcess]:
    process = start_frontend([worker.match["endpoint"]])
    yield process
    process.stop()


@pytest.fixture(scope="session")
def stack(frontend: ManagedProcess) -> Stack:
    """The shared stack: one worker (host `local`) behind one front end."""
    stack = Stack(frontend.match["url"], host="local")
    wait_hosts_up(stack, {"local"})
    return stack


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[TerminalClient]:
    terminal = await TerminalClient.connect(stack)
    yield terminal
    await terminal.close()


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    """A one-node swarm of its own for the module, its stack's replicas running."""
    with running_swarm() as found:
        yield found
