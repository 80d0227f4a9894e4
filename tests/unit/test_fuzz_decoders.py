"""Random bytes, random msgpack and random JSON at both decoders: a ProtocolError or a
valid message, never another exception."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from frontend_server.browser_protocol import parse_control
from shared.errors import ProtocolError
from shared.protocol import _SPECS, decode
from tests.support.strategies import json_values, packable


def survives(frames: list[bytes]) -> None:
    with contextlib.suppress(ProtocolError):
        decode(frames)


@settings(max_examples=500)
@given(st.lists(st.binary(max_size=300), max_size=3))
def test_worker_protocol_random_bytes(frames: list[bytes]) -> None:
    survives(frames)


@settings(max_examples=500)
@given(packable, st.lists(st.binary(max_size=20), max_size=2))
def test_worker_protocol_random_msgpack(value: Any, extra: list[bytes]) -> None:
    survives([msgpack.packb(value), *extra])


@settings(max_examples=600)
@given(
    st.sampled_from(sorted(_SPECS)),
    st.lists(packable, max_size=12),
    st.lists(st.binary(max_size=20), max_size=2),
)
def test_worker_protocol_known_tags_random_fields(
    tag: str, fields: list[Any], extra: list[bytes]
) -> None:
    """The interesting case: a real message type with fields of any shape."""
    survives([msgpack.packb([tag, *fields]), *extra])


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_browser_protocol_random_text(text: str) -> None:
    with contextlib.suppress(ProtocolError):
        parse_control(text)


@settings(max_examples=600)
@given(
    st.sampled_from(["open", "attach", "resize", "ack", "close", "x"]),
    st.dictionaries(
        st.sampled_from(
            [
                "host",
                "container",
                "cmd",
                "user",
                "cols",
                "rows",
                "session",
                "offset",
                "mode",
                "token",
            ]
        ),
        json_values,
    ),
)
def test_browser_protocol_random_json(kind: str, fields: dict[str, Any]) -> None:
    with contextlib.suppress(ProtocolError):
        parse_control(json.dumps({"type": kind, **fields}))
