"""Chromium for the page tests: where it is, how it starts, a checked page, and where
a test's screenshots go."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.support.processes import OUTPUT

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    candidate = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    return candidate if Path(candidate).exists() else shutil.which("chromium")


def csp_violations(page: Page) -> list[str]:
    """What the browser reports as refused by the Content Security Policy (filled
    while the page lives)."""
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text)
            if "content security policy" in message.text.lower()
            else None
        ),
    )
    return found


@contextlib.contextmanager
def checked_page(
    browser: Browser, request: pytest.FixtureRequest, **options: Any
) -> Iterator[Page]:
    """A page in a context of its own (made with `options`); an uncaught exception in
    its scripts or anything the Content Security Policy refuses fails the test."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **options})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused = csp_violations(page)
    yield page
    folder = artifacts(request)
    page.screenshot(path=str(folder / "last.png"))
    context.close()
    assert not errors, f"the page threw: {errors}"
    assert not refused, f"the Content Security Policy refused: {refused}"


def artifacts(request: pytest.FixtureRequest) -> Path:
    """The test's output folder under test-output/."""
    name: str = request.node.name
    folder = OUTPUT / name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
