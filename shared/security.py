"""CurveZMQ keys for worker links, and the ZAP gate that admits only known front ends.

Keys are ZeroMQ certificate files as pyzmq's zmq.auth writes them: `NAME.key`
holds the public key, `NAME.key_secret` the public and the secret key. A worker
holds its secret key and a folder of the front ends' public keys it accepts; a
front end holds its own secret key and the workers' public key. Without the ZAP
authenticator any client that knows the server key could connect; with it, only
the listed public keys can.

Generate keys with: python -m shared.keys NAME --out FOLDER
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.asyncio import AsyncioAuthenticator

from shared.errors import DtermError

log = logging.getLogger(__name__)


class KeyFileError(DtermError):
    """A key file or folder is missing or unreadable."""


def _read(path: str, *, secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, private = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from None
    if secret and private is None:
        raise KeyFileError(f"{path} holds no secret key (use the .key_secret file)")
    return public, private


def load_secret_key(path: str) -> tuple[bytes, bytes]:
    """(public, secret) from a .key_secret file."""
    public, private = _read(path, secret=True)
    assert private is not None
    return public, private


def load_public_key(path: str) -> bytes:
    return _read(path, secret=False)[0]


def make_curve_server(socket: zmq.Socket[Any], secret_key_file: str) -> None:
    public, private = load_secret_key(secret_key_file)
    socket.curve_secretkey = private
    socket.curve_publickey = public
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


def start_authenticator(context: zmq.Context[Any], allowed_folder: str) -> AsyncioAuthenticator:
    """Admit only CURVE clients whose public key file is in `allowed_folder`."""
    folder = Path(allowed_folder)
    keys = sorted(folder.glob("*.key")) if folder.is_dir() else []
    if not keys:
        raise KeyFileError(f"no front-end public keys (*.key) in {allowed_folder}")
    authenticator = AsyncioAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(folder))
    log.info("CurveZMQ: %d front-end keys accepted from %s", len(keys), folder)
    return authenticator
