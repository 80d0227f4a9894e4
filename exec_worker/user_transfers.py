"""File transfers as a user other than root, through an exec that runs as that user.

Docker's archive API acts as root whatever user the container runs as, so for any
other user a transfer is a short shell script run as that user in an exec without
a tty (exec_pipe.py): `cat` reads or writes the file, and the file's permissions
decide exactly as they would in that user's shell. Nothing is spooled:

- a download streams cat's stdout, its size unknown ahead (FileOpened size -1);
- an upload streams into the program's stdin; its bytes are acked once the
  connection has taken them (the transport under its high-water mark), so a
  program that reads slowly slows the browser instead of filling the worker. It is
  written beside the target under a temporary name, its size checked, then renamed
  into place: an upload cut short never leaves half a file (the temporary file is
  removed), and the folder must be writable, as for `mv` in a shell.

Each script prints READY on stdout once its checks have passed, so the text Docker
writes on the stream when an exec cannot start at all (no `sh`, no such user) is
never taken for a file's bytes. Failures are told apart by the script's exit code
and the programs' messages (in the C locale): `forbidden` with the program's own
words, `not_found`, `command_not_found` for a container without the tools.

Concurrency: on the worker's loop; Docker control calls run on its thread pool.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import secrets
import time
from dataclasses import dataclass, field

from exec_worker.docker_exec import DockerHost, ExecState
from exec_worker.exec_pipe import ExecPipe
from exec_worker.transfers import Download, Upload
from shared.errors import (
    CommandNotFound,
    DtermError,
    Forbidden,
    NotFound,
    ProtocolError,
    StartFailed,
    TimedOut,
)
from shared.messages import (
    ContainerInfo,
)
from shared.transfer_messages import (
    FileEnd,
    FileOpened,
)

READY = b"dterm: ready\n"
ENVIRONMENT = {"LC_ALL": "C"}  # the programs' messages in English, to tell failures apart
STORE_TIMEOUT = 45.0
"""Seconds an upload's program may take after its stdin ended (size check, rename);
below the front end's wait for the answer."""

IS_FOLDER, NOT_REGULAR, CANNOT_CREATE, FAILED, NO_TOOLS = 20, 22, 24, 25, 27

DOWNLOAD = f"""
command -v cat >/dev/null 2>&1 || exit {NO_TOOLS}
if [ -d "$1" ]; then exit {IS_FOLDER}; fi
if [ -e "$1" ] && [ ! -f "$1" ]; then exit {NOT_REGULAR}; fi
printf 'dterm: ready\\n'
exec cat -- "$1"
"""
"""sh -c DOWNLOAD dterm-get PATH"""

UPLOAD = f"""
for tool in cat wc mv rm; do command -v "$tool" >/dev/null 2>&1 || exit {NO_TOOLS}; done
if [ -d "$2" ]; then exit {IS_FOLDER}; fi
: > "$1" || exit {CANNOT_CREATE}
printf 'dterm: ready\\n'
if cat > "$1" && [ "$(wc -c < "$1")" -eq "$3" ] && mv -f -- "$1" "$2"; then exit 0; fi
rm -f -- "$1"
exit {FAILED}
"""
"""sh -c UPLOAD dterm-put TEMPORARY PATH SIZE"""

SCRIPT_LINE = re.compile(r"^dterm-(?:get|put): (?:line )?\d+: ", re.MULTILINE)
"""How shells name our script in their messages; the person needs only the rest."""
DENIED = ("Permission denied", "Operation not permitted", "Read-only file system")
MISSING = ("No such file or directory", "nonexistent directory", "Not a directory")


@dataclass(frozen=True, slots=True)
class Failure:
    """What a transfer was doing, to say why it failed."""

    upload: bool
    path: str
    container: str
    user: str
    temporary: str = ""

    def error(self, state: ExecState, said: bytes) -> DtermError:
        """The error for a transfer's program that did not end with 0."""
        text = SCRIPT_LINE.sub("", said.decode("utf-8", "replace")).strip()
        if self.temporary:
            text = text.replace(self.temporary, self.path)  # as `cat > PATH` would say
        code = state.exit_code
        if code == NO_TOOLS or (not state.started and code in (126, 127)):
            if "unable to find user" in text:
                return StartFailed(text)
            tools = "sh, cat, wc, mv and rm" if self.upload else "sh and cat"
            return CommandNotFound(
                f"file transfers as user {self.user} need {tools} in the container"
            )
        if code == IS_FOLDER:
            if self.upload:
                return ProtocolError(f"{self.path} is a folder")
            return ProtocolError(f"{self.path} is a directory; download files one by one")
        if code == NOT_REGULAR:
            return ProtocolError(f"{self.path} is not a regular file")
        return self._from_text(text, code)

    def _from_text(self, text: str, code: int | None) -> DtermError:
        if any(words in text for words in DENIED):
            return Forbidden(f"as user {self.user}: {text}")
        if any(words in text for words in MISSING):
            if self.upload:
                return NotFound(f"no folder {posixpath.dirname(self.path)} in {self.container}")
            return NotFound(f"no file {self.path} in {self.container}")
        doing = "upload to" if self.upload else "download of"
        return DtermError(f"the {doing} {self.path} failed: {text or f'exit code {code}'}")


async def _outcome(pipe: ExecPipe) -> ExecState:
    """Once the program's output has ended (stdout left unread is dropped): its end."""
    while await pipe.read_stdout():
        pass
    return await pipe.wait()


async def _ready(pipe: ExecPipe, failure: Failure) -> bytes:
    """Wait for the script's READY line; the stdout bytes after it. Raises the reason
    when the script failed its checks or never started."""
    got = b""
    while len(got) < len(READY):
        chunk = await pipe.read_stdout()
        if not chunk:
            break
        got += chunk
    if got.startswith(READY):
        return got[len(READY) :]
    state = await _outcome(pipe)
    raise failure.error(state, got + bytes(pipe.stderr))


async def _check_end(pipe: ExecPipe, failure: Failure) -> None:
    state = await _outcome(pipe)
    if state.exit_code != 0:
        raise failure.error(state, bytes(pipe.stderr))


async def download_as(
    docker: DockerHost, container: ContainerInfo, path: str, user: str, download: Download
) -> int:
    """Send one file as `user` sees it; returns its size. FileOpened waits for the
    first bytes (or the end), so a refusal is answered before any byte is sent."""
    failure = Failure(upload=False, path=path, container=container.name, user=user)
    cmd = ["sh", "-c", DOWNLOAD, "dterm-get", path]
    pipe = await ExecPipe.start(docker, container.id, cmd, user, environment=ENVIRONMENT)
    try:
        first = await _ready(pipe, failure) or await pipe.read_stdout()
        if not first:
            await _check_end(pipe, failure)
        download.emit(FileOpened(download.request, posixpath.basename(path), -1))
        await download.pass_on(pipe.read_stdout, first)
        await _check_end(pipe, failure)  # a failure now cuts the download short
    finally:
        pipe.close()
    download.emit(FileEnd(download.request, download.sent))
    return download.sent


@dataclass(eq=False)
class PipedUpload(Upload):
    """An upload as a user other than root, streamed into `cat` in the container."""

    _pipe: ExecPipe | None = None
    _done: bool = False
    _failure: Failure = field(init=False)

    async def open(self) -> None:
        temporary = posixpath.join(self.directory, f".dterm-upload-{secrets.token_hex(6)}")
        self._failure = Failure(True, self.path, self.container.name, self.who.user, temporary)
        cmd = ["sh", "-c", UPLOAD, "dterm-put", temporary, self.path, str(self.size)]
        self._pipe = pipe = await ExecPipe.start(
            self.docker, self.container.id, cmd, self.who.user, stdin=True,
            environment=ENVIRONMENT,
        )  # fmt: skip
        try:
            await _ready(pipe, self._failure)
        except BaseException:
            pipe.close()
            raise
        pipe.on_writable = self._drained
        pipe.on_end = self._ended

    def _take(self, data: bytes) -> None:
        assert self._pipe is not None
        self._pipe.write(data)

    def _ack(self) -> None:
        """Acked once the connection has taken the bytes: a slow reader holds them back."""
        if self._pipe is not None and not self._pipe.write_paused:
            super()._ack()

    def _drained(self) -> None:
        """The program caught up: that is progress too (the idle clock restarts)."""
        self.last_data = time.monotonic()
        self._ack()

    def _ended(self) -> None:
        if not self._done and self.on_broken is not None:
            self.on_broken(self)

    async def why_broken(self) -> DtermError:
        assert self._pipe is not None
        return self._failure.error(await _outcome(self._pipe), bytes(self._pipe.stderr))

    async def store(self, end: FileEnd) -> None:
        assert self._pipe is not None
        self._done = True
        self._pipe.close_stdin()
        try:
            await asyncio.wait_for(_check_end(self._pipe, self._failure), STORE_TIMEOUT)
        except TimeoutError:
            raise TimedOut(f"the upload to {self.path} did not finish in time") from None
        finally:
            self._pipe.close()

    def abort(self) -> None:
        """Closing the connection ends the program's stdin early: the size check
        fails and the temporary file is removed."""
        self._done = True
        if self._pipe is not None:
            self._pipe.close()
