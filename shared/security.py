"""CurveZMQ keys for worker links, and the ZAP gate that admits only known front ends.

Every worker link is CurveZMQ, loopback and ipc included: no process, local or not,
talks to a worker without a key it accepts. Keys are ZeroMQ certificate files as
pyzmq's zmq.auth writes them: `NAME.key` holds the public key, `NAME.key_secret`
the public and the secret key. A worker holds its secret key and a folder of the
front ends' public keys it accepts; a front end holds its own secret key and the
workers' public key. A secret key file that group or others may read or write is
refused, as ssh refuses such a private key.

Without a ZAP handler any client that knows the server key could connect; KeyGate
is that handler. It reads the allowed folder again at every handshake, so a key
added or removed counts from the next connection on, without a restart (a link
already open stays open until it drops: CURVE checks keys at the handshake only).

Make keys with `dterm keys` (dterm_cli/keys.py).

Concurrency: KeyGate answers on the event loop it was made on (SocketPump).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.utils import z85

from shared.errors import DtermError
from shared.zmq_io import SocketPump

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
"""Where libzmq asks every socket's handshake of a context (RFC 27, ZAP)."""
ZAP_VERSION = b"1.0"


class KeyFileError(DtermError):
    """A key file or folder is missing, unreadable, or open to others."""


def check_private(path: str) -> None:
    """Refuse a secret key file that group or others may read or write."""
    _check_readable(path)
    mode = os.stat(path).st_mode
    if mode & 0o077:
        raise KeyFileError(
            f"secret key file {path} is open to group or others "
            f"(mode {stat.S_IMODE(mode):04o}): chmod 600 {path}"
        )


class FolderError(DtermError):
    """A folder the process keeps its state in could be changed by someone else."""


def private_folder(path: str | Path, what: str) -> Path:
    """A folder only this process's user may change: made (0700) when missing; refused
    when another user owns it or group or others may write to it, since what it holds
    (process records, recordings) is acted upon or served."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        found = folder.stat()
    except OSError as exc:
        raise FolderError(f"cannot make the {what} folder {folder}: {exc.strerror}") from None
    if found.st_uid != os.geteuid() or found.st_mode & 0o022:
        raise FolderError(
            f"the {what} folder {folder.resolve()} is owned by uid {found.st_uid} with mode "
            f"{stat.S_IMODE(found.st_mode):04o}: it must be this user's and writable by no one "
            f"else (chown {os.geteuid()} and chmod go-w it, or choose another)"
        )
    return folder


def _check_readable(path: str) -> None:
    """The system's reason (missing, a folder, no permission), which pyzmq would hide
    behind "Invalid certificate file"."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None


def _read(path: str, *, secret: bool) -> tuple[bytes, bytes | None]:
    _check_readable(path)
    try:
        public, private = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from None
    if secret and private is None:
        raise KeyFileError(f"{path} holds no secret key (use the .key_secret file)")
    return public, private


def load_secret_key(path: str) -> tuple[bytes, bytes]:
    """(public, secret) from a .key_secret file that only its owner may use."""
    check_private(path)
    public, private = _read(path, secret=True)
    assert private is not None
    return public, private


def load_public_key(path: str) -> bytes:
    return _read(path, secret=False)[0]


def make_curve_server(socket: zmq.Socket[Any], keys: tuple[bytes, bytes]) -> None:
    socket.curve_publickey, socket.curve_secretkey = keys
    socket.curve_server = True


@dataclass(frozen=True, slots=True)
class ClientKeys:
    """A front end's key pair and the workers' public key, read once at start."""

    public: bytes
    secret: bytes
    server: bytes

    @classmethod
    def load(cls, secret_key_file: str, server_key_file: str) -> ClientKeys:
        public, secret = load_secret_key(secret_key_file)
        return cls(public, secret, load_public_key(server_key_file))

    def apply(self, socket: zmq.Socket[Any]) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_serverkey = self.server


class AllowedKeys:
    """The front ends' public keys: every `*.key` file in a folder, by z85 key."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def load(self) -> dict[bytes, str]:
        """z85 public key -> the file's name stem; raises KeyFileError."""
        if not self.folder.is_dir():
            raise KeyFileError(f"no folder of allowed front-end keys at {self.folder}")
        return {load_public_key(str(p)): p.stem for p in sorted(self.folder.glob("*.key"))}


Refused = Callable[[str, str], None]
"""Told of each refused key: (peer address as ZeroMQ gives it, why)."""


class KeyGate:
    """The ZAP handler of a context: a CURVE client gets in if its public key is in
    the allowed folder when it connects; everything else is refused and reported."""

    def __init__(self, context: zmq.Context[Any], allowed: AllowedKeys, refused: Refused) -> None:
        keys = allowed.load()
        if not keys:
            raise KeyFileError(f"no front-end public keys (*.key) in {allowed.folder}")
        self._allowed = allowed
        self._refused = refused
        self._broken = ""  # the last error reading the folder, logged once until it changes
        socket = context.socket(zmq.REP)
        socket.setsockopt(zmq.LINGER, 0)
        socket.bind(ZAP_ENDPOINT)
        self._pump = SocketPump(socket, self._answer)
        log.info("CurveZMQ: %d front-end keys accepted from %s", len(keys), allowed.folder)

    def close(self) -> None:
        self._pump.close()

    def _answer(self, frames: list[bytes]) -> None:
        request_id = frames[1] if len(frames) > 1 else b""
        status, text, user = self._decide(frames)
        self._pump.send([ZAP_VERSION, request_id, status, text, user, b""])

    def _decide(self, frames: list[bytes]) -> tuple[bytes, bytes, bytes]:
        """(status code, status text, user id) for one ZAP request."""
        if len(frames) != 7 or frames[0] != ZAP_VERSION or frames[5] != b"CURVE":
            return b"400", b"CurveZMQ required", b""
        address = frames[3].decode(errors="replace")
        try:
            allowed = self._allowed.load()
        except KeyFileError as exc:  # fail closed until the folder is readable again
            if str(exc) != self._broken:
                self._broken = str(exc)
                log.error("refusing every front end until this is mended: %s", exc)
            return b"500", b"allowed keys unreadable", b""
        self._broken = ""
        key = z85.encode(frames[6])
        name = allowed.get(key)
        if name is None:
            self._refused(address, f"its key {key.decode()} is not in {self._allowed.folder}")
            return b"400", b"unknown key", b""
        return b"200", b"OK", name.encode()
