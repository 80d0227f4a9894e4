"""ProcessRecords: what is needed to end a session's processes, kept on disk while they run.

Docker cannot end an exec, and a worker killed with -9 takes its sessions'
streams with it while their processes run on in the containers. So from the moment
a session's process is known until its processes are ended, one small file in
`<state_dir>/processes/` names it (host PID, start time, PID namespace). A worker
that starts ends every process such a file names, if it is still the same process
(PID and start time), and removes the files: nothing an earlier run started is left.

Blocking file and /proc I/O: callers run `keep`, `drop` and `sweep` off the loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
from pathlib import Path

from exec_worker import teardown

log = logging.getLogger(__name__)


class ProcessRecords:
    def __init__(self, state_dir: str) -> None:
        self.folder = Path(state_dir) / "processes"

    def _path(self, session: str) -> Path:
        return self.folder / (hashlib.sha256(session.encode()).hexdigest()[:32] + ".json")

    def keep(self, session: str, process: teardown.ProcessRef) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {"session": session, "pid": process.pid, "start_time": process.start_time,
                  "pid_namespace": process.pid_namespace}  # fmt: skip
        path = self._path(session)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(record))
        os.replace(temp, path)

    def drop(self, session: str) -> None:
        self._path(session).unlink(missing_ok=True)

    def sweep(self) -> int:
        """End what an earlier run of this worker left running; returns how many
        processes were signalled."""
        if not self.folder.is_dir():
            return 0
        ended = 0
        for path in sorted(self.folder.iterdir()):
            ended += self._end(path)
            path.unlink(missing_ok=True)
        return ended

    def _end(self, path: Path) -> int:
        try:
            record = json.loads(path.read_text())
            root = teardown.ProcessRef(int(record["pid"]), int(record["start_time"]),
                                       str(record["pid_namespace"]))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable process record %s: %s", path.name, exc)
            return 0
        hit = teardown.signal_all(teardown.session_processes(root), signal.SIGKILL)
        if hit:
            log.info("session %s: ended %d processes an earlier run left", record.get("session"),
                     len(hit))  # fmt: skip
        return len(hit)
