"""The engines a worker may own, and where their Docker-compatible APIs differ.

A worker speaks the Docker Engine API to Docker Engine or to Podman's compatible
service (`podman system service`). Most calls answer alike; what differs is read
here, once, so the rest of the worker sees one behaviour:

- /version: Podman names itself in `Components` ("Podman Engine"); Docker does not.
- exec inspect: Docker keeps `Pid` after the exec has ended and reports `ExitCode`
  null until then. Podman reports `Pid` 0 once the exec has ended and `ExitCode` 0
  before it has run; only `CanRemove` (true once the exec has stopped) tells an
  exit code from "not yet". So with Podman the exit code counts only once
  `CanRemove` says it has ended, and whether the process ever started cannot be
  told from the PID (`started` is None).
- archive stat (the header of an archive GET): Docker's `linkTarget` is empty unless
  the path is a symbolic link; Podman's is where the path resolves, the path itself
  for a plain file. So with Podman a path is a link only when that differs.

- an exec created in a container that is not running: Docker answers 409, Podman
  500 with "container state improper".

Container events differ too (Podman says `remove` where Docker says `destroy`, and
adds `init` and `cleanup`): containers.py lists the actions of both.

Pure: no I/O.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Engine(StrEnum):
    DOCKER = "Docker"
    PODMAN = "Podman"


@dataclass(frozen=True, slots=True)
class ExecState:
    """What exec inspect tells: `pid` is the host PID while it runs (0 if it never
    started); `exit_code` is None until it has ended; `started` says whether its
    process ever started, None when the daemon cannot tell."""

    running: bool
    exit_code: int | None
    pid: int
    container_id: str
    started: bool | None = None


GO_MODE_DIR = 1 << 31  # os.ModeDir in the Go FileMode both report


@dataclass(frozen=True, slots=True)
class PathStat:
    name: str
    size: int
    is_dir: bool
    link_target: str
    """Where the path links to; "" when it is no symbolic link."""


def engine_of(version: dict[str, Any]) -> Engine:
    """The engine behind a /version answer."""
    for component in version.get("Components") or []:
        if str((component or {}).get("Name", "")).lower().startswith("podman"):
            return Engine.PODMAN
    return Engine.DOCKER


def exec_state(engine: Engine, raw: dict[str, Any]) -> ExecState:
    """An exec inspect answer as one behaviour, whichever engine gave it."""
    running = bool(raw.get("Running"))
    pid = int(raw.get("Pid") or 0)
    code = raw.get("ExitCode")
    started: bool | None = pid != 0 or None
    if engine is Engine.PODMAN:
        if running or not raw.get("CanRemove"):
            code = None  # created and not started yet, or running: its 0 means nothing
    else:
        started = pid != 0
    return ExecState(
        running=running,
        exit_code=None if code is None else int(code),
        pid=pid,
        container_id=str(raw.get("ContainerID", "")),
        started=started,
    )


def path_stat(engine: Engine, path: str, raw: dict[str, Any]) -> PathStat:
    """An archive stat of `path` as one behaviour, whichever engine gave it."""
    target = str(raw.get("linkTarget") or "")
    if engine is Engine.PODMAN and posixpath.normpath(target) == posixpath.normpath(path):
        target = ""
    return PathStat(
        name=str(raw.get("name", "")),
        size=int(raw.get("size", 0)),
        is_dir=bool(int(raw.get("mode", 0)) & GO_MODE_DIR),
        link_target=target,
    )


PODMAN_NOT_RUNNING = "container state improper"


def not_running_answer(status: int | None, message: str) -> bool:
    """Whether an error answer says the container is not running: Podman says so with
    HTTP 500 where Docker answers 409."""
    return status == 500 and PODMAN_NOT_RUNNING in message
