"""What runs in the container, and how a failed start is told apart from an exit.

The default command picks bash if the container has it, else sh, inside one exec:
retrying execs would cost a round trip and lose the first keystrokes. It also sets
the terminal size before the shell draws its first prompt, which old daemons
(API < 1.42, no ConsoleSize) cannot do. Pure functions; no I/O.
"""

from __future__ import annotations

from shared.errors import CommandNotFound, DtermError, StartFailed

_DEFAULT_SHELL = (
    'stty rows "$1" cols "$2" 2>/dev/null; command -v bash >/dev/null 2>&1 && exec bash; exec sh'
)


def exec_command(cmd: list[str] | None, cols: int, rows: int) -> list[str]:
    """The argv to exec: the person's command as given, or the shell chooser."""
    if cmd is not None:
        return list(cmd)
    return ["/bin/sh", "-c", _DEFAULT_SHELL, "sh", str(rows), str(cols)]


PODMAN_START_ERROR = "Error: "
"""How Podman opens the text of an exec it could not start (its OCI runtime's words follow)."""


def start_failure(
    cmd: list[str] | None, started: bool | None, exit_code: int | None, said: bytes
) -> DtermError | None:
    """The error for an exec whose process never started, else None.

    Docker reports such a failure only as text on the stream and exit code 126 or
    127, with no process id; `said` is the start of that text. Podman forgets the
    process id of every exec that has ended (`started` None): there only its own
    error text tells a failed start from a program that exited with 126 or 127.
    """
    if started or exit_code not in (126, 127):
        return None
    text = said.decode("utf-8", "replace").strip() or f"exit code {exit_code}"
    if started is None and not text.startswith(PODMAN_START_ERROR):
        return None
    if "chdir to cwd" in text:
        return StartFailed(f"the working directory does not exist in the container: {text}")
    if "executable file not found" in text or "no such file or directory" in text:
        if cmd is None:
            return CommandNotFound(f"the container has no shell (/bin/sh): {text}")
        return CommandNotFound(f"{cmd[0]}: command not found in the container: {text}")
    return StartFailed(text)
