"""Sign-in throttling: attempts counted per address and per name, and a bound on the
password checks running at once.

An attempt is counted when it starts, before its password is checked, so a flood
sent all at once is throttled like one sent slowly; a successful sign-in clears its
counts. After FREE_ATTEMPTS unsuccessful attempts, each further one must wait twice
as long as the one before: up to MAX_WAIT for an address, but only up to
NAME_MAX_WAIT for a name, so strangers guessing a person's password from many
addresses slow that person down for a minute at most, never lock them out. A name
counts in all its letter cases as one (a directory finds bob as BOB too).

Checking a password is argon2 (64 MiB and tens of milliseconds of CPU each), so at
most CHECKS_RUNNING run at once and CHECKS_WAITING wait; further attempts are
refused at once instead of piling up memory. Pure bookkeeping; no I/O.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from shared.slots import Slots

FREE_ATTEMPTS = 5
FORGET_AFTER = 900.0  # seconds after the last attempt that a key is clean again
MAX_WAIT = 900.0
NAME_MAX_WAIT = 60.0
MAX_KEYS = 100_000
"""Addresses and names remembered at most; a full table forgets the oldest half."""
CHECKS_RUNNING = 2
CHECKS_WAITING = 16


def address_key(address: str) -> str:
    """IPv6 addresses count by their /64, which one client holds whole."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(parsed)


@dataclass
class _Attempts:
    count: int
    last: float


class LoginThrottle:
    def __init__(self, capacity: int = MAX_KEYS) -> None:
        self._attempts: dict[str, _Attempts] = {}
        self._capacity = capacity

    @staticmethod
    def _keys(address: str, name: str | None) -> list[tuple[str, float]]:
        keys = [(f"address:{address_key(address)}", MAX_WAIT)]
        if name:  # a directory finds bob as BOB too: one name, whatever its letter cases
            keys.append((f"user:{name.casefold()}", NAME_MAX_WAIT))
        return keys

    def _make_room(self, now: float) -> None:
        """Forget what is old; if still full, the longest unused first (a flood from
        countless addresses or names must not grow the table without bound)."""
        self._attempts = {k: v for k, v in self._attempts.items() if now - v.last <= FORGET_AFTER}
        excess = len(self._attempts) - self._capacity // 2
        if excess > 0:
            for key, _ in sorted(self._attempts.items(), key=lambda kv: kv[1].last)[:excess]:
                del self._attempts[key]

    def begin(self, address: str, name: str | None, now: float | None = None) -> float:
        """Seconds until this address (and name) may try again; 0 means now, and the
        attempt is counted from this moment."""
        now = time.monotonic() if now is None else now
        keys = self._keys(address, name)
        wait = max(self._wait(key, cap, now) for key, cap in keys)
        if wait <= 0:
            if len(self._attempts) + len(keys) > self._capacity:
                self._make_room(now)
            for key, _ in keys:
                entry = self._attempts.get(key)
                if entry is None or now - entry.last > FORGET_AFTER:
                    entry = self._attempts[key] = _Attempts(0, now)
                entry.count += 1
                entry.last = now
        return wait

    def _wait(self, key: str, cap: float, now: float) -> float:
        entry = self._attempts.get(key)
        if entry is None or now - entry.last > FORGET_AFTER or entry.count < FREE_ATTEMPTS:
            return 0.0
        delay = min(cap, 2.0 ** (entry.count - FREE_ATTEMPTS))
        return max(0.0, entry.last + delay - now)

    def succeeded(self, address: str, name: str | None) -> None:
        for key, _ in self._keys(address, name):
            self._attempts.pop(key, None)


class Busy(Exception):
    """Too many password checks are running or waiting: try again in a moment."""


def check_slots(running: int = CHECKS_RUNNING, waiting: int = CHECKS_WAITING) -> Slots:
    """At most `running` password checks at once and `waiting` queued behind them."""
    return Slots(running, waiting, Busy)
