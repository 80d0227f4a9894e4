"""The recordings page: find a session's recording, play it with seeking and speed,
download it, follow links to it, and a clear word for people who may not see any.

The player's screen is read from asciinema-player's text layer (`.ap-term-text`),
which holds one element per terminal line, never from pixels.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.accounts import add_user
from tests.support.browser import artifacts
from tests.support.http import get_json
from tests.support.page import (
    WAIT_MS,
    open_shell,
    sign_in,
    type_line,
    wait_line,
    wait_title,
)
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.recordings_page import (
    SCRIPT,
    open_recordings,
    record,
    wait_player_line,
    wait_player_without,
)
from tests.support.terminal_client import Stack


@pytest.fixture(scope="module")
def recorded(browser: Browser, stack: Stack, containers: Any) -> str:
    """A container on host `local` with one finished, recorded session; its name."""
    container = containers.run(name=f"recorded-{uuid.uuid4().hex[:6]}").name
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, stack)
        record(page, "local", container, SCRIPT)
    finally:
        context.close()
    return str(container)


def test_a_recording_is_found_by_filters_and_plays_with_seek_and_speed(
    page: Page, stack: Stack, recorded: str, request: pytest.FixtureRequest
) -> None:
    """Filtered by container, the session is one row; Play shows its text, speed 4
    plays it faster, keys seek, and Back returns to the row and then to the page before."""
    sign_in(page, stack)
    row = open_recordings(page, recorded)
    for column, text in (("Container", recorded), ("Host", "local"), ("Person", "dev")):
        expect(row.locator(f'td[data-label="{column}"]')).to_have_text(text)
    expect(row.locator('td[data-label="Duration"]')).to_have_text(re.compile(r"^\d+ s$"))
    expect(page.locator("#recordings .summary")).to_contain_text("Showing 1 of")
    page.get_by_label("Person", exact=True).fill("nobody-like-this")
    expect(page.locator("#recordings .summary")).to_have_text("No session matches these filters.")
    page.get_by_label("Person", exact=True).fill("de")
    expect(row).to_be_visible()
    page.screenshot(path=str(artifacts(request) / "list.png"))
    row.get_by_role("link", name=re.compile("^Play")).click()
    expect(page).to_have_url(re.compile(r"#/recordings/local/.+\.cast$"))
    expect(page.get_by_role("heading", name=f"{recorded}@local")).to_be_visible()
    wait_player_line(page, "start-2")
    page.get_by_label("Speed").select_option("4")
    wait_player_line(page, "recorded-42", timeout=3_500)  # 5 s in at speed 1
    page.screenshot(path=str(artifacts(request) / "player.png"))
    page.locator(".ap-wrapper").focus()
    page.keyboard.press("0")
    wait_player_without(page, "recorded-42")
    page.keyboard.press("]")  # the next marker: the session's end
    wait_player_line(page, "recorded-42")
    expect(page.get_by_label("Speed")).to_have_value("4")
    page.go_back()
    expect(page).to_have_url(re.compile("#/recordings$"))
    expect(row.get_by_role("link", name=re.compile("^Play"))).to_be_focused()
    page.go_back()
    expect(page.locator("#recordings")).to_be_hidden()
    expect(page.locator("#empty")).to_be_visible()


def test_download_gives_the_cast_file(page: Page, stack: Stack, recorded: str) -> None:
    """Download saves the recording's asciicast v2 file as the server has it."""
    sign_in(page, stack)
    row = open_recordings(page, recorded)
    with page.expect_download() as download_info:
        row.get_by_role("link", name=re.compile("^Download")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".cast")
    lines = Path(download.path()).read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2
    assert header["dterm"]["container"]["name"] == recorded
    assert "recorded-42" in "".join(json.loads(line)[2] for line in lines[1:])


def test_days_filter_asks_the_server(page: Page, stack: Stack, recorded: str) -> None:
    """From tomorrow lists nothing; today, from and to, lists the session again."""
    sign_in(page, stack)
    row = open_recordings(page, recorded)
    today, tomorrow = page.evaluate(
        "[0, 1].map((d) => new Date(Date.now() + d * 86400e3).toLocaleDateString('en-CA'))"
    )
    page.get_by_label("From", exact=True).fill(tomorrow)
    expect(page.locator("#recordings .summary")).to_have_text(
        "No session was recorded on these days."
    )
    expect(row).to_have_count(0)
    page.get_by_label("From", exact=True).fill(today)
    page.get_by_label("To", exact=True).fill(today)
    expect(page.locator("table.recordings tbody tr")).to_have_count(1, timeout=WAIT_MS)


def test_a_deep_link_plays_and_fits_a_narrow_window(
    page: Page, stack: Stack, recorded: str, request: pytest.FixtureRequest
) -> None:
    """#/recordings/<host>/<name> plays that recording after sign-in; on a narrow window
    the player and the list fit, and "All recordings" leads to the list."""
    [entry] = get_json(stack, f"/api/recordings?container={recorded}")["recordings"]
    page.set_viewport_size({"width": 420, "height": 760})
    page.goto(f"{stack.base}/?token={stack.token}#/recordings/local/{entry['name']}")
    expect(page.get_by_role("heading", name=f"{recorded}@local")).to_be_visible(timeout=WAIT_MS)
    wait_player_line(page, "start-2")
    expect(page.locator(".ap-wrapper")).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    page.screenshot(path=str(artifacts(request) / "narrow-player.png"))
    page.get_by_role("link", name="All recordings").click()
    page.get_by_label("Container", exact=True).fill(recorded)
    expect(page.locator("table.recordings tbody tr")).to_have_count(1, timeout=WAIT_MS)
    assert page.evaluate("document.querySelector('.recordings-list').scrollWidth") <= 420
    page.screenshot(path=str(artifacts(request) / "narrow-list.png"))


def test_close_returns_to_the_terminal_as_it_was(page: Page, stack: Stack, busybox: Any) -> None:
    """Close on the recordings page shows the terminal tab shown before, at its size."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    size = page.evaluate("window.dterm.size()")
    page.get_by_role("link", name="Recordings", exact=True).click()
    expect(page.locator("#workspace")).to_be_hidden()
    expect(page.get_by_role("link", name="Recordings", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_role("button", name="Close", exact=True).click()
    expect(page.locator("#recordings")).to_be_hidden()
    wait_title(page, f"{busybox.name}@local")
    assert page.evaluate("window.dterm.size()") == size
    type_line(page, "echo back-$((2+5))")
    wait_line(page, "back-7")


@pytest.fixture
def parted_stack(containers: Any) -> Iterator[tuple[Stack, str]]:
    """A host `parted` whose recordings go on in a new part every 2000 bytes, behind its
    own front end; with a container to record in."""
    container = containers.run(name=f"parted-{uuid.uuid4().hex[:6]}").name
    worker = start_worker("parted", "--recording-max-bytes", "2000")
    frontend = start_frontend([worker.match["endpoint"]])
    try:
        yield Stack(frontend.match["url"], host="parted"), str(container)
    finally:
        frontend.stop()
        worker.stop()


def test_a_session_in_parts_is_one_row_and_plays_whole(
    page: Page, parted_stack: tuple[Stack, str], request: pytest.FixtureRequest
) -> None:
    """A session recorded in several parts is listed once, downloads part by part, and
    plays from its first part's text to its last's."""
    stack, container = parted_stack
    page.goto(f"{stack.base}/?token={stack.token}")
    script = "echo start-$((1+1)); sleep 2; seq 1 600; sleep 1; echo recorded-$((6*7))"
    record(page, "parted", container, script)
    row = open_recordings(page, container)
    parts = row.get_by_role("link", name=re.compile("^Part "))
    assert parts.count() >= 2
    with page.expect_download() as download_info:
        parts.nth(1).click()
    header = json.loads(Path(download_info.value.path()).read_text().splitlines()[0])
    assert header["version"] == 2 and header["dterm"]["part"] == 2
    page.screenshot(path=str(artifacts(request) / "parts.png"))
    row.get_by_role("link", name=re.compile("^Play")).click()
    wait_player_line(page, "start-2")
    wait_player_line(page, "recorded-42")


def test_people_without_recordings_are_told_so(
    page: Page, worker: ManagedProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A role without `recordings` gets a clear message instead of a list."""
    users, policy = tmp_path / "users.json", tmp_path / "policy.toml"
    add_user(users, "carol", "s3cret-pass")
    policy.write_text('[[roles]]\nusers = ["carol"]\n  [[roles.rules]]\n  access = "rw"\n')
    frontend = start_frontend(
        [worker.match["endpoint"]], "--users-file", str(users), "--policy", str(policy)
    )
    try:
        page.goto(f"{frontend.match['url']}#/recordings")
        page.fill("input[name=user]", "carol")
        page.fill("input[name=password]", "s3cret-pass")
        page.click("form.sign-in button")
        expect(page.locator("#recordings .summary")).to_contain_text(
            "You may not see recordings", timeout=WAIT_MS
        )
        expect(page.get_by_label("Container", exact=True)).to_be_hidden()
        page.screenshot(path=str(artifacts(request) / "forbidden.png"))
    finally:
        frontend.stop()
