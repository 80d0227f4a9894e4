"""PolicyFile: the policy file, applied again when it changes, without a restart.

The file is looked at every few seconds, and at once on SIGHUP. A new version that
parses replaces the policy for every request from then on; one that does not parse
is logged with its reason and the policy in force stays, so a typo never opens or
closes everything.

Concurrency: one task on the front end's loop; reading the file is small and quick.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from frontend_server.guard import Guard
from frontend_server.policy import Policy, PolicyError

log = logging.getLogger(__name__)

LOOK_EVERY = 2.0


class PolicyFile:
    def __init__(self, path: str, guard: Guard) -> None:
        self.path = Path(path)
        self._guard = guard
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size

    def reload(self, forced: bool = False) -> None:
        """Apply the file if it changed (or if asked); keep the policy if it is wrong."""
        stamp = self._stamp()
        if stamp == self._seen and not forced:
            return
        self._seen = stamp
        try:
            policy = Policy.load(self.path)
        except PolicyError as exc:
            log.error("the policy file was not applied, the one before stays: %s", exc)
            return
        self._guard.policy = policy
        log.info("policy %s applied: %d roles", self.path, len(policy.roles))

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(LOOK_EVERY)
            self.reload()
