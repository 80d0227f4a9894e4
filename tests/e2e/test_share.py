"""Share: the watch link is said to be copied only when it is on the clipboard; where
the page has no clipboard, the link is shown selected, to copy by hand."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CHROMIUM_FLAGS, artifacts, checked_page, chromium_path
from tests.support.page import WAIT_MS, open_shell, sign_in
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.terminal_client import Stack

OTHER_HOST = "dterm-share.test"
READ_CLIPBOARD = "() => navigator.clipboard.readText()"
NOT_COPIED = "The watch link was not copied: copy it by hand."


@pytest.fixture(scope="module")
def remote_stack(worker: ManagedProcess) -> Iterator[Stack]:
    """A front end that answers to OTHER_HOST too, over the shared worker."""
    frontend = start_frontend([worker.match["endpoint"]], "--allowed-host", OTHER_HOST)
    yield Stack(frontend.match["url"], host="local")
    frontend.stop()


@pytest.fixture(scope="module")
def remote_browser(browser: Browser) -> Iterator[Browser]:
    """A Chromium that resolves OTHER_HOST to loopback: the page served from there over
    plain http is not a secure context, as from another machine, yet traffic stays on
    this one."""
    rules = f"--host-resolver-rules=MAP {OTHER_HOST} 127.0.0.1"
    launched = browser.browser_type.launch(
        executable_path=chromium_path(), args=[*CHROMIUM_FLAGS, rules]
    )
    yield launched
    launched.close()


def share(page: Page) -> None:
    page.wait_for_function("() => window.dterm.watchLink() !== ''", timeout=WAIT_MS)
    page.locator('#tab-actions [data-action="share"]').click()


def test_share_copies_the_link_and_says_so(page: Page, stack: Stack, busybox: Any) -> None:
    """Where the clipboard works, the link is on it and the status line says so."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.base)
    sign_in(page, stack)
    open_shell(page, busybox.name)
    share(page)
    link = page.evaluate("window.dterm.watchLink()")
    expect(page.locator("#status")).to_have_text(f"Watch link copied: {link}")
    assert page.evaluate(READ_CLIPBOARD) == link
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_share_over_plain_http_from_another_host_shows_the_link_to_copy(
    remote_browser: Browser, remote_stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """No clipboard API on plain http from another host: nothing claims a copy, and the
    link shows selected in a dialog; its Copy button says truly whether it copied."""
    stack = remote_stack
    port = stack.base.rsplit(":", 1)[1]
    remote = Stack(f"http://{OTHER_HOST}:{port}/?token={stack.token}", host="local")
    with checked_page(remote_browser, request) as page:
        sign_in(page, remote)
        assert page.evaluate("[window.isSecureContext, navigator.clipboard === undefined]") == [
            False,
            True,
        ]
        open_shell(page, busybox.name)
        share(page)
        link = str(page.evaluate("window.dterm.watchLink()"))
        dialog = page.get_by_role("dialog", name="Share a watch link")
        expect(dialog).to_contain_text("plain http from another host")
        field = dialog.get_by_role("textbox", name="Read-only link to this session")
        expect(field).to_have_value(link)
        expect(field).to_be_focused()
        assert page.evaluate(
            "() => [document.activeElement.selectionStart, document.activeElement.selectionEnd]"
        ) == [0, len(link)]
        expect(page.locator("#status")).to_have_text(NOT_COPIED)
        page.screenshot(path=str(artifacts(request) / "share-by-hand.png"))
        dialog.get_by_role("button", name="Copy").click()
        expect(dialog.get_by_role("status")).to_have_text(re.compile(r"^(Copied\.|.*Ctrl\+C.*)$"))
        claimed = dialog.get_by_role("status").inner_text() == "Copied."
        dialog.get_by_role("button", name="Done").click()
        expect(dialog).to_have_count(0)
        # What the dialog said, checked from a page that may read the clipboard.
        reader = page.context.new_page()
        reader.goto(f"{stack.base}/api/auth")
        page.context.grant_permissions(["clipboard-read"], origin=stack.base)
        assert claimed == (reader.evaluate(READ_CLIPBOARD) == link)
        reader.close()


REFUSING_CLIPBOARD = """navigator.clipboard.writeText = () =>
    Promise.reject(new DOMException('Write permission denied.', 'NotAllowedError'));"""


def test_share_where_the_browser_refuses_the_clipboard(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """A refused write is no copy: the dialog says the browser refused and shows the link."""
    page.add_init_script(REFUSING_CLIPBOARD)
    sign_in(page, stack)
    open_shell(page, busybox.name)
    share(page)
    dialog = page.get_by_role("dialog", name="Share a watch link")
    expect(dialog).to_contain_text("the browser refused the clipboard (Write permission denied.)")
    link = page.evaluate("window.dterm.watchLink()")
    expect(dialog.get_by_role("textbox")).to_have_value(link)
    expect(page.locator("#status")).to_have_text(NOT_COPIED)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
