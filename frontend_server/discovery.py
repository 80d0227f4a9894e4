"""Where the workers are: a static list, plus DNS names re-resolved periodically.

A name is either `host:port` (every A/AAAA record is a worker on that port, the
Kubernetes headless-service way) or an SRV name starting with `_` such as
`_zmq._tcp.dterm-workers.ns.svc.cluster.local` (each record gives host and port).
Lookups use dnspython's asyncio resolver, so they never block the loop. A name
that fails to resolve keeps its last good answer: a DNS hiccup must not drop hosts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import dns.asyncresolver
import dns.exception
import dns.resolver

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 3.0


def tcp_endpoint(address: str, port: int) -> str:
    return f"tcp://[{address}]:{port}" if ":" in address else f"tcp://{address}:{port}"


def split_name(name: str) -> tuple[str, int | None]:
    """`host:port` -> (host, port); an SRV name -> (name, None)."""
    if name.startswith("_"):
        return name, None
    host, sep, port = name.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"worker DNS name {name!r} needs a port (name:port) or an SRV name")
    return host, int(port)


class DnsDiscovery:
    """Resolves the configured names to ZeroMQ endpoints."""

    def __init__(self, names: Iterable[str], nameserver: str = "") -> None:
        self._names = [split_name(n) for n in names]
        self._last: dict[str, set[str]] = {}
        self._resolver = dns.asyncresolver.Resolver(configure=not nameserver)
        if nameserver:
            address, _, port = nameserver.rpartition(":")
            self._resolver.nameservers = [address.strip("[]")]
            self._resolver.port = int(port)
        self._resolver.lifetime = LOOKUP_TIMEOUT

    async def resolve(self) -> set[str]:
        endpoints: set[str] = set()
        for name, port in self._names:
            try:
                found = await (self._srv(name) if port is None else self._addresses(name, port))
            except dns.exception.DNSException as exc:
                log.warning(
                    "cannot resolve %s: %s; keeping %d endpoints",
                    name,
                    exc,
                    len(self._last.get(name, ())),
                )
                found = self._last.get(name, set())
            self._last[name] = found
            endpoints |= found
        return endpoints

    async def _addresses(self, name: str, port: int) -> set[str]:
        found: set[str] = set()
        for kind in ("A", "AAAA"):
            try:
                answer = await self._resolver.resolve(name, kind)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            found |= {tcp_endpoint(record.to_text(), port) for record in answer}
        return found

    async def _srv(self, name: str) -> set[str]:
        answer = await self._resolver.resolve(name, "SRV")
        found: set[str] = set()
        for record in answer:
            target = record.target.to_text().rstrip(".")
            found |= await self._addresses(target, record.port)
        return found
