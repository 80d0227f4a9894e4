"""Session recordings in asciicast v2: one Recorder per session, one file per part.

A recording file is a header line (a JSON object) and then one event per line,
`[seconds, code, text]`: "o" output, "i" input (only when input is recorded), "r" a
resize to "COLSxROWS", and last an "m" marker "exit <code> <reason>". Seconds count
from the start of the file. Our own fields sit under the header's "dterm" key, which
players ignore. Reads of output that follow within COALESCE seconds make one event,
timed at its first read.

Text, not bytes: asciicast events are JSON strings, while a terminal's output is
bytes whose multi-byte characters may be split across reads. Each stream (output,
input) has its own incremental UTF-8 decoder, so a character split across chunks is
written whole in the next event, and bytes that are not UTF-8 become U+FFFD. Output
events put together therefore give back exactly the bytes the program wrote whenever
those were valid UTF-8.

Durability: events go into a buffer in memory (64 KiB at most); `flush()` opens the
file, hands them to the kernel in one write and closes it again, so an idle session
holds no file descriptor. The session's owner calls `flush()` every
FLUSH_INTERVAL seconds (one timer for all recorders will do), so a worker that
crashes loses at most the last second. A timer rather than "flush at the next event
once a second has passed", because a session that goes quiet would otherwise keep
its last output in memory for as long as it stays quiet. A buffer that fills is
written at once, so memory stays bounded. There is no fsync: it can block for long on
a busy disk, and a machine that goes down loses its last seconds anyway.

Rotation: once a file holds `max_bytes` (and at least one event), the next event
starts a new file, part N of the same session, whose header has the time of the
rotation and the terminal's size at that moment; its seconds start again from 0, and
"dterm" "offset" says how many seconds after the start of part 1 that was, so a
player can put the parts back together exactly. Every part is a complete asciicast
file on its own.

Owns the files it creates until `close()`; `on_done` hears of each file once it is
complete, and from then on the file is no longer this recorder's. Must not know
about sessions, sockets or asyncio, and must not raise into the output path: an
I/O error (a full disk) is logged once and kept in `error`, and the recorder goes
quiet; whether a session may go on unrecorded is the caller's decision. Opening
the first file may raise OSError.

Concurrency: not thread-safe; call it from one thread, the worker's event loop. Each
call appends to memory or writes at most one buffer, and a rotation creates one file.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import ESCAPE_DCT
from pathlib import Path
from typing import Any

from shared.process import SessionLog

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0
COALESCE = 0.005
"""Output read within this many seconds of an event's first byte joins that event: a
fast stream becomes a few large events rather than one per 4 KiB read, which costs a
third less to encode, and no eye tells 5 ms apart."""
SUFFIX = ".cast"
_BUFFER = 64 * 1024
_NAME_PART = 48  # longest host or container name kept in a file name
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_DOTS = re.compile(r"\.{2,}")
_FILE_NAME = re.compile(r"(?!.*\.\.)[A-Za-z0-9_.-]+\.cast")
# JSON allows these raw inside strings, but some line splitters (str.splitlines,
# editors) break lines at them: escape them so one event is always one line.
_LINE_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
_UTF8_SEPARATORS = {k: (k.encode(), v.encode()) for k, v in _LINE_SEPARATORS.items()}
_PLAIN = bytes(b for b in range(256) if b >= 0x20 and b not in b'"\\')
"""Bytes a JSON string holds as they are (UTF-8 sequences included)."""
_JSON_ESCAPES = sorted(
    ((c.encode(), e.encode()) for c, e in ESCAPE_DCT.items()), key=lambda pair: pair[0] != b"\\"
)
"""What json.dumps writes for each byte it escapes; the backslash comes first, as the
escapes of the others add backslashes."""


@dataclass(frozen=True)
class RecordingHeader:
    """What a recording is of; the recorder adds the time, the part and later sizes."""

    session: str
    host: str
    container_id: str
    container_name: str
    person: str
    run_as: str  # the in-container user, "" for the image's own
    command: str  # as a person reads it, e.g. "sh" or "psql -U app"
    width: int
    height: int
    title: str = ""  # default: person@host/container
    shell: str = ""  # $SHELL in the header's env when known
    tty: bool = True  # False: stdout and stderr of a session without a tty


def file_name(started: float, header: RecordingHeader, part: int) -> str:
    """`<UTC start>-<host>-<container>-<session short id>[_partNNNN].cast`.

    Names sort by the session's start time, and the parts of one session sort
    together and in order. Only [A-Za-z0-9_.-] survive, never two dots in a row."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    short = header.session.partition("@")[0][:8]  # the token of SessionId
    words = [_safe(word) for word in (header.host, header.container_name, short)]
    suffix = "" if part == 1 else f"_part{part:04d}"
    return f"{stamp}-{'-'.join(words)}{suffix}{SUFFIX}"


def _safe(word: str) -> str:
    return _DOTS.sub(".", _UNSAFE.sub("_", word))[:_NAME_PART] or "unknown"


def _one_line(text: str) -> str:
    for separator, escaped in _LINE_SEPARATORS.items():
        if separator in text:
            text = text.replace(separator, escaped)
    return text


def _json_line(value: Any) -> bytes:
    return (_one_line(json.dumps(value, ensure_ascii=False)) + "\n").encode()


def _event_line(seconds: float, code: str, text: str) -> bytes:
    """`[seconds, "code", "text"]` exactly as _json_line writes it, for far less: output
    events carry every byte a session prints, and json.dumps escapes a character at a
    time, where replacing each special byte that occurs is one fast pass apiece."""
    raw = text.encode()
    specials = raw.translate(None, _PLAIN)
    if specials:
        for byte, escaped in _JSON_ESCAPES:
            if byte in specials:
                raw = raw.replace(byte, escaped)
    for separator, (encoded, escaped) in _UTF8_SEPARATORS.items():
        if separator in text:  # far quicker to look for in the text than in its bytes
            raw = raw.replace(encoded, escaped)
    return b"".join((b"[", repr(seconds).encode(), b', "', code.encode(), b'", "', raw, b'"]\n'))


def _utf8_decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


class Recorder:
    """The asciicast recording of one session; make one with `Recorder.start`."""

    def __init__(
        self,
        folder: Path,
        header: RecordingHeader,
        record_input: bool,
        max_bytes: int,
        now: Callable[[], float],
    ) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be 0 (no rotation) or positive")
        self.folder = folder
        self.header = header
        self.record_input = record_input
        self.max_bytes = max_bytes
        self.paths: list[Path] = []
        self.error: OSError | None = None
        self.closed = False
        self.on_done: Callable[[Path], None] | None = None
        """Told of each file once it is complete (at a rotation, and at `close`)."""
        self._now = now
        self._log = SessionLog(log, header.session)
        self._size = (header.width, header.height)
        self._output = _utf8_decoder()
        self._input = _utf8_decoder()
        self._pending = bytearray()
        self._held = bytearray()  # output not yet made an event (COALESCE)
        self._held_at = 0.0
        self._recording = False  # a part is open for events
        self._started = 0.0
        self._part_start = 0.0
        self._part_bytes = 0
        self._part_events = 0
        self._elapsed = 0.0

    @classmethod
    def start(
        cls,
        folder: Path,
        header: RecordingHeader,
        record_input: bool,
        max_bytes: int,
        now: Callable[[], float] = time.time,
    ) -> Recorder:
        """Create part 1 in `folder` and write its header. Raises OSError.

        `max_bytes` 0 means one file whatever its size."""
        recorder = cls(folder, header, record_input, max_bytes, now)
        recorder._started = now()
        recorder._open_part(recorder._started)
        return recorder

    def handover(self) -> dict[str, Any]:
        """What another process needs to go on writing this recording from the very
        next event (everything so far is written out first)."""
        self._release()
        self.flush()
        h = self.header
        return {
            "header": [h.session, h.host, h.container_id, h.container_name, h.person,
                       h.run_as, h.command, h.width, h.height, h.title, h.shell, h.tty],
            "input": self.record_input, "max_bytes": self.max_bytes,
            "paths": [p.name for p in self.paths], "size": list(self._size),
            "decoders": [self._output.getstate()[0], self._input.getstate()[0]],
            "recording": self._recording, "failed": self.error is not None,
            "times": [self._started, self._part_start, self._elapsed],
            "part": [self._part_bytes, self._part_events],
        }  # fmt: skip

    @classmethod
    def resume(
        cls, folder: Path, state: dict[str, Any], now: Callable[[], float] = time.time
    ) -> Recorder:
        """Go on with a recording another process wrote (see `handover`); its files
        must be in `folder`. Raises ValueError, KeyError or TypeError on nonsense."""
        header = RecordingHeader(*state["header"])
        recorder = cls(folder, header, bool(state["input"]), int(state["max_bytes"]), now)
        names = [str(name) for name in state["paths"]]
        if not names or not all(_FILE_NAME.fullmatch(name) for name in names):
            raise ValueError("recording file names that this host does not make")
        recorder.paths = [folder / name for name in names]
        cols, rows = state["size"]
        recorder._size = (int(cols), int(rows))
        for decoder, held in zip((recorder._output, recorder._input), state["decoders"],
                                 strict=True):  # fmt: skip
            decoder.setstate((bytes(held)[:3], 0))
        recorder._recording = bool(state["recording"]) and not state["failed"]
        started, part_start, elapsed = state["times"]
        recorder._started, recorder._part_start = float(started), float(part_start)
        recorder._elapsed = float(elapsed)
        recorder._part_bytes, recorder._part_events = (int(v) for v in state["part"])
        return recorder

    @property
    def path(self) -> Path:
        """The file being written (the last part)."""
        return self.paths[-1]

    @property
    def part(self) -> int:
        return len(self.paths)

    # --- events ------------------------------------------------------------------------

    def output(self, data: bytes) -> None:
        """Bytes the program wrote to the terminal; held up to COALESCE seconds so
        that the reads of a fast stream make one event."""
        if not self._recording:
            return
        now = self._now()
        if self._held and (now - self._held_at > COALESCE or len(self._held) >= _BUFFER):
            self._release()
        if not self._held:
            self._held_at = now
        self._held += data

    def input(self, data: bytes) -> None:
        """Keystrokes; written only when the recording is asked to keep input."""
        if self.record_input:
            self._release()
            self._event("i", self._input.decode(data))

    def resize(self, cols: int, rows: int) -> None:
        self._release()
        self._size = (cols, rows)
        self._event("r", f"{cols}x{rows}")

    def close(self, exit_code: int | None, reason: str) -> None:
        """Write what the decoders hold, the exit marker, and close the file."""
        if self.closed:
            return
        self._release()
        self.closed = True
        self._event("o", self._output.decode(b"", final=True))
        if self.record_input:
            self._event("i", self._input.decode(b"", final=True))
        code = "unknown" if exit_code is None else str(exit_code)
        self._event("m", f"exit {code} {reason}", may_rotate=False)
        self._close_file()

    def flush(self) -> bool:
        """Hand buffered events to the kernel; call every FLUSH_INTERVAL seconds.
        Says whether it wrote to the file."""
        self._release()
        if not self._pending or not self.paths:
            return False
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            try:
                written = os.write(fd, self._pending)
                while written < len(self._pending):  # a short write: rare, copy the rest
                    written += os.write(fd, self._pending[written:])
            finally:
                os.close(fd)
            self._pending.clear()
        except OSError as exc:
            self._fail(exc)
        return True

    # --- files -------------------------------------------------------------------------

    def _release(self) -> None:
        """Write the output held for coalescing as one event, at its first read."""
        if self._held:
            text = self._output.decode(self._held)
            self._held.clear()
            self._event("o", text, at=self._held_at)

    def _event(self, code: str, text: str, may_rotate: bool = True, at: float = 0.0) -> None:
        if not text or not self._recording:
            return
        try:
            at = at or self._now()
            if may_rotate and self._full():
                self._close_file()
                self._open_part(at)
            self._elapsed = max(self._elapsed, at - self._part_start)
            self._write(_event_line(round(self._elapsed, 6), code, text))
            self._part_events += 1
        except OSError as exc:
            self._fail(exc)

    def _full(self) -> bool:
        return 0 < self.max_bytes <= self._part_bytes and self._part_events > 0

    def _write(self, line: bytes) -> None:
        self._pending += line
        self._part_bytes += len(line)
        if len(self._pending) >= _BUFFER:
            self.flush()

    def _open_part(self, at: float) -> None:
        path = self.folder / file_name(self._started, self.header, self.part + 1)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        self.paths.append(path)
        self._recording = True
        self._part_start, self._part_bytes, self._part_events = at, 0, 0
        self._elapsed = 0.0
        self._write(_json_line(self._header(at)))
        if self.part > 1:
            self._log.info("recording continues in part %d, %s", self.part, path.name)

    def _header(self, at: float) -> dict[str, Any]:
        h = self.header
        env = {"TERM": "xterm-256color"} | ({"SHELL": h.shell} if h.shell else {})
        return {
            "version": 2,
            "width": self._size[0],
            "height": self._size[1],
            "timestamp": int(at),
            "command": h.command,
            "title": h.title or f"{h.person}@{h.host}/{h.container_name}",
            "env": env,
            "dterm": {
                "session": h.session,
                "host": h.host,
                "container": {"id": h.container_id, "name": h.container_name},
                "person": h.person,
                "run_as": h.run_as,
                "part": self.part,
                "offset": round(at - self._started, 6),
                "input": self.record_input,
                "tty": h.tty,
            },
        }

    def _close_file(self) -> None:
        self.flush()
        self._recording = False
        if self.on_done is not None and self.paths:
            self.on_done(self.path)

    def _fail(self, exc: OSError) -> None:
        """Stop recording after an I/O error; the session itself goes on."""
        if self.error is None:
            self.error = exc
            self._log.warning("recording stopped, %s is incomplete: %s", self.path.name, exc)
        self._recording = False
        self._pending.clear()
