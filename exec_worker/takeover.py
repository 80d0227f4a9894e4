"""Takeover: a new worker process goes on with the sessions of the one running before it.

The running worker listens on `<state_dir>/takeover/worker.sock` (a 0700 folder, the
socket 0600) and answers only a peer of its own user (SO_PEERCRED). A successor
(`dterm worker --take-over`, or the one SIGHUP starts) connects, and the two go
through the steps of takeover_plan.py; each frame on that socket is a length and a
msgpack map, bounded in size and checked field by field (session_state.py), and an
exec's connection travels as a file descriptor beside its session's frame
(SCM_RIGHTS). Nothing the peer says is trusted beyond its shape: a frame that is too
large, of the wrong kind or out of turn ends the handover, and the old worker goes
on serving (the plan says how to undo each step).

    successor                         running worker
    hello          ------------>      pause front ends, freeze
                   <------------      begin (instance, peers, container seq, count)
                   <------------      session + fd, one per session
    adopted        ------------>      release ZeroMQ and HTTP endpoints
                   <------------      released
    (bind)  bound  ------------>
                   <------------      done (then it exits, touching no session)
    (serve, read the execs again)

Concurrency: the socket's blocking calls run on a thread, one at a time, each with a
deadline; everything else on the worker's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from exec_worker import session_state
from exec_worker.takeover_plan import Do, HandoverPlan
from shared.errors import DtermError, ProtocolError, TooLarge
from shared.security import private_folder

if TYPE_CHECKING:
    from exec_worker.server import WorkerServer

log = logging.getLogger(__name__)

VERSION = 1
"""Of the handover frames: both processes must speak the same."""
STEP_TIMEOUT = 20.0
"""Seconds either side waits for the other's next frame."""
MAX_FRAME = 64 << 20
_LENGTH = struct.Struct(">I")
_FD_MARK = b"F"


def socket_path(state_dir: str) -> Path:
    return Path(state_dir) / "takeover" / "worker.sock"


class HandoverFailed(DtermError):
    """The handover stopped before it was done; the running worker goes on serving."""


# --- frames ------------------------------------------------------------------------------


class Channel:
    """One handover connection: frames each way, a file descriptor beside a frame."""

    def __init__(self, sock: socket.socket, max_frame: int = MAX_FRAME) -> None:
        self.sock = sock
        self.max_frame = max_frame
        sock.settimeout(STEP_TIMEOUT)

    def check_peer(self) -> None:
        """Only a process of this worker's own user may take part."""
        creds = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", creds)
        if uid != os.geteuid():
            raise HandoverFailed(f"process {pid} of uid {uid} may not take part in a handover")

    def send(self, kind: str, body: dict[str, Any] | None = None, fd: int = -1) -> None:
        frame = msgpack.packb({"t": kind, **(body or {})}, use_bin_type=True)
        self.sock.sendall(_LENGTH.pack(len(frame)) + frame)
        if fd >= 0:
            socket.send_fds(self.sock, [_FD_MARK], [fd])

    def receive(self, kind: str) -> dict[str, Any]:
        """The next frame, which must be of `kind` (an `abort` says why the peer gave up)."""
        (size,) = _LENGTH.unpack(self._exactly(_LENGTH.size))
        if size > self.max_frame:
            raise TooLarge(f"a handover frame of {size} bytes")
        try:
            body = msgpack.unpackb(self._exactly(size), raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises several unrelated types
            raise ProtocolError(f"a handover frame that is not msgpack: {exc}") from None
        if type(body) is not dict or type(body.get("t")) is not str:
            raise ProtocolError("a handover frame must be a map with a kind")
        if body["t"] == "abort":
            raise HandoverFailed(f"the other side gave up: {str(body.get('reason'))[:200]}")
        if body["t"] != kind:
            raise ProtocolError(f"expected {kind!r}, got {body['t'][:40]!r}")
        return body

    def receive_fd(self) -> socket.socket:
        data, fds, flags, _ = socket.recv_fds(self.sock, 1, 1)
        if data != _FD_MARK or len(fds) != 1 or flags & socket.MSG_CTRUNC:
            for fd in fds:
                os.close(fd)
            raise ProtocolError("expected one file descriptor")
        return socket.socket(fileno=fds[0])

    def _exactly(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise HandoverFailed("the other side closed the handover connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()


# --- the running worker's side ----------------------------------------------------------


class Handovers:
    """Listens for a successor and gives it every session (see takeover_plan.py)."""

    def __init__(self, server: WorkerServer, state_dir: str) -> None:
        self.plan = HandoverPlan()
        self._server = server
        self._path = socket_path(state_dir)
        self._listener: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    def listen(self) -> None:
        private_folder(self._path.parent, "takeover")
        self._path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)
        try:
            listener.bind(str(self._path))
        finally:
            os.umask(old_mask)
        os.chmod(self._path, 0o600)
        listener.listen(2)
        listener.setblocking(False)
        self._listener = listener
        self._task = asyncio.create_task(self._accept_loop(), name="takeover")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._listener is not None:
            self._listener.close()

    async def _accept_loop(self) -> None:
        assert self._listener is not None
        loop = asyncio.get_running_loop()
        while not self.finished.is_set():
            conn, _ = await loop.sock_accept(self._listener)
            conn.setblocking(True)
            channel = Channel(conn)
            try:
                channel.check_peer()
            except HandoverFailed as exc:
                log.warning("takeover refused: %s", exc)
                channel.close()
                continue
            await self._hand_over(channel)

    async def _hand_over(self, channel: Channel) -> None:
        started = time.monotonic()
        try:
            hello = await asyncio.to_thread(channel.receive, "hello")
            if hello.get("v") != VERSION:
                raise HandoverFailed(f"the successor speaks handover version {hello.get('v')!r}")
            log.info("takeover: successor (pid %s) asks for %d sessions", hello.get("pid"),
                     len(self._server.registry.sessions))  # fmt: skip
            await self._server.settle()
            await self._carry(self.plan.successor(), channel)
            await self._server.wait_paused()
            await self._carry(self.plan.peers_paused(), channel)
            await self._carry(self.plan.state_sent(), channel)
            await asyncio.to_thread(channel.receive, "adopted")
            await self._carry(self.plan.adopted(), channel)
            await asyncio.to_thread(channel.send, "released")
            await asyncio.to_thread(channel.receive, "bound")
            await self._carry(self.plan.bound(), channel)
            log.info("takeover: %d sessions handed over in %.3f s; exiting",
                     len(self._server.registry.sessions), time.monotonic() - started)  # fmt: skip
        except Exception as exc:  # any failure is undone; the reason is logged
            reason = str(exc) or type(exc).__name__
            await self._carry(self.plan.failed(reason) or [Do.LOG_FAILURE], channel, reason)
        finally:
            channel.close()

    async def _carry(self, effects: list[Do], channel: Channel, reason: str = "") -> None:
        server = self._server
        for effect in effects:
            match effect:
                case Do.PAUSE_PEERS:
                    server.pause_peers()
                case Do.FREEZE:
                    await server.freeze()
                case Do.SEND_STATE:
                    await asyncio.to_thread(self._send_state, channel, server.handover_state())
                case Do.RELEASE:
                    await server.release()
                case Do.FINISH:
                    await asyncio.to_thread(channel.send, "done")
                    self.finished.set()
                case Do.ABORT:
                    await asyncio.to_thread(_abort, channel, self.plan.reason)
                case Do.REBIND:
                    await server.rebind()
                case Do.THAW:
                    server.thaw()
                case Do.WELCOME_PEERS:
                    server.welcome_peers()
                case Do.LOG_FAILURE:
                    log.warning("takeover failed, serving on: %s", reason)

    def _send_state(self, channel: Channel, books: tuple[dict[str, Any], list[Any]]) -> None:
        begin, sessions = books
        listener = self._server.listener
        body = {**begin, "count": len(sessions), "v": VERSION, "listener": listener is not None}
        channel.send("begin", body, listener.fileno() if listener is not None else -1)
        for state, sock in sessions:
            channel.send("session", {"state": state, "fd": sock is not None},
                         sock.fileno() if sock is not None else -1)  # fmt: skip


def _abort(channel: Channel, reason: str) -> None:
    with contextlib.suppress(OSError):  # the other side is gone already: nothing to tell
        channel.send("abort", {"reason": reason[:500]})


# --- the successor's side ---------------------------------------------------------------


class Successor:
    """A new worker's part: take every session, bind once released, serve once done."""

    def __init__(self, server: WorkerServer, state_dir: str) -> None:
        self._server = server
        self._path = socket_path(state_dir)
        self._channel: Channel | None = None

    async def receive(self) -> int:
        """Connect, take every session (paused) and the worker's books; returns how
        many sessions came."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            await asyncio.to_thread(sock.connect, str(self._path))
        except OSError as exc:
            sock.close()
            raise HandoverFailed(f"no worker to take over at {self._path}: {exc}") from None
        channel = self._channel = Channel(sock, self._server.max_handover_frame())
        channel.check_peer()
        await asyncio.to_thread(channel.send, "hello", {"v": VERSION, "pid": os.getpid()})
        begin = await asyncio.to_thread(channel.receive, "begin")
        if begin.get("listener") is True:
            self._server.listener = await asyncio.to_thread(channel.receive_fd)
        count = begin.get("count")
        if type(count) is not int or not 0 <= count <= self._server.max_handover_sessions():
            raise ProtocolError("a handover of an impossible number of sessions")
        self._server.take_books(begin)
        for _ in range(count):
            body = await asyncio.to_thread(channel.receive, "session")
            passed = body.get("fd") is True
            fd = await asyncio.to_thread(channel.receive_fd) if passed else None
            await self._server.adopt(session_state.check(body.get("state")), fd)
        return count

    async def bind_when_released(self, bind: Any) -> Any:
        """Say the sessions are held; bind once the running worker let go; returns
        what `bind` returned once the running worker says it is done."""
        channel = self._channel
        assert channel is not None
        await asyncio.to_thread(channel.send, "adopted")
        await asyncio.to_thread(channel.receive, "released")
        bound = await bind()
        await asyncio.to_thread(channel.send, "bound")
        await asyncio.to_thread(channel.receive, "done")
        channel.close()
        return bound

    def give_up(self, reason: str) -> None:
        if self._channel is not None:
            _abort(self._channel, reason)
            self._channel.close()
