"""The dterm client's own stdin, stdout and stderr, used from its event loop.

StdinReader reads stdin without blocking the loop: it waits for the descriptor to
be readable (a terminal, a pipe, a socket), and reads a regular file or /dev/null
at once (they cannot be polled, and never block). OutputWriter writes stdout and
stderr on one daemon thread, in the order asked, so the loop goes on answering
pings and resizes while a slow reader of our output (a pager, a full pipe) holds a
write: the caller awaits each write and acknowledges the output only then, so a slow
reader slows the program in the container. Being a daemon thread, a write blocked
for good never keeps dterm from exiting.

Concurrency: StdinReader runs on the loop; OutputWriter hands each write to its
thread and the result back to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading


class StdinReader:
    def __init__(self, fd: int = 0) -> None:
        self._fd = fd
        self._pollable = True

    async def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end of stdin."""
        while True:
            if not self._pollable:
                return os.read(self._fd, size)
            try:
                return await self._read_when_ready(size)
            except BlockingIOError:
                continue  # readable, then taken by someone else: wait again

    async def _read_when_ready(self, size: int) -> bytes:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        try:
            loop.add_reader(self._fd, _settle, ready, None)
        except PermissionError:  # epoll refuses regular files and /dev/null
            self._pollable = False
            return os.read(self._fd, size)
        try:
            await ready
        finally:
            loop.remove_reader(self._fd)
        return os.read(self._fd, size)


_Job = tuple[int, bytes, "asyncio.Future[None] | None"]


class OutputWriter:
    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="dterm-output", daemon=True).start()

    async def write(self, fd: int, data: bytes) -> None:
        """Write all of `data`; raises the OSError of a failed write (BrokenPipeError
        when the reader has gone)."""
        done: asyncio.Future[None] = self._loop.create_future()
        self._jobs.put((fd, data, done))
        await done

    def put(self, fd: int, data: bytes) -> None:
        """Write after what was asked before, without waiting (messages to stderr)."""
        self._jobs.put((fd, data, None))

    async def drain(self, seconds: float) -> None:
        """Wait up to `seconds` for everything asked so far to be written."""
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(self.write(2, b""), seconds)

    def _run(self) -> None:
        while True:
            fd, data, done = self._jobs.get()
            error: OSError | None = None
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except OSError as exc:
                error = exc
            if done is not None:
                try:
                    self._loop.call_soon_threadsafe(_settle, done, error)
                except RuntimeError:  # the loop has closed: dterm is ending
                    return


def _settle(done: asyncio.Future[None], error: OSError | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
