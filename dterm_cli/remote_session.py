"""RemoteSession: one session of `dterm exec`, `attach` or `watch`, through any outage.

It speaks the browser protocol (docs/protocol.md) on a WebSocket (the `websockets`
library): `open` or `attach`, then output bytes to this machine's stdout and stderr
(output_router.py), stdin to the session, the terminal's size at the start and on
every SIGWINCH, acks as the output is written out. When the connection drops after
`opened` (Wi-Fi, sleep, a front end restarted or killed) it says so on stderr,
connects again through the same URL with backoff, attaches from the offset after
the last byte received and carries on; resume.py keeps the books, so nothing is lost
or doubled. It gives up after `reconnect_for` seconds without a connection, and at
once when the session is gone. SIGINT, SIGTERM and SIGHUP close the session (its
processes end) and end dterm with 128 + the signal's number.

Concurrency: one asyncio event loop. Per connection, the reader (this object's
`_connection`) and an input sender task; for the whole session a stdin reader task
and the signal handlers. Writes to stdout and stderr go through OutputWriter's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from dterm_cli import local_terminal
from dterm_cli.credentials import Credential
from dterm_cli.exit_status import BROKEN_PIPE, SIGNALLED, CliError, Status, for_error, for_exit
from dterm_cli.local_io import OutputWriter, StdinReader
from dterm_cli.output_router import STDERR, OutputRouter
from dterm_cli.plain_text import plain
from dterm_cli.resume import PENDING_LIMIT, InputLedger, OutputPosition
from shared.browser_types import ClientType, ServerType
from shared.errors import ProtocolError

BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
"""Seconds between attempts to reconnect, the last one repeated."""
MAX_MESSAGE = 8 << 20
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True, slots=True)
class Link:
    """Where the WebSocket is and how it signs in."""

    base: str
    ws_url: str
    headers: dict[str, str] = field(repr=False)

    @classmethod
    def of(cls, credential: Credential) -> Link:
        ws = credential.url.replace("http", "ws", 1)  # https: wss
        return cls(credential.url, f"{ws}/ws/exec", credential.headers())


@dataclass(frozen=True, slots=True)
class Target:
    """What to join: a new session (`open`: the fields of an `open` message but the
    size), or an existing one by id, as its owner (rw) or a watcher (ro)."""

    open: dict[str, Any] | None = None
    session: str = ""
    mode: str = "rw"
    token: str = ""


class Dropped(Exception):
    """The connection failed or dropped; `at_once`: the front end asked us to go."""

    def __init__(self, why: str, at_once: bool = False) -> None:
        super().__init__(why)
        self.at_once = at_once


class RemoteSession:
    def __init__(
        self,
        link: Link,
        target: Target,
        writer: OutputWriter,
        stdin: StdinReader | None,
        terminal: int | None,
        reconnect_for: float,
        share: bool = False,
    ) -> None:
        """`stdin` None: nothing is read (watchers, -n); `terminal`: the descriptor of
        the local terminal, put in raw mode for a session with a tty; `share`: say the
        session's watch link."""
        self._link, self._target, self._writer, self._share = link, target, writer, share
        self._stdin, self._terminal, self._reconnect_for = stdin, terminal, reconnect_for
        self._session, self._mode = target.session, target.mode
        self._output = OutputPosition()
        self._input = InputLedger()
        self._router: OutputRouter | None = None
        self._tty = True
        self._raw = False
        self._failure = ""
        self._not_kept = 0  # keys typed while away, beyond what the ledger holds
        self._live = False
        self._ws: ClientConnection | None = None
        self._sender: asyncio.Task[None] | None = None
        self._attempts = 0
        self._lost_since: float | None = None
        self._input_changed = asyncio.Event()
        self._room = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stack = contextlib.ExitStack()

    async def run(self) -> int:
        """Until the session ends; the exit status (exit_status.py), or CliError."""
        loop = asyncio.get_running_loop()
        stopped: asyncio.Future[int] = loop.create_future()
        for signum in STOPPING:
            loop.add_signal_handler(signum, _settle_once, stopped, signum)
        loop.add_signal_handler(signal.SIGWINCH, self._resized)
        if self._stdin is None:
            self._input.end()
        elif self._mode == "rw":
            self._spawn(self._read_stdin(self._stdin))
        serving = asyncio.create_task(self._serve())
        try:
            await asyncio.wait([serving, stopped], return_when=asyncio.FIRST_COMPLETED)
            if serving.done():
                return serving.result()
            if not await self._close_session() and self._session and self._mode == "rw":
                self._say(f"the session goes on for a while: `dterm attach {self._session}`")
            return SIGNALLED + stopped.result()
        finally:
            serving.cancel()
            for task in self._tasks:
                task.cancel()
            for signum in (*STOPPING, signal.SIGWINCH):
                loop.remove_signal_handler(signum)
            await asyncio.gather(serving, *self._tasks, return_exceptions=True)
            await self._writer.drain(2.0)  # what was said in raw mode, in raw mode
            self._stack.close()  # the terminal's own mode, before the caller says more

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _say(self, text: str) -> None:
        text = plain(text)
        line = f"\r\ndterm: {text}\r\n" if self._raw else f"dterm: {text}\n"
        self._writer.put(STDERR, line.encode())

    # --- connections ------------------------------------------------------------------

    async def _serve(self) -> int:
        while True:
            try:
                return await self._connection()
            except Dropped as exc:
                await self._before_retry(exc)

    async def _before_retry(self, dropped: Dropped) -> None:
        if self._router is None:  # never joined: nothing to resume
            raise CliError(Status.LOST, f"cannot reach {self._link.base}: {dropped}")
        now = time.monotonic()
        if self._lost_since is None:
            self._lost_since = now
            self._say(f"connection lost ({dropped}); reconnecting")
        elif now - self._lost_since > self._reconnect_for:
            self._undelivered("could not reconnect")
            raise CliError(
                Status.LOST,
                f"could not reconnect within {self._reconnect_for:g} s "
                f"({dropped}); the session lives on for a while: "
                f"`dterm attach {self._session}`",
            )
        first = self._attempts == 0
        delay = 0.0 if dropped.at_once and first else BACKOFF[min(self._attempts, len(BACKOFF) - 1)]
        self._attempts += 1
        await asyncio.sleep(delay)

    async def _connect(self) -> ClientConnection:
        try:
            return await connect(
                self._link.ws_url,
                additional_headers=self._link.headers,
                compression=None,
                max_size=MAX_MESSAGE,
                open_timeout=10,
                ping_interval=10,
                ping_timeout=10,
                close_timeout=2,
                user_agent_header="dterm",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise CliError(
                    Status.NOT_SIGNED_IN,
                    f"{self._link.base} refused the sign-in "
                    f"(expired or revoked?): `dterm login {self._link.base}`",
                ) from None
            if status == 403:
                raise CliError(
                    Status.FORBIDDEN, f"{self._link.base} refused the connection (HTTP 403)"
                ) from None
            raise Dropped(f"HTTP {status}") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise Dropped(str(exc) or type(exc).__name__) from None

    async def _connection(self) -> int:
        ws = await self._connect()
        self._ws = ws
        try:
            await ws.send(json.dumps(self._join_message()))
            async for message in ws:
                if isinstance(message, bytes):
                    await self._on_output(ws, message)
                    continue
                status = await self._on_control(ws, message)
                if status is not None:
                    return status
            raise Dropped("the front end closed the connection")
        except ConnectionClosed as exc:
            raise Dropped(str(exc)) from None
        finally:
            self._ws, self._live = None, False
            if self._sender is not None:
                self._sender.cancel()
                self._sender = None
            await ws.close()

    def _join_message(self) -> dict[str, Any]:
        if self._session:
            return {
                "type": ClientType.ATTACH,
                "session": self._session,
                "offset": self._output.offset,
                "mode": self._mode,
                "token": self._target.token,
            }
        assert self._target.open is not None
        cols, rows = self._size() or (80, 24)
        return {"type": ClientType.OPEN, **self._target.open, "cols": cols, "rows": rows}

    def _size(self) -> tuple[int, int] | None:
        return None if self._terminal is None else local_terminal.size(self._terminal)

    # --- from the front end -------------------------------------------------------------

    async def _on_output(self, ws: ClientConnection, data: bytes) -> None:
        if self._router is None:
            raise CliError(Status.FAILED, "the front end sent output before `opened`")
        try:
            routed = self._router.route(data)
        except ProtocolError as exc:
            raise CliError(Status.FAILED, f"the session's output cannot be read: {exc}") from None
        for fd, chunk in routed:
            try:
                await self._writer.write(fd, chunk)
            except BrokenPipeError:
                await self._close_session()
                raise CliError(BROKEN_PIPE, "") from None
            except OSError as exc:
                raise CliError(Status.FAILED, f"cannot write the output: {exc}") from None
        ack = self._output.consumed(len(data))
        if ack is not None:
            await ws.send(json.dumps({"type": ClientType.ACK, "offset": ack}))

    async def _on_control(self, ws: ClientConnection, text: str) -> int | None:
        try:
            message = json.loads(text)
            return await self._dispatch(ws, message["type"], message)
        except (ValueError, KeyError, TypeError) as exc:
            raise CliError(
                Status.FAILED,
                f"the front end sent a message that is not the browser protocol: {exc!r}",
            ) from None

    async def _dispatch(
        self, ws: ClientConnection, kind: str, message: dict[str, Any]
    ) -> int | None:
        match kind:
            case ServerType.OPENED:
                await self._opened(ws, message)
                if self._mode == "rw":
                    self._sender = asyncio.create_task(self._send_input(ws))
            case ServerType.EXIT:
                return self._exited(message)
            case ServerType.ERROR:
                self._error(str(message.get("code")), str(message.get("message")))
            case ServerType.INPUT_ACK:
                self._input.acknowledged(int(message["offset"]))
                self._input_changed.set()
            case ServerType.SKIPPED:
                self._skipped(int(message["bytes"]), "the watcher fell behind")
            case ServerType.IDLE_WARNING:
                self._say(f"idle: the session ends in {message['seconds']} s unless you type")
            case ServerType.DETACHED:
                raise CliError(Status.ENDED, str(message.get("message") or "detached"))
            case ServerType.RECONNECT:
                raise Dropped(str(message.get("message") or "asked to reconnect"), at_once=True)
        return None

    async def _opened(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        resumed = self._lost_since is not None
        self._session, self._mode = str(message["session"]), str(message["mode"])
        if self._router is None:
            self._tty = message.get("tty", True) is not False
            self._router = OutputRouter(self._tty)
            if self._tty and self._mode == "rw" and self._terminal is not None:
                self._stack.enter_context(local_terminal.raw_mode(self._terminal))
                self._raw = True
            if self._target.open is not None and "service" in self._target.open:
                self._say(f"opened in {message['container']} on {message['host']}")
            if self._share and message.get("watch"):
                where = f"{quote(self._session, safe='@')}/{quote(str(message['watch']))}"
                self._say(f"watch link: {self._link.base}/#/watch/{where}")
        self._output.opened(int(message["offset"]), int(message["window"]))
        if message.get("skipped"):
            self._skipped(int(message["skipped"]), "no longer kept by the session")
        if self._mode == "rw":
            self._input.opened(int(message.get("input", 0)), int(message["window"]))
            if message.get("ended"):
                self._undelivered("the program had ended")
            size = self._size()
            if self._tty and size and size != (message.get("cols"), message.get("rows")):
                await ws.send(_resize_frame(size))
        self._live = True
        self._input_changed.set()
        if resumed:
            self._say("reconnected")
        if self._not_kept:
            kept = PENDING_LIMIT // 1024
            self._say(
                f"{self._not_kept} bytes typed while reconnecting were not delivered: "
                f"only the first {kept} KiB are kept"
            )
            self._not_kept = 0
        self._attempts, self._lost_since = 0, None

    def _exited(self, message: dict[str, Any]) -> int:
        reason, code = str(message.get("reason")), message.get("code")
        if reason != "exited":
            detail = f": {message['message']}" if message.get("message") else ""
            self._say(f"the session ended ({reason}{detail})")
        self._undelivered("the program had ended")
        return for_exit(code if isinstance(code, int) else None, reason, self._failure)

    def _error(self, code: str, text: str) -> None:
        if self._live:
            if code in ("command_not_found", "start_failed"):
                self._failure = code
            self._say(f"{code}: {text}")
            return
        if self._lost_since is not None and code == "unavailable":
            raise Dropped(f"{code}: {text}")  # the host may come back within the grace period
        if self._lost_since is not None and code == "not_found":
            self._undelivered("the session is gone")
            raise CliError(Status.LOST, f"the session is gone ({text})")
        raise CliError(for_error(code), f"{code}: {text}")

    def _skipped(self, count: int, why: str) -> None:
        if self._router is not None and not self._tty:
            raise CliError(
                Status.FAILED,
                f"{count} bytes of output were skipped ({why}): "
                "a stream without a tty cannot go on",
            )
        self._output.skipped(count)
        self._say(f"{count} bytes of output were skipped ({why})")

    def _undelivered(self, why: str) -> None:
        count = self._input.drop_pending() + self._not_kept
        self._not_kept = 0
        self._room.set()
        if count:
            self._say(f"{count} bytes of input were not delivered: {why}")

    # --- to the front end ---------------------------------------------------------------

    async def _read_stdin(self, stdin: StdinReader) -> None:
        """stdin into the ledger. With the ledger full, a pipe waits (nothing is lost);
        keys typed at a terminal while the connection is down are read on and counted
        as not kept, since the terminal's own small buffer would drop them unseen."""
        while True:
            room = self._input.room()
            typing_away = self._raw and not self._live
            if room == 0 and not typing_away:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                data = await stdin.read(room or 4096)
            except OSError:
                data = b""
            if not data:
                self._input.end()
                self._input_changed.set()
                return
            if self._input.room() == 0 and self._raw and not self._live:
                self._not_kept += len(data)  # (looked at after the read: it may have resumed)
                continue
            self._input.take(data)
            self._input_changed.set()

    async def _send_input(self, ws: ClientConnection) -> None:
        """Input within the window, then `eof` once stdin has ended (no tty only)."""
        try:
            while True:
                while chunk := self._input.next_chunk():
                    await ws.send(chunk)
                    self._room.set()
                if not self._tty and self._input.eof_due():
                    self._input.eof_sent = True
                    await ws.send(json.dumps({"type": ClientType.EOF}))
                await self._input_changed.wait()
                self._input_changed.clear()
        except ConnectionClosed:
            return  # the reader hears of it too, and resumes

    def _resized(self) -> None:
        size = self._size()
        if self._ws is not None and self._live and self._tty and self._mode == "rw" and size:
            message = _resize_frame(size)
            self._spawn(_send_quietly(self._ws, message))

    async def _close_session(self) -> bool:
        """End the session and its processes, as far as the connection lets us; whether
        the request went out."""
        if self._ws is not None and self._live and self._mode == "rw":
            return await _send_quietly(self._ws, json.dumps({"type": ClientType.CLOSE}))
        return False


async def _send_quietly(ws: ClientConnection, message: str) -> bool:
    try:
        await asyncio.wait_for(ws.send(message), 2.0)
    except (ConnectionClosed, TimeoutError):
        return False
    return True


def _settle_once(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)


def _resize_frame(size: tuple[int, int]) -> str:
    return json.dumps({"type": ClientType.RESIZE, "cols": size[0], "rows": size[1]})
