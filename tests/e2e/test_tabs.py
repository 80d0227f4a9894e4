"""Many terminals at once: titles that tell tabs apart, and a menu of every tab when
the strip cannot show them all, usable from the keyboard alone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import artifacts
from tests.support.page import WAIT_MS, open_shell, sign_in, wait_prompt, wait_title
from tests.support.terminal_client import Stack

TITLES = "() => window.dterm.tabs().map((t) => t.title)"


def open_again(page: Page, container: str, title: str) -> None:
    """Another shell in the same container, in a new tab titled `title`."""
    page.locator(f'button[data-container="{container}"]').click()
    wait_title(page, title)
    wait_prompt(page)


def test_two_shells_in_one_container_get_distinct_titles(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """The second shell's tab is "(2)", keeps it through a reconnect, and a closed
    tab's title is given to the next one opened."""
    base = f"{busybox.name}@local"
    sign_in(page, stack)
    open_shell(page, busybox.name)
    open_again(page, busybox.name, f"{base} (2)")
    assert page.evaluate(TITLES) == [base, f"{base} (2)"]
    expect(page.locator("#tabs [role=tab] .label")).to_have_text([base, f"{base} (2)"])
    assert page.title() == f"{base} (2) · dterm"
    page.evaluate("window.dterm.drop()")
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
    wait_title(page, f"{base} (2)")
    first = page.locator("#tabs [role=tab]").first
    first.click()
    first.press("Delete")
    page.get_by_role("dialog").get_by_role("button", name="End session").click()
    page.wait_for_function(f"() => {TITLES}().length === 1", timeout=WAIT_MS)
    open_again(page, busybox.name, base)
    assert page.evaluate(TITLES) == [f"{base} (2)", base]


def header_in_view(page: Page) -> bool:
    return bool(
        page.evaluate("""() => {
            const strip = document.querySelector('#tabs').getBoundingClientRect();
            const shown = document.querySelector('#tabs [aria-selected="true"]');
            const tab = shown.getBoundingClientRect();
            return tab.left >= strip.left - 1 && tab.right <= strip.right + 1;
        }""")
    )


def test_tabs_that_do_not_fit_are_reachable_from_a_menu_by_keyboard(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """With more tabs than the strip shows, a "+N" button lists every tab; arrows,
    Home, End, Enter and Escape work in it, and the tab picked comes into view."""
    base = f"{busybox.name}@local"
    page.set_viewport_size({"width": 1100, "height": 700})
    sign_in(page, stack)
    open_shell(page, busybox.name)
    overflow = page.locator("#tab-overflow")
    expect(overflow).to_be_hidden()
    for n in range(2, 9):
        open_again(page, busybox.name, f"{base} ({n})")
    expect(overflow).to_be_visible()
    expect(overflow).to_have_text(re.compile(r"^\+[1-9]\d* ▾$"))
    menu = page.get_by_role("menu", name="Open terminals")
    items = menu.get_by_role("menuitem")
    page.locator('#tabs [aria-selected="true"]').press("ArrowRight")  # wraps to the first tab
    wait_title(page, base)
    overflow.focus()
    page.keyboard.press("ArrowDown")
    expect(menu).to_be_visible()
    expect(items).to_have_count(8)
    expect(items.first).to_be_focused()
    expect(items.first).to_have_attribute("aria-current", "true")
    page.screenshot(path=str(artifacts(request) / "tab-menu.png"))
    page.keyboard.press("End")
    expect(items.last).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.first).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(items.nth(6)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(overflow).to_be_focused()
    page.keyboard.press("Enter")
    expect(items.first).to_be_focused()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    expect(menu).to_be_hidden()
    wait_title(page, f"{base} (8)")
    assert header_in_view(page)
    page.keyboard.type("echo picked-$((4*4))")  # the picked terminal has the focus
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.dterm.screenText().includes('picked-16')")
    overflow.click()
    items.first.click()
    wait_title(page, base)
    assert header_in_view(page)


@pytest.mark.parametrize("width", [420])
def test_the_tab_menu_fits_a_narrow_window(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest, width: int
) -> None:
    """On a phone-sized window two tabs already overflow; the menu stays on screen."""
    base = f"{busybox.name}@local"
    page.set_viewport_size({"width": width, "height": 760})
    sign_in(page, stack)
    open_shell(page, busybox.name)
    for n in range(2, 4):
        page.click("#toggle-nav")
        open_again(page, busybox.name, f"{base} ({n})")
    page.locator("#tab-overflow").click()
    menu = page.get_by_role("menu", name="Open terminals")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    page.screenshot(path=str(artifacts(request) / "narrow-tab-menu.png"))
