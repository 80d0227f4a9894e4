"""binary_frame lays out RFC 6455 frames that a WebSocket client reads back whole."""

from __future__ import annotations

import struct

import pytest

from frontend_server.ws_frames import binary_frame


def parse(frame: bytes) -> tuple[int, bytes]:
    """First byte and payload of one unmasked frame, read as RFC 6455 section 5.2 says."""
    first, second = frame[0], frame[1]
    assert not second & 0x80, "server frames are never masked"
    size, at = second & 0x7F, 2
    if size == 126:
        (size,), at = struct.unpack("!H", frame[2:4]), 4
    elif size == 127:
        (size,), at = struct.unpack("!Q", frame[2:10]), 10
    assert len(frame) == at + size, "nothing before or after the payload"
    return first, frame[at:]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 300_000])
def test_every_length_encoding_round_trips(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    first, payload = parse(binary_frame(data))
    assert first == 0x82  # FIN, opcode 2 (binary), no RSV bits: not compressed
    assert payload == data


def test_the_shortest_header_is_used() -> None:
    assert len(binary_frame(b"x" * 125)) == 127
    assert len(binary_frame(b"x" * 126)) == 126 + 4
    assert len(binary_frame(b"x" * 65536)) == 65536 + 10
