"""Who a session deals with besides its exec: the connections attached to it, and the
worker that holds it.

An Attachment is one connection taking part in a session, through one front end:
its owner (read-write) or a watcher (read-only). A SessionHost is what a session
tells the worker's registry about its life (started, ended, gone) and asks it (is
the container still running).

Pure declarations: no I/O. sessions.py and the registry use them on the worker's
one event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shared.messages import Message, Mode

if TYPE_CHECKING:
    from exec_worker.sessions import ExecSession

Emit = Callable[[Message], None]


@dataclass(eq=False)
class Attachment:
    """One connection taking part in a session, through one front end."""

    id: str
    peer: bytes
    person: str
    mode: Mode
    emit: Emit
    since: float


class SessionHost(Protocol):
    """What a session tells the worker that holds it."""

    def session_started(self, session: ExecSession) -> None: ...
    def session_ended(self, session: ExecSession) -> None: ...
    def session_gone(self, session: ExecSession) -> None: ...
    def container_running(self, container: str) -> bool | None: ...
