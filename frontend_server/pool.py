"""WorkerPool: every worker this front end knows, found from configuration and DNS.

The pool owns the links, keeps them in step with discovery (new endpoints get a
link, endpoints gone from DNS are closed), answers "which link serves host H",
and fans link events out to subscribers (the page's event streams).

Concurrency: one event loop; one discovery task when DNS names are configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import zmq

from frontend_server.discovery import DnsDiscovery
from frontend_server.pool_events import HostRemoved, HostStatus, PoolEvent
from frontend_server.worker_link import WorkerLink
from shared.errors import NotFound, Unavailable
from shared.messages import ContainerInfo
from shared.revocation_messages import Revocation, RevokeSignIns
from shared.revocations import Revocations
from shared.security import ClientKeys
from shared.settings import FrontendConfig

log = logging.getLogger(__name__)

Subscriber = Callable[[PoolEvent], None]


class WorkerPool:
    def __init__(self, config: FrontendConfig, context: zmq.Context[Any]) -> None:
        self.frontend_id = f"fe-{secrets.token_hex(6)}"
        self._config = config
        self._context = context
        self._links: dict[str, WorkerLink] = {}
        self._subscribers: set[Subscriber] = set()
        self._discovery = (
            DnsDiscovery(config.worker_dns, config.dns_nameserver) if config.worker_dns else None
        )
        self._discovering: asyncio.Task[None] | None = None
        self.revoked = Revocations()
        """Sign-ins that are over, learnt from this front end and every worker."""
        self._keys = ClientKeys.load(config.curve_secret_key, config.worker_public_key)

    @property
    def links(self) -> list[WorkerLink]:
        return list(self._links.values())

    def start(self) -> None:
        self._reconcile(set(self._config.workers))
        if self._discovery is not None:
            self._discovering = asyncio.create_task(self._discover_loop())

    def close(self) -> None:
        if self._discovering is not None:
            self._discovering.cancel()
        for link in self.links:
            link.close()
        self._links.clear()

    def revoke(self, revocation: Revocation) -> None:
        """Tell every worker (and through them every front end) that a sign-in is over;
        a worker that cannot be reached now learns it when it next connects."""
        for link in self.links:
            with contextlib.suppress(Unavailable):
                link.send(RevokeSignIns([revocation], False))

    # --- events ---------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.add(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def wait_for_change(self, within: float) -> None:
        """Until any host reports a change (or `within` seconds pass)."""
        changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def seen(_: PoolEvent) -> None:
            if not changed.done():
                changed.set_result(None)

        self.subscribe(seen)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed, within)
        finally:
            self.unsubscribe(seen)

    def _publish(self, event: PoolEvent) -> None:
        for subscriber in list(self._subscribers):
            subscriber(event)

    # --- discovery ------------------------------------------------------------------

    async def _discover_loop(self) -> None:
        assert self._discovery is not None
        while True:
            found = await self._discovery.resolve()
            self._reconcile(set(self._config.workers) | found)
            await asyncio.sleep(self._config.dns_interval)

    def _reconcile(self, endpoints: set[str]) -> None:
        for endpoint in endpoints - set(self._links):
            log.info("worker endpoint %s added", endpoint)
            link = WorkerLink(
                endpoint, self._context, self.frontend_id, self._config, self._publish,
                self.revoked, self._keys,
            )  # fmt: skip
            self._links[endpoint] = link
            link.start()
        for endpoint in set(self._links) - endpoints:
            log.info("worker endpoint %s removed", endpoint)
            self._links.pop(endpoint).close()
            self._publish(HostRemoved(endpoint))

    # --- queries ----------------------------------------------------------------------

    def statuses(self) -> list[HostStatus]:
        return [link.status() for link in self.links]

    def containers(self) -> list[tuple[HostStatus, list[ContainerInfo]]]:
        """Every host with the containers it last reported (none while down)."""
        return [(link.status(), list(link.containers.values())) for link in self.links]

    def link_for(
        self, host: str | None, shown: Callable[[str], bool] = lambda host: True
    ) -> WorkerLink:
        """The link serving `host`; None picks the only host when there is just one.
        Hosts not `shown` to the person asking are not there for them: not found, as
        a host that does not exist, whether it is up or not."""
        known = [link for link in self.links if link.host is not None and shown(link.host)]
        if host is None:
            if len(known) != 1:
                raise NotFound(f"say which host: this front end knows {len(known)}")
            link = known[0]
        else:
            found = [link for link in known if link.host == host]
            if not found:
                raise NotFound(f"no host {host!r}")
            link = next((f for f in found if f.up), found[0])
        if not link.up:
            raise Unavailable(f"host {link.host} is down")
        if link.facts is not None and link.facts.docker_problem:
            raise Unavailable(f"host {link.host}: {link.facts.docker_problem}")
        return link
