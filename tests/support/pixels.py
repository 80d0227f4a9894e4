"""Reading the pixels of a PNG screenshot, with the standard library only.

Enough of PNG for what Chromium writes: 8-bit RGB or RGBA, not interlaced. Tests use
it to tell a drawn terminal from a blank one, which its text buffer cannot tell.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # PNG colour type -> bytes per pixel


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    pixels: list[tuple[int, int, int]]

    def ink(self, tolerance: int = 48) -> int:
        """How many pixels differ from the most common colour (the background) by more
        than `tolerance`, summed over the three channels."""
        background = Counter(self.pixels).most_common(1)[0][0]

        def distance(pixel: tuple[int, int, int]) -> int:
            return sum(abs(a - b) for a, b in zip(pixel, background, strict=True))

        return sum(1 for pixel in self.pixels if distance(pixel) > tolerance)


def _chunks(data: bytes) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    at = len(SIGNATURE)
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        found[kind] = found.get(kind, b"") + data[at + 8 : at + 8 + length]
        at += 12 + length
    return found


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _unfilter(kind: int, line: bytearray, above: bytes, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = above[i]
        corner = above[i - bpp] if i >= bpp else 0
        add = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]
        line[i] = (line[i] + add) & 0xFF


def read_png(data: bytes) -> Picture:
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    chunks = _chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    bpp = CHANNELS[colour]
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * bpp
    above = bytes(stride)
    pixels: list[tuple[int, int, int]] = []
    for row in range(height):
        start = row * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, above, bpp)
        pixels += [(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp)]
        above = bytes(line)
    return Picture(width, height, pixels)
