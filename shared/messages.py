"""Every message of the worker protocol, declared once (the spec is docs/protocol.md).

A frozen dataclass per message type, with its wire tag; bounds that hold however a
message is built are checked in __post_init__. Messages with five fields or more are
built by keyword only, so two swapped strings cannot pass unnoticed. The codec is
shared/protocol.py. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from shared.errors import ErrorCode, ProtocolError
from shared.observe_messages import ReadLogs, ReadStats, StatsRead
from shared.revocation_messages import RevokeSignIns, SignInsRevoked
from shared.transfer_messages import (
    FetchRecording,
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    FileOpened,
    FileStored,
    GetFile,
    ListRecordings,
    PutFile,
    RecordingsListed,
)

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


@dataclass(frozen=True, slots=True, kw_only=True)
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
    """Front end to worker, first and then periodically: who I am, and the protocol
    versions I speak, from `oldest` to `protocol` (the newest)."""

    TAG: ClassVar[str] = "hello"
    frontend: str
    protocol: int
    oldest: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """Worker's answer to Hello: its host id, its run, facts about its Docker daemon,
    and the protocol version both will speak (`protocol`: the newest both know).

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
    docker_problem: str
    """Why the host's Docker daemon cannot be used now; "" while it answers."""
    peer_timeout_ms: int
    """A front end silent this long counts as gone: it says Hello well within it."""
    engine: str = "Docker"
    """What answers on the worker's daemon socket: "Docker" or "Podman" (v4; a v3
    worker does not say, and runs on Docker)."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Worker to front end (version 4): the worker is handing its sessions to a new
    process. Send nothing more but Hello (hold it, in order) until the next Welcome,
    and answer Paused at once: what came before the answer is still served."""

    TAG: ClassVar[str] = "pause"
    token: str


@dataclass(frozen=True, slots=True)
class Paused:
    """Front end to worker (version 4): everything before this message has been sent."""

    TAG: ClassVar[str] = "paused"
    token: str


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


class RecordingPolicy(StrEnum):
    """What the policy says about recording a session."""

    DEFAULT = "default"  # as the worker is set up
    REQUIRED = "required"  # no session if it cannot be recorded
    FORBIDDEN = "forbidden"


class Mode(StrEnum):
    """How an attachment takes part: the owner reads and writes, a watcher only reads."""

    RW = "rw"
    RO = "ro"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    """A running session, as listed for its owner: what was asked for (`cmd` None is
    the default shell), so it can be started again the same way."""

    session: str
    container: str
    cmd: list[str] | None
    user: str | None
    workdir: str | None
    person: str
    started: int
    attached: bool
    watchers: int
    tty: bool


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
class FindSession:
    """Which container a session runs in and whose it is: the front end checks its
    policy with this before it asks to attach anyone."""

    TAG: ClassVar[str] = "find-session"
    request: str
    session: str


@dataclass(frozen=True, slots=True)
class SessionFound:
    TAG: ClassVar[str] = "session-found"
    request: str
    session: str
    container: str
    """The container's full id."""
    person: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenSession:
    """Start an exec owned by `person`; `cmd` None means bash if present, else sh.

    Every later message about it names the `attachment`: one browser connection
    taking part in one session. Without a `tty` the exec's stdout and stderr come as
    Docker multiplexes them (8-byte frame headers), passed on as the session's
    output bytes unchanged; such a session needs a `cmd`.
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
    recording: RecordingPolicy
    record_input: bool
    tty: bool = True

    def __post_init__(self) -> None:
        check_size(self.cols, self.rows)
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise ProtocolError("workdir must be an absolute path")
        if self.cmd is not None and not self.cmd:
            raise ProtocolError("cmd must be null or a non-empty list of strings")
        if not self.tty and self.cmd is None:
            raise ProtocolError("a session without a tty needs a command (cmd)")
        if not self.container:
            raise ProtocolError("container must not be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachSession:
    """Join a running session from byte `offset`: as its owner (rw, taking over any
    earlier owner connection) or as a watcher (ro, with the session's watch token)."""

    TAG: ClassVar[str] = "attach"
    session: str
    attachment: str
    person: str
    address: str
    container: str
    """The container id the front end checked its policy against (FindSession); the
    worker refuses the attach if the session runs anywhere else."""
    offset: int
    mode: Mode
    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOpened:
    """The attachment is live; output follows from `offset` (`skipped` bytes before it
    were no longer kept). `watch_token` is given to the owner only. `input` counts the
    bytes of input the session has taken so far (a resuming owner resends what came
    after); `ended`: the program has ended or is ending, so input is refused."""

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
    tty: bool
    input: int
    ended: bool


@dataclass(frozen=True, slots=True)
class Input:
    """Keystrokes from the owner, carried as a raw second frame."""

    TAG: ClassVar[str] = "in"
    attachment: str
    data: bytes


@dataclass(frozen=True, slots=True)
class EndInput:
    """The owner's input has ended: the program reads EOF after what was sent before
    (sessions without a tty only)."""

    TAG: ClassVar[str] = "eof"
    attachment: str


@dataclass(frozen=True, slots=True)
class InputAck:
    """To the owner: the session has taken its input up to byte `offset` (counted over
    the session's life), and the program is reading it; the owner may send more."""

    TAG: ClassVar[str] = "in-ack"
    attachment: str
    offset: int


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


Message = (
    Hello
    | Welcome
    | Pause
    | Paused
    | ListContainers
    | ContainersListed
    | ContainerChanged
    | ListSessions
    | SessionsListed
    | FindSession
    | SessionFound
    | RevokeSignIns
    | SignInsRevoked
    | OpenSession
    | AttachSession
    | SessionOpened
    | Input
    | EndInput
    | InputAck
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
    | ListRecordings
    | RecordingsListed
    | FetchRecording
    | ReadLogs
    | ReadStats
    | StatsRead
)
