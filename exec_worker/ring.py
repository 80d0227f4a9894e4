"""OutputRing: the last `capacity` bytes of a session's output, addressed by offset.

Offsets count every byte the session ever produced; the byte at offset `o` lives
at `o % capacity`. The ring keeps the bytes from `start` to `end` and overwrites
older ones. Its buffer grows on demand up to the capacity, so a quiet session
costs almost nothing, and is given back once nobody needs what it holds. Pure: no I/O.
"""

from __future__ import annotations


class OutputRing:
    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.end = 0
        self._floor = 0  # nothing before this is kept (see release)
        self._buffer = bytearray()

    @property
    def start(self) -> int:
        """Offset of the oldest byte still kept."""
        return max(self._floor, self.end - self.capacity)

    def release(self) -> None:
        """Forget the bytes kept so far and give their memory back; offsets go on."""
        self._floor = self.end
        self._buffer = bytearray()

    def restore(self, start: int, data: bytes) -> None:
        """Hold `data` as the bytes from offset `start` on (a ring handed over by the
        worker that ran before): its last `capacity` bytes, if it holds more."""
        self.end = self._floor = start
        self._buffer = bytearray()
        self.append(data)
        self._floor = max(start, self.end - self.capacity)

    def append(self, data: bytes) -> None:
        capacity = self.capacity
        if len(data) > capacity:
            self.end += len(data) - capacity  # those bytes were never kept
            data = data[-capacity:]
        if self.end > len(self._buffer) < capacity:
            self._buffer.extend(bytes(capacity - len(self._buffer)))
        view = memoryview(data)
        while view:
            at = self.end % capacity
            size = min(len(view), capacity - at)
            self._buffer[at : at + size] = view[:size]
            self.end += size
            view = view[size:]

    def read(self, start: int, end: int) -> bytes:
        """A copy of the bytes [start, end); both must lie within [self.start, self.end]."""
        if not self.start <= start <= end <= self.end:
            raise ValueError(f"range {start}-{end} is outside the ring's {self.start}-{self.end}")
        at, size = start % self.capacity, end - start
        if at + size <= self.capacity:
            return bytes(self._buffer[at : at + size])
        first = self.capacity - at
        return bytes(self._buffer[at:]) + bytes(self._buffer[: size - first])
