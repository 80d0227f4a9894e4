"""The wire codec between front ends and exec workers (ZeroMQ frames, msgpack).

On the wire a message (shared/messages.py) is one msgpack frame holding
``[tag, field, field, ...]`` in declaration order; a message that carries terminal
bytes (its last field is ``data: bytes``) sends them as a second, raw frame that is
never packed and never decoded. ``decode()`` is the one place that checks tags,
arity, types and bounds; past it only typed messages travel. A newer version may
only add fields at the end of a message (this one leaves them unread) and new
messages, which it sends only to peers that agreed on that version (``agree``).

Pure: no I/O, no sockets, no logging. The spec is docs/protocol.md; keep both in step.
"""

from __future__ import annotations

import dataclasses
import operator
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Union, get_args, get_origin, get_type_hints

import msgpack

from shared.errors import ProtocolError, TooLarge, VersionMismatch
from shared.messages import MAX_OFFSET, Input, Message, Output

PROTOCOL_VERSION = 4
"""The newest version of the worker protocol this code speaks."""
OLDEST_PROTOCOL = 3
"""The oldest it still speaks: peers agree on the newest version both know, so front
ends and workers of neighbouring releases work together during a rolling upgrade."""

MAX_HEADER_BYTES = 4 << 20  # a packed header frame; container lists are the big ones
MAX_DATA_BYTES = 1 << 20  # one frame of terminal bytes
MAX_STRING = 1 << 16
MAX_LIST = 100_000


# --- validation machinery -------------------------------------------------------

Check = Callable[[Any, str], Any]


def _fail(name: str, expected: str, value: Any) -> ProtocolError:
    return ProtocolError(f"{name}: expected {expected}, got {type(value).__name__}")


def _check_str(value: Any, name: str) -> str:
    if type(value) is not str:
        raise _fail(name, "a string", value)
    if len(value) > MAX_STRING:
        raise TooLarge(f"{name}: string longer than {MAX_STRING}")
    return value


def _check_int(value: Any, name: str) -> int:
    if type(value) is not int:
        raise _fail(name, "an integer", value)
    if not -MAX_OFFSET <= value <= MAX_OFFSET:
        raise ProtocolError(f"{name}: integer out of range")
    return value


def _check_bool(value: Any, name: str) -> bool:
    if type(value) is not bool:
        raise _fail(name, "true or false", value)
    return value


def _optional(inner: Check) -> Check:
    def check(value: Any, name: str) -> Any:
        return None if value is None else inner(value, name)

    return check


def _list_of(inner: Check) -> Check:
    def check(value: Any, name: str) -> list[Any]:
        if type(value) is not list:
            raise _fail(name, "a list", value)
        if len(value) > MAX_LIST:
            raise TooLarge(f"{name}: list longer than {MAX_LIST}")
        return [inner(item, name) for item in value]

    return check


def _check_str_map(value: Any, name: str) -> dict[str, str]:
    if type(value) is not dict:
        raise _fail(name, "a map", value)
    if len(value) > MAX_LIST:
        raise TooLarge(f"{name}: map larger than {MAX_LIST}")
    return {_check_str(k, name): _check_str(v, name) for k, v in value.items()}


def _enum_of(enum: type[StrEnum]) -> Check:
    def check(value: Any, name: str) -> StrEnum:
        try:
            return enum(_check_str(value, name))
        except ValueError:
            raise ProtocolError(f"{name}: unknown value {value!r}") from None

    return check


def _record_of(cls: type) -> Check:
    checks = _field_checks(cls)

    def check(value: Any, name: str) -> Any:
        if type(value) is not list or len(value) != len(checks):
            raise _fail(name, f"a list of {len(checks)} fields", value)
        return cls(**{n: c(v, f"{name}.{n}") for (n, c), v in zip(checks, value, strict=True)})

    return check


def _check_for(tp: Any) -> Check:
    origin, args = get_origin(tp), get_args(tp)
    if tp is str:
        return _check_str
    if tp is int:
        return _check_int
    if tp is bool:
        return _check_bool
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return _optional(_check_for(next(a for a in args if a is not type(None))))
    if origin is list:
        return _list_of(_check_for(args[0]))
    if origin is dict and args == (str, str):
        return _check_str_map
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return _enum_of(tp)
    if dataclasses.is_dataclass(tp):
        return _record_of(tp)  # type: ignore[arg-type]
    raise TypeError(f"no wire form for {tp!r}")


def _field_checks(cls: type) -> list[tuple[str, Check]]:
    hints = get_type_hints(cls)
    return [
        (f.name, _check_for(hints[f.name])) for f in dataclasses.fields(cls) if f.name != "data"
    ]


@dataclass(frozen=True, slots=True)
class _Spec:
    cls: type
    names: tuple[str, ...]
    checks: tuple[Check, ...]
    has_data: bool
    nested: bool
    all_names: tuple[str, ...]
    by_keyword: bool
    fields_of: Callable[[Any], tuple[Any, ...]]
    """The header fields of a message, in order, read by one C call."""
    required: int
    """Leading fields every version sends; those after them have defaults and may be
    missing from an older peer's message."""


def _spec(cls: type) -> _Spec:
    names = tuple(f.name for f in dataclasses.fields(cls))
    has_data = names[-1] == "data"
    checked = _field_checks(cls)
    hints = get_type_hints(cls)
    nested = any(
        get_origin(hints[n]) in (list, Union, types.UnionType) or dataclasses.is_dataclass(hints[n])
        for n in names
    )
    return _Spec(
        cls,
        names[:-1] if has_data else names,
        tuple(c for _, c in checked),
        has_data,
        nested,
        names,
        any(f.kw_only for f in dataclasses.fields(cls)),
        _getter(names[:-1] if has_data else names),
        _required(cls, has_data),
    )


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:  # attrgetter of one name returns the value, not a tuple
        get_one = operator.attrgetter(names[0])
        return lambda message: (get_one(message),)
    return lambda message: ()


def _required(cls: type, has_data: bool) -> int:
    """How many header fields lead without a default (only trailing ones may have one;
    the data frame is never optional)."""
    fields = dataclasses.fields(cls)[:-1] if has_data else dataclasses.fields(cls)
    given = [
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in fields
    ]
    required = given.index(True) if True in given else len(fields)
    if any(not g for g in given[required:]) or (has_data and required < len(fields)):
        raise TypeError(f"{cls.__name__}: only trailing header fields may have defaults")
    return required


_SPECS: dict[str, _Spec] = {cls.TAG: _spec(cls) for cls in get_args(Message)}
_SPEC_OF: dict[type, _Spec] = {spec.cls: spec for spec in _SPECS.values()}


# --- encode / decode ------------------------------------------------------------


class _Packers(threading.local):
    """One msgpack Packer per thread, kept: msgpack.packb makes a Packer per call,
    and each allocates (and frees) a buffer of 256 KiB, which the allocator maps and
    unmaps every time. A Packer is not thread-safe, so each thread has its own."""

    def __init__(self) -> None:
        self.pack = msgpack.Packer().pack


_packers = _Packers()


def _wire(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_wire(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def encode(message: Message) -> list[bytes]:
    """Frames for one message: the packed header, then the raw data frame if any."""
    spec = _SPEC_OF[type(message)]
    fields = spec.fields_of(message)
    if spec.nested:
        fields = tuple(_wire(v) for v in fields)
    header: bytes = _packers.pack([message.TAG, *fields])
    if spec.has_data:
        return [header, message.data]  # type: ignore[union-attr]
    return [header]


def decode(frames: list[bytes]) -> Message:
    """Check and build one message from its frames; raise ProtocolError on anything off."""
    if not 1 <= len(frames) <= 2:
        raise ProtocolError(f"expected 1 or 2 frames, got {len(frames)}")
    header = frames[0]
    if len(header) > MAX_HEADER_BYTES:
        raise TooLarge(f"header frame of {len(header)} bytes")
    try:
        fields = msgpack.unpackb(header, use_list=True, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"header is not msgpack: {exc}") from None
    if type(fields) is not list or not fields or type(fields[0]) is not str:
        raise ProtocolError("header must be a list starting with a message tag")
    if len(frames) == 2 and (hot := _hot(fields, frames[1])) is not None:
        return hot
    return _checked(fields, frames)


def _hot(fields: list[Any], data: bytes) -> Message | None:
    """Input and Output, the messages of every keystroke and every output chunk,
    checked inline, as the generic path below would check them. Each step of that
    path is a call, and on the keystroke path, where every line of code runs with
    cold caches after a wake-up, that cost 20 to 30 us of CPU per key in each process
    (bench/README.md). Anything these checks do not pass takes the generic path,
    which says what is wrong."""
    tag, count = fields[0], len(fields)
    if (tag != "in" and tag != "out") or count < 2 or len(data) > MAX_DATA_BYTES:
        return None
    attachment = fields[1]
    if type(attachment) is not str or len(attachment) > MAX_STRING:
        return None
    if tag == "in":
        return Input(attachment, bytes(data))
    if count >= 3:  # "out"
        offset = fields[2]
        if type(offset) is int and -MAX_OFFSET <= offset <= MAX_OFFSET:
            return Output(attachment, offset, bytes(data))
    return None


def _checked(fields: list[Any], frames: list[bytes]) -> Message:
    """Any message, each field checked by the check its type declares."""
    spec = _SPECS.get(fields[0])
    if spec is None:
        raise ProtocolError(f"unknown message type {fields[0][:40]!r}")
    if len(fields) - 1 < spec.required:
        raise ProtocolError(
            f"{fields[0]}: expected {len(spec.names)} fields, got {len(fields) - 1}"
        )
    # Fields past those this version knows come from a newer peer: they are left unread;
    # trailing ones an older peer does not know take their defaults.
    known = fields[1 : 1 + len(spec.names)]
    values = [check(v, n) for check, v, n in zip(spec.checks, known, spec.names, strict=False)]
    if spec.has_data:
        if len(frames) != 2:
            raise ProtocolError(f"{fields[0]}: missing its data frame")
        if len(frames[1]) > MAX_DATA_BYTES:
            raise TooLarge(f"{fields[0]}: data frame of {len(frames[1])} bytes")
        values.append(bytes(frames[1]))
    elif len(frames) != 1:
        raise ProtocolError(f"{fields[0]}: unexpected data frame")
    try:
        if spec.by_keyword:
            message: Message = spec.cls(**dict(zip(spec.all_names, values, strict=False)))
        else:
            message = spec.cls(*values)
    except TypeError as exc:
        raise ProtocolError(f"{fields[0]}: {exc}") from None
    return message


def agree(oldest: int, newest: int) -> int:
    """The version to speak with a peer that speaks `oldest` to `newest`: the newest
    both know. VersionMismatch when the ranges do not meet."""
    chosen = min(newest, PROTOCOL_VERSION)
    if chosen < max(oldest, OLDEST_PROTOCOL) or oldest > newest:
        raise VersionMismatch(
            f"the peer speaks protocol versions {oldest} to {newest}, "
            f"this one {OLDEST_PROTOCOL} to {PROTOCOL_VERSION}"
        )
    return chosen
