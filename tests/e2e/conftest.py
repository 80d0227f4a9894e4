"""Chromium driven by Playwright, from the machine's own package (never downloaded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser import CHROMIUM_FLAGS, checked_page, chromium_path
from tests.support.containers import require


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module: Playwright's sync API holds an event loop that async tests must not see."""
    executable = chromium_path()
    require(executable is not None, "Chromium is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in its own context, checked as checked_page() says."""
    with checked_page(browser, request) as page:
        yield page
