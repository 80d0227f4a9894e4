"""The browser protocol (v1, docs/protocol.md): parse what a browser sends, build replies.

Text frames are JSON control messages; binary frames are keystrokes and need no
parsing here. `parse_control()` is the allow-list: only the types below exist,
every field is type- and bounds-checked, anything else raises ProtocolError with
a sentence a person can act on. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from frontend_server.services import ServiceQuery, query_of
from shared.browser_types import ClientType, ServerType
from shared.errors import ErrorCode, ProtocolError
from shared.messages import MAX_OFFSET, ExitReason, SessionOpened, WatcherInfo, check_size

MAX_NAME = 256
MAX_ARGS = 256
MAX_ARG = 4096


@dataclass(frozen=True, slots=True)
class OpenRequest:
    host: str | None
    container: str
    cmd: list[str] | None
    user: str | None
    workdir: str | None
    cols: int
    rows: int
    tty: bool = True
    service: ServiceQuery | None = None
    """Open in a running replica of this service (then `container` is "")."""


@dataclass(frozen=True, slots=True)
class AttachRequest:
    session: str
    offset: int
    mode: str
    token: str


@dataclass(frozen=True, slots=True)
class ResizeRequest:
    cols: int
    rows: int


@dataclass(frozen=True, slots=True)
class AckRequest:
    offset: int


@dataclass(frozen=True, slots=True)
class CloseRequest:
    pass


@dataclass(frozen=True, slots=True)
class EofRequest:
    """The end of the owner's input (sessions without a tty)."""


ControlMessage = (
    OpenRequest | AttachRequest | ResizeRequest | AckRequest | CloseRequest | EofRequest
)


def _name(body: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise ProtocolError(f"{key} must be a non-empty string of at most {MAX_NAME} characters")
    return value


def _int(body: dict[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if type(value) is not int or not 0 <= value <= MAX_OFFSET:
        raise ProtocolError(f"{key} must be a non-negative integer")
    return value


def _cmd(value: Any) -> list[str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_ARGS
        or not all(isinstance(a, str) and len(a) <= MAX_ARG for a in value)
        or not value[0]
    ):
        raise ProtocolError(f"cmd must be null or a list of 1 to {MAX_ARGS} strings")
    return list(value)


def _workdir(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_ARG:
        raise ProtocolError("workdir must be null or an absolute path")
    return value


def _size(body: dict[str, Any], default: tuple[int, int] | None = None) -> tuple[int, int]:
    cols, rows = default or (None, None)
    cols, rows = _int(body, "cols", cols), _int(body, "rows", rows)
    check_size(cols, rows)
    return cols, rows


def _open(body: dict[str, Any]) -> OpenRequest:
    cols, rows = _size(body, (80, 24))
    tty = body.get("tty", True)
    if type(tty) is not bool:
        raise ProtocolError("tty must be true or false")
    cmd = _cmd(body.get("cmd"))
    if not tty and cmd is None:
        raise ProtocolError("a session without a tty needs a command (cmd)")
    try:
        service = query_of(body)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    if service is not None and body.get("container") is not None:
        raise ProtocolError("name a container or a service, not both")
    return OpenRequest(
        host=_name(body, "host", optional=True),
        container="" if service else _name(body, "container") or "",
        cmd=cmd,
        user=_name(body, "user", optional=True),
        workdir=_workdir(body.get("workdir")),
        cols=cols,
        rows=rows,
        tty=tty,
        service=service,
    )


def _attach(body: dict[str, Any]) -> AttachRequest:
    mode = body.get("mode", "rw")
    if mode not in ("rw", "ro"):
        raise ProtocolError('mode must be "rw" or "ro"')
    token = body.get("token", "")
    if not isinstance(token, str) or len(token) > MAX_NAME:
        raise ProtocolError("token must be a string (the watch link's token)")
    return AttachRequest(_name(body, "session") or "", _int(body, "offset", 0), mode, token)


def parse_control(text: str) -> ControlMessage:
    """One text frame from a browser, checked; raises ProtocolError."""
    try:
        body = json.loads(text)
    except ValueError:
        raise ProtocolError(
            "text frames carry JSON control messages; send keystrokes as binary frames"
        ) from None
    if not isinstance(body, dict):
        raise ProtocolError("a control message is a JSON object with a type")
    match body.get("type"):
        case ClientType.OPEN:
            return _open(body)
        case ClientType.ATTACH:
            return _attach(body)
        case ClientType.RESIZE:
            return ResizeRequest(*_size(body))
        case ClientType.ACK:
            return AckRequest(_int(body, "offset"))
        case ClientType.CLOSE:
            return CloseRequest()
        case ClientType.EOF:
            return EofRequest()
        case other:
            raise ProtocolError(f"unknown message type {str(other)[:40]!r}")


# --- server to browser ---------------------------------------------------------------


def _frame(kind: ServerType, **fields: Any) -> str:
    return json.dumps({"type": kind.value, **fields})


def opened(message: SessionOpened, host: str, service: dict[str, Any] | None = None) -> str:
    """Output follows from `message.offset`; the owner also gets the watch token, and
    the service it opened by, if it did."""
    fields: dict[str, Any] = {
        "session": message.session,
        "host": host,
        "container": message.container,
        "mode": message.mode.value,
        "offset": message.offset,
        "skipped": message.skipped,
        "window": message.window,
        "cols": message.cols,
        "rows": message.rows,
        "tty": message.tty,
        "input": message.input,
        "ended": message.ended,
    }
    if message.watch_token:
        fields["watch"] = message.watch_token
    if service is not None:
        fields["service"] = service
    return _frame(ServerType.OPENED, **fields)


def skipped(count: int) -> str:
    return _frame(ServerType.SKIPPED, bytes=count)


def size(cols: int, rows: int) -> str:
    return _frame(ServerType.SIZE, cols=cols, rows=rows)


def watchers(listed: list[WatcherInfo]) -> str:
    return _frame(
        ServerType.WATCHERS, watchers=[{"user": w.person, "since": w.since} for w in listed]
    )


def input_ack(offset: int) -> str:
    return _frame(ServerType.INPUT_ACK, offset=offset)


def idle_warning(seconds: int) -> str:
    return _frame(ServerType.IDLE_WARNING, seconds=seconds)


def detached(message: str) -> str:
    return _frame(ServerType.DETACHED, message=message)


def exited(code: int | None, reason: ExitReason, message: str = "") -> str:
    fields: dict[str, Any] = {"code": code, "reason": reason.value}
    if message:
        fields["message"] = message
    return _frame(ServerType.EXIT, **fields)


def error(code: ErrorCode, message: str) -> str:
    return _frame(ServerType.ERROR, code=code.value, message=message)


def reconnect(message: str) -> str:
    return _frame(ServerType.RECONNECT, message=message)
