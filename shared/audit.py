"""The audit log: one JSON object per line, appended and written through at once.

Each record goes to the file with a single os.write on a file opened O_APPEND, so
a crash loses nothing already recorded and concurrent writers (several processes
sharing a file) never interleave within a line. Without a path, records go nowhere.
A record is small; writing it from the event loop is as cheap as a log line.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from shared.errors import DtermError


class AuditLogError(DtermError):
    """The audit log cannot be written where it was asked to be."""


class AuditLog:
    def __init__(self, path: str = "") -> None:
        """Opened at once, so a path that cannot be written stops the start, saying why."""
        self.path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if path else -1
        except OSError as exc:
            raise AuditLogError(f"cannot open the audit log {path}: {exc.strerror}") from None

    def record(self, event: str, **fields: Any) -> None:
        if self._fd < 0:
            return
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        line = json.dumps({"time": stamp, "event": event, **fields}, default=str)
        os.write(self._fd, line.encode() + b"\n")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
