"""The audit log: one JSON object per line, appended and written through at once.

Each record goes to the file with a single os.write on a file opened O_APPEND, so
a crash loses nothing already recorded and concurrent writers (several processes
sharing a file) never interleave within a line. Without a path, records go nowhere.
A record is small; writing it from the event loop is as cheap as a log line.

The file is the source of truth and is written first. Sinks that send the records
elsewhere (syslog, an HTTP collector: shared/audit_sinks.py) are then handed the
same line; they only queue it, so a slow or absent sink never delays a record.

Concurrency: called from the process's event loop only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.errors import DtermError


class AuditLogError(DtermError):
    """The audit log cannot be written where it was asked to be."""


class AuditSinkError(DtermError):
    """An audit sink is configured in a way that cannot work; the message says why."""


class SinkError(DtermError):
    """A sink could not take a batch; its first `done` events had been delivered."""

    def __init__(self, message: str, done: int = 0) -> None:
        super().__init__(message)
        self.done = done


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One record as the sinks get it: its kind, its time, its JSON line (no newline)."""

    kind: str
    time: datetime
    line: bytes
    refused: bool
    """A refusal or a failure (`ok` false, or a `denied` event)."""


class EventSink(Protocol):
    def add(self, event: AuditEvent) -> None:
        """Queue the event; never blocks, never raises for the sink's own troubles."""


class AuditLog:
    def __init__(self, path: str = "", sinks: Sequence[EventSink] = ()) -> None:
        """Opened at once, so a path that cannot be written stops the start, saying why."""
        self.path = path
        self._sinks = tuple(sinks)
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if path else -1
        except OSError as exc:
            raise AuditLogError(f"cannot open the audit log {path}: {exc.strerror}") from None

    def record(self, event: str, **fields: Any) -> None:
        if self._fd < 0 and not self._sinks:
            return
        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="milliseconds")
        line = json.dumps({"time": stamp, "event": event, **fields}, default=str).encode()
        if self._fd >= 0:
            os.write(self._fd, line + b"\n")
        if self._sinks:
            refused = fields.get("ok") is False or event == "denied"
            audited = AuditEvent(event, now, line, refused)
            for sink in self._sinks:
                sink.add(audited)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
