"""Messages of container logs and stats, declared once (the spec is docs/protocol.md);
part of the worker protocol's `Message` (shared/messages.py).

A logs stream is answered like a download (shared/transfer_messages.py): FileOpened
(size -1), FileData frames acked with FileAck, FileEnd, or Failed when the stream is
refused or cut. Stats are one request and one answer. Figures travel as integers:
msgpack floats are not part of the wire. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadLogs:
    """The container's logs (stdout and stderr as they came, frame headers removed):
    the last `tail` lines, only those since `since` (Unix seconds, 0: any), and with
    `follow` the lines that come after, until the container stops or the stream is
    cut."""

    TAG: ClassVar[str] = "logs"
    request: str
    person: str
    address: str
    container: str
    tail: int
    since: int
    follow: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadStats:
    """One reading of the container's resource use."""

    TAG: ClassVar[str] = "stats"
    request: str
    person: str
    address: str
    container: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsRead:
    """The container's resource use now. `cpu_centi` is CPU use in hundredths of a
    percent of one CPU (a busy loop on one CPU: about 10000; -1: not known yet);
    memory in bytes (`memory_limit` 0: none known); network bytes since the
    container started; `read_at` the reading's time in Unix milliseconds."""

    TAG: ClassVar[str] = "stats-read"
    request: str
    cpu_centi: int
    online_cpus: int
    memory: int
    memory_limit: int
    pids: int
    net_rx: int
    net_tx: int
    read_at: int
