"""GET /api/containers/<host>/<container>/logs and .../stats: what a container prints,
and what it uses, seen from outside it.

Both need the policy's `observe` on the container (`logs` for logs, `stats` or
`logs` for stats); a refusal is answered 403 (404 for a container the person may not
see at all) and audited as `denied` with the action `logs` or `stats`. The worker
then applies its host's rules and its bounds, and audits each logs stream.

    GET .../logs?tail=N&since=T&follow=1&download=1
        the last N lines (default 500; the host caps it), only those since T (Unix
        seconds), and with follow=1 what the container prints after, until it stops;
        download=1 as an attachment. The body is the log's bytes as they are
        (stdout and stderr in the order they came), streamed as they come.
    GET .../stats
        {"cpu_percent", "online_cpus", "memory", "memory_limit", "pids", "net_rx",
         "net_tx", "read_at"}: one reading; the page polls it.

A logs stream is paced like a download: each chunk is acked to the worker once it
is flushed to the browser, so a browser that stops reading stops the stream, and
the worker cuts it after its stall timeout. A stream cut by the worker (too slow,
its byte limit, the host lost) ends the connection without the final chunk, so it
never looks complete; the reason is in the worker's audit log and log.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any
from urllib.parse import quote

from tornado.iostream import StreamClosedError

from frontend_server.api import BaseHandler
from frontend_server.files_api import HTTP_STATUS, WORKER_TIMEOUT, Transfer
from frontend_server.policy import Observe
from frontend_server.worker_link import WorkerLink
from shared.errors import DtermError, ProtocolError, Unavailable
from shared.messages import ContainerInfo
from shared.observe_messages import ReadLogs, ReadStats, StatsRead
from shared.transfer_messages import FileAck, FileData, FileEnd, FileOpened

DEFAULT_TAIL = 500


def _flag(handler: BaseHandler, name: str) -> bool:
    return handler.get_query_argument(name, "0") in ("1", "true", "yes")


class ObserveHandler(BaseHandler):
    """What both endpoints share: the container, if the policy lets the person see this."""

    def target(self, host: str, container: str, need: Observe) -> tuple[WorkerLink, ContainerInfo]:
        assert self.person is not None
        link = self.link_for(host, need.action)
        info = self.services.guard.for_observe(
            self.person, link, container, need, self.client_address
        )
        return link, info

    def fail(self, error: DtermError) -> None:
        self.write_json({"error": error.code.value, "message": str(error)},
                        HTTP_STATUS.get(error.code, 500))  # fmt: skip


class LogsHandler(ObserveHandler):
    transfer: Transfer | None = None

    async def get(self, host: str, container: str) -> None:
        assert self.person is not None
        try:
            tail, since = self.whole_number("tail", DEFAULT_TAIL), self.whole_number("since", 0)
            follow = _flag(self, "follow")
            link, info = self.target(host, container, Observe.LOGS)
            self.transfer = transfer = Transfer(link)
            link.send(ReadLogs(
                request=transfer.id, person=self.person.name, address=self.client_address,
                container=info.id, tail=tail, since=since, follow=follow,
            ))  # fmt: skip
            await transfer.next(FileOpened)
        except DtermError as exc:
            self._stop(abort=True, why=str(exc))
            self.fail(exc)
            return
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")  # a follower sees lines as they come
        if _flag(self, "download"):
            name = f"{info.name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.log"
            self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name)}")
        await self._stream(transfer, follow)

    async def _stream(self, transfer: Transfer, follow: bool) -> None:
        """Pass the bytes on, acking each chunk once flushed; a cut ends the connection."""
        transfer.on_failure = self._cut
        sent, ended = 0, False
        try:
            while True:
                message = await self._next(transfer, follow)
                if isinstance(message, FileEnd):
                    ended = True
                    break
                self.write(message.data)
                await self.flush()
                sent += len(message.data)
                transfer.link.send(FileAck(transfer.id, sent))
        except (DtermError, StreamClosedError):
            self.request.connection.close()  # type: ignore[union-attr]
            return
        finally:
            self._stop(abort=not ended, why="the browser went away")
        self.finish()

    async def _next(self, transfer: Transfer, follow: bool) -> Any:
        """The next FileData or FileEnd; a follower may wait for it as long as the
        container is quiet (a lost host wakes it), other streams WORKER_TIMEOUT."""
        try:
            message = await asyncio.wait_for(
                transfer.messages.get(), None if follow else WORKER_TIMEOUT
            )
        except TimeoutError:
            raise Unavailable(f"the worker sent nothing for {WORKER_TIMEOUT:g} s") from None
        if isinstance(message, DtermError):
            raise message
        if not isinstance(message, FileData | FileEnd):
            raise ProtocolError(f"the worker answered {message.TAG}")
        return message

    def _cut(self, error: DtermError) -> None:
        """The worker cut the stream (or its host was lost), perhaps while a flush to a
        browser that does not read is pending: end the connection now."""
        if self.transfer is not None:
            self.transfer.messages.put_nowait(error)
        self.request.connection.close()  # type: ignore[union-attr]

    def _stop(self, abort: bool, why: str) -> None:
        if self.transfer is not None:
            self.transfer.on_failure = None
            self.transfer.close(abort=abort, why=why)
            self.transfer = None

    def on_connection_close(self) -> None:
        """The browser went away: the worker stops reading, and our loop wakes."""
        transfer = self.transfer
        if transfer is not None:
            self._stop(abort=True, why="the browser went away")
            transfer.messages.put_nowait(Unavailable("the browser went away"))


class StatsHandler(ObserveHandler):
    async def get(self, host: str, container: str) -> None:
        assert self.person is not None
        try:
            link, info = self.target(host, container, Observe.STATS)
            request = secrets.token_hex(8)
            reading = await link.request(ReadStats(
                request=request, person=self.person.name, address=self.client_address,
                container=info.id,
            ), request)  # fmt: skip
        except DtermError as exc:
            self.fail(exc)
            return
        assert isinstance(reading, StatsRead)
        self.write_json(stats_json(reading))


def stats_json(reading: StatsRead) -> dict[str, Any]:
    """A reading as the page sees it: CPU in percent of one CPU (null: not known yet)."""
    return {
        "cpu_percent": reading.cpu_centi / 100 if reading.cpu_centi >= 0 else None,
        "online_cpus": reading.online_cpus,
        "memory": reading.memory,
        "memory_limit": reading.memory_limit,
        "pids": reading.pids,
        "net_rx": reading.net_rx,
        "net_tx": reading.net_tx,
        "read_at": reading.read_at,
    }
