"""One worker link's ZeroMQ monitor: what its connection's events say, acted on.

The DEALER socket's monitor events (connection dropped, handshake succeeded or
failed) are read here and judged by LinkHealth (link_health.py). This module acts
on its verdicts: logs them (with the host's name once known), counts reconnections,
tells the link when its problem changed and when a handshake succeeded (a worker
that is back hears of the front end at once), and, after a refused key, dials again
itself, since libzmq never does.

Concurrency: the front end's event loop; one per WorkerLink, which owns it, with one
SocketPump and at most one redial timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from frontend_server.link_health import HANDSHAKE_EVENTS, LinkHealth, LinkKeyFiles
from frontend_server.metrics import RECONNECTS
from frontend_server.pool_events import HostChanged, HostStatus, PoolEvent
from shared.zmq_io import SocketPump

# Its lines are the link's: operators find them under the link's logger.
log = logging.getLogger("frontend_server.worker_link")


class LinkMonitor:
    """The monitor of one link's socket, its health, and the redial after a refusal."""

    def __init__(
        self,
        socket: zmq.Socket[Any],
        endpoint: str,
        keys: LinkKeyFiles,
        host: Callable[[], str | None],
        status: Callable[[], HostStatus],
        notify: Callable[[PoolEvent], None],
        greet: Callable[[], None],
    ) -> None:
        self.endpoint = endpoint
        self._health = LinkHealth(endpoint, keys)
        self._socket = socket
        self._host, self._status, self._notify, self._greet = host, status, notify, greet
        self._redial: asyncio.TimerHandle | None = None

    @property
    def problem(self) -> str:
        """Why the link cannot be used, for people; empty when nothing is known wrong."""
        return self._health.problem

    def start(self) -> None:
        events = zmq.EVENT_DISCONNECTED | HANDSHAKE_EVENTS
        self._pump = SocketPump(self._socket.get_monitor_socket(events), self._on_monitor)

    def close(self) -> None:
        if self._redial is not None:
            self._redial.cancel()
        self._socket.disable_monitor()
        self._pump.close()

    def _on_monitor(self, frames: list[bytes]) -> None:
        """Log and count connections that dropped and were made again (ZeroMQ drops
        what was queued on a connection that goes), and handshakes that failed."""
        found = parse_monitor_message(frames)
        verdict = self._health.on_event(found["event"], found["value"])
        if verdict.log_level:
            host = self._host()
            log.log(verdict.log_level, "%s%s", verdict.log, f" (host {host})" if host else "")
        if verdict.reconnected:
            RECONNECTS.inc()
        if verdict.changed:
            self._notify(HostChanged(self._status(), None))
        if found["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:  # a worker back hears of us at once
            self._greet()
        if verdict.redial_after is not None and self._redial is None:
            loop = asyncio.get_running_loop()
            self._redial = loop.call_later(verdict.redial_after, self._dial_again)

    def _dial_again(self) -> None:
        """After a refused handshake libzmq never dials again by itself."""
        self._redial = None
        with contextlib.suppress(zmq.ZMQError):  # the endpoint may be gone already
            self._socket.disconnect(self.endpoint)
        self._socket.connect(self.endpoint)
