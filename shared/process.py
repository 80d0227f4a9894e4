"""Process setup shared by both entry points: logs, resource limits, the collector.

Logs are readable lines on a terminal and JSON lines otherwise (for log shippers),
one object per record with time, level, logger, message and, for a session's
lines, its `session` id. Keystrokes and output never appear above DEBUG.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import resource
import socket
import sys
from collections.abc import Callable, Coroutine, MutableMapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import uvloop
from tornado.netutil import bind_sockets

from shared.errors import DtermError
from shared.settings import ProcessSettings

T = TypeVar("T", bound=ProcessSettings)


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


class ListenError(DtermError):
    """A port this process was told to listen on cannot be had (in use, not allowed)."""


def listen(address: str, port: int, setting: str) -> list[socket.socket]:
    """Sockets bound to the address and port (both families for a name), or a
    ListenError naming them, the setting that chose them and the system's reason:
    a second instance left on the same port must not start half-way."""
    try:
        return bind_sockets(port, address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ListenError(f"cannot listen on {address}:{port} ({setting}): {reason}") from None


def run_process(
    prog: str,
    argv: list[str],
    parse: Callable[[list[str]], tuple[T, argparse.Namespace]],
    main: Callable[[T], Coroutine[Any, Any, None]],
) -> int:
    """Parse settings (a mistake: exit 2 with its reason), set up logs and limits, run
    the process's one event loop (uvloop); a DtermError at start: exit 1."""
    try:
        config, _ = parse(argv)
    except DtermError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, config.log_format)
    raise_open_file_limit()
    return_freed_memory()
    freeze_imports()
    try:
        uvloop.run(main(config))
    except DtermError as exc:
        logging.getLogger(prog).error("%s", exc)
        return 1
    return 0


def freeze_imports() -> None:
    """Keep what the imports made out of the cyclic garbage collector's sight.

    Modules, classes and functions live as long as the process. A full collection
    walks every one of them (about 48,000 objects, some 45 ms on a small machine, in
    which the loop serves nobody) and finds nothing; frozen, they are skipped."""
    gc.collect()
    gc.freeze()


M_MMAP_THRESHOLD = -3


def return_freed_memory() -> None:
    """Buffers of 128 KiB and more (output rings, file chunks) get mappings of their own
    and go back to the system when freed. Left to itself, glibc raises that threshold
    after the first such buffer is freed, and a burst of sessions leaves hundreds of
    MiB on the heap for good."""
    library = ctypes.util.find_library("c")
    if library:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(library).mallopt(M_MMAP_THRESHOLD, 128 * 1024)


def raise_open_file_limit() -> None:
    """Every session holds a socket or two: let the process use all it is allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
