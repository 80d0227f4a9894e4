"""The worker's view of its host's containers: a cache kept current by Docker events.

Snapshots and changes both come from this one cache on the event loop, numbered by
one counter, so a front end that applies the changes newer than its snapshot is
exactly current. An event makes the watcher inspect that container again; inspects
of one container never overlap, so a late answer cannot overwrite a newer one. When
the event stream breaks (daemon restart), the watcher reopens it and re-reads every
container, since events may have been missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from exec_worker.docker_exec import DockerHost, EventFeed
from exec_worker.host_rules import HostRules
from shared.errors import DtermError
from shared.messages import ContainerChanged, ContainerInfo

log = logging.getLogger(__name__)

# Actions that change what a container list shows; exec_* and the like do not.
LISTED_ACTIONS = frozenset(
    {
        "create",
        "start",
        "restart",
        "die",
        "stop",
        "kill",
        "oom",
        "pause",
        "unpause",
        "rename",
        "update",
        "destroy",
        "health_status",
        # Podman's own names: `remove` for destroy, `init` and `cleanup` around a run.
        "remove",
        "init",
        "cleanup",
    }
)
REOPEN_DELAYS = (0.5, 1.0, 2.0, 5.0)


class ContainerWatcher:
    """Keeps `containers` current and publishes every change, numbered."""

    def __init__(
        self,
        docker: DockerHost,
        rules: HostRules,
        publish: Callable[[ContainerChanged], None],
    ) -> None:
        self.seq = 0
        self._rules = rules
        self.containers: dict[str, ContainerInfo] = {}
        self._docker = docker
        self._publish = publish
        self._dirty: set[str] = set()
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._feed: EventFeed | None = None
        self._reopen: asyncio.Task[None] | None = None
        self._failures = 0
        self.docker_problem = ""
        """Why the daemon cannot be used now (its event stream broke and has not come
        back); "" while it answers."""

    async def start(self) -> None:
        """Open the event stream first, then read every container: nothing slips between."""
        self._open_feed()
        await self._resync()

    def close(self) -> None:
        if self._feed is not None:
            self._feed.close()
        for task in [*self._refreshing.values(), self._reopen]:
            if task is not None:
                task.cancel()

    async def find(self, reference: str) -> ContainerInfo | None:
        """A container by full id from the cache, without a Docker call; anything else
        (a name, an id prefix, one started a moment ago, one the host rules hide) as
        Docker describes it now."""
        cached = self.containers.get(reference)
        return cached if cached is not None else await self._docker.container_info(reference)

    def counts(self) -> tuple[int, int]:
        """(all containers, running ones)."""
        running = sum(1 for c in self.containers.values() if c.state == "running")
        return len(self.containers), running

    # --- events ---------------------------------------------------------------------

    def _open_feed(self) -> None:
        self._feed = self._docker.event_feed(self._on_event, self._on_feed_lost)
        self._feed.start()

    def _on_event(self, event: tuple[str, str]) -> None:
        container_id, action = event
        if action in LISTED_ACTIONS and container_id:
            self._failures = 0
            self._mark(container_id)

    def _on_feed_lost(self, error: Exception | None) -> None:
        delay = REOPEN_DELAYS[min(self._failures, len(REOPEN_DELAYS) - 1)]
        self._failures += 1
        if not self.docker_problem:
            log.warning("Docker event stream ended (%s); reopening in %ss", error, delay)
        self.docker_problem = f"its Docker daemon does not answer ({error or 'stream ended'})"
        self._reopen = asyncio.create_task(self._reopen_after(delay))

    async def _reopen_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._open_feed()
        try:
            await self._resync()
        except DtermError as exc:
            log.debug("cannot list containers: %s", exc)
            return
        if self.docker_problem:
            log.info("the Docker daemon answers again")
            self.docker_problem = ""

    # --- cache ----------------------------------------------------------------------

    async def _resync(self) -> None:
        ids = set(await self._docker.container_ids())
        for gone in set(self.containers) - ids:
            self._apply(gone, None)
        for container_id in ids:
            self._mark(container_id)

    def _mark(self, container_id: str) -> None:
        self._dirty.add(container_id)
        if container_id not in self._refreshing:
            task = asyncio.create_task(self._refresh(container_id))
            self._refreshing[container_id] = task

    async def _refresh(self, container_id: str) -> None:
        try:
            while container_id in self._dirty:
                self._dirty.discard(container_id)
                try:
                    info = await self._docker.container_info(container_id)
                except DtermError as exc:
                    log.warning("cannot inspect container %.12s: %s", container_id, exc)
                    return
                self._apply(container_id, info)
        finally:
            del self._refreshing[container_id]

    def _apply(self, container_id: str, info: ContainerInfo | None) -> None:
        """Record the container as it is now; containers this host refuses stay hidden."""
        if info is not None and self._rules.refusal(info):
            info = None  # this host never shows it
        if self.containers.get(container_id) == info:
            return
        if info is None:
            self.containers.pop(container_id, None)
        else:
            self.containers[container_id] = info
        self.seq += 1
        self._publish(ContainerChanged(self.seq, container_id, info))
