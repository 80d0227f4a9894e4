"""The worker server's part in a takeover (takeover.py): both sides of it.

Giving: pause the front ends, freeze every session, write down the books, let go of
the endpoints; and, if the handover fails, undo each of those. Taking: the books and
sessions of the worker that ran before, and its front ends, which come back on their
own (they re-dial); until a front end says Hello again, what its attachments are
sent is kept for it (at most a flow-control window per attachment, as ever), since
a ROUTER cannot reach a peer that has not connected yet.

Concurrency: the worker's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zmq

from exec_worker.listener import bind_on
from exec_worker.takeover import HandoverFailed
from shared.errors import Unavailable
from shared.messages import Message, Pause, Welcome
from shared.protocol import encode
from shared.security import make_curve_server
from shared.zmq_io import SocketPump

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from exec_worker.containers import ContainerWatcher
    from exec_worker.docker_exec import DockerHost
    from exec_worker.observe import ObserveRequests
    from exec_worker.refusals import Refusals
    from exec_worker.registry import SessionRegistry
    from exec_worker.transfer_requests import FileRequests
    from shared.settings import WorkerConfig

SETTLE_TIMEOUT = 5.0
"""Seconds a handover waits for sessions that start or end, and file transfers, to be
done (none starts meanwhile); past that it fails and the worker serves on."""
INPUT_DRAIN_TIMEOUT = 2.0
"""Seconds it waits for keystrokes already written to reach the execs' connections."""
PAUSE_TIMEOUT = 2.0
"""Seconds front ends have to answer Pause (one that does not is handed over as it is)."""
PAUSE_VERSION = 4
"""The first protocol version whose front ends answer Pause."""
MAX_HELD_FRAMES = 10_000
MAX_KEPT_BYTES = 64 << 20
"""Bytes kept for front ends that have not come back yet, all together."""


class Handing:
    """Where this worker is in a handover, as the message paths need to know it."""

    def __init__(self) -> None:
        self.frozen = False
        self.welcome_held = False
        self.released = False
        self._held: list[list[bytes]] = []
        self._returning: dict[bytes, list[list[bytes]]] = {}
        self._kept = 0
        self.token = ""
        self.unpaused: set[bytes] = set()
        """Front ends asked to pause that have not answered yet."""

    def hold(self, frames: list[bytes]) -> None:
        if len(self._held) < MAX_HELD_FRAMES:
            self._held.append(frames)

    def take_held(self) -> list[list[bytes]]:
        held, self._held = self._held, []
        return held

    def expect(self, peers: list[bytes]) -> None:
        self._returning = {peer: [] for peer in peers}

    def keep_for(self, peer: bytes, message: Message) -> bool:
        """Keep a message for a front end not back yet; False: send it now."""
        kept = self._returning.get(peer)
        if kept is None:
            return False
        frames = [peer, *encode(message)]
        size = sum(len(f) for f in frames)
        if self._kept + size > MAX_KEPT_BYTES:
            raise Unavailable("too much output kept for front ends that did not come back")
        self._kept += size
        kept.append(frames)
        return True

    def returned(self, peer: bytes, pump: SocketPump) -> None:
        """The front end said Hello to this process: what was kept goes now, in order."""
        for frames in self._returning.pop(peer, []):
            self._kept -= sum(len(f) for f in frames)
            pump.send(frames)

    def forget(self, peer: bytes) -> None:
        for frames in self._returning.pop(peer, []):
            self._kept -= sum(len(f) for f in frames)


class ServerHandover:
    """Mixed into WorkerServer: what a handover does to the server's books."""

    _config: WorkerConfig
    _context: zmq.Context[Any]
    _docker: DockerHost
    _socket: zmq.Socket[Any]
    _pump: SocketPump
    _keys: tuple[bytes, bytes]
    _peers: dict[bytes, float]
    _versions: dict[bytes, int]
    _handing: Handing
    instance: str
    endpoint: str
    listener: socket.socket | None = None
    """The listening socket ZeroMQ binds on a copy of (listener.py), passed on too."""
    handed_endpoint = ""
    """The endpoint of the worker that ran before, which this one binds instead."""
    registry: SessionRegistry
    containers: ContainerWatcher
    files: FileRequests
    observe: ObserveRequests
    refusals: Refusals
    endpoint_hooks: tuple[Callable[[], None], Callable[[], None]] | None = None
    """What main does with its HTTP endpoint when the ZeroMQ one is let go or bound again."""

    if TYPE_CHECKING:  # WorkerServer's own

        def _router(self) -> zmq.Socket[Any]: ...
        def _dispatch(self, peer: bytes, frames: list[bytes]) -> None: ...
        def _receive(self, frames: list[bytes]) -> None: ...
        def _welcome(self, version: int) -> Welcome: ...
        def send(self, peer: bytes, message: Message) -> None: ...

    # --- giving -----------------------------------------------------------------------

    async def settle(self) -> None:
        """No session opens and no file transfer starts from now on; wait until none
        is starting or ending and no transfer runs (those are not handed over), and
        end the logs streams (followed again in a moment, through the successor).
        Front ends are still welcomed meanwhile, so none takes the host for gone."""
        registry, transfers = self.registry, self.files.transfers
        registry.handing_over = True
        self.observe.end_all(f"host {self._config.host_id} is being upgraded: follow again")
        try:
            await _wait_for(lambda: not registry.settling(), SETTLE_TIMEOUT,
                            "sessions were still starting or ending")  # fmt: skip
            await _wait_for(lambda: not transfers.uploads and not transfers.downloads,
                            SETTLE_TIMEOUT, "file transfers were still running")  # fmt: skip
        except HandoverFailed:
            registry.handing_over = False
            raise

    def pause_peers(self) -> None:
        """Front ends that speak Pause hold what they send; no Welcome goes out until
        the handover is over (a Welcome ends a pause)."""
        handing = self._handing
        handing.welcome_held = True
        handing.token = secrets.token_hex(8)
        asked = [p for p in self._peers if self._versions.get(p, 0) >= PAUSE_VERSION]
        handing.unpaused = set(asked)
        for peer in asked:
            self.send(peer, Pause(handing.token))

    def peer_paused(self, peer: bytes, token: str) -> None:
        if token == self._handing.token:
            self._handing.unpaused.discard(peer)

    async def wait_paused(self) -> None:
        """Until the front ends asked to pause answered: what they sent before is
        served by this process."""
        unpaused = self._handing.unpaused
        with contextlib.suppress(HandoverFailed):
            await _wait_for(lambda: not unpaused, PAUSE_TIMEOUT, "front ends did not pause")
        if unpaused:
            log.warning("takeover: %d front ends did not answer Pause; their last "
                        "messages may be refused", len(unpaused))  # fmt: skip
        if self.registry.settling():  # opened before settle() said no, and still starting
            raise HandoverFailed("a session started while the handover began")

    async def freeze(self) -> None:
        self._handing.frozen = True
        for session in self.registry.sessions.values():
            session.freeze()
        sessions = list(self.registry.sessions.values())
        await _wait_for(lambda: not any(s.input_pending for s in sessions),
                        INPUT_DRAIN_TIMEOUT, "execs did not take their input")  # fmt: skip

    def handover_state(self) -> tuple[dict[str, Any], list[tuple[dict[str, Any], Any]]]:
        begin = {"instance": self.instance, "peers": list(self._peers),
                 "versions": [self._versions.get(p, 0) for p in self._peers],
                 "seq": self.containers.seq, "endpoint": self.endpoint}  # fmt: skip
        sessions = [(s.handover(), s.exec_socket()) for s in self.registry.sessions.values()]
        return begin, sessions

    async def release(self) -> None:
        """Let go of the endpoints, after what is queued for the front ends has gone."""
        self._handing.released = True
        self.refusals.close(self._socket)
        self._pump.close()  # LINGER: what is queued still goes out
        if self.endpoint_hooks is not None:
            self.endpoint_hooks[0]()
        await asyncio.sleep(0)

    async def rebind(self) -> None:
        """Bind again, the successor having given up (it may take a moment to let go)."""
        self._socket = self._router()
        make_curve_server(self._socket, self._keys)
        self.refusals.watch(self._socket)
        if self.listener is not None:
            bind_on(self._socket, self.listener)
        else:
            await bind_retrying(self._socket, self.endpoint)
        self._pump = SocketPump(self._socket, self._receive)
        self._handing.released = False
        self._handing.expect(list(self._peers))  # they connect again on their own
        if self.endpoint_hooks is not None:
            self.endpoint_hooks[1]()

    def thaw(self) -> None:
        self._handing.frozen = False
        for session in self.registry.sessions.values():
            session.thaw()
        for frames in self._handing.take_held():
            self._dispatch(frames[0], frames[1:])

    def welcome_peers(self) -> None:
        self._handing.welcome_held = False
        self.registry.handing_over = False
        for peer in list(self._peers):
            self.send(peer, self._welcome(self._versions.get(peer, 3)))

    # --- taking -----------------------------------------------------------------------

    def max_handover_sessions(self) -> int:
        return self._config.max_sessions

    def max_handover_frame(self) -> int:
        return 2 * max(self._config.ring_bytes, self._config.window) + (4 << 20)

    def take_books(self, begin: dict[str, Any]) -> None:
        instance, peers, seq = begin.get("instance"), begin.get("peers"), begin.get("seq")
        endpoint = begin.get("endpoint")
        if type(endpoint) is not str or not endpoint.startswith(("tcp://", "ipc://")):
            raise HandoverFailed("the worker's endpoint is unreadable")
        self.handed_endpoint = endpoint[:300]
        if type(instance) is not str or not 0 < len(instance) <= 64 or type(seq) is not int:
            raise HandoverFailed("the worker's books are unreadable")
        if type(peers) is not list or not all(type(p) is bytes and len(p) <= 255 for p in peers):
            raise HandoverFailed("the front ends in the worker's books are unreadable")
        self.instance, self.containers.seq = instance, max(0, seq)
        now = time.monotonic()
        self._peers = dict.fromkeys(peers, now)
        self._handing.expect(peers)

    async def adopt(self, state: dict[str, Any], exec_socket: socket.socket | None) -> None:
        await self.registry.adopt(state, exec_socket, self.send)


async def _wait_for(done: Callable[[], bool], seconds: float, why: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise HandoverFailed(f"{why} within {seconds:g} s")
        await asyncio.sleep(0.01)


async def bind_retrying(socket: zmq.Socket[Any], endpoint: str, seconds: float = 5.0) -> str:
    """Bind, trying again while the process that had the address lets go of it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.bind(endpoint)
            return str(socket.getsockopt_string(zmq.LAST_ENDPOINT))
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
