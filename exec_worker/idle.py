"""IdleClock: warn, then end, after a stretch without activity.

`touch()` is called on every keystroke, so it only records the time; one timer
wakes at the next moment that matters and looks at what happened since.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class IdleClock:
    def __init__(
        self,
        timeout: float,
        warning: float,
        warn: Callable[[int], None],
        expire: Callable[[], None],
    ) -> None:
        self._timeout = timeout
        self._warning = min(warning, timeout)
        self._warn = warn
        self._expire = expire
        self._last = time.monotonic()
        self._warned = False
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._timeout > 0:
            self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def state(self) -> tuple[float, bool]:
        """Seconds idle so far, and whether the warning went out (for a handover)."""
        return time.monotonic() - self._last, self._warned

    def resume(self, idle_for: float, warned: bool) -> None:
        """Go on from another process's clock: `idle_for` seconds idle already."""
        self._last, self._warned = time.monotonic() - max(0.0, idle_for), warned

    def touch(self) -> None:
        self._last = time.monotonic()
        self._warned = False

    def _schedule(self) -> None:
        due = self._last + (self._timeout if self._warned else self._timeout - self._warning)
        delay = max(0.0, due - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _check(self) -> None:
        idle = time.monotonic() - self._last
        if idle >= self._timeout:
            self._timer = None
            self._expire()
            return
        if not self._warned and idle >= self._timeout - self._warning:
            self._warned = True
            self._warn(round(self._timeout - idle))
        self._schedule()
