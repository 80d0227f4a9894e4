"""What the worker runs in a container, and how it reads a failed start."""

from __future__ import annotations

from exec_worker.commands import exec_command, start_failure
from shared.errors import CommandNotFound, StartFailed


def test_explicit_command_runs_as_given() -> None:
    assert exec_command(["top", "-b"], 80, 24) == ["top", "-b"]


def test_default_is_one_exec_that_sets_the_size_then_prefers_bash() -> None:
    argv = exec_command(None, 132, 43)
    assert argv[:2] == ["/bin/sh", "-c"]
    script = argv[2]
    assert script.index("stty") < script.index("bash") < script.index("exec sh")
    assert argv[-2:] == ["43", "132"]


def test_a_process_that_ran_is_no_start_failure() -> None:
    assert start_failure(["x"], started=True, exit_code=127, said=b"") is None
    assert start_failure(["x"], started=False, exit_code=0, said=b"") is None


def test_missing_executable_is_command_not_found() -> None:
    said = b'OCI runtime exec failed: exec: "nope": executable file not found in $PATH'
    error = start_failure(["nope"], started=False, exit_code=126, said=said)
    assert isinstance(error, CommandNotFound) and "nope" in str(error)
    no_shell = start_failure(None, started=False, exit_code=126, said=b"no such file or directory")
    assert isinstance(no_shell, CommandNotFound) and "no shell" in str(no_shell)


def test_other_failures_keep_dockers_words() -> None:
    said = b"unable to find user bob: no matching entries in passwd file"
    error = start_failure(["sh"], started=False, exit_code=126, said=said)
    assert isinstance(error, StartFailed) and "bob" in str(error)
