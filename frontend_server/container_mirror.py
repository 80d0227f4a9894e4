"""ContainerMirror: one worker's containers as a front end knows them, kept exact.

A worker numbers every change to its container cache. The mirror takes a snapshot
(all containers as of change `seq`) and then the changes numbered after it, in
order: a change already in the snapshot is ignored, and a gap in the numbers means
changes were missed, so the mirror asks for a new snapshot and takes no change until
it has one. A container is found by name, full id or an id prefix long enough to
name it alone, as `docker` finds them.

Pure: no sockets, no loop; worker_link.py feeds it and acts on what it answers.
"""

from __future__ import annotations

from enum import Enum

from shared.messages import ContainerInfo

MIN_ID_PREFIX = 4
"""Shortest id prefix that names a container, as `docker` accepts them."""


class Change(Enum):
    APPLIED = "applied"
    STALE = "stale"  # before or in the snapshot: nothing to do
    GAP = "gap"  # changes were missed: ask for a new snapshot


class ContainerMirror:
    def __init__(self) -> None:
        self.containers: dict[str, ContainerInfo] = {}
        self.seq = -1
        """The number of the last change applied; -1 while no snapshot is held."""

    @property
    def synced(self) -> bool:
        return self.seq >= 0

    def take_snapshot(self, seq: int, containers: list[ContainerInfo]) -> None:
        self.seq = seq
        self.containers = {c.id: c for c in containers}

    def apply(self, seq: int, container_id: str, info: ContainerInfo | None) -> Change:
        """One numbered change (`info` None: the container is gone)."""
        if self.seq < 0 or seq <= self.seq:
            return Change.STALE
        if seq != self.seq + 1:
            self.seq = -1
            return Change.GAP
        self.seq = seq
        if info is None:
            self.containers.pop(container_id, None)
        else:
            self.containers[container_id] = info
        return Change.APPLIED

    def forget(self) -> None:
        """The worker is gone or restarted: nothing it said holds any more."""
        self.containers.clear()
        self.seq = -1

    def find(self, reference: str) -> ContainerInfo | None:
        """A container by name, full id or a unique id prefix."""
        for info in self.containers.values():
            if reference in (info.name, info.id):
                return info
        if len(reference) >= MIN_ID_PREFIX:
            matches = [i for i in self.containers.values() if i.id.startswith(reference)]
            if len(matches) == 1:
                return matches[0]
        return None
