"""Terminal output arrives byte-exact: never decoded, never split wrongly, never lost."""

from __future__ import annotations

from typing import Any

from tests.support.terminal_client import TerminalClient


async def test_invalid_utf8_arrives_byte_exact(client: TerminalClient, busybox: Any) -> None:
    """Bytes that are not UTF-8 reach the client unchanged."""
    cmd = ["sh", "-c", r"printf 'A\377\376\200\300B'"]
    await client.open(busybox.name, host="local", cmd=cmd)
    await client.wait_exit()
    assert bytes(client.output) == b"A\xff\xfe\x80\xc0B"


async def test_multibyte_characters_split_across_reads_arrive_exact(
    client: TerminalClient, busybox: Any
) -> None:
    """20,000 three-byte characters arrive exactly, whatever the read boundaries."""
    script = (
        "i=0; s=''; while [ $i -lt 100 ]; do s=\"$s€\"; i=$((i+1)); done; "
        "j=0; while [ $j -lt 200 ]; do printf '%s' \"$s\"; j=$((j+1)); done"
    )
    await client.open(busybox.name, host="local", cmd=["sh", "-c", script])
    exit_message = await client.wait_exit(timeout=30)
    assert exit_message["code"] == 0
    assert bytes(client.output) == "€".encode() * 20_000


async def test_large_output_arrives_complete_before_exit(
    client: TerminalClient, busybox: Any
) -> None:
    """2 MB printed by a process that exits at once all arrive before the exit message."""
    cmd = ["sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' x"]
    await client.open(busybox.name, host="local", cmd=cmd)
    await client.wait_exit(timeout=30)
    assert len(client.output) == 2_000_000
    assert bytes(client.output) == b"x" * 2_000_000


async def test_output_pauses_at_the_window_until_acknowledged(stack: Any, busybox: Any) -> None:
    """Without acks the server stops after one window of output; acks let the rest through."""
    terminal = await TerminalClient.connect(stack, auto_ack=False)
    try:
        cmd = ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' y"]
        opened = await terminal.open(busybox.name, host="local", cmd=cmd)
        window = opened["window"]
        await terminal.wait_for(lambda: len(terminal.output) >= window, 20, "one window")
        # A whole session run through the same worker gives it every chance to overshoot.
        other = await TerminalClient.connect(stack)
        await other.open(busybox.name, host="local", cmd=["true"])
        await other.wait_exit()
        await other.close()
        assert len(terminal.output) == window
        while terminal.control("exit") is None:
            seen = len(terminal.output)
            terminal.ack(seen)
            await terminal.wait_for(
                lambda s=seen: len(terminal.output) > s or terminal.control("exit"), 20, "more"
            )
        assert bytes(terminal.output) == b"y" * 3_000_000
    finally:
        await terminal.close()
