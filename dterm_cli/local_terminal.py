"""The local terminal of `dterm exec`: its size, and raw mode with its restoration.

In raw mode every key goes to the program in the container as it is typed: no local
echo or line editing, and Ctrl-C, Ctrl-Z and Ctrl-\\ are bytes for the remote
terminal rather than signals for dterm; output is written without translation (the
remote terminal already did it). `raw_mode` saves the terminal's settings and puts
them back on every way out of its block (a return, an exception, a signal that dterm
handles); the switch takes effect at once (TCSANOW), so keys typed ahead are kept.

Concurrency: called from the event loop; each call is one quick ioctl.
"""

from __future__ import annotations

import contextlib
import os
import termios
import tty
from collections.abc import Iterator

from shared.messages import MAX_COLS, MAX_ROWS


def is_terminal(fd: int) -> bool:
    return os.isatty(fd)


def size(fd: int) -> tuple[int, int] | None:
    """(columns, rows) of the terminal on `fd`, within the protocol's bounds; None when
    it is no terminal or says 0x0."""
    try:
        columns, lines = os.get_terminal_size(fd)
    except OSError:
        return None
    if columns <= 0 or lines <= 0:
        return None
    return min(columns, MAX_COLS), min(lines, MAX_ROWS)


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
