"""The pictures of the main screens, in test-output/; `make screenshot` also copies
the first to docs/screenshot.png for the README (a test run leaves docs/ alone)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import artifacts
from tests.support.images import BUSYBOX_IMAGE
from tests.support.page import WAIT_MS, choose_theme, type_line, wait_prompt, wait_title
from tests.support.processes import REPO, start_frontend, start_worker
from tests.support.terminal_client import Stack


def settle(page: Page) -> None:
    """Wait for CSS transitions (the sliding side panel) to end before a screenshot."""
    page.wait_for_function("() => document.getAnimations().length === 0", timeout=WAIT_MS)


# Two hosts of a made-up shop for the README's picture: (name, image, exit code or
# None for a container still running).
DEMO_HOSTS = {
    "eu-prod-1": [
        ("shop-web-1", "dterm-demo/shop-web:1.42", None),
        ("shop-web-2", "dterm-demo/shop-web:1.42", None),
        ("shop-api-1", "dterm-demo/shop-api:3.1", None),
        ("report-job", "dterm-demo/reports:0.9", 0),
    ],
    "eu-staging": [
        ("pg-main", "dterm-demo/postgres:16", None),
        ("redis-cache", "dterm-demo/redis:7.2", None),
        ("db-migrate", "dterm-demo/migrate:2.0", 3),
    ],
}
# The shop's containers as Compose labels them (project `shop`): service, replica.
COMPOSE = {"shop-web-1": ("web", "1"), "shop-web-2": ("web", "2"), "shop-api-1": ("api", "1")}
COLOUR_PROMPT = r"export PS1='\[\e[1;32m\]\u@shop-web-1\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ '; clear"


@pytest.fixture
def demo_stack(containers: Any, docker_client: Any) -> Iterator[Stack]:
    """A front end over two workers on this daemon, each showing only its demo containers."""
    base = docker_client.images.get(BUSYBOX_IMAGE)
    made, tags, processes = [], [], []
    try:
        for host, items in DEMO_HOSTS.items():
            label = f"dterm-demo-{host}"
            for name, image, code in items:
                repo, version = image.split(":")
                if image not in tags:
                    base.tag(repo, version)
                    tags.append(image)
                command = ["sleep", "1000000"] if code is None else ["sh", "-c", f"exit {code}"]
                labels = {label: "true"}
                if name in COMPOSE:
                    service, number = COMPOSE[name]
                    labels |= {"com.docker.compose.project": "shop",
                               "com.docker.compose.service": service,
                               "com.docker.compose.container-number": number}  # fmt: skip
                made.append(containers.run(image, name=name, command=command, labels=labels))
            processes.append(start_worker(host, "--allow-label", label))
        processes.append(start_frontend([w.match["endpoint"] for w in processes]))
        for container in made:
            container.reload()
            if container.status != "running":
                container.wait()
        yield Stack(processes[-1].match["url"])
    finally:
        for process in reversed(processes):
            process.stop()
        for container in made:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        for image in tags:
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.images.remove(image, noprune=True)


def test_screenshots_of_the_main_screens(
    page: Page, demo_stack: Stack, request: pytest.FixtureRequest
) -> None:
    """Two hosts, a Compose project across them and a colourful shell make the README's
    picture; narrow and light views too."""
    folder = artifacts(request)
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{demo_stack.base}/?token={demo_stack.token}")
    for host in DEMO_HOSTS:
        expect(page.locator(f'h2[data-host="{host}"] .badge')).to_contain_text(
            "up", timeout=WAIT_MS
        )
    expect(page.locator('button[data-container="db-migrate"]')).to_be_disabled()
    web = page.locator('section[data-group="project shop"] button[data-service="web"]')
    expect(web).to_contain_text("2/2 running")
    page.screenshot(path=str(folder / "home.png"))
    page.locator('button[data-container="pg-main"]').click()
    wait_prompt(page)
    page.locator('button[data-container="shop-web-1"]').click()
    wait_title(page, "shop-web-1@eu-prod-1")
    wait_prompt(page)
    type_line(page, COLOUR_PROMPT)
    for command in (
        "ls --color=always -C /",
        "ls --color=always -l / /bin | head -16",
        "top -b -n1 | head -9",
    ):
        type_line(page, command)
    page.wait_for_function(
        "() => /PID[\\s\\S]*top -b[\\s\\S]*# $/m.test(window.dterm.screenText())", timeout=WAIT_MS
    )
    page.mouse.move(0, 0)
    page.screenshot(path=str(folder / "screenshot.png"))
    if os.environ.get("DTERM_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(folder / "screenshot.png", REPO / "docs" / "screenshot.png")
    page.locator("#search").fill("shop")
    page.screenshot(path=str(folder / "filtered.png"))
    page.locator("#search").fill("")
    page.set_viewport_size({"width": 420, "height": 760})
    page.wait_for_function("() => Number(window.dterm.size().split(' ')[1]) < 60", timeout=WAIT_MS)
    settle(page)
    page.screenshot(path=str(folder / "narrow-terminal.png"))
    page.click("#toggle-nav")
    expect(page.locator("#sidebar")).to_be_visible()
    settle(page)
    page.screenshot(path=str(folder / "narrow-list.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_hidden()
    page.set_viewport_size({"width": 1280, "height": 720})
    choose_theme(page, "Light")
    page.screenshot(path=str(folder / "light.png"))
