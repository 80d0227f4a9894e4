"""A TCP proxy on loopback whose network the test can cut, as Wi-Fi or sleep would.

It forwards each connection to its upstream. `cut()` drops every connection at once
(both sides reset) and refuses new ones (accepted, then closed at once) until
`mend()`. It runs its own event loop on a thread, so it works under sync and async
tests alike; `close()` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.cut_off = False
        self.accepted = 0
        self._links: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        listening = socket.create_server(("127.0.0.1", 0))
        self.port = listening.getsockname()[1]
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(listening, started), daemon=True)
        self._thread.start()
        started.wait(10)

    def _run(self, listening: socket.socket, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, sock=listening)
        )
        started.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._links.discard(writer)
            writer.transport.abort()

    def _cut(self) -> None:
        self.cut_off = True
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._loop.call_soon_threadsafe(self._cut)

    def mend(self) -> None:
        self.cut_off = False

    def close(self) -> None:
        def stop() -> None:
            self._cut()
            self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(10)
        with contextlib.suppress(RuntimeError):
            self._loop.close()
