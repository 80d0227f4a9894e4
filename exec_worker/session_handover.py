"""A session's part in a takeover (takeover.py, server_handover.py): both sides of it.

Giving: `freeze` reads nothing more from the exec and runs no timer, so the state
stays as it is while `handover` writes it down (session_state.py) and the exec's
connection goes to the successor; `thaw` goes on as before if the handover fails.
Taking: `adopt` puts a handed-over session back together around the same exec
connection, kept paused, and `go_on` reads from it again once every session is in,
from the very next byte.

SessionHandover is mixed into ExecSession, whose state it reads and writes (the
attributes declared below).

Concurrency: the worker's one event loop, like the session itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from exec_worker import plain_output, session_state
from exec_worker.lifecycle import Phase

if TYPE_CHECKING:
    from exec_worker.asciicast import Recorder
    from exec_worker.exec_stream import ExecStream
    from exec_worker.idle import IdleClock
    from exec_worker.input_credit import InputCredit
    from exec_worker.keystrokes import ProgramInput
    from exec_worker.lifecycle import Do, SessionLifecycle
    from exec_worker.resizer import ExecResizer
    from exec_worker.session_parties import Attachment
    from exec_worker.session_processes import SessionProcesses
    from exec_worker.sessions import ExecSession
    from shared.settings import WorkerConfig


class SessionHandover:
    """Mixed into ExecSession: freezing it, writing it down, taking it over."""

    frozen: bool
    lifecycle: SessionLifecycle
    owner: Attachment | None
    tty: bool
    size: tuple[int, int]
    recorder: Recorder | None
    processes: SessionProcesses
    resizer: ExecResizer
    input: ProgramInput
    _config: WorkerConfig
    _idle: IdleClock
    _credit: InputCredit
    _stream: ExecStream | None
    _transport: asyncio.Transport | None
    _paused: bool
    _said: bytearray
    _cmd: list[str] | None
    _workdir: str | None
    _told_exit: set[str]
    _demux: plain_output.DemuxedRecording | None
    _record_output: Callable[[bytes], None] | None
    _ended: asyncio.Event
    _pending_effects: list[Do]

    if TYPE_CHECKING:  # ExecSession's own

        @property
        def phase(self) -> Phase: ...
        def _apply(self, effects: list[Do]) -> None: ...
        def _update_flow(self) -> None: ...
        def _acknowledge_input(self) -> None: ...
        def _on_output(self, data: bytes) -> None: ...
        def _on_stream_closed(self) -> None: ...

    def freeze(self) -> None:
        """Read nothing more from the exec and run no timer: the state stays as it is
        handed over, and the successor reads on from the very next byte."""
        self.frozen = True
        self._idle.stop()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def thaw(self) -> None:
        """The handover failed: go on as before."""
        self.frozen = False
        if self.phase is Phase.RUNNING:
            self._idle.start()
        if self._transport is not None and not self._paused and not self._transport.is_closing():
            self._transport.resume_reading()

    @property
    def input_pending(self) -> int:
        """Keystrokes written but not yet taken by the exec's connection."""
        return 0 if self._transport is None else self._transport.get_write_buffer_size()

    def exec_socket(self) -> Any:
        """The exec's connection, passed to the successor (None once it is closed)."""
        if self._transport is None or self._transport.is_closing() or self.phase is Phase.ENDED:
            return None
        return self._transport.get_extra_info("socket")

    def handover(self) -> dict[str, Any]:
        """Everything the successor needs to go on from the same byte (see adopt)."""
        session = cast("ExecSession", self)  # mixed into nothing else
        return session_state.capture(session, self._config, self._said, self._credit,
                                     self._idle, self._cmd, self._workdir, self._told_exit,
                                     self._demux)  # fmt: skip

    def adopt(self, state: dict[str, Any], transport: asyncio.Transport | None,
              stream: ExecStream | None, recorder: Recorder | None) -> None:  # fmt: skip
        """Take a session over from the worker that ran before: its exec's connection
        stays paused until `go_on`."""
        session = cast("ExecSession", self)  # mixed into nothing else
        self._cmd, self._workdir = session_state.restore(session, state, self._credit, self._idle)
        self._said = bytearray(state["said"])
        self._told_exit = set(state["told_exit"])
        self.recorder = recorder
        if recorder is not None:
            self._demux = None if self.tty else plain_output.DemuxedRecording(recorder)
            if self._demux is not None and state["demux"]:
                self._demux.resume(*state["demux"])
            self._record_output = (self._demux or recorder).output
        self._stream, self._transport = stream, transport
        self.frozen = True
        effects = self.lifecycle.handed_over(Phase(state["phase"]), self.owner is not None)
        if self.phase is Phase.ENDED:
            self._ended.set()
        if self.processes.process is None and self.phase is Phase.RUNNING:
            self.processes.find()
        self._pending_effects = effects

    def go_on(self) -> None:
        """The handover is done: read the exec again, run the timers."""
        self.frozen = False
        if self._transport is not None and self._stream is not None:
            self.input.running(self._transport)
            self._paused = True  # paused at adoption; _update_flow decides from the window
            self._stream.on_writable = self._acknowledge_input
            self._stream.attach(self._on_output, self._on_stream_closed)
            if self.tty:
                self.resizer.started(self.processes.exec_id, self.size, True)
            self._update_flow()
        if self.phase is Phase.RUNNING:
            self._idle.start()
        self._apply(self._pending_effects)
