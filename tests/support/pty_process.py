"""A child process on a pseudo-terminal of its own, as a person's terminal would run it.

The pty's slave side is the child's stdin, stdout, stderr and controlling terminal (a
new session, TIOCSCTTY), so resizing it sends the child SIGWINCH and its terminal
modes can be read from here while it runs and after it ends. A thread reads the
master side into `output`; waits are on patterns, with deadlines.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import threading
import time
from typing import Any

from tests.support.processes import REPO


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyProcess:
    def __init__(self, argv: list[str], env: dict[str, str], cols: int = 80, rows: int = 24):
        self.master, self.slave = os.openpty()
        self.resize(cols, rows)
        self.initial_mode = termios.tcgetattr(self.slave)
        self.output = bytearray()
        self._changed = threading.Condition()
        self._stop = False
        self.proc = subprocess.Popen(
            argv,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            cwd=REPO,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            with self._changed:
                self.output += data
                self._changed.notify_all()

    def expect(self, pattern: bytes, timeout: float = 15, since: int = 0) -> re.Match[bytes]:
        """Wait until the output from byte `since` matches a regular expression."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (found := regex.search(self.output, since)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {pattern!r} within {timeout} s; output tail: "
                        f"{bytes(self.output[-600:])!r}; exit: {self.proc.poll()}"
                    )
                self._changed.wait(min(left, 0.2))
        return found

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def resize(self, cols: int, rows: int) -> None:
        """The window's new size; the kernel tells the foreground process (SIGWINCH)."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def mode(self) -> list[Any]:
        """The terminal's settings now (termios.tcgetattr)."""
        return termios.tcgetattr(self.slave)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._stop = True
        self._reader.join(5)
        os.close(self.master)
        os.close(self.slave)
