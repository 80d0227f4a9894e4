"""axe-core finds no serious or critical violation on the page's main screens, in
either theme: sign-in, the container list, a terminal, the running-sessions offer,
the dialogs and menus, an ended session, the recordings list and a recording playing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.accounts import add_user
from tests.support.axe import BLOCKING, describe, use_axe, violations
from tests.support.browser import artifacts, checked_page
from tests.support.containers import Containers
from tests.support.images import BUSYBOX_IMAGE
from tests.support.page import WAIT_MS, open_shell, sign_in, type_line
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.terminal_client import Stack

THEMES = ["dark", "light"]
REFUSING_CLIPBOARD = "navigator.clipboard.writeText = () => Promise.reject(new Error('refused'));"


class Audit:
    """Runs axe-core on each screen shown, keeps a picture of it, and reports every
    serious or critical violation of all screens at once."""

    def __init__(self, page: Page, folder: Path, theme: str) -> None:
        self.page, self.folder, self.theme = page, folder, theme
        self.blocking: dict[str, list[dict[str, Any]]] = {}

    def check(self, screen: str) -> None:
        found = [v for v in violations(self.page) if v["impact"] in BLOCKING]
        if found:
            self.blocking[screen] = found
        self.page.screenshot(path=str(self.folder / f"{self.theme}-{screen}.png"))

    def verdict(self) -> None:
        report = "\n".join(
            f"--- {s} ({self.theme})\n{describe(f)}" for s, f in self.blocking.items()
        )
        assert not self.blocking, f"axe-core finds serious violations:\n{report}"


@pytest.fixture(scope="module")
def accounts_frontend(
    worker: ManagedProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A front end with a users file, so the page shows its sign-in form."""
    folder = tmp_path_factory.mktemp("a11y")
    add_user(folder / "users.json", "ann", "correct horse battery")
    (folder / "policy.toml").write_text('[[roles]]\nusers = ["ann"]\n  [[roles.rules]]\n')
    frontend = start_frontend(
        [worker.match["endpoint"]],
        "--users-file", str(folder / "users.json"), "--policy", str(folder / "policy.toml"),
    )  # fmt: skip
    yield Stack(frontend.match["url"])
    frontend.stop()


@pytest.mark.parametrize("theme", THEMES)
def test_the_sign_in_form(
    browser: Browser, accounts_frontend: Stack, request: pytest.FixtureRequest, theme: str
) -> None:
    """The sign-in form, fresh and after a wrong password."""
    with checked_page(browser, request, color_scheme=theme) as page:
        use_axe(page)
        audit = Audit(page, artifacts(request), theme)
        page.goto(accounts_frontend.base)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
        audit.check("sign-in")
        page.get_by_label("Name").fill("ann")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
        audit.check("sign-in-refused")
        audit.verdict()


@pytest.fixture(scope="module")
def stopped(containers: Containers) -> Iterator[Any]:
    """An exited container, so the list shows that state's badge too; removed after
    this module, so other modules' lists do not show it."""
    box = containers.run(
        BUSYBOX_IMAGE, name="dterm-test-a11y-exited", command=["sh", "-c", "exit 3"]
    )
    box.wait()
    yield box
    box.remove(force=True)


def browse(page: Page, audit: Audit, stack: Stack, busybox: Any) -> None:
    """The container list, a terminal, its menus and dialogs, and its end."""
    sign_in(page, stack)
    audit.check("containers")
    page.locator("#search").fill("no-such-container-anywhere")
    expect(page.locator("#containers")).to_contain_text("No container matches.")
    audit.check("no-match")
    page.locator("#search").press("Escape")
    open_shell(page, busybox.name)
    audit.check("terminal")
    page.click("button.settings-button")
    audit.check("settings")
    page.keyboard.press("Escape")
    page.locator(f'button[data-options="{busybox.name}"]').click(force=True)
    audit.check("open-with-dialog")
    page.keyboard.press("Escape")
    for _ in range(5):
        page.locator(f'button[data-container="{busybox.name}"]').click()
    page.wait_for_function("() => window.dterm.tabs().every((t) => t.state === 'live')")
    page.locator("#tab-overflow").click()
    expect(page.get_by_role("menu")).to_be_visible()
    audit.check("tab-menu")
    page.keyboard.press("Escape")
    page.locator('#tab-actions [data-action="share"]').click()
    expect(page.get_by_role("dialog", name="Share a watch link")).to_be_visible()
    audit.check("share-dialog")
    page.keyboard.press("Escape")
    page.locator('#tabs [aria-selected="true"]').press("Delete")
    expect(page.get_by_role("dialog", name="Are you sure?")).to_be_visible()
    audit.check("close-dialog")
    page.keyboard.press("Escape")
    page.locator('#tabs [aria-selected="true"]').press("Enter")
    type_line(page, "echo recorded-for-a11y; exit 4")
    page.wait_for_function("() => window.dterm.state() === 'exited'", timeout=WAIT_MS)
    expect(page.locator(".terminal-pane.active .end-bar")).to_be_visible()
    audit.check("session-ended")
    page.reload()
    expect(page.locator("#reattach-list button").first).to_be_visible(timeout=WAIT_MS)
    audit.check("running-sessions")


def recordings(page: Page, audit: Audit) -> None:
    """The recordings list, and one recording playing."""
    page.get_by_role("link", name="Recordings", exact=True).click()
    page.get_by_label("Container", exact=True).fill("busybox")
    play = page.locator("table.recordings tbody tr").first.get_by_role(
        "link", name=re.compile("^Play")
    )
    expect(play).to_be_visible(timeout=WAIT_MS)
    audit.check("recordings")
    play.click()
    expect(page.locator(".recording-playback")).to_be_visible()
    page.wait_for_function("() => document.querySelector('.ap-wrapper') !== null", timeout=WAIT_MS)
    audit.check("recording-playing")


@pytest.mark.parametrize("theme", THEMES)
def test_the_main_screens(
    browser: Browser,
    stack: Stack,
    busybox: Any,
    stopped: Any,
    request: pytest.FixtureRequest,
    theme: str,
) -> None:
    """Every screen a person meets while working, in each theme."""
    with checked_page(browser, request, color_scheme=theme) as page:
        use_axe(page)
        page.add_init_script(REFUSING_CLIPBOARD)  # Share then shows its dialog
        audit = Audit(page, artifacts(request), theme)
        browse(page, audit, stack, busybox)
        recordings(page, audit)
        audit.verdict()
