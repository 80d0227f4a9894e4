"""The page in a real Chromium from a front end serving TLS itself: sign in over
HTTPS, a shell over WSS, under the same Content Security Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import artifacts, csp_violations
from tests.support.http import wait_hosts_up
from tests.support.page import open_shell, sign_in, type_line, wait_line
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.terminal_client import Stack
from tests.support.tls import make_pair, trusting


@pytest.fixture
def tls_stack(worker: ManagedProcess, tmp_path: Path) -> Iterator[Stack]:
    pair = make_pair(tmp_path, "dterm")
    frontend = start_frontend([worker.match["endpoint"]], "--tls-cert", str(pair.cert),
                              "--tls-key", str(pair.key))  # fmt: skip
    stack = Stack(frontend.match["url"], host="local", tls=trusting(pair))
    wait_hosts_up(stack, {"local"})
    try:
        yield stack
    finally:
        frontend.stop()


def test_a_shell_over_https_and_wss(
    browser: Browser, tls_stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """Signed in over HTTPS (a certificate the browser is told to accept), a shell
    opens over WSS and runs a command; the login cookie is Secure."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    page: Page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused = csp_violations(page)
    try:
        assert tls_stack.base.startswith("https://")
        sign_in(page, tls_stack)
        open_shell(page, busybox.name)
        type_line(page, "echo tls-$((6*7))")
        wait_line(page, "tls-42")
        login = [c for c in context.cookies() if c["name"] == "dterm_login"]
        assert login and login[0]["secure"]
    finally:
        page.screenshot(path=str(artifacts(request) / "tls.png"))
        context.close()
    assert not errors, f"the page threw: {errors}"
    assert not refused, f"the Content Security Policy refused: {refused}"
