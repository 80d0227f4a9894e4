"""What a front end checks and prepares before it serves anyone.

It refuses to start, saying which file and why, when what it is told to use cannot
be used: a users or tokens file that is missing or unreadable, a policy that does
not parse (policy.py), keys (shared/security.py), an audit log it cannot write, a
TLS certificate and key that do not load (tls.py).
Serving first and failing every sign-in later would show people "wrong name or
password" for an operator's mistake. It also keeps the cookie secret between runs.

Blocking file I/O: called once, before the loop serves anything.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from frontend_server.accounts import AccountsError, JsonFile
from frontend_server.tls import TlsError, TlsFiles
from shared.errors import DtermError
from shared.security import private_folder
from shared.settings import FrontendConfig


class StartupError(DtermError):
    """Something this front end was told to use cannot be used; the message says why."""


def check_account_files(config: FrontendConfig) -> None:
    for path, key, command in ((config.users_file, "users", "users"),
                               (config.tokens_file, "tokens", "tokens")):  # fmt: skip
        if not path:
            continue
        if not Path(path).is_file():
            raise StartupError(f"the {key} file {path} does not exist: make it with "
                               f"`dterm {command} --{key}-file {path} ...`")  # fmt: skip
        try:
            JsonFile(path, key).entries()
        except AccountsError as exc:
            raise StartupError(f"cannot use the {key} file: {exc}") from None


def tls_files(config: FrontendConfig) -> TlsFiles | None:
    """The TLS pair to serve with, loaded; None for plain HTTP."""
    if not config.tls_cert and not config.tls_key:
        return None
    if not config.tls_cert or not config.tls_key:
        raise StartupError("TLS needs both --tls-cert and --tls-key (tls_cert, tls_key)")
    try:
        return TlsFiles(config.tls_cert, config.tls_key)
    except TlsError as exc:
        raise StartupError(f"cannot serve TLS: {exc}") from None


def cookie_secret(config: FrontendConfig) -> str:
    """The configured secret, or the one kept in the state folder (made on first start)."""
    if config.cookie_secret:
        return config.cookie_secret
    path = private_folder(config.state_dir, "state") / "cookie_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(32))
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    found = path.stat()
    if found.st_mode & 0o077 or found.st_uid != os.geteuid():
        raise StartupError(
            f"{path} is open to others (mode {stat.S_IMODE(found.st_mode):04o}) "
            f"or not this user's: chmod 600 it, or remove it to make a new one"
        )
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise StartupError(f"{path} holds no usable secret: remove it to make a new one")
    return secret
