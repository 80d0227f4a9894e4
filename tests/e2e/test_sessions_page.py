"""The page keeps sessions alive across drops and reloads, and shares them read-only."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import artifacts
from tests.support.page import WAIT_MS, open_shell, screen, sign_in, type_line, wait_line
from tests.support.terminal_client import Stack


def test_dropped_connection_resumes_without_loss_or_duplicates(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """After a network drop the tab reconnects by itself and carries on exactly."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    type_line(page, "echo before-$((40+2))")
    wait_line(page, "before-42")
    page.evaluate("window.dterm.drop()")
    page.wait_for_function("() => window.dterm.state() === 'reconnecting'", timeout=5_000)
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
    type_line(page, "echo after-$((2+3))")
    wait_line(page, "after-5")
    assert screen(page).split("\n").count("before-42") == 1
    page.screenshot(path=str(artifacts(request) / "resumed.png"))


def test_reload_offers_to_reattach(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """After a reload the page lists the running session; reattaching shows its output."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    type_line(page, "echo keep-$((6*7))")
    wait_line(page, "keep-42")
    session = page.evaluate("window.dterm.session()")
    page.reload()
    offer = page.locator(f'#reattach button[data-session="{session}"]')
    expect(offer).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=str(artifacts(request) / "offer.png"))
    offer.click()
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
    wait_line(page, "keep-42")
    type_line(page, "echo still-$((1+1))")
    wait_line(page, "still-2")


def test_watch_link_shows_the_session_read_only(
    page: Page, browser: Browser, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """A watch link opens the owner's session live and read-only in another browser."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    link = str(page.evaluate("window.dterm.watchLink()"))
    assert "/#/watch/" in link
    viewer_context = browser.new_context()
    viewer = viewer_context.new_page()
    try:
        sign_in(viewer, stack)  # the page has started before the link is followed
        viewer.goto(link)
        viewer.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
        expect(page.locator("#tabs .watchers")).to_have_text("👁 1", timeout=10_000)
        type_line(page, "echo shared-$((3*3))")
        wait_line(viewer, "shared-9")
        viewer.keyboard.type("echo from-the-watcher")
        viewer.keyboard.press("Enter")
        type_line(page, "echo owner-again")
        wait_line(viewer, "owner-again")
        assert "from-the-watcher" not in screen(page)
        viewer.screenshot(path=str(artifacts(request) / "watcher.png"))
    finally:
        viewer_context.close()


def test_ended_sign_in_is_said_instead_of_reconnecting(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """Signed out elsewhere, a dropped tab says so and offers to sign in; the session waits."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    type_line(page, "echo mine-$((6*7))")
    wait_line(page, "mine-42")
    session = page.evaluate("window.dterm.session()")
    page.evaluate(
        """async () => {
            const { xsrf } = await (await fetch('/api/auth')).json();
            await fetch('/logout', { method: 'POST', headers: { 'X-XSRFToken': xsrf } });
        }"""
    )
    page.evaluate("window.dterm.drop()")
    page.wait_for_function("() => window.dterm.state() === 'signed-out'", timeout=WAIT_MS)
    bar = page.locator(".end-bar")
    expect(bar).to_contain_text("Your sign-in has ended", timeout=WAIT_MS)
    page.screenshot(path=str(artifacts(request) / "signed-out.png"))
    bar.locator("button[data-action=sign-in]").click()
    expect(page.locator("form.sign-in, #containers")).not_to_have_count(0, timeout=WAIT_MS)
    sign_in(page, stack)
    page.locator(f'#reattach button[data-session="{session}"]').click(timeout=WAIT_MS)
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
    wait_line(page, "mine-42")
