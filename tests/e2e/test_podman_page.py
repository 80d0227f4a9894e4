"""The page with a Docker host and a Podman host: each says its engine and version,
and a shell opens in a Podman container as in a Docker one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import artifacts
from tests.support.containers import require
from tests.support.http import wait_hosts_up
from tests.support.page import WAIT_MS, open_shell, sign_in, type_line, wait_line
from tests.support.podman import PodmanService, podman_host, run_box
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.terminal_client import Stack

HOST = "pod"


@pytest.fixture(scope="module")
def podman_parts() -> Iterator[tuple[PodmanService, ManagedProcess]]:
    require(shutil.which("podman") is not None, "podman is missing: apt-get install podman")
    with podman_host(HOST) as parts:
        yield parts


@pytest.fixture(scope="module")
def both(
    worker: ManagedProcess, podman_parts: tuple[PodmanService, ManagedProcess]
) -> Iterator[Stack]:
    frontend = start_frontend([worker.match["endpoint"], podman_parts[1].match["endpoint"]])
    stack = Stack(frontend.match["url"], host=HOST)
    wait_hosts_up(stack, {"local", HOST}, timeout=30)
    yield stack
    frontend.stop()


def facts(page: Page, host: str) -> Any:
    return page.locator(f'section.host-group:has(h2[data-host="{host}"]) p.facts')


def test_hosts_show_engine_and_version_and_podman_shell_works(
    page: Page,
    both: Stack,
    podman_parts: tuple[PodmanService, ManagedProcess],
    docker_client: Any,
    request: pytest.FixtureRequest,
) -> None:
    """The list says "Docker <version>" and "Podman <version>" for the two hosts, and a
    shell opened in the Podman container from the page runs a command."""
    podman = podman_parts[0]
    box = run_box(podman)
    sign_in(page, both)
    docker_version = docker_client.version()["Version"]
    podman_version = podman.client.version()["Version"]
    expect(facts(page, "local")).to_have_text(f"Docker {docker_version}", timeout=WAIT_MS)
    expect(facts(page, HOST)).to_have_text(f"Podman {podman_version}", timeout=WAIT_MS)
    page.screenshot(path=str(artifacts(request) / "hosts.png"))
    open_shell(page, box.name, host=HOST)
    type_line(page, "echo on-$((40+2))")
    wait_line(page, "on-42")
