"""The credentials `dterm login` keeps: one per front end, in the person's config folder.

The file is $XDG_CONFIG_HOME/dterm/credentials.json (else ~/.config/dterm/), made
with mode 0600 in a folder of mode 0700, and always written whole to a temporary
file that is renamed over it, so an interrupted write never leaves half a file. A
file that group or others may read or write is refused, as ssh refuses such keys.

A credential is a bearer token (one an admin issued, or the dev token of a sign-in
URL), sent as `Authorization: Bearer`, or the login cookie of a password sign-in,
sent as a cookie. Entries are keyed by the front end's base URL (scheme, host and
port). Nothing here prints a secret; a Credential's repr leaves it out.

Not thread-safe: one dterm command at a time changes the file (the last write wins).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dterm_cli.exit_status import CliError, Status

LOGIN_COOKIE = "dterm_login"
FILE_NAME = "credentials.json"
Kind = Literal["bearer", "cookie"]


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/dterm, else ~/.config/dterm."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # the XDG spec says relative values are to be ignored
        base = str(Path.home() / ".config")
    return Path(base) / "dterm"


def base_url(url: str) -> str:
    """The front end's base URL, `scheme://host[:port]`, of any URL of it."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise CliError(Status.USAGE, f"not a front end's URL: {url!r} (http://host:port)")
    return f"{scheme}://{parts.netloc.rpartition('@')[2].lower()}"


@dataclass(frozen=True, slots=True)
class Credential:
    url: str
    kind: Kind
    user: str
    secret: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        """How requests and the WebSocket carry it."""
        if self.kind == "bearer":
            return {"Authorization": f"Bearer {self.secret}"}
        return {"Cookie": f"{LOGIN_COOKIE}={self.secret}"}


class CredentialStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or config_dir()
        self.path = self.folder / FILE_NAME

    def load(self) -> dict[str, Credential]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return {}
        with os.fdopen(fd, "rb") as file:
            if stat.S_IMODE(os.fstat(file.fileno()).st_mode) & 0o077:
                raise CliError(
                    Status.NOT_SIGNED_IN,
                    f"{self.path} may be read by others; `chmod 600 {self.path}` or log in again",
                )
            try:
                entries = json.loads(file.read())["frontends"]
                return {url: _credential(url, entry) for url, entry in entries.items()}
            except (ValueError, KeyError, TypeError, AttributeError):
                raise CliError(
                    Status.NOT_SIGNED_IN, f"{self.path} is damaged; log in again"
                ) from None

    def get(self, url: str | None) -> Credential:
        """The credential for `url`, or for the only front end signed in to."""
        known = self.load()
        if url is None:
            if len(known) == 1:
                return next(iter(known.values()))
            if not known:
                raise CliError(Status.NOT_SIGNED_IN, "not signed in: run `dterm login URL`")
            raise CliError(
                Status.USAGE,
                f"signed in to {len(known)} front ends ("
                f"{', '.join(sorted(known))}): say which with --url",
            )
        found = known.get(base_url(url))
        if found is None:
            raise CliError(
                Status.NOT_SIGNED_IN,
                f"not signed in to {base_url(url)}: run `dterm login {base_url(url)}`",
            )
        return found

    def save(self, credential: Credential) -> None:
        known = self.load()
        known[credential.url] = credential
        self._write(known)

    def remove(self, url: str) -> Credential | None:
        known = self.load()
        gone = known.pop(base_url(url), None)
        if gone is not None:
            self._write(known)
        return gone

    def _write(self, known: dict[str, Credential]) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        body = {
            "frontends": {
                url: {"kind": c.kind, "user": c.user, "secret": c.secret}
                for url, c in sorted(known.items())
            }
        }
        fd, temporary = tempfile.mkstemp(prefix=".credentials-", dir=self.folder)  # mode 0600
        try:
            with os.fdopen(fd, "w") as file:
                json.dump(body, file, indent=2)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _credential(url: str, entry: dict[str, Any]) -> Credential:
    kind, user, secret = entry["kind"], entry["user"], entry["secret"]
    if kind not in ("bearer", "cookie") or not all(isinstance(v, str) for v in (user, secret)):
        raise ValueError(f"a bad entry for {url}")
    return Credential(url, kind, user, secret)
