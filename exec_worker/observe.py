"""The worker's side of container logs and stats: who asks, bounds, and the audit.

The front end judges the policy (the `observe` permission); the worker enforces
what is its own, as for file transfers: the container must pass this host's rules
(a refusal is audited as `denied` by host rules), a request's tail is at most
`max_log_tail` lines, a stream reads at most `max_log_bytes`, and at most
`max_log_streams` streams run on this host, `max_log_streams_per_person` per
person (limit_reached beyond).

A logs stream goes out like a download (transfers.Download): FileOpened, FileData
within a window the front end acks, FileEnd; or Failed when it is refused or cut.
A follower whose window stays full for `log_stall_timeout` seconds is cut with
that reason; one that reaches the byte limit too. Every stream is audited when it
ends (`logs`, ok or not, with its size and reason). Stats requests are answered
from StatsReader and audited only when refused.

Concurrency: runs on the worker's loop; each logs stream is one task the server
owns reading one non-blocking connection (no thread); Docker control calls go
through DockerHost's bounded pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from exec_worker.container_logs import LogPipe
from exec_worker.container_stats import StatsReader
from exec_worker.docker_exec import DockerHost
from exec_worker.metrics import LOG_STREAMS, LOG_STREAMS_CUT
from exec_worker.transfers import Download
from shared.audit import AuditLog
from shared.errors import DtermError, ErrorCode, LimitReached, ProtocolError, TooLarge
from shared.messages import ContainerInfo, Failed, Message
from shared.observe_messages import ReadLogs, ReadStats, StatsRead
from shared.settings import WorkerConfig
from shared.transfer_messages import FileAbort, FileAck

log = logging.getLogger(__name__)

Resolve = Callable[[str, str, str], Awaitable[ContainerInfo]]
Send = Callable[[bytes, Message], None]
Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


@dataclass(eq=False)
class LogStream:
    """One logs request in flight: whose it is, and its download."""

    peer: bytes
    request: ReadLogs
    download: Download
    task: asyncio.Task[None] | None = None
    given_up: str = ""


class ObserveRequests:
    def __init__(
        self,
        docker: DockerHost,
        config: WorkerConfig,
        resolve: Resolve,
        send: Send,
        audit: AuditLog,
        spawn: Spawn,
    ) -> None:
        self._docker = docker
        self._config = config
        self._resolve = resolve
        self._send = send
        self._audit = audit
        self._spawn = spawn
        self.streams: dict[str, LogStream] = {}
        self.stats = StatsReader(docker.stats)

    def handle(self, peer: bytes, message: Message) -> None:
        """ReadLogs and ReadStats; the acks and aborts of logs streams (others' are
        ignored: they belong to file transfers)."""
        match message:
            case ReadLogs():
                self._start_logs(peer, message)
            case ReadStats():
                self._spawn(self._stats(peer, message))
            case FileAck(request=request, offset=offset):
                stream = self.streams.get(request)
                if stream is not None and stream.peer == peer:
                    stream.download.ack(offset)
            case FileAbort(request=request, reason=reason):
                self._give_up(peer, request, reason)

    def peer_gone(self, peer: bytes) -> None:
        for request, stream in list(self.streams.items()):
            if stream.peer == peer:
                self._give_up(peer, request, "the front end went away")

    def end_all(self, reason: str) -> None:
        """Every logs stream ends with `reason`, its front end told (a worker handing
        over keeps none)."""
        for request, stream in list(self.streams.items()):
            log.info("logs %s ended: %s", request, reason)
            self._send(stream.peer, Failed(request, ErrorCode.UNAVAILABLE, reason))
            self._give_up(stream.peer, request, reason)

    def _give_up(self, peer: bytes, request: str, reason: str) -> None:
        stream = self.streams.get(request)
        if stream is not None and stream.peer == peer and stream.task is not None:
            stream.given_up = reason
            stream.task.cancel()

    # --- logs ------------------------------------------------------------------------

    def _start_logs(self, peer: bytes, request: ReadLogs) -> None:
        if request.request in self.streams:
            raise ProtocolError(f"logs request {request.request} already runs")
        download = Download(peer, request.request, partial(self._send, peer),
                            stall=self._config.log_stall_timeout)  # fmt: skip
        stream = LogStream(peer, request, download)
        self.streams[request.request] = stream
        LOG_STREAMS.inc()
        stream.task = self._spawn(self._logs(stream))

    def _check_logs(self, request: ReadLogs) -> None:
        config = self._config
        if not 0 <= request.tail <= config.max_log_tail:
            raise ProtocolError(f"tail: 0 to {config.max_log_tail} lines, not {request.tail}")
        if request.since < 0:
            raise ProtocolError("since: Unix seconds, 0 or more")
        running = [s for s in self.streams.values() if s.request is not request]
        if len(running) >= config.max_log_streams:
            raise LimitReached(f"this host serves {len(running)} logs streams, its limit")
        mine = sum(1 for s in running if s.request.person == request.person)
        if mine >= config.max_log_streams_per_person:
            raise LimitReached(f"{request.person} has {mine} logs streams on this host, the limit")

    async def _logs(self, stream: LogStream) -> None:
        request, download = stream.request, stream.download
        name = request.container
        try:
            container = await self._resolve(request.container, request.person, request.address)
            name = container.name
            self._check_logs(request)
            pipe = await LogPipe.open(self._docker, container.id, request.tail, request.since,
                                      request.follow)  # fmt: skip
            try:
                await download.send(container.name, -1, partial(self._capped, pipe, download))
            finally:
                pipe.close()
        except (DtermError, asyncio.CancelledError) as exc:
            reason = stream.given_up or str(exc) or "cancelled"
            self._audit_logs(request, name, ok=False, size=download.sent, reason=reason)
            if not isinstance(exc, DtermError):
                raise
            LOG_STREAMS_CUT.labels(exc.code.value).inc()
            log.info("logs %s of %s cut or refused: %s", request.request, name, exc)
            self._send(stream.peer, Failed(request.request, exc.code, str(exc)))
        else:
            self._audit_logs(request, name, ok=True, size=download.sent)
        finally:
            self.streams.pop(request.request, None)
            LOG_STREAMS.dec()

    async def _capped(self, pipe: LogPipe, download: Download) -> bytes:
        chunk = await pipe.read()
        limit = self._config.max_log_bytes
        if download.sent + len(chunk) > limit:
            raise TooLarge(
                f"the logs reached this host's limit of {limit} bytes per request; "
                "ask again with a later `since`"
            )
        return chunk

    def _audit_logs(self, request: ReadLogs, container: str, **outcome: Any) -> None:
        self._audit.record(
            "logs",
            person=request.person,
            address=request.address,
            host=self._config.host_id,
            container=container,
            tail=request.tail,
            since=request.since,
            follow=request.follow,
            **outcome,
        )

    # --- stats -----------------------------------------------------------------------

    async def _stats(self, peer: bytes, request: ReadStats) -> None:
        try:
            container = await self._resolve(request.container, request.person, request.address)
            found = await self.stats.read(container.id)
        except DtermError as exc:
            self._send(peer, Failed(request.request, exc.code, str(exc)))
            return
        self._send(peer, StatsRead(
            request=request.request, cpu_centi=found.cpu_centi, online_cpus=found.online_cpus,
            memory=found.memory, memory_limit=found.memory_limit, pids=found.pids,
            net_rx=found.net_rx, net_tx=found.net_tx, read_at=found.read_at,
        ))  # fmt: skip
