"""The only module that imports docker: control calls, events, archives.

Control calls (create, inspect, resize, list, archives) use the docker SDK, which
blocks, so they run on a small bounded thread pool and never on the event loop.
Container events are read by one dedicated thread (EventFeed). The exec stream
itself is not taken from the SDK: start_exec sends the request on a non-blocking
connection and exec_stream.ExecStream reads it, so a session costs no thread. The
same goes for execs without a tty (create_plain_exec), whose stream is multiplexed
(exec_pipe.py).

Docker errors become the typed errors of shared.errors here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import IO, Any, TypeVar
from urllib.parse import urlencode, urlsplit

import docker
import docker.errors
import requests.exceptions

from exec_worker.engines import Engine, engine_of, exec_state, not_running_answer, path_stat
from exec_worker.engines import ExecState as ExecState
from exec_worker.engines import PathStat as PathStat
from exec_worker.exec_stream import ExecStream
from exec_worker.metrics import DOCKER_ERRORS
from shared.errors import DtermError, NotFound, NotRunning, StartFailed, Unavailable
from shared.messages import ContainerInfo

log = logging.getLogger(__name__)

T = TypeVar("T")

CALL_TIMEOUT = 15.0
"""Seconds a Docker control call may wait for the daemon's answer (socket timeout)."""
QUEUED_PER_THREAD = 16
"""Calls waiting for a Docker thread, per thread, before more are refused at once."""
ANSWERS = (404, 409)
"""Statuses that answer a question (no such thing, not running), not errors: a resize
that meets an exec that has just ended, an inspect of a container just removed."""


class DockerBusy(Unavailable):
    """Too many calls wait for the daemon already: try again in a moment."""


@dataclass(frozen=True, slots=True)
class DaemonFacts:
    engine: Engine
    version: str
    api_version: str


def _translate(exc: Exception) -> DtermError:
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(str(exc.explanation or exc))
    if isinstance(exc, docker.errors.APIError):
        message = str(exc.explanation or exc)
        if exc.status_code == 409 or not_running_answer(exc.status_code, message):
            return NotRunning(message)
        return StartFailed(message) if exc.status_code == 500 else Unavailable(message)
    if isinstance(exc, requests.exceptions.RequestException | OSError):
        return Unavailable(f"Docker daemon unreachable: {exc}")
    return DtermError(f"Docker call failed: {exc!r}")


class DockerHost:
    """One Docker daemon, reached from the loop without blocking it."""

    def __init__(
        self, api: Any, url: str, pool: ThreadPoolExecutor, threads: int, engine: Engine
    ) -> None:
        self._api = api
        self.engine = engine
        """Docker Engine or Podman: where their APIs differ, engines.py says how."""
        self._url = url
        self._pool = pool
        self._queued = 0
        self._max_queued = threads * QUEUED_PER_THREAD
        self.read_buffer = memoryview(bytearray(ExecStream.CHUNK))
        """One read buffer for every exec stream of this host (see ExecStream)."""

    @classmethod
    async def connect(cls, url: str, threads: int) -> DockerHost:
        """Connect, negotiate the API version and learn which engine answers (raises
        Unavailable when down)."""
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="docker")
        loop = asyncio.get_running_loop()
        make = partial(docker.APIClient, base_url=url, version="auto", max_pool_size=threads,
                       timeout=CALL_TIMEOUT)  # fmt: skip
        try:
            api = await loop.run_in_executor(pool, make)
            version = await loop.run_in_executor(pool, api.version)
        except Exception as exc:
            pool.shutdown(wait=False)
            raise _translate(exc) from exc
        engine = engine_of(version)
        log.info("the daemon is %s %s (API %s)", engine.value, version.get("Version"),
                 api.api_version)  # fmt: skip
        return cls(api, url, pool, threads, engine)

    @property
    def api_version(self) -> str:
        return str(self._api.api_version)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._api.close()

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A control call; its failures are counted (those that answer a question are
        not) and typed."""
        try:
            return await self._api_call(fn, *args, **kwargs)
        except DockerBusy:
            raise
        except Exception as exc:
            if getattr(exc, "status_code", None) not in ANSWERS:
                DOCKER_ERRORS.labels(getattr(fn, "__name__", "call")).inc()
            raise _translate(exc) from exc

    async def _api_call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on the pool; refused at once when too many wait already
        (an overloaded daemon gets no longer queue, and callers hear so)."""
        if self._queued >= self._max_queued:
            raise DockerBusy(f"the Docker daemon is busy: {self._queued} calls waiting")
        loop = asyncio.get_running_loop()
        self._queued += 1
        try:
            return await loop.run_in_executor(self._pool, partial(fn, *args, **kwargs))
        finally:
            self._queued -= 1

    async def facts(self) -> DaemonFacts:
        version = await self._call(self._api.version)
        return DaemonFacts(engine=engine_of(version), version=str(version.get("Version", "")),
                           api_version=self.api_version)  # fmt: skip

    async def container_ids(self) -> list[str]:
        rows = await self._call(self._api.containers, all=True, quiet=True)
        return [str(row["Id"]) for row in rows]

    async def container_info(self, container: str) -> ContainerInfo | None:
        """The container as people see it, or None when it does not exist (any more)."""
        try:
            raw = await self._call(self._api.inspect_container, container)
        except NotFound:
            return None
        return _container_info(raw)

    def event_feed(
        self,
        on_event: Callable[[tuple[str, str]], None],
        on_lost: Callable[[Exception | None], None],
    ) -> EventFeed:
        return EventFeed(self._api, on_event, on_lost)

    async def container_running(self, container: str) -> bool:
        """False when the container is stopped, paused or gone."""
        try:
            state = (await self._call(self._api.inspect_container, container))["State"]
        except NotFound:
            return False
        return bool(state.get("Running")) and not state.get("Paused")

    async def create_exec(
        self,
        container: str,
        cmd: list[str],
        user: str | None,
        workdir: str | None,
        detach_keys: str,
        environment: dict[str, str],
        tty: bool = True,
    ) -> str:
        """Create an exec with every stream attached, under a tty unless told otherwise
        (then its stream is multiplexed: start it with start_plain_exec); returns its id."""
        terminal = {"TERM": "xterm-256color"} if tty else {}
        created = await self._call(
            self._api.exec_create,
            container,
            cmd,
            stdout=True,
            stderr=True,
            stdin=True,
            tty=tty,
            environment={**terminal, **environment},
            user=user or "",
            workdir=workdir,
            detach_keys=detach_keys,
        )
        return str(created["Id"])

    async def create_plain_exec(
        self, container: str, cmd: list[str], user: str, stdin: bool, environment: dict[str, str]
    ) -> str:
        """Create an exec without a tty: stdout and stderr come apart, bytes as they are."""
        created = await self._call(
            self._api.exec_create,
            container,
            cmd,
            stdout=True,
            stderr=True,
            stdin=stdin,
            tty=False,
            environment=environment,
            user=user,
        )
        return str(created["Id"])

    async def default_user(self, container: str) -> str:
        """The user the container's processes run as unless told otherwise (Config.User)."""
        raw = await self._call(self._api.inspect_container, container)
        return str((raw.get("Config") or {}).get("User") or "")

    async def put_archive(self, container: str, directory: str, tar: IO[bytes]) -> None:
        """Unpack a tar stream into a directory of the container."""
        done = await self._call(self._api.put_archive, container, directory, tar)
        if not done:
            raise StartFailed(f"Docker did not unpack the upload into {directory}")

    async def get_archive(self, container: str, path: str) -> tuple[Iterator[bytes], PathStat]:
        """A tar stream of one path (read it off the loop) and what Docker says of it."""
        stream, stat = await self._call(self._api.get_archive, container, path)
        return stream, path_stat(self.engine, path, stat)

    async def has_tty(self, container: str) -> bool:
        """Whether the container runs under a tty (its logs then come unframed)."""
        raw = await self._call(self._api.inspect_container, container)
        return bool((raw.get("Config") or {}).get("Tty"))

    async def stats(self, container: str) -> dict[str, Any]:
        """One reading of the container's resource use (Docker's stats JSON). One-shot
        where the daemon has it (API 1.41+): answered at once, without the earlier
        reading an older daemon waits a second for (and then includes)."""
        major, minor = (int(p) for p in self.api_version.split(".")[:2])
        one_shot = True if (major, minor) >= (1, 41) else None
        reading = await self._call(self._api.stats, container, stream=False, one_shot=one_shot)
        return dict(reading)

    async def open_logs(
        self, container: str, tail: int, since: int, follow: bool, stream: ExecStream
    ) -> asyncio.Transport:
        """Ask for a container's logs on a fresh connection read by `stream`. HTTP/1.0,
        so the body comes unchunked and ends with the connection; the answer's head is
        waited for at most CALL_TIMEOUT."""
        query = urlencode({"stdout": 1, "stderr": 1, "follow": int(follow), "tail": tail,
                           "since": since})  # fmt: skip
        head = (
            f"GET /v{self.api_version}/containers/{container}/logs?{query} HTTP/1.0\r\n"
            "Host: docker\r\nUser-Agent: dterm\r\n\r\n"
        ).encode()
        transport = await self._open_connection(stream)
        transport.write(head)
        try:
            await asyncio.wait_for(asyncio.shield(stream.upgraded), CALL_TIMEOUT)
        except TimeoutError:
            transport.close()
            raise Unavailable(f"Docker did not answer for the logs in {CALL_TIMEOUT:g} s") from None
        except BaseException:
            transport.close()
            raise
        return transport

    async def read_blocking(self, read: Callable[[], T]) -> T:
        """Run a blocking read (of an archive stream) on the Docker threads."""
        return await self._call(read)

    async def inspect_exec(self, exec_id: str) -> ExecState:
        raw = await self._call(self._api.exec_inspect, exec_id)
        return exec_state(self.engine, raw)

    async def resize_exec(self, exec_id: str, cols: int, rows: int) -> None:
        """A resize that meets an exec which has just ended fails (404 or 500, by Docker
        version): that is the end of a short session, not an error of Docker's."""
        try:
            await self._api_call(self._api.exec_resize, exec_id, height=rows, width=cols)
        except DtermError:
            raise
        except Exception as exc:
            raise _translate(exc) from exc

    @property
    def supports_console_size(self) -> bool:
        """Exec start takes ConsoleSize from API 1.42 on (Docker 23)."""
        major, minor = (int(p) for p in self.api_version.split(".")[:2])
        return (major, minor) >= (1, 42)

    async def start_exec(
        self, exec_id: str, cols: int, rows: int, stream: ExecStream
    ) -> asyncio.Transport:
        """Send exec start on a fresh connection and wait for `101 UPGRADED`."""
        body: dict[str, Any] = {"Detach": False, "Tty": True}
        if self.supports_console_size:
            body["ConsoleSize"] = [rows, cols]
        return await self._start(exec_id, body, stream)

    async def start_plain_exec(self, exec_id: str, stream: ExecStream) -> asyncio.Transport:
        """Start an exec made by create_plain_exec; its stream is multiplexed."""
        return await self._start(exec_id, {"Detach": False, "Tty": False}, stream)

    async def _start(
        self, exec_id: str, body: dict[str, Any], stream: ExecStream
    ) -> asyncio.Transport:
        payload = json.dumps(body).encode()
        head = (
            f"POST /v{self.api_version}/exec/{exec_id}/start HTTP/1.1\r\n"
            "Host: docker\r\nUser-Agent: dterm\r\nContent-Type: application/json\r\n"
            f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        transport = await self._open_connection(stream)
        transport.write(head + payload)
        try:
            await stream.upgraded
        except BaseException:
            transport.close()
            raise
        return transport

    async def _open_connection(self, stream: ExecStream) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        parts = urlsplit(self._url)
        try:
            if parts.scheme in ("unix", "http+unix"):
                transport, _ = await loop.create_unix_connection(lambda: stream, parts.path)
            elif parts.scheme in ("tcp", "http"):
                host, port = parts.hostname or "127.0.0.1", parts.port or 2375
                transport, _ = await loop.create_connection(lambda: stream, host, port)
            else:
                raise Unavailable(f"unsupported Docker URL scheme {parts.scheme!r}")
        except OSError as exc:
            raise Unavailable(f"Docker daemon unreachable: {exc}") from exc
        return transport


def _unix_time(stamp: str | None) -> int:
    """Docker's RFC 3339 times (nanoseconds, `Z`) as Unix seconds; 0 for its zero time."""
    if not stamp or stamp.startswith("0001-"):
        return 0
    try:
        return int(datetime.fromisoformat(stamp[:19]).replace(tzinfo=UTC).timestamp())
    except ValueError:
        return 0


def _container_info(raw: dict[str, Any]) -> ContainerInfo:
    state = raw.get("State") or {}
    config = raw.get("Config") or {}
    return ContainerInfo(
        id=str(raw.get("Id", "")),
        name=str(raw.get("Name", "")).lstrip("/"),
        image=str(config.get("Image", "")),
        state=str(state.get("Status", "")),
        created=_unix_time(raw.get("Created")),
        started_at=_unix_time(state.get("StartedAt")),
        finished_at=_unix_time(state.get("FinishedAt")),
        exit_code=int(state.get("ExitCode") or 0),
        labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
    )


class EventFeed:
    """Docker's container events, read by one dedicated thread because the SDK blocks.

    One thread per daemon, never per session. Events, as (container id, action), are
    handed to the loop with
    call_soon_threadsafe; `on_lost` is called once when the stream ends for any
    reason other than close().
    """

    def __init__(
        self,
        api: Any,
        on_event: Callable[[tuple[str, str]], None],
        on_lost: Callable[[Exception | None], None],
    ) -> None:
        self._api = api
        self._loop = asyncio.get_running_loop()
        self._on_event = on_event
        self._on_lost = on_lost
        self._stream: Any = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="docker-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed = True
        if self._stream is not None:
            self._stream.close()

    def _run(self) -> None:
        error: Exception | None = None
        try:
            self._stream = self._api.events(decode=True, filters={"type": "container"})
            for event in self._stream:
                action = str(event.get("Action", "")).split(":", 1)[0]
                self._hand_over(self._on_event, (str(event.get("id", "")), action))
        except Exception as exc:  # any end of the stream is reported, never raised here
            error = exc
        if not self._closed:
            self._hand_over(self._on_lost, error)

    def _hand_over(self, callback: Callable[[Any], None], value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: we are shutting down
            self._loop.call_soon_threadsafe(callback, value)
