"""The page with a Compose project running: the list groups its containers by project
and service, the filter understands project: and service:, a service row opens a
shell in a running replica and links to the service, a replica row opens that very
replica, and the service's link still opens after a redeploy replaced every container."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import artifacts
from tests.support.compose import ComposeProject
from tests.support.http import get_json, wait_hosts_up
from tests.support.page import WAIT_MS, sign_in, type_line, wait_line, wait_prompt, wait_title
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def shop(docker_client: Any, stack: Stack) -> Iterator[ComposeProject]:
    project = ComposeProject(f"dtermpage{os.getpid()}")
    project.up()
    wait_until(lambda: len(running(stack, project.name, "web")) == 2, 20, "the web replicas listed")
    yield project
    project.down()


def running(stack: Stack, project: str, service: str) -> list[dict[str, Any]]:
    """The service's running replicas as /api/containers lists them, by number."""
    listed = get_json(stack, "/api/containers")["containers"]
    ours = [
        c
        for c in listed
        if c["service"] and c["service"].get("project") == project and c["state"] == "running"
    ]
    found = [c for c in ours if c["service"]["service"] == service]
    return sorted(found, key=lambda c: c["service"]["replica"])


def service_row(page: Page, project: str, service: str) -> Any:
    group = page.locator(f'section[data-group="project {project}"]')
    return group.locator(f'button[data-nav="service"][data-service="{service}"]')


def hostname(page: Page) -> str:
    """The container's hostname (its short id), typed into the shown shell."""
    type_line(page, "echo host=$(cat /etc/hostname)")
    page.wait_for_function("() => /^host=\\w+$/m.test(window.dterm.screenText())", timeout=WAIT_MS)
    text = str(page.evaluate("window.dterm.screenText()"))
    return next(x for x in text.splitlines() if x.startswith("host=")).removeprefix("host=")


def test_list_groups_by_project_and_service_and_filters(
    page: Page, stack: Stack, shop: ComposeProject, request: pytest.FixtureRequest
) -> None:
    """A project is a group with a row per service and its replicas under it;
    `project:` and `service:` narrow the list."""
    sign_in(page, stack)
    web = service_row(page, shop.name, "web")
    expect(web).to_contain_text("2/2 running", timeout=WAIT_MS)
    expect(service_row(page, shop.name, "db")).to_contain_text("1/1 running")
    expect(service_row(page, shop.name, "job")).to_be_disabled()  # it has exited
    replicas = page.locator(f'section[data-group="project {shop.name}"] li.replica')
    names = [c["name"] for c in running(stack, shop.name, "web")]
    for name in names:
        expect(replicas.locator(f'button[data-container="{name}"]')).to_be_visible()
    page.screenshot(path=str(artifacts(request) / "grouped.png"))
    page.fill("#search", f"project:{shop.name} service:web")
    expect(web).to_be_visible()
    expect(service_row(page, shop.name, "db")).to_have_count(0)
    page.fill("#search", "service:db")
    expect(web).to_have_count(0)
    expect(service_row(page, shop.name, "db")).to_be_visible()


def test_service_row_opens_a_replica_and_links_to_the_service(
    page: Page, stack: Stack, shop: ComposeProject
) -> None:
    """Clicking the service opens a shell in replica 1, and the URL names the service;
    clicking a replica opens that one."""
    sign_in(page, stack)
    first, second = running(stack, shop.name, "web")
    service_row(page, shop.name, "web").click(timeout=WAIT_MS)
    wait_title(page, f"{first['name']}@local")
    wait_prompt(page)
    assert page.url.endswith(f"#/p/{shop.name}/s/web")
    assert hostname(page) == first["id"][:12]
    page.locator(f'li.replica button[data-container="{second["name"]}"]').click()
    wait_title(page, f"{second['name']}@local")
    wait_prompt(page)
    assert hostname(page) == second["id"][:12]


def test_service_link_opens_after_a_redeploy(
    page: Page, stack: Stack, shop: ComposeProject
) -> None:
    """`up --force-recreate` replaces the containers; the service's link opens a new one."""
    before = {c["id"] for c in running(stack, shop.name, "web")}
    shop.up("--force-recreate", "web")

    def replaced() -> bool:
        now = {c["id"] for c in running(stack, shop.name, "web")}
        return len(now) == 2 and not now & before

    wait_until(replaced, 30, "two new web replicas")
    sign_in(page, stack, f"#/p/{shop.name}/s/web")
    first = running(stack, shop.name, "web")[0]
    wait_title(page, f"{first['name']}@local")
    wait_prompt(page)
    assert hostname(page) == first["id"][:12]
    type_line(page, "echo still-$((40+2))")
    wait_line(page, "still-42")


def test_a_service_on_two_hosts_is_one_row_naming_both(
    page: Page, worker: ManagedProcess, shop: ComposeProject, request: pytest.FixtureRequest
) -> None:
    """Replicas of one service on two hosts are one row: its count is theirs together,
    its line names both hosts, each replica says which host it runs on, and the row
    opens a shell in one of them. (The second host is a second worker on the same
    daemon, so each replica is listed once for each host.)"""
    annex = start_worker("annex")
    frontend = start_frontend([worker.match["endpoint"], annex.match["endpoint"]])
    try:
        both = Stack(frontend.match["url"])
        wait_hosts_up(both, {"local", "annex"})
        sign_in(page, both)
        web = service_row(page, shop.name, "web")
        expect(web).to_contain_text("4/4 running", timeout=WAIT_MS)
        expect(web.locator(".meta")).to_have_text(re.compile(r"· (local, annex|annex, local)$"))
        replicas = web.locator("xpath=../following-sibling::ul[1]/li")
        expect(replicas).to_have_count(4)
        for host in ("local", "annex"):
            expect(replicas.filter(has_text=f"on {host}")).to_have_count(2)
        page.screenshot(path=str(artifacts(request) / "two-hosts.png"))
        first = running(both, shop.name, "web")[0]
        web.click()
        wait_title(page, f"{first['name']}@annex")  # replica 1; a tie goes by host name
        wait_prompt(page)
    finally:
        frontend.stop()
        annex.stop()
