"""The `dterm` client run as people and scripts run it: a child process with its own
config folder (so its credentials are the test's own), on pipes or on a pty."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import REPO
from tests.support.pty_process import PtyProcess

DTERM = [sys.executable, "-m", "dterm_cli"]


@dataclass
class Cli:
    config: Path
    """$XDG_CONFIG_HOME of these runs: credentials are in config/dterm/."""

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DTERM_URL"}
        return {**env, "XDG_CONFIG_HOME": str(self.config), "PYTHONUNBUFFERED": "1"}

    def run(
        self, *args: str, timeout: float = 60, **kwargs: Any
    ) -> subprocess.CompletedProcess[bytes]:
        """`dterm ARGS...` to its end; stdin is /dev/null unless given (`input=`, `stdin=`)."""
        if "input" not in kwargs and "stdin" not in kwargs:
            kwargs["stdin"] = subprocess.DEVNULL
        return subprocess.run(
            [*DTERM, *args], capture_output=True, env=self.env, cwd=REPO, timeout=timeout, **kwargs
        )

    def start(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """`dterm ARGS...` in the background, on pipes unless told otherwise."""
        streams = {
            "stdin": subprocess.DEVNULL,
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            **kwargs,
        }
        return subprocess.Popen([*DTERM, *args], env=self.env, cwd=REPO, **streams)

    def pty(self, *args: str, cols: int = 80, rows: int = 24) -> PtyProcess:
        """`dterm ARGS...` on a terminal of its own."""
        return PtyProcess([*DTERM, *args], self.env, cols, rows)

    def login(self, url: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        done = self.run("login", url, *args, **kwargs)
        assert done.returncode == 0, done.stderr
        return done
