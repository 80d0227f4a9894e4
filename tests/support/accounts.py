"""Users files and tokens made with the real `dterm users` / `dterm tokens` commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.processes import REPO

PASSWORD = "correct horse battery"
"""The password tests give the people they make."""


def accounts(*args: str, stdin: str = "") -> str:
    """Run `dterm ARGS...` (users, tokens) and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "dterm_cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def add_user(users: Path | str, name: str, password: str = PASSWORD, groups: str = "") -> None:
    accounts("users", "--users-file", str(users), "add", name, "--password-stdin",
             "--groups", groups, stdin=password + "\n")  # fmt: skip
