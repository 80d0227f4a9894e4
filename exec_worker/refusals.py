"""Peers the worker's ZeroMQ link refused: each one counted, logged without flooding.

Two places see a refusal. The ZAP gate (shared/security.py) sees a CurveZMQ client
whose public key is not allowed, with its address. The ROUTER socket's monitor
sees handshakes that fail before that: a client without CurveZMQ, one holding the
wrong worker key, or bytes that are not ZeroMQ at all. ZeroMQ's monitor events
name the worker's own endpoint there, not the peer's (the events that carry both
are a draft API), so those refusals are grouped under that endpoint.

Every refusal increments dterm_worker_link_refusals_total; a WARNING line is
written at most once a minute per peer (or per endpoint), saying how many more
were refused since the last line, so a scanner cannot flood the log.

Concurrency: one event loop; the monitor is read by a SocketPump on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from exec_worker import metrics
from shared.zmq_io import SocketPump

log = logging.getLogger(__name__)

EVERY = 60.0
"""Seconds between two log lines about the same peer."""
REMEMBERED = 4096
"""Peers remembered for the rate limit; past that, the stale ones are forgotten."""
EVENTS = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
"""Refused keys (EVENT_HANDSHAKE_FAILED_AUTH) are reported by the ZAP gate instead,
which knows the peer's address and key."""


def describe_peer(address: str) -> str:
    """ZAP's address: an IP for tcp, `NAME:uid:gid:pid` of the peer process for ipc."""
    parts = address.split(":")
    if len(parts) == 4 and all(part.isdigit() for part in parts[1:]):
        return f"local process pid {parts[3]} (uid {parts[1]})"
    return address or "at an unknown address"


def _handshake_failure(event: int, value: int) -> str:
    if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        return "the handshake broke off (no CurveZMQ, or another worker's public key?)"
    if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "it does not speak CurveZMQ"
    if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "its CurveZMQ handshake failed (not this worker's public key?)"
    return f"ZeroMQ protocol error {value:#x}"


class Refusals:
    """Counts and logs refused peers; `key_refused` is the ZAP gate's callback."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._peers: dict[str, tuple[float, int]] = {}  # peer -> (last line, refused since)
        self._monitor: SocketPump | None = None

    def key_refused(self, address: str, why: str) -> None:
        self.refused("unknown-key", describe_peer(address), why)

    def refused(self, reason: str, peer: str, why: str) -> None:
        metrics.LINK_REFUSALS.labels(reason).inc()
        now = self._clock()
        last, since = self._peers.get(peer, (None, 0))
        if last is not None and now - last < EVERY:
            self._peers[peer] = (last, since + 1)
            return
        if len(self._peers) >= REMEMBERED:
            self._forget(now)
            if len(self._peers) >= REMEMBERED:
                return  # that many peers within a minute: counted, not logged one by one
        self._peers[peer] = (now, 0)
        more = f" ({since} more refused since the last line)" if since else ""
        log.warning("refused ZeroMQ peer %s: %s%s", peer, why, more)

    def _forget(self, now: float) -> None:
        for peer, (last, _) in list(self._peers.items()):
            if now - last >= EVERY:
                del self._peers[peer]

    def watch(self, socket: zmq.Socket[Any]) -> None:
        """Report the handshakes that fail on `socket` (call before it binds)."""
        self._monitor = SocketPump(socket.get_monitor_socket(EVENTS), self._on_event)

    def close(self, socket: zmq.Socket[Any]) -> None:
        if self._monitor is not None:
            socket.disable_monitor()
            self._monitor.close()

    def _on_event(self, frames: list[bytes]) -> None:
        event = parse_monitor_message(frames)
        endpoint = event["endpoint"].decode(errors="replace")
        why = _handshake_failure(event["event"], event["value"])
        self.refused("handshake", f"on {endpoint} (ZeroMQ gives no address)", why)
