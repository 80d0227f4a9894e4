"""The terminal's renderer: a setting (WebGL or DOM), and a terminal that is drawn
whatever the browser does to WebGL. Whether text is drawn is read from the
screenshot's pixels: the text buffer holds the text even when nothing shows."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import artifacts, checked_page
from tests.support.page import WAIT_MS, open_shell, sign_in, type_line, wait_line
from tests.support.pixels import read_png
from tests.support.terminal_client import Stack

# Where the first rows of the shown terminal are, in CSS pixels.
TOP_ROWS = """() => {
    const screen = document.querySelector('.terminal-pane.active .xterm-screen');
    const box = screen.getBoundingClientRect();
    const [width, height] = [Math.min(box.width, 640), Math.min(box.height, 160)];
    return {x: box.left, y: box.top, width, height};
}"""

# Ten lines at the top of a cleared screen: a renderer that draws them anywhere else
# (scaled, shifted) leaves the top rows blank.
TEXT = "clear; for i in 1 2 3 4 5 6 7 8 9 10; do echo drawn-line-$i-WWWWWWWWWWWWWWWW; done"


def ink(page: Page) -> int:
    """How many pixels of the terminal's first rows are not its background."""
    shot = page.screenshot(clip=page.evaluate(TOP_ROWS), scale="css", animations="disabled")
    return read_png(shot).ink()


def show_text(page: Page) -> None:
    type_line(page, TEXT)
    wait_line(page, "drawn-line-10-WWWWWWWWWWWWWWWW")


def wait_ink(page: Page, what: str) -> None:
    """Text the buffer holds is drawn within a few frames, or the test fails."""
    for _ in range(40):
        if ink(page) > 400:
            return
        page.wait_for_timeout(100)  # a frame or more for the renderer; bounded by the loop
    raise AssertionError(f"{what}: the terminal shows no text (renderer: "
                         f"{page.evaluate('window.dterm.renderer()')})")  # fmt: skip


@pytest.mark.parametrize("scale", [1, 1.5, 2])
def test_the_terminal_shows_its_text_at_any_device_pixel_ratio(
    browser: Browser, stack: Stack, busybox: Any, request: pytest.FixtureRequest, scale: float
) -> None:
    """At a device pixel ratio of 1.5 (or 2) headless Chromium reports device pixel
    sizes that disagree with it, and WebGL drew nothing: the terminal notices and
    falls back to the DOM renderer, so its text shows."""
    with checked_page(browser, request, device_scale_factor=scale) as page:
        sign_in(page, stack)
        open_shell(page, busybox.name)
        show_text(page)
        wait_ink(page, f"device pixel ratio {scale}")
        page.screenshot(path=str(artifacts(request) / f"terminal-at-{scale}.png"))


def choose_renderer(page: Page, label: str) -> None:
    page.click("button.settings-button")
    page.locator("#settings").get_by_text(label, exact=True).click()
    page.keyboard.press("Escape")
    page.locator('#tabs [aria-selected="true"]').press("Enter")  # back into the terminal


def test_the_renderer_is_a_setting_that_open_terminals_follow(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """DOM or WebGL, chosen in the settings: the open terminal switches at once, keeps
    its text, and the choice survives a reload."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    expect(page.locator("#settings-renderer-webgl")).to_be_checked()
    page.wait_for_function("() => window.dterm.renderer() === 'webgl'", timeout=WAIT_MS)
    choose_renderer(page, "DOM")
    page.wait_for_function("() => window.dterm.renderer() === 'dom'", timeout=WAIT_MS)
    show_text(page)
    expect(page.locator(".terminal-pane.active .xterm-rows")).to_contain_text("drawn-line-10")
    wait_ink(page, "DOM renderer")
    page.reload()
    open_shell(page, busybox.name)
    assert page.evaluate("window.dterm.renderer()") == "dom"
    choose_renderer(page, "WebGL")
    page.wait_for_function("() => window.dterm.renderer() === 'webgl'", timeout=WAIT_MS)
    show_text(page)
    wait_ink(page, "WebGL renderer")


NO_WEBGL = """(() => {
    const getContext = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
        return kind === 'webgl2' || kind === 'webgl' ? null : getContext.call(this, kind, ...rest);
    };
})();"""


def test_a_browser_without_webgl_gets_the_dom_renderer_and_is_told(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """Where WebGL cannot start, the terminal is drawn by the DOM renderer and the
    settings say why WebGL is not used."""
    page.add_init_script(NO_WEBGL)
    sign_in(page, stack)
    open_shell(page, busybox.name)
    assert page.evaluate("window.dterm.renderer()") == "dom"
    show_text(page)
    wait_ink(page, "without WebGL")
    page.click("button.settings-button")
    expect(page.locator("#settings .renderer-note")).to_contain_text("WebGL")


# Loses the WebGL context of the shown terminal for good, as a GPU reset that is never
# recovered from does (the addon waits a few seconds for a restore before giving up).
LOSE_CONTEXT = """() => {
    const canvases = document.querySelectorAll('.terminal-pane.active .xterm-screen canvas');
    const gl = [...canvases].map((c) => c.getContext('webgl2')).find((g) => g !== null);
    gl.getExtension('WEBGL_lose_context').loseContext();
}"""


def test_a_terminal_whose_webgl_context_is_lost_is_drawn_by_the_dom_renderer(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """A lost WebGL context that does not come back: the terminal goes over to the DOM
    renderer by itself and shows its text, the session unharmed."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    page.wait_for_function("() => window.dterm.renderer() === 'webgl'", timeout=WAIT_MS)
    page.evaluate(LOSE_CONTEXT)
    page.wait_for_function("() => window.dterm.renderer() === 'dom'", timeout=WAIT_MS)
    page.locator('#tabs [aria-selected="true"]').press("Enter")  # back into the terminal
    show_text(page)
    wait_ink(page, "after the WebGL context was lost")
    assert page.evaluate("window.dterm.state()") == "live"
