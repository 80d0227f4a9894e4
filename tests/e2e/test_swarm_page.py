"""The page with a Swarm stack running: the list groups its replicas under the stack
and the service, the filter understands stack:, the service row opens a shell in a
replica and links to the service, and scaling the service changes the row live (one
page for all of it: a service of the stack's own is started once)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import artifacts
from tests.support.page import WAIT_MS, sign_in, type_line, wait_prompt, wait_title
from tests.support.swarm import HOST, SERVICE, STACK, Swarm


def service_row(page: Page) -> Any:
    group = page.locator(f'section[data-group="stack {STACK}"]')
    return group.locator(f'button[data-nav="service"][data-service="{SERVICE}"]')


def test_a_stack_is_a_group_the_filter_finds_its_service_opens_and_scales_live(
    page: Page, swarm: Swarm, request: pytest.FixtureRequest
) -> None:
    """The stack's service is one row with both replicas under it; `stack:` keeps or
    drops it; a click opens replica 1, and the URL names the stack and service; scaled
    to three replicas the row says 3/3 and lists the third, back to two 2/2."""
    sign_in(page, swarm.stack, host=HOST)
    row = service_row(page)
    expect(row).to_contain_text("2/2 running", timeout=WAIT_MS)
    expect(row.locator(".meta")).to_have_text(f"swarm service · {HOST}")
    first, second = swarm.replicas()
    replicas = row.locator("xpath=../following-sibling::ul[1]/li")
    for replica in (first, second):
        expect(replicas.locator(f'button[data-container="{replica["name"]}"]')).to_be_visible()
    page.screenshot(path=str(artifacts(request) / "swarm-grouped.png"))
    page.fill("#search", "stack:ma")
    expect(row).to_be_visible()
    page.fill("#search", "stack:shop")
    expect(row).to_have_count(0)
    page.fill("#search", f"service:{SERVICE}")
    expect(row).to_be_visible()
    page.fill("#search", "")
    row.click(timeout=WAIT_MS)
    wait_title(page, f"{first['name']}@{HOST}")
    wait_prompt(page)
    assert page.url.endswith(f"#/stack/{STACK}/s/{SERVICE}")
    type_line(page, "cat /etc/hostname")
    page.wait_for_function(
        f"() => window.dterm.screenText().includes({first['id'][:12]!r})", timeout=WAIT_MS
    )
    swarm.scale(3)
    try:
        expect(row).to_contain_text("3/3 running", timeout=60_000)
        expect(replicas).to_have_count(3)
    finally:
        swarm.scale(2)
    expect(row).to_contain_text("2/2 running", timeout=60_000)
