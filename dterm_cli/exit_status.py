"""The exit status of the dterm client: the program's own, else a documented code.

`dterm exec` (and `attach`, `watch`) ends with the exit code of the program it ran
whenever that is known, so scripts can use it as they would the program's. Other
outcomes have codes of their own (TABLE, also in `dterm exec --help` and the README):
start failures take the shell's 126 and 127, the rest sit at the top of the range,
where programs rarely go (ssh takes 255 for its own failures the same way).

Pure: no I/O.
"""

from __future__ import annotations

from enum import IntEnum

from dterm_cli.plain_text import plain

TABLE = """\
exit status:
  the program's exit code, when the program ended and Docker knows its code
  2    wrong usage of dterm
  126  the command could not be started (no such user or working directory, not
       executable)
  127  the command, or any shell, is missing in the container
  248  another error (a bad request, a conflict, an internal error)
  249  the session ended without an exit code (closed, idle, its container stopped,
       or another connection took it over)
  250  unavailable: the host is down or too busy, or a limit was reached
  251  the container is not running
  252  not found: no such container, host or session
  253  forbidden by the policy or the host's rules
  254  not signed in: no credential for this front end, or it was refused
  255  lost: the front end could not be reached (or not again within
       --reconnect-for), the host was lost, or the session vanished meanwhile
  128+N  dterm was ended by signal N, after closing the session (141: the reader
       of its output went away)
"""


class Status(IntEnum):
    OK = 0
    USAGE = 2
    START_FAILED = 126
    COMMAND_NOT_FOUND = 127
    FAILED = 248
    ENDED = 249
    UNAVAILABLE = 250
    NOT_RUNNING = 251
    NOT_FOUND = 252
    FORBIDDEN = 253
    NOT_SIGNED_IN = 254
    LOST = 255


SIGNALLED = 128
"""Added to a signal's number for the status of a dterm ended by that signal."""
BROKEN_PIPE = SIGNALLED + 13


class CliError(Exception):
    """Ends the dterm client with `status`, saying `message` on stderr (if any)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(plain(message))  # it often quotes the front end
        self.status = status


_BY_ERROR_CODE = {
    "start_failed": Status.START_FAILED,
    "command_not_found": Status.COMMAND_NOT_FOUND,
    "unavailable": Status.UNAVAILABLE,
    "limit_reached": Status.UNAVAILABLE,
    "timeout": Status.UNAVAILABLE,
    "not_running": Status.NOT_RUNNING,
    "not_found": Status.NOT_FOUND,
    "forbidden": Status.FORBIDDEN,
}

_BY_HTTP_STATUS = {
    401: Status.NOT_SIGNED_IN,
    403: Status.FORBIDDEN,
    404: Status.NOT_FOUND,
    409: Status.NOT_RUNNING,
    429: Status.UNAVAILABLE,
    502: Status.LOST,
    503: Status.UNAVAILABLE,
    504: Status.LOST,
}


def for_error(code: str) -> Status:
    """The status for an `error` message's code (the browser protocol's codes)."""
    return _BY_ERROR_CODE.get(code, Status.FAILED)


def for_http(status: int) -> Status:
    """The status for a refused HTTP request."""
    return _BY_HTTP_STATUS.get(status, Status.FAILED)


def for_exit(code: int | None, reason: str, failure: str = "") -> int:
    """The status for the session's `exit` message; `failure` is the code of a start
    failure reported just before it (`command_not_found`, `start_failed`), which decides
    whatever number Docker gave."""
    if failure in ("command_not_found", "start_failed"):
        return for_error(failure)
    if reason == "host-lost":
        return Status.LOST
    if code is not None and 0 <= code <= 255:
        return code
    return Status.ENDED
