"""Process setup shared by both entry points: logs, resource limits.

Logs are readable lines on a terminal and JSON lines otherwise (for log shippers),
one object per record with time, level, logger, message and, for a session's
lines, its `session` id. Keystrokes and output never appear above DEBUG.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        session = getattr(record, "session", None)
        if session:
            entry["session"] = session
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(level: str, form: str = "auto") -> None:
    use_json = form == "json" or (form == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if use_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


class SessionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger for one session: its id leads every line and is a field of JSON logs."""

    def __init__(self, logger: logging.Logger, session: str) -> None:
        super().__init__(logger, {"session": session})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**kwargs.get("extra", {}), "session": self.extra["session"]}  # type: ignore[index]
        return f"session {self.extra['session']}: {msg}", kwargs  # type: ignore[index]


def raise_open_file_limit() -> None:
    """Every session holds a socket or two: let the process use all it is allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
