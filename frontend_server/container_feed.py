"""A worker's containers as its link keeps them: a snapshot, then numbered changes.

The mirror (container_mirror.py, pure) decides; this asks the worker for a snapshot
when there is none or a change was missed, and wakes whoever waits for a container
the mirror does not have yet.

Concurrency: one event loop; used by its WorkerLink only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable

from frontend_server.container_mirror import Change, ContainerMirror
from shared.errors import Unavailable
from shared.messages import (
    ContainerChanged,
    ContainerInfo,
    ContainersListed,
    ListContainers,
    Message,
)

log = logging.getLogger(__name__)


class ContainerFeed:
    def __init__(self, send: Callable[[Message], None], endpoint: str) -> None:
        self.mirror = ContainerMirror()
        self.sync_request = ""
        """The id of the snapshot asked for and not yet received; "" when none is."""
        self._send = send
        self._endpoint = endpoint
        self._waiters: list[asyncio.Future[None]] = []

    def find(self, reference: str) -> ContainerInfo | None:
        return self.mirror.find(reference)

    @property
    def containers(self) -> dict[str, ContainerInfo]:
        return self.mirror.containers

    async def wait_for(self, reference: str, within: float) -> ContainerInfo | None:
        """The container once the mirror has it started, or as it is after `within`
        seconds: one run a moment ago reaches the mirror a fraction of a second later,
        and is created a moment before it starts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while ((info := self.find(reference)) is None or info.state == "created") and (
            left := deadline - loop.time()
        ) > 0:
            changed = loop.create_future()
            self._waiters.append(changed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed, left)
        return info

    def ask_snapshot(self) -> None:
        self.sync_request = f"sync-{secrets.token_hex(4)}"
        try:
            self._send(ListContainers(self.sync_request))
        except Unavailable:
            self.sync_request = ""

    def take_snapshot(self, message: ContainersListed) -> None:
        self.sync_request = ""
        self.mirror.take_snapshot(message.seq, message.containers)
        self._changed()

    def apply(self, message: ContainerChanged) -> bool:
        """Whether the change was applied (a missed one asks for a new snapshot)."""
        match self.mirror.apply(message.seq, message.id, message.container):
            case Change.APPLIED:
                self._changed()
                return True
            case Change.GAP:
                log.info("worker %s: missed container changes; asking for a snapshot",
                         self._endpoint)  # fmt: skip
                self.ask_snapshot()
        return False

    def forget(self) -> None:
        self.mirror.forget()
        self.sync_request = ""

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
