"""The web app as people use it: find containers, tabs, links, the open dialog, files."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, FilePayload, Page, expect

from tests.support.browser import artifacts
from tests.support.page import (
    WAIT_MS,
    open_shell,
    screen,
    sign_in,
    type_line,
    wait_line,
    wait_prompt,
    wait_title,
)
from tests.support.processes import start_frontend
from tests.support.terminal_client import Stack


def tag() -> str:
    return uuid.uuid4().hex[:6]


def put_file(container: Any, path: str, data: bytes) -> None:
    """Write a file into a container through Docker, not through dterm."""
    folder, name = path.rsplit("/", 1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive(folder, buffer.getvalue())


def drop_file(page: Page, name: str, text: str) -> None:
    """Drop a file from the desktop onto the shown terminal, as a drag would."""
    page.evaluate(
        """([name, text]) => {
            const data = new DataTransfer();
            data.items.add(new File([text], name));
            const pane = document.querySelector('.terminal-pane.active');
            for (const type of ['dragenter', 'dragover', 'drop']) {
                const init = { dataTransfer: data, bubbles: true, cancelable: true };
                pane.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        [name, text],
    )


def test_search_filters_by_name_image_label_and_host(
    page: Page, stack: Stack, containers: Any, request: pytest.FixtureRequest
) -> None:
    """Typing in the search box narrows the list by name, image, label and host at once."""
    t = tag()
    web = containers.run(name=f"shop-web-{t}", labels={"tier": "front", "team": f"t{t}"})
    db = containers.run(name=f"shop-db-{t}", labels={"tier": "data", "team": f"t{t}"})
    sign_in(page, stack)
    rows = {c: page.locator(f'button[data-container="{c.name}"]') for c in (web, db)}
    page.keyboard.press("/")
    search = page.locator("#search")
    expect(search).to_be_focused()

    def only(query: str, *shown: Any) -> None:
        search.fill(query)
        for container, row in rows.items():
            expect(row).to_have_count(1 if container in shown else 0)

    only(f"web-{t}", web)
    only(f"team=t{t} tier=data", db)
    only(f"team=t{t}", web, db)
    only(f"T{t} LOCAL busybox", web, db)
    expect(page.locator("#search-summary")).to_contain_text("2 of")
    page.screenshot(path=str(artifacts(request) / "filtered.png"))
    only(f"team=t{t} no-such-thing")
    expect(page.locator("#containers")).to_contain_text("No container matches.")
    search.press("Escape")
    expect(search).to_have_value("")
    only("", web, db)


def test_two_tabs_on_two_containers_work_independently(
    page: Page, stack: Stack, busybox: Any, containers: Any, request: pytest.FixtureRequest
) -> None:
    """Two tabs keep their own shells; closing a live one asks first and leaves the other."""
    other = containers.run(name=f"second-{tag()}")
    sign_in(page, stack)
    open_shell(page, busybox.name)
    type_line(page, "echo one-$((1+1))")
    wait_line(page, "one-2")
    open_shell(page, other.name)
    type_line(page, "echo two-$((2+2))")
    wait_line(page, "two-4")
    assert "one-2" not in screen(page)
    tabs = page.locator("#tabs [role=tab]")
    expect(tabs).to_have_count(2)
    expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
    tabs.nth(0).click()
    wait_title(page, f"{busybox.name}@local")
    type_line(page, "echo back-in-one")
    wait_line(page, "back-in-one")
    assert "two-4" not in screen(page)
    page.screenshot(path=str(artifacts(request) / "two-tabs.png"))
    tabs.nth(1).locator(".close").click()
    question = page.locator("dialog[open]")
    expect(question).to_contain_text(f"End the session in {other.name}@local")
    question.get_by_role("button", name="Cancel").click()
    expect(tabs).to_have_count(2)
    tabs.nth(1).locator(".close").click()
    question.get_by_role("button", name="End session").click()
    expect(tabs).to_have_count(1)
    assert page.evaluate("window.dterm.title()") == f"{busybox.name}@local"
    assert page.evaluate("window.dterm.state()") == "live"


def test_deep_link_opens_a_terminal_and_history_moves_between_tabs(
    page: Page, stack: Stack, busybox: Any, containers: Any
) -> None:
    """#/h/<host>/c/<container> opens a terminal after sign-in; Back and Forward switch tabs."""
    other = containers.run(name=f"linked-{tag()}")
    sign_in(page, stack, f"#/h/local/c/{busybox.name}")
    wait_title(page, f"{busybox.name}@local")
    wait_prompt(page)
    assert page.url == f"{stack.base}/#/h/local/c/{busybox.name}"
    page.goto(f"{stack.base}/#/h/local/c/{other.name}")
    wait_title(page, f"{other.name}@local")
    wait_prompt(page)
    page.go_back()
    wait_title(page, f"{busybox.name}@local")
    page.go_forward()
    wait_title(page, f"{other.name}@local")
    expect(page.locator("#tabs [role=tab]")).to_have_count(2)


def test_back_from_the_first_tab_returns_to_the_list(
    page: Page, stack: Stack, busybox: Any
) -> None:
    """Back after opening a container shows the list again, and Forward the same tab."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    page.go_back()
    wait_title(page, None)
    expect(page.locator("#empty")).to_be_visible()
    page.go_forward()
    wait_title(page, f"{busybox.name}@local")
    expect(page.locator("#tabs [role=tab]")).to_have_count(1)


def test_settings_persist_across_reload_and_leaving_asks_first(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """Theme, font size (Ctrl +/-) and screen reader mode survive a reload; leaving asks."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    page.click("button.settings-button")
    menu = page.locator("#settings")
    menu.get_by_text("Dark").click()
    menu.get_by_label("Screen reader mode").check()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.screenshot(path=str(artifacts(request) / "settings.png"))
    page.keyboard.press("Escape")
    page.locator(".terminal-pane.active .xterm").click()
    for key in ("Control+Equal", "Control+Equal", "Control+Equal", "Control+Minus"):
        page.keyboard.press(key)
    page.wait_for_function("() => window.dterm.fontSize() === 16", timeout=WAIT_MS)
    expect(page.locator(".terminal-pane.active .xterm-accessibility")).to_have_count(1)
    asked: list[str] = []

    def leave(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.accept()

    page.on("dialog", leave)
    page.reload()
    expect(page.locator('h2[data-host="local"]')).to_be_visible(timeout=WAIT_MS)
    assert asked == ["beforeunload"]
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    open_shell(page, busybox.name)
    assert page.evaluate("window.dterm.fontSize()") == 16
    expect(page.locator(".terminal-pane.active .xterm-accessibility")).to_have_count(1)
    page.locator(".terminal-pane.active .xterm").click()
    page.keyboard.press("Control+0")
    page.wait_for_function("() => window.dterm.fontSize() === 14", timeout=WAIT_MS)


def test_upload_by_drop_and_by_picker_then_cat_in_the_shell(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """A dropped file lands in the shell's directory, a picked one in a chosen folder."""
    t = tag()
    sign_in(page, stack)
    open_shell(page, busybox.name)
    type_line(page, f"mkdir -p /tmp/up-{t} && cd /tmp/up-{t} && echo ready-{t}")
    wait_line(page, f"ready-{t}")
    drop_file(page, f"dropped-{t}.txt", "héllo\nwörld 🌍\n")
    dialog = page.locator("dialog.upload-dialog")
    expect(dialog.get_by_label("The shell's working directory")).to_be_checked()
    page.screenshot(path=str(artifacts(request) / "upload-dialog.png"))
    dialog.get_by_role("button", name="Upload").click()
    done = page.locator(".transfer[data-state=done]")
    expect(done).to_contain_text(f"/tmp/up-{t}/dropped-{t}.txt", timeout=WAIT_MS)
    page.screenshot(path=str(artifacts(request) / "uploaded.png"))
    type_line(page, f"cat dropped-{t}.txt")
    wait_line(page, "wörld 🌍")
    with page.expect_file_chooser() as chooser:
        page.click("#tab-actions [data-action=upload]")
    picked = FilePayload(
        name=f"picked-{t}.txt", mimeType="text/plain", buffer=f"picked {t}\n".encode()
    )
    chooser.value.set_files(files=[picked])
    dialog.get_by_label("Folder in the container").fill("/home")
    dialog.get_by_role("button", name="Upload").click()
    expect(done.last).to_contain_text(f"/home/picked-{t}.txt", timeout=WAIT_MS)
    type_line(page, f"cat /home/picked-{t}.txt")
    wait_line(page, f"picked {t}")


def test_upload_errors_are_clear(
    page: Page, stack: Stack, worker: Any, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """A missing folder and a file over the size limit each end with a plain reason."""
    small = start_frontend([worker.match["endpoint"]], "--max-upload-bytes", "1000")
    try:
        sign_in(page, Stack(small.match["url"]))
        open_shell(page, busybox.name)
        drop_file(page, "big.bin", "x" * 5000)
        page.locator("dialog.upload-dialog").get_by_role("button", name="Upload").click()
        failed = page.locator(".transfer[data-state=failed]")
        expect(failed).to_contain_text("Too large: 5.0 KB is over the upload limit of 1.0 KB.")
        drop_file(page, "small.txt", "fits")
        dialog = page.locator("dialog.upload-dialog")
        dialog.get_by_label("Folder in the container").fill("/no/such/folder")
        dialog.get_by_role("button", name="Upload").click()
        expect(failed.last).to_contain_text("Not found", timeout=WAIT_MS)
        page.screenshot(path=str(artifacts(request) / "upload-errors.png"))
    finally:
        small.stop()


def test_download_a_file_gives_its_exact_bytes(
    page: Page, stack: Stack, busybox: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Download a path from the container and get the same bytes; a folder is refused."""
    t = tag()
    data = bytes(range(256)) * 300 + b"the end"
    put_file(busybox, f"/tmp/dl-{t}.bin", data)
    sign_in(page, stack)
    open_shell(page, busybox.name)
    page.click("#tab-actions [data-action=download]")
    dialog = page.locator("dialog.download-dialog")
    dialog.get_by_label(f"Path in {busybox.name}@local").fill(f"/tmp/dl-{t}.bin")
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == f"dl-{t}.bin"
    saved = tmp_path / "saved.bin"
    download.value.save_as(saved)
    assert saved.read_bytes() == data
    expect(page.locator(".transfer[data-state=done]")).to_contain_text(
        f"Downloaded /tmp/dl-{t}.bin"
    )
    page.click("#tab-actions [data-action=download]")
    dialog.get_by_label(f"Path in {busybox.name}@local").fill("/tmp")
    dialog.get_by_role("button", name="Download").click()
    expect(page.locator(".transfer[data-state=failed]")).to_contain_text(
        "Bad path", timeout=WAIT_MS
    )
    page.screenshot(path=str(artifacts(request) / "download.png"))


def test_exited_session_shows_its_code_and_starts_again(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """The tab says "exited 3"; "Start again" opens a new shell in the same container."""
    sign_in(page, stack)
    open_shell(page, busybox.name)
    first = page.evaluate("window.dterm.session()")
    type_line(page, "exit 3")
    page.wait_for_function("() => window.dterm.state() === 'exited'", timeout=WAIT_MS)
    expect(page.locator("#tabs [role=tab] .state-text")).to_have_text("exited 3")
    end = page.locator(".terminal-pane.active .end-bar")
    expect(end).to_contain_text("Session exited with code 3.")
    page.screenshot(path=str(artifacts(request) / "exited.png"))
    end.get_by_role("button", name="Start again").click()
    page.wait_for_function(
        f"() => window.dterm.session() && window.dterm.session() !== {first!r}", timeout=WAIT_MS
    )
    page.wait_for_function("() => window.dterm.state() === 'live'", timeout=WAIT_MS)
    expect(end).to_be_hidden()
    type_line(page, "echo again-$((1+1))")
    wait_line(page, "again-2")
    expect(page.locator("#tabs [role=tab]")).to_have_count(1)


def test_keyboard_alone_finds_and_opens_a_container(page: Page, stack: Stack, busybox: Any) -> None:
    """/ focuses the search, arrows move and fold, Enter opens; / then goes to the shell."""
    sign_in(page, stack)
    page.keyboard.press("/")
    page.keyboard.press("ArrowDown")
    host = page.locator('h2[data-host="local"] button')
    expect(host).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(host).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("ArrowRight")
    expect(host).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type(busybox.name)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator(f'button[data-container="{busybox.name}"]')).to_be_focused()
    page.keyboard.press("Enter")
    wait_title(page, f"{busybox.name}@local")
    wait_prompt(page)
    type_line(page, "echo a/b")
    wait_line(page, "a/b")


def test_open_dialog_runs_a_command_as_a_user_in_a_directory(
    page: Page, stack: Stack, busybox: Any, request: pytest.FixtureRequest
) -> None:
    """Shift+Enter asks for program, user and directory; the command runs just so, twice."""
    sign_in(page, stack)
    page.locator(f'button[data-container="{busybox.name}"]').focus()
    page.keyboard.press("Shift+Enter")
    dialog = page.locator("dialog.open-dialog")
    dialog.get_by_label("Program").select_option("custom")
    dialog.get_by_label("Command line").fill("sh -c 'echo \"at=$(pwd) as=$(id -un)\"'")
    dialog.get_by_label("User").fill("alice")
    dialog.get_by_label("Working directory").fill("/tmp")
    page.screenshot(path=str(artifacts(request) / "open-dialog.png"))
    dialog.get_by_role("button", name="Open").click()
    wait_line(page, "at=/tmp as=alice")
    page.wait_for_function("() => window.dterm.state() === 'exited'", timeout=WAIT_MS)
    expect(page.locator("#tabs [role=tab] .state-text")).to_have_text("exited 0")
    page.locator(".terminal-pane.active .end-bar").get_by_role("button", name="Start again").click()
    page.wait_for_function(
        "() => window.dterm.screenText().split('\\n')"
        ".filter((line) => line === 'at=/tmp as=alice').length === 2",
        timeout=WAIT_MS,
    )
    page.wait_for_function("() => window.dterm.state() === 'exited'", timeout=WAIT_MS)
    page.locator(".terminal-pane.active .end-bar").get_by_role("button", name="Close tab").click()
    expect(page.locator("#tabs [role=tab]")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()


def test_file_controls_follow_the_policy(
    page: Page, worker: Any, containers: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Upload and download are offered only where the policy grants them: a drop on a
    terminal whose container allows no uploads opens nothing."""
    import subprocess
    import sys

    from tests.support.processes import REPO

    t = tag()
    boxes = {kind: containers.run(name=f"dterm-test-e2e-{kind}-{t}") for kind in ("up", "dl", "no")}
    users, policy = tmp_path / "users.json", tmp_path / "policy.toml"
    subprocess.run(
        [sys.executable, "-m", "dterm_cli", "users", "--users-file", str(users), "add", "alice",
         "--password-stdin"],
        input="s3cret-pass\n", text=True, check=True, cwd=REPO, capture_output=True,
    )  # fmt: skip
    policy.write_text(
        '[[roles]]\nusers = ["alice"]\n'
        '  [[roles.rules]]\n  containers = ["dterm-test-e2e-up-*"]\n  files = "upload"\n'
        '  [[roles.rules]]\n  containers = ["dterm-test-e2e-dl-*"]\n  files = "download"\n'
        '  [[roles.rules]]\n  containers = ["dterm-test-e2e-no-*"]\n'
    )
    frontend = start_frontend(
        [worker.match["endpoint"]], "--users-file", str(users), "--policy", str(policy)
    )
    upload = page.locator("#tab-actions [data-action=upload]")
    download = page.locator("#tab-actions [data-action=download]")
    dialog = page.locator("dialog.upload-dialog")
    try:
        page.goto(frontend.match["url"])
        page.fill("input[name=user]", "alice")
        page.fill("input[name=password]", "s3cret-pass")
        page.click("form.sign-in button")
        open_shell(page, boxes["up"].name)
        expect(upload).to_be_visible()
        expect(download).to_be_visible()
        drop_file(page, "allowed.txt", "fine")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Cancel").click()
        open_shell(page, boxes["dl"].name)
        expect(upload).to_be_hidden()
        expect(download).to_be_visible()
        open_shell(page, boxes["no"].name)
        expect(upload).to_be_hidden()
        expect(download).to_be_hidden()
        drop_file(page, "refused.txt", "not here")
        expect(page.locator(".terminal-pane.active .drop-overlay")).to_be_hidden()
        expect(dialog).to_be_hidden()
        assert page.locator(".transfer").count() == 0
        page.screenshot(path=str(artifacts(request) / "no-file-controls.png"))
    finally:
        frontend.stop()
