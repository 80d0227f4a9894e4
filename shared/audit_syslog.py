"""Audit events as syslog messages (RFC 5424), and the connection that carries them.

One message per event:

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [origin ...][meta sequenceId="N"] MSG

PRI is the configured facility with severity notice for a refusal (`ok` false, or a
`denied` event) and info otherwise; TIMESTAMP is the event's own time (UTC, ms);
APP-NAME is dterm-frontend or dterm-worker; MSGID the event's kind (`sign-in`,
`session-start`, ...); MSG the event's JSON line, pure ASCII (so no BOM). The
structured data uses the two IANA-registered SD-IDs only: `origin` (software and
version) and `meta` with a sequenceId counted per sink, so a collector sees a gap
wherever events were dropped.

Python's logging.handlers.SysLogHandler speaks the older BSD format only, and the
RFC 5424 packages on PyPI are blocking logging handlers or formatters of
LogRecords, unmaintained for years, or configure the root logger when imported, so
the format is written here; it is small and tested against rsyslog.

Transports, chosen by the URL: `udp://host:port` (one datagram per message; a
collector that is down loses what is sent before its refusal comes back),
`tcp://host:port` (octet-counting framing, RFC 6587 3.4.1) and `unix:///dev/log`
(a local datagram socket; a refusal is seen at once). None blocks the loop: asyncio
streams and datagram transports only.

Concurrency: the transport is used by one delivering task at a time.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime
from urllib.parse import urlsplit

from shared.audit import AuditEvent, SinkError

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{n}": 16 + n for n in range(8)},
}  # fmt: skip
SEVERITY_NOTICE = 5
SEVERITY_INFO = 6
SEQUENCE_MAX = 2**31 - 1
"""meta sequenceId runs from 1 to this and starts over at 1 (RFC 5424 7.3.1)."""
SCHEMES = ("udp", "tcp", "unix")


def header_field(value: str, limit: int) -> str:
    """A header field as RFC 5424 allows it: printable ASCII without spaces, at most
    `limit` characters, or `-` when empty."""
    printable = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:limit]
    return printable or "-"


def param_value(value: str) -> str:
    """An SD-PARAM value with `"`, `\\` and `]` escaped (RFC 5424 6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as RFC 5424 6.2.3 writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Rfc5424:
    """Writes one process's events as RFC 5424 messages, numbering them."""

    def __init__(
        self, app_name: str, facility: str, hostname: str, procid: int, version: str
    ) -> None:
        self.facility = FACILITIES[facility]
        origin = 'software="dterm"' + (f' swVersion="{param_value(version)}"' if version else "")
        self._head = (
            f"{header_field(hostname, 255)} {header_field(app_name, 48)} "
            f"{header_field(str(procid), 128)}"
        )
        self._origin = f"[origin {origin}]"
        self.sequence = 0

    def format(self, event: AuditEvent) -> bytes:
        self.sequence = self.sequence % SEQUENCE_MAX + 1
        severity = SEVERITY_NOTICE if event.refused else SEVERITY_INFO
        head = (
            f"<{self.facility * 8 + severity}>1 {timestamp(event.time)} {self._head} "
            f"{header_field(event.kind, 32)} "
            f'{self._origin}[meta sequenceId="{self.sequence}"] '
        )
        return head.encode() + event.line


def octet_counted(message: bytes) -> bytes:
    """TCP framing of RFC 6587 3.4.1: the length in decimal, a space, the message."""
    return b"%d %s" % (len(message), message)


def check_url(url: str) -> None:
    """Refuse a syslog URL this module cannot use (at start, naming the setting)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"expected udp://host:port, tcp://host:port or unix:///path, got {url!r}")
    if parts.scheme == "unix":
        if not parts.path or parts.netloc:
            raise ValueError(f"expected unix:///path/of/socket, got {url!r}")
        return
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or not port:
        raise ValueError(f"expected {parts.scheme}://host:port, got {url!r}")


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.error: Exception | None = None

    def error_received(self, exc: Exception) -> None:
        self.error = exc

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = self.error or exc or ConnectionError("closed")


class SyslogTransport:
    """Sends messages to one syslog destination; opens (again) what it needs lazily."""

    def __init__(self, url: str, timeout: float) -> None:
        check_url(url)
        parts = urlsplit(url)
        self.url, self._timeout = url, timeout
        self._scheme = parts.scheme
        self._path, self._host, self._port = parts.path, parts.hostname or "", parts.port or 0
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._datagram: tuple[asyncio.DatagramTransport, _Datagrams] | None = None

    @property
    def stream(self) -> bool:
        """Over TCP: messages of any size (datagrams have a limit)."""
        return self._scheme == "tcp"

    async def send(self, messages: list[bytes]) -> None:
        """Deliver, or raise; a connection that takes longer than the timeout is given up."""
        try:
            async with asyncio.timeout(self._timeout):
                if self._scheme == "tcp":
                    await self._send_stream(messages)
                else:
                    await self._send_datagrams(messages)
        except TimeoutError:
            raise SinkError(f"{self.url}: no progress within {self._timeout:g} s") from None

    async def _send_stream(self, messages: list[bytes]) -> None:
        if self._stream is None or self._stream[1].is_closing() or self._stream[0].at_eof():
            self.close()  # the collector hung up: what it had read is all it got
            self._stream = await asyncio.open_connection(self._host, self._port)
        writer = self._stream[1]
        try:
            writer.write(b"".join(octet_counted(m) for m in messages))
            await writer.drain()
        except BaseException:  # cut off mid-frame (an error, a timeout): start afresh
            self.close()
            raise

    async def _send_datagrams(self, messages: list[bytes]) -> None:
        if self._datagram is None or self._datagram[0].is_closing():
            self._datagram = await self._open_datagram()
        transport, protocol = self._datagram
        for done, message in enumerate(messages):
            # an earlier refusal (an ICMP answer) says the collector is down right now
            error, protocol.error = protocol.error, None
            if error is None:
                transport.sendto(message)  # a refusal at once lands in error_received
                error, protocol.error = protocol.error, None
            if error is not None:
                self.close()  # a unix socket's daemon restarted: connect anew
                raise SinkError(f"{self.url}: {error}", done)

    async def _open_datagram(self) -> tuple[asyncio.DatagramTransport, _Datagrams]:
        loop = asyncio.get_running_loop()
        if self._scheme == "unix":
            # uvloop takes no path as remote_addr: connect the socket (never blocks for
            # a datagram socket) and hand it over
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.connect(self._path)
            except OSError as exc:
                sock.close()
                raise SinkError(f"{self.url}: {exc.strerror or exc}") from None
            return await loop.create_datagram_endpoint(_Datagrams, sock=sock)
        return await loop.create_datagram_endpoint(_Datagrams, remote_addr=(self._host, self._port))

    def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None
        if self._datagram is not None:
            self._datagram[0].close()
            self._datagram = None
