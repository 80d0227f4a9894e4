"""The recordings page in the page tests: record a session, open the list, read the player."""

from __future__ import annotations

import json

from playwright.sync_api import Locator, Page, expect

from tests.support.page import WAIT_MS, open_shell, type_line, wait_line

# Five seconds of stillness between the lines, so that speed shows and seeking has
# somewhere to go.
SCRIPT = "echo start-$((1+1)); sleep 5; echo recorded-$((6*7))"
PLAYER_LINES = (
    "[...document.querySelectorAll('.ap-term-text .ap-line')]"
    ".map((line) => line.textContent.trimEnd())"
)


def wait_player_line(page: Page, line: str, timeout: float = WAIT_MS) -> None:
    """Wait until the player's screen has `line` as a whole line."""
    page.wait_for_function(f"() => {PLAYER_LINES}.includes({json.dumps(line)})", timeout=timeout)


def wait_player_without(page: Page, line: str) -> None:
    page.wait_for_function(f"() => !{PLAYER_LINES}.includes({json.dumps(line)})", timeout=WAIT_MS)


def record(page: Page, host: str, container: str, script: str) -> None:
    """Run `script` in a shell on the page, wait for recorded-42, then end the session."""
    open_shell(page, container, host)
    type_line(page, script)
    wait_line(page, "recorded-42")
    type_line(page, "exit")
    page.wait_for_function("() => window.dterm.state() === 'exited'", timeout=WAIT_MS)


def open_recordings(page: Page, container: str) -> Locator:
    """Go to the recordings page by its header link; filter by part of the container's
    name; return the one row left."""
    page.get_by_role("link", name="Recordings", exact=True).click()
    expect(page.get_by_role("heading", name="Recordings")).to_be_focused()
    page.get_by_label("Container", exact=True).fill(container.removeprefix("recorded-"))
    rows = page.locator("table.recordings tbody tr")
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    return rows.first
