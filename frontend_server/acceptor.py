"""The accept loop of the front end's HTTP port: survive running out of descriptors.

Tornado's own accept handler raises on EMFILE/ENFILE; the listening socket stays
readable, so the loop calls it again at once and logs a traceback each time (half a
million lines in seconds) while the process serves nobody. This loop instead stops
accepting for a short pause that doubles while accepting keeps failing (up to
MAX_PAUSE) and starts again at the shortest once the backlog has been emptied: one
log line and one count per pause, never one per failure. Pending connections wait
in the kernel's backlog meanwhile, and are accepted once descriptors are free again.

Each accepted socket is offered to `admit`, which keeps it or closes it (the
connection cap lives with the server, which knows what its connections are doing).

Concurrency: one event loop; the socket is read only in its reader callback.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

from frontend_server.metrics import ACCEPT_PAUSES

log = logging.getLogger(__name__)

ACCEPTS_PER_WAKEUP = 128
"""Connections taken from the backlog per readiness callback, so one busy port cannot
hold the loop (Tornado's accept handler uses the same bound)."""
FIRST_PAUSE = 0.05
MAX_PAUSE = 1.0
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

Admit = Callable[[socket.socket, tuple[str, int]], None]


class Acceptor:
    """Accepts connections on one listening socket and hands them to `admit`."""

    def __init__(self, sock: socket.socket, admit: Admit) -> None:
        """Starts accepting at once (on the running loop)."""
        self._sock = sock
        self._admit = admit
        self._loop = asyncio.get_running_loop()
        self._pause = FIRST_PAUSE
        self._paused: asyncio.TimerHandle | None = None
        self._closed = False
        self._sock.setblocking(False)
        self._loop.add_reader(self._sock.fileno(), self._accept_ready)

    def close(self) -> None:
        """Stop accepting and close the listening socket."""
        self._closed = True
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    def _accept_ready(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                connection, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                self._recovered()
                return
            except ConnectionAbortedError:
                continue  # the client gave up while waiting in the backlog
            except OSError as exc:
                if exc.errno in OUT_OF_DESCRIPTORS:
                    self._pause_accepting(exc)
                    return
                # Linux reports some network errors of the pending connection here;
                # that connection is gone, the next one may be fine (accept(2)).
                log.debug("accept failed: %s", exc)
                continue
            self._admit(connection, address)

    def _pause_accepting(self, exc: OSError) -> None:
        ACCEPT_PAUSES.inc()
        log.warning(
            "cannot accept connections (%s); pausing accept for %.2f s",
            exc.strerror or exc,
            self._pause,
        )
        self._loop.remove_reader(self._sock.fileno())
        self._paused = self._loop.call_later(self._pause, self._resume)
        self._pause = min(self._pause * 2, MAX_PAUSE)

    def _recovered(self) -> None:
        """The backlog is empty again: the next shortage starts with a short pause."""
        if self._pause != FIRST_PAUSE:
            log.info("accepting connections again")
            self._pause = FIRST_PAUSE

    def _resume(self) -> None:
        self._paused = None
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept_ready)
