"""A real DNS server on loopback (UDP, port 0) whose A records tests can change."""

from __future__ import annotations

from dnslib import QTYPE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Records(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.a: dict[str, list[str]] = {}

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        if request.q.qtype == QTYPE.A:
            for address in self.a.get(name, []):
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=1))
        return reply


class LoopbackDns:
    def __init__(self) -> None:
        self.records = _Records()
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data")
        self.server = DNSServer(self.records, address="127.0.0.1", port=0, logger=quiet)
        self.server.start_thread()
        self.address = f"127.0.0.1:{self.server.server.server_address[1]}"

    def set_a(self, name: str, addresses: list[str]) -> None:
        self.records.a[name] = list(addresses)

    def stop(self) -> None:
        self.server.stop()
