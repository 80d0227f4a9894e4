"""SessionLifecycle: the life of one session as a state machine, and nothing else.

    STARTING --started--> RUNNING --close/grace/idle/stopping/container/Docker--> ENDING
        |                    |                                                       |
        | start failed       +--------------- stream ended (the program ended) ---->+
        v                                                                           |
      GONE <--grace over, dismissed, stopping-- ENDED <------------ exit found -----+

Every event has one defined outcome in every phase: a new phase and the effects
the caller must carry out, in order, or a refusal raised as a DtermError. An ended
session is kept for the grace period with its output and its exit, so a connection
that comes back after the end still gets both. The first reason to end a session
is the one reported. Ending its processes never needs Docker (effects END_PROCESSES
works from /proc); only FIND_EXIT asks Docker, with a deadline.

Pure: no I/O, no clock, no loop. exec_worker/sessions.py carries the effects out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from shared.errors import Conflict, NotFound
from shared.messages import ExitReason


class Phase(Enum):
    STARTING = "starting"
    RUNNING = "running"
    ENDING = "ending"
    ENDED = "ended"
    GONE = "gone"


class Do(Enum):
    """Effects, carried out by the session in the order given."""

    ABORT_START = "abort-start"  # the exec is not running yet: do not let it run
    END_PROCESSES = "end-processes"  # SIGHUP, then SIGKILL: from /proc, never Docker
    FIND_EXIT = "find-exit"  # how it ended (after END_PROCESSES has finished)
    REPORT_EXIT = "report-exit"  # tell everyone attached, close the recording, audit
    FAIL_OPEN = "fail-open"  # tell the owner the session never started
    WAIT_FOR_OWNER = "wait-for-owner"  # start the grace timer
    STOP_WAITING = "stop-waiting"  # cancel the grace timer
    KEEP = "keep"  # an ended session: keep output and exit for the grace period
    FORGET = "forget"  # remove the session


@dataclass(frozen=True, slots=True)
class Ending:
    reason: ExitReason
    message: str


class Input(Enum):
    HOLD = "hold"  # not started yet: keep it for the program
    WRITE = "write"


class SessionLifecycle:
    def __init__(self) -> None:
        self.phase = Phase.STARTING
        self.ending: Ending | None = None
        """Why the session is being ended by us; None while nobody asked."""
        self.owner_attached = True  # an open comes from its owner's connection
        self.stream_closed = False

    # --- the program -------------------------------------------------------------

    def started(self) -> list[Do]:
        """The exec runs."""
        match self.phase:
            case Phase.STARTING if self.ending is not None:
                self.phase = Phase.ENDING
                return [Do.END_PROCESSES]
            case Phase.STARTING:
                self.phase = Phase.RUNNING
                return [] if self.owner_attached else [Do.WAIT_FOR_OWNER]
            case Phase.GONE:
                return [Do.END_PROCESSES]  # forgotten while it started: end what started
            case _:
                return []

    def start_failed(self) -> list[Do]:
        if self.phase is not Phase.STARTING:
            return []
        self.phase = Phase.GONE
        return [Do.FAIL_OPEN, Do.FORGET]

    def stream_ended(self) -> list[Do]:
        """The exec's stream closed: the program ended, or Docker dropped it. Either way
        what is left of its processes is ended before the exit is looked for."""
        match self.phase:
            case Phase.RUNNING:
                self.phase, self.stream_closed = Phase.ENDING, True
                return [Do.STOP_WAITING, Do.END_PROCESSES, Do.FIND_EXIT]
            case Phase.ENDING if not self.stream_closed:
                self.stream_closed = True
                return [Do.FIND_EXIT]
            case _:
                return []

    def exit_found(self) -> list[Do]:
        """The answer to FIND_EXIT."""
        if self.phase is not Phase.ENDING or not self.stream_closed:
            return []
        self.phase = Phase.ENDED
        return [Do.REPORT_EXIT, Do.KEEP]

    # --- requests to end it ---------------------------------------------------------

    def end(self, reason: ExitReason, message: str = "") -> list[Do]:
        """End the session (the owner's close, grace over, idle, the worker stopping,
        its container stopped, Docker lost). The first reason given is kept."""
        if self.ending is None and self.phase in (Phase.STARTING, Phase.RUNNING):
            self.ending = Ending(reason, message)
        match self.phase:
            case Phase.STARTING:
                return [Do.ABORT_START]
            case Phase.RUNNING:
                self.phase = Phase.ENDING
                return [Do.STOP_WAITING, Do.END_PROCESSES]
            case _:
                return []

    def dismiss(self) -> list[Do]:
        """An ended session is not wanted any more (its owner closed it, its grace
        period is over, the worker stops)."""
        if self.phase is not Phase.ENDED:
            return []
        self.phase = Phase.GONE
        return [Do.FORGET]

    def close(self) -> list[Do]:
        """The owner's close: end a live session, dismiss an ended one."""
        if self.phase is Phase.ENDED:
            return self.dismiss()
        return self.end(ExitReason.CLOSED)

    def grace_over(self) -> list[Do]:
        if self.phase is Phase.ENDED:
            return self.dismiss()
        if self.owner_attached:
            return []
        return self.end(ExitReason.CLOSED, "nobody resumed it in time")

    def stopping(self) -> list[Do]:
        """The worker shuts down."""
        if self.phase is Phase.ENDED:
            return self.dismiss()
        return self.end(ExitReason.CLOSED, "the worker is shutting down")

    # --- the owner's connection -------------------------------------------------------

    def handed_over(self, phase: Phase, owner_attached: bool) -> list[Do]:
        """The session comes from the worker that ran before this one (takeover.py):
        only running and ended sessions are handed over."""
        if self.phase is not Phase.STARTING or phase not in (Phase.RUNNING, Phase.ENDED):
            raise Conflict(f"a session {phase.value} cannot be handed over")
        self.phase, self.owner_attached = phase, owner_attached
        self.stream_closed = phase is Phase.ENDED
        if phase is Phase.ENDED:
            return [Do.KEEP]
        return [] if owner_attached else [Do.WAIT_FOR_OWNER]

    def owner_left(self) -> list[Do]:
        self.owner_attached = False
        return [Do.WAIT_FOR_OWNER] if self.phase is Phase.RUNNING else []

    def owner_back(self) -> list[Do]:
        self.owner_attached = True
        return [Do.STOP_WAITING] if self.phase in (Phase.STARTING, Phase.RUNNING) else []

    # --- what may be done now ----------------------------------------------------------

    def check_attach(self) -> None:
        """Attaching is allowed once it runs, also while it ends and after it ended."""
        match self.phase:
            case Phase.STARTING:
                raise Conflict("the session is still starting")
            case Phase.GONE:
                raise NotFound("the session is gone")
            case _:
                pass

    def check_input(self) -> Input:
        match self.phase:
            case Phase.STARTING:
                return Input.HOLD
            case Phase.RUNNING:
                return Input.WRITE
            case Phase.ENDING:
                raise Conflict("the session is ending: input not delivered")
            case Phase.ENDED:
                raise Conflict("the session has ended: input not delivered")
            case Phase.GONE:
                raise NotFound("the session is gone")

    def reason(self, natural: ExitReason) -> tuple[ExitReason, str]:
        """The reason to report: ours if we ended it, else what happened by itself."""
        return (self.ending.reason, self.ending.message) if self.ending else (natural, "")
