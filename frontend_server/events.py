"""GET /api/events: live hosts and containers for the page, as Server-Sent Events.

The stream opens with a `snapshot` (every host and container) and goes on with
`host`, `host-containers`, `container` and `host-removed` events as workers report
changes. A client that falls more than MAX_BEHIND events behind is disconnected
rather than buffered without bound; EventSource reconnects by itself and gets a
fresh snapshot, so nothing is lost, only replaced. A comment line every
KEEPALIVE seconds keeps proxies from cutting the idle stream.

Each stream tells only of hosts the person is shown and containers they may see,
and of their removal only when it told of them before (Told), so the stream never
names, counts or times a host hidden from its person.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tornado.iostream import StreamClosedError

from frontend_server.api import (
    BaseHandler,
    View,
    container_json,
    containers_json,
    host_key,
)
from frontend_server.pool_events import (
    ContainerUpdated,
    HostChanged,
    HostRemoved,
    HostStatus,
    PoolEvent,
)
from shared.messages import ContainerInfo

log = logging.getLogger(__name__)

MAX_BEHIND = 10_000
KEEPALIVE = 15.0


@dataclass
class Told:
    """What one stream has told its page of: hosts (id to name) and containers (host
    name, id). A removal goes out only for what was told, so a host or container hidden
    from the person is never named, not even as gone."""

    hosts: dict[str, str] = field(default_factory=dict)
    containers: set[tuple[str, str]] = field(default_factory=set)

    def forget_host(self, key: str) -> bool:
        """Forget a host and its containers; whether the page had been told of it."""
        if key not in self.hosts:
            return False
        host = self.hosts.pop(key)
        self.containers = {c for c in self.containers if c[0] != host}
        return True


Event = tuple[str, dict[str, Any]]


def _host_event(
    status: HostStatus, listed: list[ContainerInfo] | None, view: View, told: Told
) -> Event | None:
    key = host_key(status.endpoint)
    if not view.shown(status.host):
        # A worker may come back under another name: hidden now, gone for the page.
        return ("host-removed", {"id": key}) if told.forget_host(key) else None
    told.hosts[key] = status.host
    if listed is None:
        return "host", view.host(status)
    items = [c for c in listed if view.visible(status.host, c)]
    told.containers = {c for c in told.containers if c[0] != status.host}
    told.containers |= {(status.host, c.id) for c in items}
    return "host-containers", {
        **view.host(status),
        "items": [
            container_json(status.host, c, view.files(status.host, c), view.observe(status.host, c))
            for c in items
        ],
    }


def _container_event(event: ContainerUpdated, view: View, told: Told) -> Event | None:
    host, cid, info = event.host, event.id, event.container
    if info is not None and view.visible(host, info):
        told.containers.add((host, cid))
        item = container_json(host, info, view.files(host, info), view.observe(host, info))
        return "container", {"host": host, "id": cid, "container": item}
    if (host, cid) not in told.containers:
        return None  # gone or hidden, and never shown: not a word of it
    told.containers.discard((host, cid))
    return "container", {"host": host, "id": cid, "container": None}


def event_json(event: PoolEvent, view: View, told: Told) -> Event | None:
    """The event as the page gets it, or None when it tells of nothing the person may
    see: containers hidden from them are left out (one that becomes hidden is sent as
    removed), and so are hosts they are not shown."""
    match event:
        case HostChanged(status=status, containers=listed):
            return _host_event(status, listed, view, told)
        case ContainerUpdated():
            return _container_event(event, view, told)
        case HostRemoved(endpoint=endpoint):
            key = host_key(endpoint)
            return ("host-removed", {"id": key}) if told.forget_host(key) else None
    raise TypeError(f"unknown pool event {event!r}")


class Backlog:
    """Events not yet written to one client, bounded: past the bound it gives up."""

    def __init__(self) -> None:
        self.events: deque[PoolEvent] = deque()
        self.behind = False
        self.ready = asyncio.Event()

    def push(self, event: PoolEvent) -> None:
        if len(self.events) >= MAX_BEHIND:
            self.behind = True
        else:
            self.events.append(event)
        self.ready.set()


class EventsHandler(BaseHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
        assert self.person is not None
        view = self.view_of(self.person)
        backlog = Backlog()
        self.pool.subscribe(backlog.push)
        try:
            containers, _ = containers_json(self.pool, view)
            hosts = [view.host(s) for s in self.pool.statuses() if view.shown(s.host)]
            told = Told(
                {h["id"]: h["host"] for h in hosts}, {(c["host"], c["id"]) for c in containers}
            )
            await self._send("snapshot", {"hosts": hosts, "containers": containers})
            await self._pump(backlog, view, told)
        except StreamClosedError:
            pass
        finally:
            self.pool.unsubscribe(backlog.push)

    async def _pump(self, backlog: Backlog, view: View, told: Told) -> None:
        while not backlog.behind:
            if not backlog.events:
                backlog.ready.clear()
                try:
                    await asyncio.wait_for(backlog.ready.wait(), KEEPALIVE)
                except TimeoutError:
                    self.write(": keepalive\n\n")
                    await self.flush()
                continue
            shown = event_json(backlog.events.popleft(), view, told)
            if shown is not None:
                await self._send(*shown)
        log.info("event stream of %s fell behind; closing it", self.request.remote_ip)

    async def _send(self, name: str, body: dict[str, Any]) -> None:
        self.write(f"event: {name}\ndata: {json.dumps(body)}\n\n")
        await self.flush()
