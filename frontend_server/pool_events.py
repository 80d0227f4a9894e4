"""What the pool tells its subscribers (the page's event streams) about hosts and
containers, and the status of a host as the front end sees it. Pure data."""

from __future__ import annotations

from dataclasses import dataclass

from shared.messages import ContainerInfo, Welcome


@dataclass(frozen=True, slots=True)
class HostStatus:
    host: str
    endpoint: str
    up: bool
    since: float
    """Wall-clock time of the last change between up and down."""
    facts: Welcome | None
    problem: str = ""
    """Why its link cannot be used, when that is known (a refused key, say)."""


@dataclass(frozen=True, slots=True)
class HostChanged:
    status: HostStatus
    containers: list[ContainerInfo] | None
    """All the host's containers when they were replaced wholesale, else None."""


@dataclass(frozen=True, slots=True)
class ContainerUpdated:
    host: str
    id: str
    container: ContainerInfo | None


@dataclass(frozen=True, slots=True)
class HostRemoved:
    endpoint: str


PoolEvent = HostChanged | ContainerUpdated | HostRemoved
