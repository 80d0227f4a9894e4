"""A session as one worker hands it to its successor: plain values, msgpack-ready.

`capture` takes what a session is at the moment it is frozen (ring contents and
offsets, every attachment's position, window, size, owner and watchers, idle clock,
input counts, the exec and its process, the recording's position); `check` reads
the successor's copy, which comes over a socket and is trusted in nothing but its
shape: every field is checked for type and bound before `restore` puts it back.

Pure: no I/O. session_handover.py calls it on both sides of a handover.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exec_worker.fanout import Position
from exec_worker.host_processes import ProcessRef
from exec_worker.multiplex import HEADER, Stream
from shared.errors import ProtocolError
from shared.messages import MAX_COLS, MAX_OFFSET, MAX_ROWS, ExitReason, Mode

if TYPE_CHECKING:
    from exec_worker.idle import IdleClock
    from exec_worker.input_credit import InputCredit
    from exec_worker.plain_output import DemuxedRecording
    from exec_worker.session_parties import Attachment
    from exec_worker.sessions import ExecSession
    from shared.settings import WorkerConfig

MAX_TEXT = 4096
MAX_ITEMS = 10_000
_STREAMS = {stream.value for stream in Stream}
MAX_SECONDS = 1 << 40
"""Far past any clock reading or duration, well inside what msgpack and a float carry."""


def capture(
    session: ExecSession,
    config: WorkerConfig,
    said: bytearray,
    credit: InputCredit,
    idle: IdleClock,
    cmd: list[str] | None,
    workdir: str | None,
    told_exit: set[str],
    demux: DemuxedRecording | None,
) -> dict[str, Any]:
    fanout, ring, processes = session.fanout, session.fanout.ring, session.processes
    recorder = session.recorder
    process = processes.process
    idle_for, warned = idle.state()
    return {
        "id": session.id, "person": session.person, "phase": session.phase.value,
        "container": session.container, "container_name": session.container_name,
        "run_as": session.run_as, "address": session.address, "command": session.command,
        "cmd": cmd, "workdir": workdir, "tty": session.tty, "started": session.started,
        "size": list(session.size), "watch_token": session.watch_token,
        "watched_by": sorted(session.watched_by), "exit": list(session.exit or []),
        "told_exit": sorted(told_exit), "said": bytes(said),
        "owner": _attachment(session.owner) if session.owner else None,
        "watchers": [_attachment(w) for w in session.watchers.values()],
        "window": fanout.window, "ring": [ring.start, ring.read(ring.start, ring.end)],
        "positions": {a: [p.sent, p.acked] for a, p in fanout.positions.items()},
        "owner_acked": fanout.owner_acked, "written": session.input.written,
        "input_ended": session.input.ended, "received": credit.received,
        "told": credit.told_offset, "idle": [idle_for, warned],
        "exec": processes.exec_id, "marker": processes.marker,
        "process": [process.pid, process.start_time, process.pid_namespace] if process else [],
        "recorder": recorder.handover() if recorder and not recorder.closed else None,
        "demux": list(demux.state()) if demux else [],
        "ring_bytes": config.ring_bytes,
    }  # fmt: skip


def _attachment(a: Attachment) -> list[Any]:
    return [a.id, a.peer, a.person, a.mode.value, a.since]


# --- checking what came over the socket ------------------------------------------------

_TEXT: dict[str, type] = {"id": str, "person": str, "phase": str, "container": str,
                          "container_name": str, "run_as": str, "address": str,
                          "watch_token": str, "exec": str, "marker": str}  # fmt: skip
_COUNTS = ("window", "owner_acked", "written", "received", "told", "ring_bytes")


def check(raw: Any) -> dict[str, Any]:
    """The state as it came, once every field has the type and bounds it must have."""
    if type(raw) is not dict:
        raise ProtocolError("a session state must be a map")
    for name, kind in _TEXT.items():
        value = raw.get(name)
        if type(value) is not kind or len(str(value)) > MAX_TEXT:
            raise ProtocolError(f"session state: {name} is missing or not a short string")
    for name in _COUNTS:
        _count(raw.get(name), name)
    for name in ("tty", "input_ended"):
        if type(raw.get(name)) is not bool:
            raise ProtocolError(f"session state: {name} must be true or false")
    if raw["phase"] not in ("running", "ended"):
        raise ProtocolError(f"session state: a session {raw['phase'][:20]!r} is never handed over")
    _strings(raw.get("command"), "command")
    _strings(raw.get("watched_by"), "watched_by")
    _strings(raw.get("told_exit"), "told_exit")
    if raw.get("cmd") is not None:
        _strings(raw["cmd"], "cmd")
    if raw.get("workdir") is not None and type(raw["workdir"]) is not str:
        raise ProtocolError("session state: workdir must be a string")
    cols, rows = _pair(raw.get("size"), "size")
    if type(cols) is not int or type(rows) is not int:
        raise ProtocolError("session state: a terminal size is two counts")
    if not (1 <= cols <= MAX_COLS and 1 <= rows <= MAX_ROWS):
        raise ProtocolError("session state: a terminal size no screen has")
    start, data = _pair(raw.get("ring"), "ring")
    if type(data) is not bytes or len(data) > max(raw["ring_bytes"], raw["window"]):
        raise ProtocolError("session state: ring bytes missing or larger than the ring")
    _count(start, "ring start")
    if type(raw.get("said")) is not bytes or len(raw["said"]) > 4096:
        raise ProtocolError("session state: said must be a few bytes")
    _positions(raw.get("positions"), start + len(data))
    _attachments(raw)
    _exit(raw.get("exit"), raw["phase"])
    _time(raw.get("started"), "started")
    idle_for, warned = _pair(raw.get("idle"), "idle")
    if _time(idle_for, "idle") is None or type(warned) is not bool:
        raise ProtocolError("session state: idle must be seconds and true or false")
    _process(raw.get("process"))
    _demux(raw.get("demux"))
    if raw.get("recorder") is not None and type(raw["recorder"]) is not dict:
        raise ProtocolError("session state: a recorder's state must be a map")
    return raw


def _time(value: Any, name: str) -> float:
    """Seconds (a time or a duration): a finite number no clock is past."""
    if type(value) not in (int, float) or not 0 <= value <= MAX_SECONDS:
        raise ProtocolError(f"session state: {name} must be seconds")
    return float(value)


def _process(value: Any) -> None:
    if type(value) is not list or len(value) not in (0, 3):
        raise ProtocolError("session state: a process is a pid, a start time and a namespace")
    if value:
        pid, start_time, namespace = value
        _count(pid, "pid")
        _count(start_time, "process start time")
        if type(namespace) is not str or len(namespace) > MAX_TEXT:
            raise ProtocolError("session state: a process namespace must be a short string")


def _demux(value: Any) -> None:
    """Where a session without a tty is within a frame of Docker's stream (multiplex.py)."""
    if type(value) is not list or len(value) not in (0, 3):
        raise ProtocolError("session state: a demultiplexer state is three fields")
    if value:
        header, stream, left = value
        if type(header) is not bytes or len(header) >= HEADER.size or stream not in _STREAMS:
            raise ProtocolError("session state: a demultiplexer state no stream can be in")
        _count(left, "demultiplexer payload left")


def _count(value: Any, name: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_OFFSET:
        raise ProtocolError(f"session state: {name} must be a count")
    return value


def _strings(value: Any, name: str) -> None:
    if type(value) is not list or len(value) > MAX_ITEMS:
        raise ProtocolError(f"session state: {name} must be a list")
    if not all(type(v) is str and len(v) <= MAX_TEXT for v in value):
        raise ProtocolError(f"session state: {name} must hold short strings")


def _pair(value: Any, name: str) -> tuple[Any, Any]:
    if type(value) is not list or len(value) != 2:
        raise ProtocolError(f"session state: {name} must be a pair")
    return value[0], value[1]


def _positions(value: Any, end: int) -> None:
    if type(value) is not dict or len(value) > MAX_ITEMS:
        raise ProtocolError("session state: positions must be a map")
    for attachment, pair in value.items():
        sent, acked = _pair(pair, "position")
        if (
            type(attachment) is not str
            or not 0 <= _count(acked, "acked") <= _count(sent, "sent") <= end
        ):
            raise ProtocolError("session state: a position outside the output")


def _attachments(raw: dict[str, Any]) -> None:
    watchers = raw.get("watchers")
    if type(watchers) is not list or len(watchers) > MAX_ITEMS:
        raise ProtocolError("session state: watchers must be a list")
    listed = ([raw["owner"]] if raw.get("owner") is not None else []) + watchers
    for item in listed:
        if type(item) is not list or len(item) != 5:
            raise ProtocolError("session state: an attachment must have five fields")
        aid, peer, person, mode, since = item
        if not (type(aid) is str and type(peer) is bytes and type(person) is str):
            raise ProtocolError("session state: an attachment's names are off")
        if mode not in ("rw", "ro"):
            raise ProtocolError("session state: an attachment's mode is off")
        _time(since, "an attachment's time")
        if aid not in raw["positions"]:
            raise ProtocolError("session state: an attachment without a position")


def _exit(value: Any, phase: str) -> None:
    if type(value) is not list or len(value) != (3 if phase == "ended" else 0):
        raise ProtocolError("session state: an exit only for an ended session")
    if value:
        code, reason, message = value
        if code is not None and (type(code) is not int or not -(1 << 31) <= code < 1 << 31):
            raise ProtocolError("session state: an exit code no program returns")
        if type(message) is not str or len(message) > MAX_TEXT:
            raise ProtocolError("session state: an exit's message must be a short string")
        if reason not in {r.value for r in ExitReason}:
            raise ProtocolError("session state: an exit reason nobody knows")


# --- putting it back ---------------------------------------------------------------------


def restore(
    session: ExecSession, state: dict[str, Any], credit: InputCredit, idle: IdleClock
) -> tuple[list[str] | None, str | None]:
    """Put a checked state into a new session; returns its cmd and workdir."""
    session.container, session.container_name = state["container"], state["container_name"]
    session.run_as, session.address = state["run_as"], state["address"]
    session.command, session.tty = list(state["command"]), state["tty"]
    session.started, session.watch_token = float(state["started"]), state["watch_token"]
    session.size = (state["size"][0], state["size"][1])
    session.watched_by = set(state["watched_by"])
    if state["exit"]:
        code, reason, message = state["exit"]
        session.exit = (code, ExitReason(reason), message)
    fanout = session.fanout
    fanout.window = state["window"]
    fanout.ring.restore(state["ring"][0], state["ring"][1])
    fanout.positions = {a: Position(s, k) for a, (s, k) in state["positions"].items()}
    fanout.owner_acked = state["owner_acked"]
    fanout.owner = state["owner"][0] if state["owner"] else None
    session.input.written, session.input.ended = state["written"], state["input_ended"]
    credit.received = state["received"]
    credit.told_offset = state["told"]
    idle.resume(float(state["idle"][0]), bool(state["idle"][1]))
    processes = session.processes
    processes.exec_id, processes.marker = state["exec"], state["marker"]
    if state["process"]:
        pid, start_time, namespace = state["process"]
        processes.process = ProcessRef(int(pid), int(start_time), str(namespace))
    return state["cmd"], state["workdir"]


def attachments(state: dict[str, Any]) -> list[tuple[str, bytes, str, Mode, float]]:
    """(id, peer, person, mode, since) of the owner first (if attached), then watchers."""
    listed = ([state["owner"]] if state["owner"] else []) + list(state["watchers"])
    return [(a, p, who, Mode(m), float(t)) for a, p, who, m, t in listed]
