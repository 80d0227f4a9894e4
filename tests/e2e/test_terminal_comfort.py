"""Comfort in the terminal: scrollback search, clipboard, keys, links, reconnects, renderer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import artifacts
from tests.support.page import WAIT_MS, choose_theme, open_shell, sign_in, type_line, wait_line
from tests.support.terminal_client import Stack

CELL_CENTER = """(text) => {
    const screen = document.querySelector('.terminal-pane.active .xterm-screen');
    const box = screen.getBoundingClientRect();
    const lines = window.dterm.screenText().split('\\n');
    const [rows, cols] = window.dterm.size().split(' ').map(Number);
    const top = lines.length - rows;
    const row = lines.findIndex((line, i) => i >= top && line.includes(text));
    const col = lines[row].indexOf(text) + text.length / 2;
    return [box.left + col * box.width / cols, box.top + (row - top + 0.5) * box.height / rows];
}"""


def cell_center(page: Page, text: str) -> tuple[float, float]:
    """Where on the page the first shown occurrence of `text` is drawn."""
    x, y = page.evaluate(CELL_CENTER, text)
    return float(x), float(y)


def test_copy_on_select_multi_line_paste_and_ctrl_w_reach_their_targets(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """Selecting copies, Ctrl+Shift+V pastes every line into the shell, Ctrl-W deletes a word."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.base)
    sign_in(page, stack)
    open_shell(page, busybox.name)
    type_line(page, "echo copy-$((40+2))-me")
    wait_line(page, "copy-42-me")
    x, y = cell_center(page, "copy-42-me")
    page.mouse.dblclick(x, y)
    page.wait_for_function(
        "() => navigator.clipboard.readText().then((t) => t === 'copy-42-me')", timeout=WAIT_MS
    )
    page.evaluate("navigator.clipboard.writeText('echo pasted-$((1+1))\\necho pasted-$((2+2))\\n')")
    page.keyboard.press("Control+Shift+V")
    wait_line(page, "pasted-2")
    wait_line(page, "pasted-4")
    page.keyboard.type("echo keep drop")
    page.keyboard.press("Control+W")
    type_line(page, "kept")
    wait_line(page, "keep kept")


def test_a_printed_link_opens_in_a_new_browser_tab(page: Page, stack: Stack, busybox: Any) -> None:
    """A URL in the output is a link: hovering finds it, a click opens it."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    url = f"{stack.base}/api/hosts"
    type_line(page, f"echo see {url}")
    wait_line(page, f"see {url}")
    x, y = cell_center(page, url)
    page.mouse.move(x, y)
    with page.context.expect_page() as opened:
        page.mouse.click(x, y)
    opened.value.wait_for_url(url, timeout=WAIT_MS)


def test_reconnecting_shows_a_countdown_and_reconnect_now(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """After a drop the tab counts down to the next try; "Reconnect now" skips the wait."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    page.evaluate("window.dterm.drop()")
    expect(page.locator("#tabs [role=tab] .state-text")).to_have_text(
        re.compile(r"^reconnecting in \d s$")
    )
    banner = page.locator(".terminal-pane.active .banner")
    banner.get_by_role("button", name="Reconnect now").click()
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
    expect(banner).to_be_hidden()
    type_line(page, "echo back-$((3+4))")
    wait_line(page, "back-7")


def test_terminal_falls_back_to_the_dom_renderer_when_webgl_is_lost(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """Losing the WebGL context leaves a working terminal drawn by the DOM renderer."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    if page.evaluate("window.dterm.renderer()") == "webgl":
        page.evaluate(
            """() => {
                for (const canvas of document.querySelectorAll('.terminal-pane.active canvas')) {
                    canvas.getContext('webgl2')?.getExtension('WEBGL_lose_context')?.loseContext();
                }
            }"""
        )
        page.wait_for_function("() => window.dterm.renderer() === 'dom'", timeout=WAIT_MS)
    type_line(page, "echo drawn-$((5*5))")
    wait_line(page, "drawn-25")
    expect(page.locator(".terminal-pane.active .xterm-rows")).to_contain_text("drawn-25")


def test_search_in_the_scrollback(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """Ctrl+Shift+F opens a search bar that counts matches; Escape returns to the shell."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    type_line(page, "for i in 1 2 3; do echo needle-$i; done")
    wait_line(page, "needle-3")
    page.keyboard.press("Control+Shift+F")
    bar = page.locator(".terminal-pane.active .search-bar")
    expect(bar.get_by_role("searchbox")).to_be_focused()
    page.keyboard.type("needle-")
    expect(bar.locator(".count")).to_have_text("1 of 4")
    page.keyboard.press("Enter")
    expect(bar.locator(".count")).to_have_text("2 of 4")
    page.screenshot(path=str(artifacts(request) / "search.png"))
    page.keyboard.press("Escape")
    expect(bar).to_be_hidden()
    type_line(page, "echo found-$((2*2))")
    wait_line(page, "found-4")


THEME_BACKGROUND = "(name) => import('/static/themes.js').then((m) => m.THEMES[name].background)"
VIEWPORT_BACKGROUND = """() => getComputedStyle(
    document.querySelector('.terminal-pane.active .xterm-viewport')).backgroundColor"""


def css_rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def test_the_terminal_area_has_the_theme_background_to_its_edges(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """Below the last row lies a fraction of a cell of xterm's viewport: in either theme it
    is the terminal theme's background (themes.js), not xterm.css's black."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    for theme in ("Light", "Dark"):
        choose_theme(page, theme)
        background = css_rgb(page.evaluate(THEME_BACKGROUND, theme.lower()))
        viewport = page.evaluate(VIEWPORT_BACKGROUND)
        assert viewport == background, f"{theme}: the viewport is {viewport}, not {background}"
