"""The page under its Content Security Policy: a terminal and a recording's player
work, and the browser refuses nothing on the way."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Browser, Page

from tests.support.page import sign_in
from tests.support.recordings_page import SCRIPT, open_recordings, record, wait_player_line
from tests.support.terminal_client import Stack

LISTEN = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(
  `${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def violations(page: Page) -> list[str]:
    return list(page.evaluate("() => window.cspViolations"))


def test_terminal_and_player_run_without_a_csp_violation(
    page: Page, stack: Stack, containers: Any
) -> None:
    """With the policy in force, opening a terminal, typing, and playing the session's
    recording raise no securitypolicyviolation event."""
    page.add_init_script(LISTEN)
    response = page.goto(f"{stack.base}/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    container = containers.run(name=f"csp-{uuid.uuid4().hex[:6]}").name
    sign_in(page, stack)
    record(page, "local", container, SCRIPT)  # opens a shell, types, waits for the output
    assert violations(page) == []
    open_recordings(page, container).get_by_role("link", name=re.compile("^Play")).click()
    wait_player_line(page, "start-2")
    wait_player_line(page, "recorded-42", timeout=20_000)
    assert violations(page) == []


def test_the_violation_listener_sees_a_refused_script(browser: Browser, stack: Stack) -> None:
    """The listener above does hear a violation: an inline script added to the page is
    refused and reported."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(LISTEN)
        sign_in(page, stack)
        page.evaluate(
            "() => document.head.append(Object.assign(document.createElement('script'),"
            " {textContent: 'window.injected = true'}))"
        )
        page.wait_for_function("() => window.cspViolations.length > 0", timeout=5_000)
        assert violations(page)[0].startswith("script-src-elem inline")
        assert page.evaluate("() => window.injected") is None
    finally:
        context.close()
