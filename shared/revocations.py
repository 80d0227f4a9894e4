"""Revocations: sign-ins that ended before their cookies expire, kept until they would.

A front end that signs a person out tells every worker, and every worker tells every
front end, so an old cookie stops working everywhere within a heartbeat. Both kinds
of process keep the same bounded store. Pure: no I/O, the caller passes the time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from shared.revocation_messages import Revocation

log = logging.getLogger(__name__)

MAX_ENTRIES = 100_000
"""Beyond this, the revocations that expire soonest are forgotten first (and logged),
and every cookie that expires no later than they would have is refused."""
BATCH = 10_000
"""Revocations per message, well within the protocol's list and frame limits."""


def in_batches(entries: list[Revocation]) -> list[list[Revocation]]:
    return [entries[i : i + BATCH] for i in range(0, len(entries), BATCH)]


class Revocations:
    def __init__(self, capacity: int = MAX_ENTRIES) -> None:
        self._until: dict[str, int] = {}
        self._capacity = capacity
        self.floor = 0
        """Sign-ins whose cookies expire no later than this are refused, revoked or not:
        set when revocations had to be forgotten early (someone signing in and out on
        purpose to push older revocations out), so none of those comes back to life."""

    def __len__(self) -> int:
        return len(self._until)

    def revoked(self, sign_in: str, now: float, expires: float = 0.0) -> bool:
        """Whether a sign-in (whose cookie expires at `expires`) may no longer be used."""
        if expires and expires <= self.floor:
            return True
        until = self._until.get(sign_in)
        return until is not None and until >= now

    def add(self, entries: Iterable[Revocation], now: float) -> list[Revocation]:
        """Keep these; returns the ones that were news (to pass on)."""
        fresh = [
            entry
            for entry in entries
            if entry.until >= now and self._until.get(entry.sign_in, -1) < entry.until
        ]
        for entry in fresh:
            self._until[entry.sign_in] = entry.until
        if len(self._until) > self._capacity:
            self._prune(now)
        return fresh

    def entries(self, now: float) -> list[Revocation]:
        self._prune(now)
        return [Revocation(sign_in, until) for sign_in, until in self._until.items()]

    def _prune(self, now: float) -> None:
        self._until = {s: u for s, u in self._until.items() if u >= now}
        excess = len(self._until) - self._capacity
        if excess > 0:
            log.warning("%d revoked sign-ins forgotten early: over %d held", excess,
                        self._capacity)  # fmt: skip
            for sign_in, until in sorted(self._until.items(), key=lambda kv: kv[1])[:excess]:
                del self._until[sign_in]
                self.floor = max(self.floor, until)
