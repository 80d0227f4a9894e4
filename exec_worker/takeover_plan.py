"""Handover: the steps by which a running worker gives its sessions to a successor.

    SERVING --successor--> PAUSING --peers paused--> FROZEN --state sent--> SENT
       ^                                                                      |
       |                                                                  adopted
       |                                                                      v
       +<---------- failed (any step before FINISHED) ---------------- RELEASED
                                                                              |
                                  FINISHED <--------------- bound ------------+

PAUSING: front ends that speak protocol 4 are asked to hold what they send (Pause)
and answer (Paused) once everything before it is sent; what comes before the answer
is still served. FROZEN: the worker reads nothing more from its execs and runs no
session timer, so the state it sends is the state the successor goes on from. SENT:
every session went to the successor, which answers once it holds them all (adopted);
only then does this worker let go of its ZeroMQ endpoint (RELEASED). Once the
successor has bound it (bound), the handover is FINISHED: this worker says so and
exits without touching a session. A failure at any step before that (the successor
dies, answers nonsense, or is too slow) undoes exactly what was done, in reverse
order: bind again, read again, welcome the front ends again; the successor, told to
give up or finding the connection gone, serves nothing.

Pure: no I/O, no clock, no loop. exec_worker/takeover.py carries the effects out.
"""

from __future__ import annotations

from enum import Enum

from shared.errors import Conflict


class Step(Enum):
    SERVING = "serving"
    PAUSING = "pausing"
    FROZEN = "frozen"
    SENT = "sent"
    RELEASED = "released"
    FINISHED = "finished"


class Do(Enum):
    """Effects, carried out by the worker in the order given."""

    PAUSE_PEERS = "pause-peers"  # send Pause to every front end that speaks it
    FREEZE = "freeze"  # stop reading execs and ZeroMQ messages, stop session timers
    SEND_STATE = "send-state"  # every session, its exec's socket and the worker's books
    RELEASE = "release"  # close the ZeroMQ and HTTP endpoints, after what is queued
    FINISH = "finish"  # tell the successor it serves now, then exit touching nothing
    ABORT = "abort"  # tell the successor to give up (best effort)
    REBIND = "rebind"  # bind the endpoints again
    THAW = "thaw"  # read execs and messages again, restart the timers
    WELCOME_PEERS = "welcome-peers"  # front ends send again (a Welcome ends their pause)
    LOG_FAILURE = "log-failure"


_ORDER = [Step.SERVING, Step.PAUSING, Step.FROZEN, Step.SENT, Step.RELEASED, Step.FINISHED]


class HandoverPlan:
    """One worker's side of handovers: at most one at a time, any number in a life."""

    def __init__(self) -> None:
        self.step = Step.SERVING
        self.reason = ""
        """Why the last handover failed ("" if none did)."""

    def successor(self) -> list[Do]:
        """A successor connected and asked for the sessions."""
        self._expect(Step.SERVING, "a handover is under way already")
        self.step = Step.PAUSING
        return [Do.PAUSE_PEERS]

    def peers_paused(self) -> list[Do]:
        """Every front end that speaks Pause answered (or its deadline passed)."""
        self._expect(Step.PAUSING, "front ends were not asked to pause")
        self.step = Step.FROZEN
        return [Do.FREEZE, Do.SEND_STATE]

    def state_sent(self) -> list[Do]:
        self._expect(Step.FROZEN, "no state is being sent")
        self.step = Step.SENT
        return []

    def adopted(self) -> list[Do]:
        """The successor holds every session (it reads none of them yet)."""
        self._expect(Step.SENT, "the successor said it adopted sessions it was not sent")
        self.step = Step.RELEASED
        return [Do.RELEASE]

    def bound(self) -> list[Do]:
        """The successor bound the endpoints this worker let go of."""
        self._expect(Step.RELEASED, "the successor bound endpoints that were not released")
        self.step = Step.FINISHED
        return [Do.FINISH]

    def failed(self, reason: str) -> list[Do]:
        """Undo, in reverse order, what this handover did; nothing once finished."""
        if self.step in (Step.SERVING, Step.FINISHED):
            return []
        done = _ORDER.index(self.step)
        effects = [Do.ABORT]
        if done >= _ORDER.index(Step.RELEASED):
            effects.append(Do.REBIND)
        if done >= _ORDER.index(Step.FROZEN):
            effects.append(Do.THAW)
        effects += [Do.WELCOME_PEERS, Do.LOG_FAILURE]
        self.step, self.reason = Step.SERVING, reason
        return effects

    def _expect(self, step: Step, why: str) -> None:
        if self.step is not step:
            raise Conflict(f"handover {self.step.value}: {why}")
