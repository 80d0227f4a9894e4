"""The side panel at scale: many running sessions to reattach stay compact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import artifacts
from tests.support.http import wait_hosts_up
from tests.support.page import WAIT_MS
from tests.support.processes import start_frontend, start_worker
from tests.support.terminal_client import Stack

SESSIONS = 12


@pytest.fixture(scope="module")
def lingering(docker_client: Any) -> Iterator[Stack]:
    """A worker whose detached sessions live two minutes, behind its own front end, so
    the sessions listed are this module's alone."""
    worker = start_worker("linger", "--grace", "120")
    frontend = start_frontend([worker.match["endpoint"]])
    try:
        stack = Stack(frontend.match["url"], host="linger")
        wait_hosts_up(stack, {"linger"})
        yield stack
    finally:
        frontend.stop()
        worker.stop()


def height(page: Page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    return float(box["height"])


def test_many_running_sessions_are_offered_compactly(
    page: Page, lingering: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """Twelve sessions left by a reload: three lines and "Show all 12", the host list
    still in view; expanded, the offers scroll in a bounded box; one reattaches."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{lingering.base}/?token={lingering.token}")
    container = page.locator(f'button[data-container="{busybox.name}"]')
    for _ in range(SESSIONS):
        container.click(timeout=WAIT_MS)
    page.wait_for_function(
        f"() => window.dterm.tabs().filter((t) => t.state === 'live').length === {SESSIONS}",
        timeout=WAIT_MS * 2,
    )
    page.reload()
    box = page.locator("#reattach")
    expect(box.get_by_role("heading")).to_have_text(f"Your running sessions ({SESSIONS})")
    offers = page.locator("#reattach-list button")
    expect(offers).to_have_count(SESSIONS)
    expect(page.locator("#reattach-list li:visible")).to_have_count(3)
    assert height(page, "#reattach") < 150
    host = page.locator('h2[data-host="linger"]')
    expect(host).to_be_in_viewport()
    page.screenshot(path=str(artifacts(request) / "reattach-compact.png"))
    show_all = box.get_by_role("button", name=f"Show all {SESSIONS}")
    show_all.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#reattach-list li:visible")).to_have_count(SESSIONS)
    expect(box.get_by_role("button", name="Show fewer")).to_have_attribute("aria-expanded", "true")
    assert height(page, "#reattach-list") <= 180
    assert page.evaluate("(() => { const l = document.querySelector('#reattach-list');"
                         " return l.scrollHeight > l.clientHeight; })()")  # fmt: skip
    expect(host).to_be_in_viewport()
    page.screenshot(path=str(artifacts(request) / "reattach-expanded.png"))
    session = offers.last.get_attribute("data-session")
    offers.last.click()
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
    assert page.evaluate("window.dterm.session()") == session
    expect(box.get_by_role("heading")).to_have_text(f"Your running sessions ({SESSIONS - 1})")
