"""`dterm users` as an operator meets it: an existing account is never replaced by
mistake, and a password that cannot be read is a clear error, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import REPO

PASSWORD = "a long enough password"


def users(users_file: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`dterm users` in a session of its own: no controlling terminal, as under cron,
    CI or ssh without a tty, so a prompt can only read the pipe."""
    return subprocess.run(
        [sys.executable, "-m", "dterm_cli", "users", "--users-file", str(users_file), *args],
        input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60,
        start_new_session=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip


def stored_hash(users_file: Path, name: str) -> str:
    return str(json.loads(users_file.read_text())["users"][name]["hash"])


def test_adding_an_existing_name_is_refused_unless_replace(tmp_path: Path) -> None:
    """A second `add` of the same name changes nothing and says how to replace it;
    with --replace it sets the new password."""
    file = tmp_path / "users.json"
    first = users(file, "add", "ann", "--password-stdin", stdin=PASSWORD + "\n")
    assert first.returncode == 0, first.stderr
    before = stored_hash(file, "ann")
    again = users(file, "add", "ann", "--password-stdin", stdin="another password\n")
    assert again.returncode == 1
    assert "ann already exists" in again.stderr and "--replace" in again.stderr
    assert stored_hash(file, "ann") == before
    replaced = users(file, "add", "ann", "--replace", "--password-stdin", stdin="a new one!\n")
    assert replaced.returncode == 0, replaced.stderr
    assert stored_hash(file, "ann") != before


def test_passwd_of_an_unknown_name_is_refused(tmp_path: Path) -> None:
    """`passwd` with a mistyped name says there is no such user instead of adding one."""
    file = tmp_path / "users.json"
    users(file, "add", "ann", "--password-stdin", stdin=PASSWORD + "\n")
    result = users(file, "passwd", "anne", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.returncode == 1 and "no user 'anne'" in result.stderr
    assert set(json.loads(file.read_text())["users"]) == {"ann"}


def test_a_piped_password_without_password_stdin_is_a_clear_error(tmp_path: Path) -> None:
    """Piping a password to the prompt tells the operator about --password-stdin."""
    file = tmp_path / "users.json"
    result = users(file, "add", "bob", stdin=PASSWORD + "\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "--password-stdin" in result.stderr
    assert not file.exists()


def test_an_empty_password_stdin_is_a_clear_error(tmp_path: Path) -> None:
    """--password-stdin with nothing on standard input says so."""
    result = users(tmp_path / "users.json", "add", "bob", "--password-stdin", stdin="")
    assert result.returncode == 1
    assert "no password on standard input" in result.stderr and "Traceback" not in result.stderr
