"""The logs and stats panel beside a terminal, in Chromium against the real stack: lines
arrive live, search marks and filters them, download gives Docker's bytes, the stats
refresh, the keyboard drives it, and it is not offered without the permission."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.accounts import add_user
from tests.support.browser import artifacts
from tests.support.page import WAIT_MS, open_shell, sign_in
from tests.support.processes import start_frontend
from tests.support.terminal_client import Stack

TICKS = (
    "i=0; while :; do i=$((i+1)); [ $((i % 2)) = 0 ] && w=even || w=odd; "
    'echo "tick $i $w"; sleep 0.3; done'
)


def ticks(page: Page) -> list[int]:
    """The tick numbers the panel shows, in order."""
    texts = page.locator(".terminal-pane.active .log-lines .line").all_inner_texts()
    return [int(t.split()[1]) for t in texts if t.startswith("tick ")]


def test_logs_and_stats_beside_the_shell(
    page: Page, stack: Stack, containers: Any, request: pytest.FixtureRequest
) -> None:
    """Opened from the toolbar by keyboard, the panel shows the container's lines as they
    come, marks and filters them by a search, downloads Docker's bytes, refreshes the
    stats, and closes with Escape, giving the keyboard back to the terminal."""
    box = containers.run(name=f"dterm-test-e2e-logs-{uuid.uuid4().hex[:6]}",
                         command=["sh", "-c", TICKS])  # fmt: skip
    sign_in(page, stack)
    open_shell(page, box.name)
    button = page.locator("#tab-actions [data-action=logs]")
    expect(button).to_be_visible()
    button.focus()
    page.keyboard.press("Enter")
    panel = page.locator(".terminal-pane.active .observe")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("searchbox", name="Search the logs")).to_be_focused()
    page.wait_for_function(
        "() => document.querySelectorAll('.terminal-pane.active .log-lines .line').length >= 2",
        timeout=WAIT_MS,
    )
    last = ticks(page)[-1]
    expect(panel.locator(".log-lines .line", has_text=f"tick {last + 3} ")).to_have_count(
        1, timeout=WAIT_MS
    )
    numbers = ticks(page)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))

    page.keyboard.type("even")
    expect(panel.locator(".log-lines mark").first).to_have_text("even")
    expect(panel.locator(".count")).to_have_text(re.compile(r"^\d+ lines?$"))
    panel.get_by_label("Only matching").check()
    shown = panel.locator(".log-lines .line:visible").all_inner_texts()
    assert shown and all(text.endswith(" even") for text in shown)

    with page.expect_download(timeout=WAIT_MS) as download:
        panel.get_by_role("link", name="Download the logs").click()
    saved = Path(download.value.path()).read_bytes()
    assert saved.startswith(b"tick 1 odd\ntick 2 even\n")
    assert box.logs(stdout=True, stderr=True).startswith(saved)
    assert download.value.suggested_filename.startswith(box.name)

    cpu = panel.locator("[data-stat=cpu]")
    expect(cpu).to_have_text(re.compile(r"^\d+(\.\d)? %$"), timeout=WAIT_MS)
    expect(panel.locator("[data-stat=memory]")).to_have_text(re.compile(r"B( / .+B)?$"))
    stats = panel.locator(".stats")
    first = stats.get_attribute("data-read-at")
    changed = "(first) => document.querySelector('.terminal-pane.active .stats').dataset.readAt"
    page.wait_for_function(f"{changed} !== first", arg=first, timeout=WAIT_MS)
    page.screenshot(path=str(artifacts(request) / "logs-panel.png"))

    panel.get_by_role("searchbox").fill("")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert page.evaluate("document.activeElement.classList.contains('xterm-helper-textarea')")


def test_the_panel_follows_the_permission(
    page: Page, worker: Any, containers: Any, tmp_path: Path
) -> None:
    """Without `observe` the toolbar offers no logs; with `observe = "stats"` it offers
    the stats strip alone, and no logs."""
    t = uuid.uuid4().hex[:6]
    boxes = {kind: containers.run(name=f"dterm-test-e2e-obs-{kind}-{t}") for kind in ("no", "st")}
    users, policy = tmp_path / "users.json", tmp_path / "policy.toml"
    add_user(users, "alice", "s3cret-pass")
    policy.write_text(
        '[[roles]]\nusers = ["alice"]\n'
        '  [[roles.rules]]\n  containers = ["dterm-test-e2e-obs-no-*"]\n'
        '  [[roles.rules]]\n  containers = ["dterm-test-e2e-obs-st-*"]\n  observe = "stats"\n'
    )
    frontend = start_frontend(
        [worker.match["endpoint"]], "--users-file", str(users), "--policy", str(policy)
    )
    button = page.locator("#tab-actions [data-action=logs]")
    try:
        page.goto(frontend.match["url"])
        page.fill("input[name=user]", "alice")
        page.fill("input[name=password]", "s3cret-pass")
        page.click("form.sign-in button")
        open_shell(page, boxes["no"].name)
        expect(button).to_be_hidden()
        open_shell(page, boxes["st"].name)
        expect(button).to_be_visible()
        expect(button).to_have_attribute("aria-label", "Stats")
        button.click()
        panel = page.locator(".terminal-pane.active .observe")
        expect(panel.locator("[data-stat=memory]")).to_have_text(re.compile(r"B"), timeout=WAIT_MS)
        expect(panel.locator(".logs")).to_be_hidden()
    finally:
        frontend.stop()
