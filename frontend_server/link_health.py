"""What the ZeroMQ monitor events of a worker link say, in words an operator can act on.

A CurveZMQ handshake that fails is invisible to the messages of the link: the
worker simply never answers. libzmq tells only through monitor events:

- HANDSHAKE_FAILED_AUTH: the worker's key gate (ZAP) refused this front end's key,
  status 400, or could not read its folder of allowed keys, status 500. libzmq then
  gives the connection up for good and never dials again, so the link must ask for a
  new attempt itself: after REDIAL_FIRST seconds, doubling up to REDIAL_MAX, so a
  key the operator allows later is used without a restart.
- HANDSHAKE_FAILED_NO_DETAIL: the worker closed the connection during the handshake,
  which is what it does when it cannot decrypt our HELLO: the worker public key this
  front end holds is not that worker's. libzmq dials again by itself.
- HANDSHAKE_FAILED_PROTOCOL: the peer speaks something else (no CurveZMQ, not ZMTP).
- HANDSHAKE_SUCCEEDED: the link works; whatever was wrong is over.

The first time a problem appears it is logged as a warning (the same one again at
every redial only at debug level), and it is the host's `reason` in /api/hosts.

Pure: no sockets, no loop. LinkMonitor (link_monitor.py) feeds events in and acts on
the answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import zmq

REDIAL_FIRST = 1.0
REDIAL_MAX = 10.0

HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
)
"""The monitor events this module reads, besides CONNECTED and DISCONNECTED."""


@dataclass(frozen=True, slots=True)
class LinkKeyFiles:
    """The key files a front end holds, named in what it says about a refusal."""

    public_key: str
    """This front end's public key file (its secret key file without `_secret`)."""
    worker_public_key: str

    @classmethod
    def of(cls, curve_secret_key: str, worker_public_key: str) -> LinkKeyFiles:
        return cls(curve_secret_key.removesuffix("_secret"), worker_public_key)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a link does about one monitor event."""

    log_level: int = logging.NOTSET
    """NOTSET: nothing to log."""
    log: str = ""
    changed: bool = False
    """The link's problem changed: its host's status must be told again."""
    redial_after: float | None = None
    """Seconds after which to dial again (libzmq will not)."""
    reconnected: bool = False
    """A handshake succeeded after an earlier one: the link was made again."""


class LinkHealth:
    """The state of one link's connection as its monitor events tell it."""

    def __init__(self, endpoint: str, keys: LinkKeyFiles) -> None:
        self.endpoint = endpoint
        self.keys = keys
        self.problem = ""
        """Why the link cannot be used, for people; empty when nothing is known wrong."""
        self._handshaken = False  # the current connection passed its handshake
        self._succeeded_before = False
        self._refusals = 0  # refusals in a row, for the redial pause

    def on_event(self, event: int, value: int) -> Verdict:
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            return self._succeeded()
        if event == zmq.EVENT_DISCONNECTED:
            was, self._handshaken = self._handshaken, False
            if was:  # a connection that never passed its handshake was never there
                return Verdict(logging.WARNING, f"worker link {self.endpoint}: connection dropped")
            return Verdict()
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self._refusals += 1
            pause = min(REDIAL_FIRST * 2 ** (self._refusals - 1), REDIAL_MAX)
            verdict = self._failed(self._refused(value), f"; trying again in {pause:g} s")
            return Verdict(verdict.log_level, verdict.log, verdict.changed, redial_after=pause)
        if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            return self._failed(
                "the CurveZMQ handshake failed: the worker public key this front end holds "
                f"({self.keys.worker_public_key}) is probably not that worker's"
            )
        if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            return self._failed(
                f"the handshake failed (ZeroMQ protocol error {value:#x}): is a dterm worker "
                "with CurveZMQ listening there?"
            )
        return Verdict()

    def _refused(self, status: int) -> str:
        if status == 400:
            return (
                f"the worker refused this front end's key ({self.keys.public_key}): add that "
                "file to the worker's --curve-allow folder"
            )
        if status == 500:
            return "the worker cannot read its folder of allowed front-end keys (see its log)"
        return f"the worker refused this front end (key gate status {status})"

    def _failed(self, problem: str, next_step: str = "") -> Verdict:
        changed = problem != self.problem
        self.problem = problem
        level = logging.WARNING if changed else logging.DEBUG
        return Verdict(level, f"worker link {self.endpoint}: {problem}{next_step}", changed)

    def _succeeded(self) -> Verdict:
        reconnected = self._succeeded_before
        self._handshaken = self._succeeded_before = True
        self._refusals = 0
        if not self.problem:
            level = logging.INFO if reconnected else logging.DEBUG
            text = "connected again" if reconnected else "connected"
            return Verdict(level, f"worker link {self.endpoint}: {text}", reconnected=reconnected)
        self.problem = ""
        return Verdict(
            logging.INFO,
            f"worker link {self.endpoint}: handshake succeeded, the link works now",
            changed=True,
            reconnected=reconnected,
        )
