"""How a session ends: its processes ended, its exit found and told, then forgotten.

Once the lifecycle (lifecycle.py) says so, the session's processes get SIGHUP, then
SIGKILL, from /proc (no Docker call) and the exec's connection is closed; how the
program ended is asked of Docker (exec_exit.py), bounded, and whatever goes wrong an
exit is reported. Each attachment is told the exit after its last output byte; the
recording is closed; the worker is told the session ended, and later that it is gone.

SessionEnd is mixed into ExecSession, whose state it reads and writes (the
attributes declared below).

Concurrency: the worker's one event loop, like the session itself; the Docker and
/proc calls run off the loop, each with a deadline.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from exec_worker import exec_exit, plain_output
from shared.messages import ExitReason, Failed, SessionExited

if TYPE_CHECKING:
    from exec_worker.asciicast import Recorder
    from exec_worker.docker_exec import DockerHost
    from exec_worker.fanout import OutputFanOut
    from exec_worker.idle import IdleClock
    from exec_worker.lifecycle import Do, SessionLifecycle
    from exec_worker.session_parties import Attachment, SessionHost
    from exec_worker.session_processes import SessionProcesses
    from exec_worker.sessions import ExecSession
    from shared.process import SessionLog
    from shared.settings import WorkerConfig


class SessionEnd:
    """Mixed into ExecSession: ending its processes, finding and reporting its exit."""

    lifecycle: SessionLifecycle
    fanout: OutputFanOut
    processes: SessionProcesses
    container: str
    tty: bool
    exit: tuple[int | None, ExitReason, str] | None
    recorder: Recorder | None
    log: SessionLog
    _docker: DockerHost
    _config: WorkerConfig
    _host: SessionHost
    _idle: IdleClock
    _transport: asyncio.Transport | None
    _said: bytearray
    _cmd: list[str] | None
    _told_exit: set[str]
    _tasks: dict[str, asyncio.Task[Any]]
    _ended: asyncio.Event

    if TYPE_CHECKING:  # ExecSession's own

        def attachments(self) -> list[Attachment]: ...
        def _apply(self, effects: list[Do]) -> None: ...
        def _set_timer(self, seconds: float | None) -> None: ...

    async def _end_processes(self) -> None:
        """SIGHUP, then SIGKILL, from /proc: no Docker call."""
        self._idle.stop()
        if self.processes.exec_id:
            await self.processes.end(self._config.kill_grace)
        if self._transport is not None:
            self._transport.close()

    def _on_stream_closed(self) -> None:
        self._apply(self.lifecycle.stream_ended())

    async def _find_exit(self) -> None:
        ender = self._tasks.get("end")
        if ender is not None:
            try:
                await ender
            except Exception:
                self.log.exception("ending its processes failed")
        said = bytes(self._said) if self.tty else plain_output.payload(bytes(self._said))
        try:
            ended = await exec_exit.how_it_ended(
                self._docker, self.processes.exec_id, self.lifecycle.ending, self._cmd,
                said, self.container, self._host.container_running(self.container),
                self._config.host_id,
            )  # fmt: skip
        except Exception as exc:  # the exit must be reported whatever went wrong
            self.log.warning("exit status unknown: %r", exc)
            ended = exec_exit.HowItEnded(None, *self.lifecycle.reason(ExitReason.EXITED))
        if ended.failure is not None:
            for attachment in self.attachments():
                attachment.emit(Failed(attachment.id, ended.failure.code, str(ended.failure)))
        self.exit = (ended.code, ended.reason, ended.message)
        self._apply(self.lifecycle.exit_found())

    def _report_exit(self) -> None:
        assert self.exit is not None
        code, reason, _ = self.exit
        for attachment in self.attachments():
            self._exit_when_caught_up(attachment)
        if self.recorder is not None:
            self.recorder.close(code, reason.value)
        self.fanout.release_if_delivered()
        self._idle.stop()
        self._ended.set()
        self._host.session_ended(cast("ExecSession", self))  # mixed into nothing else
        self.log.info("ended (%s, code %s)", reason.value, code)

    def _exit_when_caught_up(self, attachment: Attachment) -> None:
        """An ended session's exit follows its last output byte to each attachment."""
        if self.exit is None or attachment.id in self._told_exit:
            return
        position = self.fanout.positions.get(attachment.id)
        if position is not None and position.sent < self.fanout.end:
            return
        self._told_exit.add(attachment.id)
        attachment.emit(SessionExited(attachment.id, *self.exit))

    def _forget(self) -> None:
        self._set_timer(None)
        self._idle.stop()
        for name, task in self._tasks.items():
            if name != "end":  # ending processes finishes whatever happens
                task.cancel()
        self._ended.set()
        self._host.session_gone(cast("ExecSession", self))
