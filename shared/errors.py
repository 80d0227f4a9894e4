"""One exception tree for the product; every error carries the code the browser sees.

    DtermError                 internal
    ├── ProtocolError          bad_request        a malformed, unknown or out-of-bounds message
    │   └── TooLarge           too_large          a frame or buffer over its limit
    ├── NotFound               not_found          no such container, session or host
    ├── NotRunning             not_running        the container exists but is not running
    ├── CommandNotFound        command_not_found  the command (or a shell) is missing
    ├── StartFailed            start_failed       Docker could not start the exec (bad user, ...)
    ├── Forbidden              forbidden          the person may not do this
    ├── Conflict               conflict           the request clashes with the current state
    ├── Unavailable            unavailable        a worker or a Docker daemon cannot be reached
    ├── LimitReached           limit_reached      too many sessions for a person or a host
    └── TimedOut               timeout            the other side went quiet for too long

Raise these; never return error strings. Both processes map an error to a wire
message with `code` and `str(error)`, so messages must be fit for a person to read.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    """Codes of `error` messages, shared by the browser and the worker protocols."""

    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    NOT_FOUND = "not_found"
    NOT_RUNNING = "not_running"
    COMMAND_NOT_FOUND = "command_not_found"
    START_FAILED = "start_failed"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    VERSION_MISMATCH = "version_mismatch"
    LIMIT_REACHED = "limit_reached"
    TIMEOUT = "timeout"
    INTERNAL = "internal"


class DtermError(Exception):
    """Base of every error this product raises on purpose."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL


class ProtocolError(DtermError):
    code = ErrorCode.BAD_REQUEST


class TooLarge(ProtocolError):
    code = ErrorCode.TOO_LARGE


class NotFound(DtermError):
    code = ErrorCode.NOT_FOUND


class NotRunning(DtermError):
    code = ErrorCode.NOT_RUNNING


class CommandNotFound(DtermError):
    code = ErrorCode.COMMAND_NOT_FOUND


class StartFailed(DtermError):
    code = ErrorCode.START_FAILED


class Forbidden(DtermError):
    code = ErrorCode.FORBIDDEN


class Conflict(DtermError):
    code = ErrorCode.CONFLICT


class Unavailable(DtermError):
    code = ErrorCode.UNAVAILABLE


class VersionMismatch(DtermError):
    code = ErrorCode.VERSION_MISMATCH


class LimitReached(DtermError):
    code = ErrorCode.LIMIT_REACHED


class TimedOut(DtermError):
    code = ErrorCode.TIMEOUT


_BY_CODE: dict[str, type[DtermError]] = {
    cls.code.value: cls
    for cls in (
        DtermError,
        ProtocolError,
        TooLarge,
        NotFound,
        NotRunning,
        CommandNotFound,
        StartFailed,
        Forbidden,
        Conflict,
        Unavailable,
        VersionMismatch,
        LimitReached,
        TimedOut,
    )
}


def error_from_code(code: str, message: str) -> DtermError:
    """Rebuild the typed error a peer reported, so callers can `except` on it."""
    return _BY_CODE.get(code, DtermError)(message)
