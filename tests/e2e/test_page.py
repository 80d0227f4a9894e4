"""The page in a real Chromium: sign in, pick a container, type into a real shell."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import artifacts
from tests.support.page import screen
from tests.support.terminal_client import Stack


def stty_size(page: Page) -> str:
    """Run `stty size` in the terminal and return what it printed ("rows cols")."""
    marker = f"size-{len(screen(page))}"
    page.keyboard.type(f"echo {marker}:$(stty size)")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => /^{marker}:\\d+ \\d+$/m.test(window.dterm.screenText())", timeout=15_000
    )
    line = next(x for x in screen(page).splitlines() if x.startswith(f"{marker}:"))
    return line.split(":", 1)[1]


def test_open_a_shell_and_type(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """Click a container, type a command, see its output on the xterm screen, see the exit."""
    page.goto(f"{stack.base}/?token={stack.token}")
    assert page.url == f"{stack.base}/"
    button = page.locator(f'button[data-container="{busybox.name}"]')
    expect(button).to_be_visible(timeout=15_000)
    button.click()
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=15_000)
    page.wait_for_function("() => /[#$] $/m.test(window.dterm.screenText())", timeout=15_000)
    page.keyboard.type("echo hello-$((6*7))-$((1000+234))")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => window.dterm.screenText().split('\\n').includes('hello-42-1234')", timeout=15_000
    )
    page.screenshot(path=str(artifacts(request) / "shell.png"))
    before = stty_size(page)
    page.set_viewport_size({"width": 900, "height": 500})
    page.wait_for_function(f"() => window.dterm.size() !== '{before}'", timeout=15_000)
    after = str(page.evaluate("window.dterm.size()"))
    assert stty_size(page) == after != before
    page.keyboard.type("exit 7")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.dterm.state() === 'exited'", timeout=15_000)
    assert "[session exited with code 7]" in screen(page)
    page.screenshot(path=str(artifacts(request) / "exited.png"))


def test_page_without_sign_in_says_how(page: Page, stack: Stack) -> None:
    """Opened without the token, the page tells the person to use the printed URL."""
    page.goto(f"{stack.base}/")
    expect(page.locator("#containers")).to_contain_text("Not signed in", timeout=15_000)


def test_new_container_appears_without_reload(
    page: Page, stack: Stack, containers: Any, request: pytest.FixtureRequest
) -> None:
    """A container started on the host shows up in the open page by itself."""
    page.goto(f"{stack.base}/?token={stack.token}")
    expect(page.locator('h2[data-host="local"]')).to_be_visible(timeout=15_000)
    fresh = containers.run()
    button = page.locator(f'button[data-container="{fresh.name}"]')
    expect(button).to_be_visible(timeout=5_000)
    expect(button).to_be_enabled()
    fresh.kill()
    expect(button).to_be_disabled(timeout=5_000)
    page.screenshot(path=str(artifacts(request) / "live-list.png"))


def test_password_sign_in_page(
    page: Page, worker: Any, busybox: Any, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """With a users file, the page asks for name and password, then lists containers."""
    import subprocess
    import sys

    from tests.support.processes import REPO, start_frontend

    users, policy = tmp_path / "users.json", tmp_path / "policy.toml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dterm_cli",
            "users",
            "--users-file",
            str(users),
            "add",
            "alice",
            "--password-stdin",
        ],
        input="s3cret-pass\n",
        text=True,
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    policy.write_text('[[roles]]\nusers = ["alice"]\n  [[roles.rules]]\n  access = "rw"\n')
    frontend = start_frontend(
        [worker.match["endpoint"]], "--users-file", str(users), "--policy", str(policy)
    )
    try:
        page.goto(frontend.match["url"])
        page.fill("input[name=user]", "alice")
        page.fill("input[name=password]", "wrong-pass")
        page.click("form.sign-in button")
        expect(page.locator("form.sign-in [role=alert]")).to_have_text("Wrong name or password.")
        page.fill("input[name=password]", "s3cret-pass")
        page.screenshot(path=str(artifacts(request) / "sign-in.png"))
        page.click("form.sign-in button")
        expect(page.locator(f'button[data-container="{busybox.name}"]')).to_be_visible(
            timeout=15_000
        )
        expect(page.locator("button.sign-out")).to_have_text("sign out alice")
    finally:
        frontend.stop()
