"""Binary WebSocket frames: a header of 2 to 10 bytes, then the terminal's bytes.

A server's frames are never masked and this server never compresses (it offers no
extension in the handshake), so a frame is exactly the header of RFC 6455 section
5.2 and the payload; terminal output leaves as that, with no framework in between.
"""

from __future__ import annotations

import struct

_FIN_BINARY = 0x82


def binary_frame(data: bytes) -> bytes:
    """One final, unmasked binary frame carrying `data`."""
    size = len(data)
    if size < 126:
        head = bytes((_FIN_BINARY, size))
    elif size <= 0xFFFF:
        head = struct.pack("!BBH", _FIN_BINARY, 126, size)
    else:
        head = struct.pack("!BBQ", _FIN_BINARY, 127, size)
    return head + data
