"""Slots: at most N pieces of slow work at once, a bounded queue behind them, and a
deadline for waiting in it; whoever finds the queue full is refused at once.

Under overload a process must say no early and clearly rather than queue without
bound (argon2 checks in a front end, exec starts in a worker). Pure asyncio; no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Slots:
    def __init__(
        self,
        running: int,
        waiting: int,
        refuse: Callable[[str], Exception],
        wait_timeout: float | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(running)
        self._room = running + waiting
        self._taken = 0
        self._refuse = refuse
        self._timeout = wait_timeout

    @property
    def taken(self) -> int:
        """Work running or waiting now."""
        return self._taken

    async def __aenter__(self) -> None:
        if self._taken >= self._room:
            raise self._refuse(f"{self._taken} already running or waiting")
        self._taken += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self._timeout)
        except TimeoutError:
            self._taken -= 1
            raise self._refuse(f"waited {self._timeout:g} s for a turn") from None
        except BaseException:
            self._taken -= 1
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()
        self._taken -= 1
