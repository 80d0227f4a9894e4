"""ProcessRecords: what is needed to end a session's processes, kept on disk while they run.

Docker cannot end an exec, and a worker killed with -9 takes its sessions' streams
with it while their processes run on in the containers. So one small file in
`<state_dir>/processes/` names each session's exec and its marker (host_processes.MARKER)
from before it starts, and its process (host PID, start time, PID namespace) once
that is known, until its processes are ended. A worker that starts ends every
process that carries such a marker or is such a process (the same PID and start
time) or one of its own, and removes the files: nothing an earlier run started is
left, and Docker need not answer for it.

Blocking file and /proc I/O: callers run these methods off the loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from exec_worker import host_processes

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    session: str
    exec_id: str
    marker: str
    process: host_processes.ProcessRef | None


class ProcessRecords:
    def __init__(self, state_dir: str) -> None:
        self.folder = Path(state_dir) / "processes"

    def _path(self, session: str) -> Path:
        return self.folder / (hashlib.sha256(session.encode()).hexdigest()[:32] + ".json")

    def keep(self, record: ProcessRecord) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        process = record.process
        body: dict[str, str | int] = {"session": record.session, "exec": record.exec_id,
                                      "marker": record.marker}  # fmt: skip
        if process is not None:
            body.update(pid=process.pid, start_time=process.start_time,
                        pid_namespace=process.pid_namespace)  # fmt: skip
        path = self._path(record.session)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(body))
        os.replace(temp, path)

    def drop(self, session: str) -> None:
        self._path(session).unlink(missing_ok=True)

    def left(self) -> list[ProcessRecord]:
        """What an earlier run left on disk (unreadable files are logged and removed)."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                body = json.loads(path.read_text())
                process = None
                if "pid" in body:
                    process = host_processes.ProcessRef(int(body["pid"]), int(body["start_time"]),
                                                  str(body["pid_namespace"]))  # fmt: skip
                found.append(ProcessRecord(str(body["session"]), str(body["exec"]),
                                           str(body["marker"]), process))  # fmt: skip
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("unreadable process record %s: %s", path.name, exc)
                path.unlink(missing_ok=True)
        return found


def end_left_processes(carrying: list[host_processes.ProcessRef]) -> int:
    """SIGKILL what is left of a session's processes: those that carry its marker and
    theirs. A record's PID alone is never trusted (a file on disk could name any
    process); returns how many were hit."""
    targets = host_processes.session_processes(None, carrying)
    return len(host_processes.signal_all(targets, signal.SIGKILL))
