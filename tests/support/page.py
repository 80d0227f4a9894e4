"""Steps the page tests share: sign in, open a shell, type, read the screen.

The screen is read through xterm.js's buffer (window.dterm.screenText()), never from
pixels, and every wait is on a condition with a deadline. `wait_for_function` gets a
function (`() => ...`): Playwright polls a bare expression through eval, which the
page's Content Security Policy refuses.
"""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from tests.support.terminal_client import Stack

WAIT_MS = 15_000
PROMPT = "() => /[#$] $/m.test(window.dterm.screenText())"


def screen(page: Page) -> str:
    return str(page.evaluate("window.dterm.screenText()"))


def sign_in(page: Page, stack: Stack, route: str = "", host: str = "local") -> None:
    """Open the page with the dev token (and a route after #), wait for the host's list."""
    page.goto(f"{stack.base}/?token={stack.token}{route}")
    expect(page.locator(f'h2[data-host="{host}"]')).to_be_visible(timeout=WAIT_MS)


def wait_prompt(page: Page) -> None:
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
    page.wait_for_function(PROMPT, timeout=WAIT_MS)


def open_shell(page: Page, container: str, host: str = "local") -> None:
    page.locator(f'button[data-container="{container}"]').click(timeout=WAIT_MS)
    wait_title(page, f"{container}@{host}")
    wait_prompt(page)


def choose_theme(page: Page, theme: str) -> None:
    """Pick "Light" or "Dark" in the settings menu and close it."""
    page.click("button.settings-button")
    page.locator("#settings").get_by_text(theme).click()
    page.keyboard.press("Escape")
    expect(page.locator("html")).to_have_attribute("data-theme", theme.lower())


def type_line(page: Page, text: str) -> None:
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def wait_line(page: Page, line: str) -> None:
    """Wait until the shown terminal has `line` as a whole line."""
    page.wait_for_function(
        f"() => window.dterm.screenText().split('\\n').includes({json.dumps(line)})",
        timeout=WAIT_MS,
    )


def wait_title(page: Page, title: str | None) -> None:
    page.wait_for_function(f"() => window.dterm.title() === {json.dumps(title)}", timeout=WAIT_MS)
