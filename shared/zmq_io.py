"""SocketPump: a ZeroMQ socket read straight from the event loop, without futures.

pyzmq's asyncio sockets wrap every receive and send in a future, which costs more
than the message itself on the keystroke path. A pump registers the socket's FD
with the loop and, on each wake-up, takes every waiting message in one go (at most
BATCH, then it yields to the loop and comes back). Sends are plain non-blocking
sends. ZeroMQ's FD signals edge-like: a send may consume the notice of a message
that arrived meanwhile, so after every send the pump looks at EVENTS and schedules
a drain if something is waiting.

The calls go to pyzmq's compiled socket methods with plain int options: the Python
layer above them (send_multipart, recv_multipart, getsockopt) turns every flag and
option into an enum and back, which cost about 15 us per keystroke in each process.
Frames are always copied into ZeroMQ: its zero-copy sends hand every buffer to a
garbage-collector thread of pyzmq's, whose wake-ups cost more than copying the 64 KiB
of an exec read (at full output speed the worker went from about 36 % to 31 % of a
core).

Concurrency: one loop; the handler runs in the loop's callback and must not block.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import zmq

log = logging.getLogger(__name__)

BATCH = 256

_send = cast(Callable[[Any, bytes, int], None], zmq.backend.Socket.send)
_recv = cast(Callable[[Any, int], bytes], zmq.backend.Socket.recv)
_get = cast(Callable[[Any, int], int], zmq.backend.Socket.get)  # int options only
_EVENTS, _RCVMORE, _POLLIN = int(zmq.EVENTS), int(zmq.RCVMORE), int(zmq.POLLIN)
_NOBLOCK = int(zmq.NOBLOCK)
_MORE = _NOBLOCK | int(zmq.SNDMORE)


class SocketPump:
    def __init__(self, socket: zmq.Socket[Any], on_frames: Callable[[list[bytes]], None]) -> None:
        self.socket = socket
        self._on_frames = on_frames
        self._loop = asyncio.get_running_loop()
        self._scheduled = False
        self._closed = False
        self._fd = int(socket.getsockopt(zmq.FD))
        self._loop.add_reader(self._fd, self._drain)
        self._schedule()

    def send(self, frames: list[bytes]) -> None:
        """Send now; raises zmq.Again when the message cannot be queued, and other
        ZMQErrors (EHOSTUNREACH on a ROUTER) as ZeroMQ reports them."""
        socket = self.socket
        try:
            last = len(frames) - 1
            for i, frame in enumerate(frames):
                _send(socket, frame, _MORE if i < last else _NOBLOCK)
        finally:
            if _get(socket, _EVENTS) & _POLLIN:
                self._schedule()

    def close(self) -> None:
        self._closed = True
        self._loop.remove_reader(self._fd)
        self.socket.close()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        """Take what is waiting; EVENTS says when to stop, as an empty receive would
        cost an exception (zmq.Again) per wake-up."""
        self._scheduled = False
        socket = self.socket
        for _ in range(BATCH if not self._closed else 0):
            try:
                if not _get(socket, _EVENTS) & _POLLIN:
                    return
                frames = [_recv(socket, _NOBLOCK)]
                while _get(socket, _RCVMORE):
                    frames.append(_recv(socket, _NOBLOCK))
            except zmq.ZMQError as exc:
                log.warning("receive failed: %s", exc)
                return
            try:
                self._on_frames(frames)
            except Exception:
                log.exception("unexpected error handling a message")
        self._schedule()  # more may be waiting: come back after others had their turn
