"""ExecResizer: a session's terminal size given to its exec, one Docker call at a time.

A window dragged across a screen sends a burst of sizes; they collapse into one call
with the latest. A size asked for while the exec starts is given once it runs, and
one asked for before the default shell has printed anything is given again at its
first output (its `stty` may not have run yet). A resize that meets an exec which
has just ended fails: that is the end of the session, not an error.

Concurrency: the worker's loop; the Docker call runs on its thread pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from exec_worker.docker_exec import DockerHost
from shared.errors import DtermError


class ExecResizer:
    def __init__(
        self,
        docker: DockerHost,
        running: Callable[[], bool],
        log: logging.LoggerAdapter,  # type: ignore[type-arg]
    ) -> None:
        self.exec_id = ""
        self._docker, self._running, self._log = docker, running, log
        self._wanted: tuple[int, int] | None = None
        self._at_first_output: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def want(self, cols: int, rows: int) -> None:
        """Give the exec this size as soon as it can take it."""
        self._wanted = (cols, rows)
        if self.exec_id and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._apply())

    def again_at_first_output(self, cols: int, rows: int) -> None:
        self._at_first_output = (cols, rows)

    def first_output(self) -> None:
        if self._at_first_output is not None:
            self.want(*self._at_first_output)
            self._at_first_output = None

    def take_wanted(self) -> tuple[int, int] | None:
        """The size asked for before the exec started (it starts at that size)."""
        wanted, self._wanted = self._wanted, None
        return wanted

    def started(self, exec_id: str, size: tuple[int, int], size_given: bool) -> None:
        """The exec runs: a size asked for while it started goes now, and so does its
        size when the daemon could not take it at start (API before 1.42)."""
        self.exec_id = exec_id
        if self._wanted is not None:
            self.want(*self._wanted)
        elif not size_given:
            self.want(*size)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _apply(self) -> None:
        while self._wanted is not None and self._running():
            cols, rows = self._wanted
            self._wanted = None
            try:
                await self._docker.resize_exec(self.exec_id, cols, rows)
            except DtermError as exc:
                self._log.debug("resize not applied: %s", exc)
                return
