"""A unix-socket proxy in front of a Docker daemon that can stall its control calls.

While `stalled`, requests on ordinary API connections are held (never answered
until the stall ends), as from a daemon too busy to answer; exec streams (connections
upgraded by `exec start`) keep flowing. It runs on a loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.images import docker_url


class DockerProxy:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "docker-proxy.sock"
        self.url = f"unix://{self.path}"
        self._daemon = urlsplit(docker_url()).path  # this run's daemon
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Docker proxy did not start")

    def stall(self, stalled: bool) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear if stalled else self._flowing.set)

    def close(self) -> None:
        self.stall(False)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._flowing.set()
        self._loop.run_until_complete(asyncio.start_unix_server(self._serve, str(self.path)))
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        daemon_r, daemon_w = await asyncio.open_unix_connection(self._daemon)
        upgraded = [False]
        await asyncio.gather(
            self._pump(client_r, daemon_w, upgraded, requests=True),
            self._pump(daemon_r, client_w, upgraded, requests=False),
            return_exceptions=True,
        )

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upgraded: list[bool],
        requests: bool,
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if requests and b"Upgrade: tcp" in chunk:
                    upgraded[0] = True
                if requests and not upgraded[0]:
                    await self._flowing.wait()
                writer.write(chunk)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError):
                writer.close()
