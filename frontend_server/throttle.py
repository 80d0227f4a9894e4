"""LoginThrottle: failed sign-ins counted per key (address, name), with growing waits.

After FREE_FAILURES failures within FORGET_AFTER seconds, each further attempt must
wait twice as long as the one before (up to MAX_WAIT). Pure bookkeeping; no I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

FREE_FAILURES = 5
FORGET_AFTER = 900.0  # seconds after the last failure that a key is clean again
MAX_WAIT = 900.0


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    def __init__(self) -> None:
        self._failures: dict[str, _Failures] = {}

    def wait(self, keys: list[str], now: float | None = None) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = time.monotonic() if now is None else now
        longest = 0.0
        for key in keys:
            entry = self._failures.get(key)
            if entry is None or now - entry.last > FORGET_AFTER:
                continue
            if entry.count >= FREE_FAILURES:
                delay = min(MAX_WAIT, 2.0 ** (entry.count - FREE_FAILURES))
                longest = max(longest, entry.last + delay - now)
        return longest

    def failed(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in keys:
            entry = self._failures.get(key)
            if entry is None or now - entry.last > FORGET_AFTER:
                entry = self._failures[key] = _Failures(0, now)
            entry.count += 1
            entry.last = now

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
