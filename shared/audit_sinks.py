"""Audit sinks: each sends this process's audit events to one more place, in order.

A sink is an outbox (shared/audit_outbox.py: bounded, ordered, every event
counted) with a task that delivers from it through one transport: syslog
(shared/audit_syslog.py) or an HTTP collector (shared/audit_http.py). The audit log
hands each event to every sink after writing it to its file; `add` only queues,
so a sink that is slow or down never delays the process. A batch that fails stays
at the head and is tried again after a backoff (0.5 s doubling to 30 s); when the
buffer is full the oldest waiting events are dropped, counted in
`dterm_audit_dropped_total{sink}` and said in a log line at most every 10 s.
`dterm_audit_buffered{sink}` is what waits.

On shutdown `close` gives the sinks a bounded time to deliver what they hold
(retrying quickly meanwhile), then stops them and logs how many were left unsent.

Concurrency: everything on the process's event loop; one delivering task per sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

from shared.audit import AuditEvent, SinkError
from shared.audit_http import HttpTransport, read_token
from shared.audit_outbox import Outbox
from shared.audit_syslog import Rfc5424, SyslogTransport
from shared.settings import ProcessSettings

log = logging.getLogger(__name__)

# Declared once here for both processes (each has its own registry at run time).
DROPPED = Counter(
    "dterm_audit_dropped_total",
    "Audit events a sink dropped: its buffer was full while the sink was down or slow, "
    "or the event was too large for it (the audit log file still has them)",
    ["sink"],
)
BUFFERED = Gauge(
    "dterm_audit_buffered", "Audit events waiting for a sink or on their way", ["sink"]
)
DELIVERED = Counter("dterm_audit_delivered_total", "Audit events a sink took", ["sink"])
FAILURES = Counter(
    "dterm_audit_send_failures_total", "Failed tries to deliver to a sink (each is retried)",
    ["sink"],
)  # fmt: skip

SYSLOG_BATCH = 100
HTTP_BATCH = 500
DATAGRAM_MAX = 65000
"""Bytes of the largest syslog message sent as one datagram (UDP's limit is 65507)."""
FLUSH_RETRY = 0.2
"""Seconds between tries while shutting down (the flush time is short)."""


class Transport(Protocol):
    async def send(self, messages: list[bytes]) -> None: ...

    def close(self) -> None: ...


class AuditSink:
    """One destination: queues encoded events, delivers them from one task."""

    def __init__(
        self,
        name: str,
        transport: Transport,
        encode: Callable[[AuditEvent], bytes],
        outbox: Outbox[bytes],
        timeout: float,
        max_message: int = 0,
    ) -> None:
        self.name = name
        self.outbox = outbox
        self._transport, self._encode = transport, encode
        self._timeout, self._max_message = timeout, max_message
        self._wake, self._hurry, self._idle = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._report_timer: asyncio.TimerHandle | None = None
        self._dropped_counted = self._delivered_counted = 0
        self._failing_since = 0.0
        for metric in (DROPPED, DELIVERED, FAILURES):
            metric.labels(sink=name)  # listed at 0 from the start
        self._update()

    def add(self, event: AuditEvent) -> None:
        message = self._encode(event)
        if self._max_message and len(message) > self._max_message:
            self.outbox.refuse()
            log.warning("audit sink %s: a %s event of %d bytes is over the %d bytes it can "
                        "carry; not sent (the audit log file has it)",
                        self.name, event.kind, len(message), self._max_message)  # fmt: skip
        else:
            self.outbox.add(message)
        self._update()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._deliver(), name=f"audit sink {self.name}")

    async def _deliver(self) -> None:
        while True:
            batch = self.outbox.take()
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                # transports keep their own deadline; this one only guards against a hang
                async with asyncio.timeout(2 * self._timeout + 1):
                    await self._transport.send(batch)
            except Exception as exc:  # whatever the sink's trouble: keep the events, retry
                delay = self.outbox.failed(exc.done if isinstance(exc, SinkError) else 0)
                FAILURES.labels(sink=self.name).inc()
                self._note_failure(exc, delay)
                self._update()
                await self._pause(delay)
            else:
                self.outbox.succeeded()
                self._note_success()
                self._update()

    async def _pause(self, delay: float) -> None:
        if self._hurry.is_set():
            await asyncio.sleep(min(delay, FLUSH_RETRY))
            return
        with contextlib.suppress(TimeoutError):  # shutting down: try again at once
            async with asyncio.timeout(delay):
                await self._hurry.wait()

    def _note_failure(self, exc: Exception, delay: float) -> None:
        reason = str(exc) or type(exc).__name__  # a timeout says nothing by itself
        if not isinstance(exc, SinkError | OSError | TimeoutError):
            log.error("audit sink %s: unexpected failure, retrying", self.name, exc_info=exc)
        if self.outbox.failures == 1:
            self._failing_since = time.monotonic()
            log.warning("audit sink %s cannot deliver (%s): %d events wait, trying again "
                        "in %.1f s and backing off",
                        self.name, reason, self.outbox.held, delay)  # fmt: skip
        else:
            log.debug("audit sink %s: try %d failed (%s)", self.name, self.outbox.failures, reason)

    def _note_success(self) -> None:
        if self._failing_since:
            log.info("audit sink %s delivers again, after %.1f s", self.name,
                     time.monotonic() - self._failing_since)  # fmt: skip
            self._failing_since = 0.0

    def _update(self) -> None:
        """Metrics follow the outbox; drops are said at most every report interval."""
        outbox = self.outbox
        if outbox.dropped > self._dropped_counted:
            DROPPED.labels(sink=self.name).inc(outbox.dropped - self._dropped_counted)
            self._dropped_counted = outbox.dropped
        if outbox.delivered > self._delivered_counted:
            DELIVERED.labels(sink=self.name).inc(outbox.delivered - self._delivered_counted)
            self._delivered_counted = outbox.delivered
        BUFFERED.labels(sink=self.name).set(outbox.held)
        if outbox.held:
            self._idle.clear()
        else:
            self._idle.set()
        if dropped := outbox.drops_to_report(time.monotonic()):
            self._log_drops(dropped)
        due = outbox.report_due()
        if due is not None and self._report_timer is None:
            self._report_timer = asyncio.get_running_loop().call_later(
                max(0.0, due - time.monotonic()), self._report_later
            )

    def _report_later(self) -> None:
        self._report_timer = None
        self._update()

    def _log_drops(self, count: int) -> None:
        log.warning("audit sink %s dropped the %d oldest waiting events (%d in all): it was "
                    "down or slow and its buffer of %d was full; the audit log file has them",
                    self.name, count, self.outbox.dropped, self.outbox.capacity)  # fmt: skip

    async def close(self, grace: float) -> int:
        """Let the sink deliver what it holds for up to `grace` seconds, then stop it;
        returns how many events were left unsent."""
        self._hurry.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        while self._task is not None and not self._task.done():
            self._task.cancel()  # again if a finishing send swallowed the first
            await asyncio.wait([self._task], timeout=0.5)
        if self._report_timer is not None:
            self._report_timer.cancel()
            self._report_timer = None
        self._transport.close()
        if dropped := self.outbox.unreported_drops():
            self._log_drops(dropped)
        left = self.outbox.held
        if left:
            log.warning("audit sink %s: %d events left unsent at shutdown, after %.1f s "
                        "(the audit log file has them)", self.name, left, grace)  # fmt: skip
        else:
            log.info("audit sink %s: nothing left unsent at shutdown (%d delivered, %d "
                     "dropped)", self.name, self.outbox.delivered, self.outbox.dropped)  # fmt: skip
        return left


def software_version() -> str:
    try:
        return version("dterm")
    except PackageNotFoundError:
        return ""


def make_sinks(settings: ProcessSettings, app_name: str) -> list[AuditSink]:
    """The sinks the settings ask for, started on the running loop; an unusable token
    file stops the start, saying why."""
    sinks: list[AuditSink] = []
    if settings.audit_syslog:
        transport = SyslogTransport(settings.audit_syslog, settings.audit_send_timeout)
        form = Rfc5424(app_name, settings.audit_syslog_facility, socket.gethostname(),
                       os.getpid(), software_version())  # fmt: skip
        sinks.append(AuditSink(
            "syslog", transport, form.format, Outbox(settings.audit_buffer, SYSLOG_BATCH),
            settings.audit_send_timeout, 0 if transport.stream else DATAGRAM_MAX,
        ))  # fmt: skip
    if settings.audit_http:
        token = read_token(settings.audit_http_token_file) if settings.audit_http_token_file else ""
        http = HttpTransport(settings.audit_http, token, settings.audit_send_timeout)
        sinks.append(AuditSink(
            "http", http, _line, Outbox(settings.audit_buffer, HTTP_BATCH),
            settings.audit_send_timeout,
        ))  # fmt: skip
    for sink in sinks:
        sink.start()
    return sinks


def _line(event: AuditEvent) -> bytes:
    return event.line


async def close_sinks(sinks: list[AuditSink], grace: float) -> None:
    """Give every sink the same `grace` seconds to deliver what it holds, then stop them."""
    closing: list[Awaitable[Any]] = [sink.close(grace) for sink in sinks]
    await asyncio.gather(*closing)
