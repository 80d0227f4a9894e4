"""An interactive shell through the real stack: prompt, commands, keys, sizes, exit codes."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.terminal_client import PROMPT, Stack, TerminalClient


async def test_default_shell_runs_commands_and_reports_exit_code(
    client: TerminalClient, busybox: Any
) -> None:
    """The default command gives a shell; `exit 3` ends the session with code 3."""
    opened = await client.open(busybox.name, host="local")
    assert opened["host"] == "local" and opened["container"] == busybox.name
    assert opened["window"] > 0 and opened["offset"] == 0
    await client.expect(PROMPT)
    assert (await client.run("echo hello-$((6*7))")).strip() == b"hello-42"
    client.send_keys("exit 3\r")
    exit_message = await client.wait_exit()
    assert exit_message == {"type": "exit", "code": 3, "reason": "exited"}


async def test_first_screen_has_the_browser_size(client: TerminalClient, busybox: Any) -> None:
    """The shell starts at the size given in `open`, not 0x0 or 80x24."""
    await client.open(busybox.name, host="local", cols=123, rows=45)
    await client.expect(PROMPT)
    assert (await client.run("stty size")).strip() == b"45 123"


async def test_resize_is_seen_by_stty(client: TerminalClient, busybox: Any) -> None:
    """A resize message changes what `stty size` reports."""
    await client.open(busybox.name, host="local", cols=80, rows=24)
    await client.expect(PROMPT)
    client.send_control({"type": "resize", "cols": 200, "rows": 50})
    for _ in range(50):  # the resize travels on another connection to the daemon
        if (await client.run("stty size")).strip() == b"50 200":
            break
    else:
        raise AssertionError("stty never saw 50 200")


async def test_bash_is_chosen_in_one_exec_when_present(
    client: TerminalClient, bash_box: Any
) -> None:
    """With bash in the container the default shell is bash, started by a single exec."""
    await client.open(bash_box.name, host="local")
    await client.expect(PROMPT)
    assert (await client.run("echo ${BASH_VERSION:+bash}")).strip() == b"bash"
    bash_box.reload()
    assert len(bash_box.attrs["ExecIDs"] or []) == 1


async def test_sh_is_the_fallback_without_bash(client: TerminalClient, busybox: Any) -> None:
    """Without bash the default shell is sh (busybox ash here)."""
    await client.open(busybox.name, host="local")
    await client.expect(PROMPT)
    assert (await client.run("echo ${BASH_VERSION:-nobash}")).strip() == b"nobash"


async def test_ctrl_p_reaches_the_program(client: TerminalClient, busybox: Any) -> None:
    """A lone Ctrl-P is not held back by Docker's detach keys."""
    script = "stty raw -echo; head -c 1 | od -An -tx1; stty sane; exit 0"
    await client.open(busybox.name, host="local", cmd=["sh", "-c", f"echo ready; {script}"])
    await client.expect("ready")
    client.send_keys(b"\x10")
    await client.expect(rb"\b10\b")
    assert (await client.wait_exit())["code"] == 0


async def test_ctrl_c_interrupts_the_foreground_program(
    client: TerminalClient, busybox: Any
) -> None:
    """Ctrl-C stops `sleep` and returns to the prompt, the shell survives."""
    await client.open(busybox.name, host="local")
    await client.expect(PROMPT)
    since = len(client.output)
    client.send_keys("sleep 1000\r")
    await client.expect("sleep 1000", since=since)
    client.send_keys(b"\x03")
    await client.expect(PROMPT, since=since)
    assert (await client.run("echo alive")).strip() == b"alive"


async def test_explicit_command_and_user(client: TerminalClient, busybox: Any) -> None:
    """`cmd` runs as given, and `user` picks the user inside the container."""
    await client.open(busybox.name, host="local", cmd=["id", "-un"], user="alice")
    await client.expect(rb"alice\r\n")
    assert (await client.wait_exit())["code"] == 0


async def test_line_editing_and_full_screen_programs(client: TerminalClient, busybox: Any) -> None:
    """Line editing (backspace) works and `top` draws with colours/escapes, quits on q."""
    await client.open(busybox.name, host="local", cols=100, rows=30)
    await client.expect(PROMPT)
    since = len(client.output)
    client.send_keys("echo abX\x7fc\r")
    await client.expect(rb"\r\nabc\r\n", since=since)
    since = len(client.output)
    client.send_keys("top\r")
    await client.expect(rb"\x1b\[.*PID", since=since)
    client.send_keys("q")
    await client.expect(PROMPT, since=len(client.output) - 1, timeout=10)


async def test_two_sessions_in_one_container_are_isolated(stack: Stack, busybox: Any) -> None:
    """Two sessions in the same container each see only their own output."""
    first, second = await TerminalClient.connect(stack), await TerminalClient.connect(stack)
    try:
        await asyncio.gather(first.open(busybox.name, "local"), second.open(busybox.name, "local"))
        await asyncio.gather(first.expect(PROMPT), second.expect(PROMPT))
        one, two = await asyncio.gather(first.run("echo one-$$"), second.run("echo two-$$"))
        assert one.startswith(b"one-") and two.startswith(b"two-")
        assert one[4:] != two[4:]  # different shell processes
        assert b"two-" not in first.output and b"one-" not in second.output
    finally:
        await first.close()
        await second.close()


async def test_term_is_xterm_256color_and_vi_runs(client: TerminalClient, busybox: Any) -> None:
    """Sessions get TERM=xterm-256color; vi draws full screen and quits back to the shell."""
    await client.open(busybox.name, host="local", cols=90, rows=30)
    await client.expect(PROMPT)
    assert (await client.run("echo $TERM")).strip() == b"xterm-256color"
    since = len(client.output)
    client.send_keys("vi /tmp/notes\r")
    await client.expect(rb"/tmp/notes", since=since)  # vi's status line
    since = len(client.output)
    client.send_keys(":q!\r")  # vi starts in command mode
    await client.expect(PROMPT, since=since)
    assert (await client.run("echo back")).strip() == b"back"
