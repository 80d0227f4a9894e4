"""The wire protocol between front ends and exec workers (ZeroMQ frames, msgpack).

Every message is one frozen dataclass declared here. On the wire a message is one
msgpack frame holding ``[tag, field, field, ...]`` in declaration order; a message
that carries terminal bytes (its last field is ``data: bytes``) sends them as a
second, raw frame that is never packed and never decoded. ``decode()`` is the one
place that checks tags, arity, types and bounds; past it only typed messages travel.

Pure: no I/O, no sockets, no logging. The spec is docs/protocol.md; keep both in step.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints

import msgpack

from shared.errors import ErrorCode, ProtocolError, TooLarge

PROTOCOL_VERSION = 2

MAX_HEADER_BYTES = 4 << 20  # a packed header frame; container lists are the big ones
MAX_DATA_BYTES = 1 << 20  # one frame of terminal bytes
MAX_STRING = 1 << 16
MAX_LIST = 100_000
MAX_COLS = 1000
MAX_ROWS = 1000
MAX_OFFSET = 1 << 62


class ExitReason(StrEnum):
    """Why a session ended, as the browser's `exit` message tells it."""

    EXITED = "exited"
    CONTAINER_STOPPED = "container-stopped"
    HOST_LOST = "host-lost"
    CLOSED = "closed"
    IDLE = "idle"


def check_size(cols: int, rows: int) -> None:
    """Reject terminal sizes no real screen has; shared by both protocols."""
    if not (1 <= cols <= MAX_COLS and 1 <= rows <= MAX_ROWS):
        raise ProtocolError(f"terminal size {cols}x{rows} is outside 1x1 to {MAX_COLS}x{MAX_ROWS}")


# --- message declarations -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One container as a worker knows it; times are Unix seconds, 0 when never."""

    id: str
    name: str
    image: str
    state: str
    created: int
    started_at: int
    finished_at: int
    exit_code: int
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class Hello:
    """Front end to worker, first and then periodically: who I am, which protocol I speak."""

    TAG: ClassVar[str] = "hello"
    frontend: str
    protocol: int


@dataclass(frozen=True, slots=True)
class Welcome:
    """Worker's answer to Hello: its host id, its run, and facts about its Docker daemon.

    `instance` changes whenever the worker process restarts: sessions of an earlier
    instance are gone.
    """

    TAG: ClassVar[str] = "welcome"
    host: str
    instance: str
    protocol: int
    docker_version: str
    api_version: str
    containers: int
    running: int


@dataclass(frozen=True, slots=True)
class ListContainers:
    TAG: ClassVar[str] = "list"
    request: str


@dataclass(frozen=True, slots=True)
class ContainersListed:
    """Every container of the host as of change number `seq`."""

    TAG: ClassVar[str] = "listed"
    request: str
    seq: int
    containers: list[ContainerInfo]


@dataclass(frozen=True, slots=True)
class ContainerChanged:
    """Pushed to every front end: change number `seq` to one container (None: removed)."""

    TAG: ClassVar[str] = "changed"
    seq: int
    id: str
    container: ContainerInfo | None


class Mode(StrEnum):
    """How an attachment takes part: the owner reads and writes, a watcher only reads."""

    RW = "rw"
    RO = "ro"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A running session, as listed for its owner."""

    session: str
    container: str
    command: list[str]
    person: str
    started: int
    attached: bool
    watchers: int


@dataclass(frozen=True, slots=True)
class WatcherInfo:
    person: str
    since: int


@dataclass(frozen=True, slots=True)
class ListSessions:
    """The sessions of `person` on this host."""

    TAG: ClassVar[str] = "sessions"
    request: str
    person: str


@dataclass(frozen=True, slots=True)
class SessionsListed:
    TAG: ClassVar[str] = "sessions-listed"
    request: str
    sessions: list[SessionInfo]


@dataclass(frozen=True, slots=True)
class OpenSession:
    """Start a tty exec owned by `person`; `cmd` None means bash if present, else sh.

    Every later message about it names the `attachment`: one browser connection
    taking part in one session.
    """

    TAG: ClassVar[str] = "open"
    session: str
    attachment: str
    person: str
    address: str
    container: str
    cmd: list[str] | None
    user: str | None
    workdir: str | None
    cols: int
    rows: int

    def __post_init__(self) -> None:
        check_size(self.cols, self.rows)
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise ProtocolError("workdir must be an absolute path")
        if self.cmd is not None and not self.cmd:
            raise ProtocolError("cmd must be null or a non-empty list of strings")
        if not self.container:
            raise ProtocolError("container must not be empty")


@dataclass(frozen=True, slots=True)
class AttachSession:
    """Join a running session from byte `offset`: as its owner (rw, taking over any
    earlier owner connection) or as a watcher (ro, with the session's watch token)."""

    TAG: ClassVar[str] = "attach"
    session: str
    attachment: str
    person: str
    address: str
    offset: int
    mode: Mode
    token: str


@dataclass(frozen=True, slots=True)
class SessionOpened:
    """The attachment is live; output follows from `offset` (`skipped` bytes before it
    were no longer kept). `watch_token` is given to the owner only."""

    TAG: ClassVar[str] = "opened"
    attachment: str
    session: str
    container: str
    mode: Mode
    window: int
    offset: int
    skipped: int
    cols: int
    rows: int
    watch_token: str


@dataclass(frozen=True, slots=True)
class Input:
    """Keystrokes from the owner, carried as a raw second frame."""

    TAG: ClassVar[str] = "in"
    attachment: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Output:
    """Terminal output starting at byte `offset` of the session, as a raw second frame.
    An offset past the attachment's last one means the bytes between were skipped."""

    TAG: ClassVar[str] = "out"
    attachment: str
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Resize:
    TAG: ClassVar[str] = "resize"
    attachment: str
    cols: int
    rows: int

    def __post_init__(self) -> None:
        check_size(self.cols, self.rows)


@dataclass(frozen=True, slots=True)
class SessionResized:
    """The owner resized: watchers draw at the owner's size."""

    TAG: ClassVar[str] = "resized"
    attachment: str
    cols: int
    rows: int


@dataclass(frozen=True, slots=True)
class Ack:
    """The client consumed output up to `offset`: the worker may send more."""

    TAG: ClassVar[str] = "ack"
    attachment: str
    offset: int


@dataclass(frozen=True, slots=True)
class DetachSession:
    """The connection is gone; the session goes on (for the owner: for a grace period)."""

    TAG: ClassVar[str] = "detach"
    attachment: str


@dataclass(frozen=True, slots=True)
class CloseSession:
    """The owner ends the session: its processes are ended."""

    TAG: ClassVar[str] = "close"
    attachment: str


@dataclass(frozen=True, slots=True)
class Detached:
    """This attachment no longer takes part (another connection took the session over)."""

    TAG: ClassVar[str] = "detached"
    attachment: str
    message: str


@dataclass(frozen=True, slots=True)
class WatchersChanged:
    """To the owner: who is watching now."""

    TAG: ClassVar[str] = "watchers"
    attachment: str
    watchers: list[WatcherInfo]


@dataclass(frozen=True, slots=True)
class IdleWarning:
    """The session ends for idleness in `seconds` unless someone types."""

    TAG: ClassVar[str] = "idle"
    attachment: str
    seconds: int


@dataclass(frozen=True, slots=True)
class SessionExited:
    """Sent after the last Output; `code` is None when it is unknown."""

    TAG: ClassVar[str] = "exited"
    attachment: str
    code: int | None
    reason: ExitReason
    message: str


@dataclass(frozen=True, slots=True)
class Failed:
    """A request failed; `ref` is its request or attachment id."""

    TAG: ClassVar[str] = "failed"
    ref: str
    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class PutFile:
    """Start an upload into `container` at `path`, or into the working directory of
    `session`'s shell under the name `path`. FileData frames and FileEnd follow."""

    TAG: ClassVar[str] = "put-file"
    request: str
    person: str
    address: str
    container: str
    session: str
    path: str
    size: int


@dataclass(frozen=True, slots=True)
class GetFile:
    """Download one regular file; answered by FileOpened, FileData frames, FileEnd."""

    TAG: ClassVar[str] = "get-file"
    request: str
    person: str
    address: str
    container: str
    path: str


@dataclass(frozen=True, slots=True)
class FileOpened:
    TAG: ClassVar[str] = "file-opened"
    request: str
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class FileData:
    """Bytes of a file transfer, in order, as a raw second frame."""

    TAG: ClassVar[str] = "file-data"
    request: str
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FileAck:
    """The downloader has passed on bytes up to `offset`; the worker may send more."""

    TAG: ClassVar[str] = "file-ack"
    request: str
    offset: int


@dataclass(frozen=True, slots=True)
class FileEnd:
    """All bytes of the transfer were sent (`size` of them)."""

    TAG: ClassVar[str] = "file-end"
    request: str
    size: int


@dataclass(frozen=True, slots=True)
class FileStored:
    """An upload is in place."""

    TAG: ClassVar[str] = "file-stored"
    request: str
    container: str
    path: str
    size: int


@dataclass(frozen=True, slots=True)
class FileAbort:
    """Either side gives up a transfer (the other forgets it)."""

    TAG: ClassVar[str] = "file-abort"
    request: str
    reason: str


Message = (
    Hello
    | Welcome
    | ListContainers
    | ContainersListed
    | ContainerChanged
    | ListSessions
    | SessionsListed
    | OpenSession
    | AttachSession
    | SessionOpened
    | Input
    | Output
    | Resize
    | SessionResized
    | Ack
    | DetachSession
    | CloseSession
    | Detached
    | WatchersChanged
    | IdleWarning
    | SessionExited
    | Failed
    | PutFile
    | GetFile
    | FileOpened
    | FileData
    | FileAck
    | FileEnd
    | FileStored
    | FileAbort
)


# --- validation machinery -------------------------------------------------------

Check = Callable[[Any, str], Any]


def _fail(name: str, expected: str, value: Any) -> ProtocolError:
    return ProtocolError(f"{name}: expected {expected}, got {type(value).__name__}")


def _check_str(value: Any, name: str) -> str:
    if type(value) is not str:
        raise _fail(name, "a string", value)
    if len(value) > MAX_STRING:
        raise TooLarge(f"{name}: string longer than {MAX_STRING}")
    return value


def _check_int(value: Any, name: str) -> int:
    if type(value) is not int:
        raise _fail(name, "an integer", value)
    if not -MAX_OFFSET <= value <= MAX_OFFSET:
        raise ProtocolError(f"{name}: integer out of range")
    return value


def _check_bool(value: Any, name: str) -> bool:
    if type(value) is not bool:
        raise _fail(name, "true or false", value)
    return value


def _optional(inner: Check) -> Check:
    def check(value: Any, name: str) -> Any:
        return None if value is None else inner(value, name)

    return check


def _list_of(inner: Check) -> Check:
    def check(value: Any, name: str) -> list[Any]:
        if type(value) is not list:
            raise _fail(name, "a list", value)
        if len(value) > MAX_LIST:
            raise TooLarge(f"{name}: list longer than {MAX_LIST}")
        return [inner(item, name) for item in value]

    return check


def _check_str_map(value: Any, name: str) -> dict[str, str]:
    if type(value) is not dict:
        raise _fail(name, "a map", value)
    if len(value) > MAX_LIST:
        raise TooLarge(f"{name}: map larger than {MAX_LIST}")
    return {_check_str(k, name): _check_str(v, name) for k, v in value.items()}


def _enum_of(enum: type[StrEnum]) -> Check:
    def check(value: Any, name: str) -> StrEnum:
        try:
            return enum(_check_str(value, name))
        except ValueError:
            raise ProtocolError(f"{name}: unknown value {value!r}") from None

    return check


def _record_of(cls: type) -> Check:
    checks = _field_checks(cls)

    def check(value: Any, name: str) -> Any:
        if type(value) is not list or len(value) != len(checks):
            raise _fail(name, f"a list of {len(checks)} fields", value)
        return cls(*(c(v, f"{name}.{n}") for (n, c), v in zip(checks, value, strict=True)))

    return check


def _check_for(tp: Any) -> Check:
    origin, args = get_origin(tp), get_args(tp)
    if tp is str:
        return _check_str
    if tp is int:
        return _check_int
    if tp is bool:
        return _check_bool
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return _optional(_check_for(next(a for a in args if a is not type(None))))
    if origin is list:
        return _list_of(_check_for(args[0]))
    if origin is dict and args == (str, str):
        return _check_str_map
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return _enum_of(tp)
    if dataclasses.is_dataclass(tp):
        return _record_of(tp)  # type: ignore[arg-type]
    raise TypeError(f"no wire form for {tp!r}")


def _field_checks(cls: type) -> list[tuple[str, Check]]:
    hints = get_type_hints(cls)
    return [
        (f.name, _check_for(hints[f.name])) for f in dataclasses.fields(cls) if f.name != "data"
    ]


@dataclass(frozen=True, slots=True)
class _Spec:
    cls: type
    names: tuple[str, ...]
    checks: tuple[Check, ...]
    has_data: bool
    nested: bool


def _spec(cls: type) -> _Spec:
    names = tuple(f.name for f in dataclasses.fields(cls))
    has_data = names[-1] == "data"
    checked = _field_checks(cls)
    hints = get_type_hints(cls)
    nested = any(
        get_origin(hints[n]) in (list, Union, types.UnionType) or dataclasses.is_dataclass(hints[n])
        for n in names
    )
    return _Spec(
        cls,
        names[:-1] if has_data else names,
        tuple(c for _, c in checked),
        has_data,
        nested,
    )


_SPECS: dict[str, _Spec] = {cls.TAG: _spec(cls) for cls in get_args(Message)}
_SPEC_OF: dict[type, _Spec] = {spec.cls: spec for spec in _SPECS.values()}


# --- encode / decode ------------------------------------------------------------


def _wire(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_wire(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def encode(message: Message) -> list[bytes]:
    """Frames for one message: the packed header, then the raw data frame if any."""
    spec = _SPEC_OF[type(message)]
    fields = [getattr(message, n) for n in spec.names]
    if spec.nested:
        fields = [_wire(v) for v in fields]
    header: bytes = msgpack.packb([message.TAG, *fields])
    if spec.has_data:
        return [header, message.data]  # type: ignore[union-attr]
    return [header]


def decode(frames: list[bytes]) -> Message:
    """Check and build one message from its frames; raise ProtocolError on anything off."""
    if not 1 <= len(frames) <= 2:
        raise ProtocolError(f"expected 1 or 2 frames, got {len(frames)}")
    header = frames[0]
    if len(header) > MAX_HEADER_BYTES:
        raise TooLarge(f"header frame of {len(header)} bytes")
    try:
        fields = msgpack.unpackb(header, use_list=True, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"header is not msgpack: {exc}") from None
    if type(fields) is not list or not fields or type(fields[0]) is not str:
        raise ProtocolError("header must be a list starting with a message tag")
    spec = _SPECS.get(fields[0])
    if spec is None:
        raise ProtocolError(f"unknown message type {fields[0][:40]!r}")
    if len(fields) - 1 != len(spec.names):
        raise ProtocolError(
            f"{fields[0]}: expected {len(spec.names)} fields, got {len(fields) - 1}"
        )
    values = [check(v, n) for check, v, n in zip(spec.checks, fields[1:], spec.names, strict=True)]
    if spec.has_data:
        if len(frames) != 2:
            raise ProtocolError(f"{fields[0]}: missing its data frame")
        if len(frames[1]) > MAX_DATA_BYTES:
            raise TooLarge(f"{fields[0]}: data frame of {len(frames[1])} bytes")
        values.append(bytes(frames[1]))
    elif len(frames) != 1:
        raise ProtocolError(f"{fields[0]}: unexpected data frame")
    try:
        message: Message = spec.cls(*values)
    except TypeError as exc:
        raise ProtocolError(f"{fields[0]}: {exc}") from None
    return message
