"""Fixtures for every suite: the Docker daemon, test images and containers, and one
shared stack (a real worker and a real front end) for tests that do not kill it.

Without a Docker daemon a local run skips loudly; under CI (CI=true) it fails.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import docker
import pytest

from tests.support.images import BASH_IMAGE, BUSYBOX_IMAGE, ensure_images
from tests.support.processes import (
    ManagedProcess,
    start_frontend,
    start_worker,
)
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import wait_until

TEST_LABEL = "dterm-test"


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail under CI: nothing is skipped silently where it matters."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


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


class Containers:
    """Starts labelled test containers; all are removed at the end of the session."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    def run(self, image: str = BUSYBOX_IMAGE, **kwargs: Any) -> Any:
        labels = {TEST_LABEL: "1", **kwargs.pop("labels", {})}
        return self.client.containers.run(
            image,
            kwargs.pop("command", ["sleep", "1000000"]),
            detach=True,
            network_mode="none",
            labels=labels,
            **kwargs,
        )


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


def get_json(
    stack: Stack, path: str, token: str | None = None, headers: dict[str, str] | None = None
) -> Any:
    """GET with the stack's bearer token, another token, or other sign-in headers."""
    request = urllib.request.Request(
        stack.base + path, headers=headers or {"Authorization": f"Bearer {token or stack.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_hosts_up(
    stack: Stack, hosts: set[str], timeout: float = 15, headers: dict[str, str] | None = None
) -> None:
    """Up means the front end knows the host's containers."""

    def up() -> bool:
        listed = get_json(stack, "/api/hosts", headers=headers)["hosts"]
        return hosts <= {h["host"] for h in listed if h["state"] == "up"}

    wait_until(up, timeout, f"hosts {hosts} up", every=0.05)


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
