"""The users file (argon2id password hashes) and the bearer-tokens file.

Both are JSON files an admin edits through the `dterm users` and `dterm tokens`
commands (dterm_cli/accounts.py). A front end reads them again when they change on
disk, so adding a user or revoking a token needs no restart. Passwords are hashed
with argon2id (argon2-cffi); a bearer token is `dterm_<id>_<secret>`, of which only
a SHA-256 of the secret is stored.

Verifying a password costs tens of milliseconds of CPU by design: callers run
`check_password` off the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.errors import DtermError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
"""What a person's name may be (\\Z, not $, which also lets a final newline pass)."""
_hasher = PasswordHasher()  # argon2id with the library's current defaults


class AccountsError(DtermError):
    """A users or tokens file cannot be read or changed; the message says why."""


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    groups: frozenset[str]


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise AccountsError(f"{name!r}: names are letters, digits and . _ @ - (at most 64)")
    return name


class JsonFile:
    """A small JSON document on disk, re-read when its modification time changes."""

    def __init__(self, path: str | Path, key: str) -> None:
        self.path = Path(path)
        self._key = key
        self._stamp: tuple[int, int] | None = None
        self._entries: dict[str, dict[str, Any]] = {}

    def entries(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text())
                self._entries = dict(data.get(self._key, {}))
            except (OSError, ValueError, AttributeError) as exc:
                raise AccountsError(f"{self.path}: {exc}") from None
            self._stamp = stamp
        return self._entries

    def save(self, entries: dict[str, dict[str, Any]]) -> None:
        """Write atomically. A new file is its owner's alone; one replaced keeps its
        group and that group's read access (a service that reads it through its group,
        as deploy/systemd sets up), never access for others."""
        temp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()  # left by an earlier run that was cut short
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(json.dumps({self._key: entries}, indent=2, sort_keys=True) + "\n")
        self._keep_group(temp)
        os.replace(temp, self.path)

    def _keep_group(self, temp: Path) -> None:
        try:
            old = self.path.stat()
        except FileNotFoundError:
            return
        try:
            os.chown(temp, -1, old.st_gid)
        except PermissionError:  # not a group of ours: the new file stays ours alone
            return
        os.chmod(temp, 0o600 | (old.st_mode & 0o040))


class Users:
    def __init__(self, path: str | Path) -> None:
        self.file = JsonFile(path, "users")

    def check_password(self, name: str, password: str) -> Account | None:
        """The account if the password is right, else None (blocking: argon2)."""
        entry = self.file.entries().get(name)
        if entry is None:
            _hasher.hash(password)  # spend the same time: do not reveal who exists
            return None
        try:
            _hasher.verify(str(entry.get("hash", "")), password)
        except (VerificationError, InvalidHashError):
            return None
        return Account(name, frozenset(entry.get("groups", [])))

    def current(self, name: str) -> tuple[Account, str] | None:
        """The account as the file says now, with its stored hash (a sign-in made with
        an older hash is over: the password changed)."""
        entry = self.file.entries().get(name)
        if entry is None:
            return None
        return Account(name, frozenset(entry.get("groups", []))), str(entry.get("hash", ""))

    def set(self, name: str, password: str, groups: list[str] | None = None) -> None:
        entries = dict(self.file.entries())
        old = entries.get(check_name(name), {})
        kept = groups if groups is not None else list(old.get("groups", []))
        entries[name] = {"hash": _hasher.hash(password), "groups": sorted(set(kept))}
        self.file.save(entries)

    def set_groups(self, name: str, groups: list[str]) -> None:
        """New groups, same password: they apply to the person's next request."""
        entries = dict(self.file.entries())
        if name not in entries:
            raise AccountsError(f"no user {name!r}")
        entries[name] = {**entries[name], "groups": sorted(set(groups))}
        self.file.save(entries)

    def remove(self, name: str) -> None:
        entries = dict(self.file.entries())
        if entries.pop(name, None) is None:
            raise AccountsError(f"no user {name!r}")
        self.file.save(entries)

    def list(self) -> list[Account]:
        return [
            Account(n, frozenset(e.get("groups", [])))
            for n, e in sorted(self.file.entries().items())
        ]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    """Bearer tokens that admins issue to scripts and revoke."""

    def __init__(self, path: str | Path) -> None:
        self.file = JsonFile(path, "tokens")

    def issue(self, user: str, groups: list[str], days: float | None) -> str:
        token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(24)
        entries = dict(self.file.entries())
        entries[token_id] = {
            "user": check_name(user),
            "groups": sorted(set(groups)),
            "sha256": _digest(secret),
            "created": int(time.time()),
            "expires": int(time.time() + days * 86400) if days else None,
        }
        self.file.save(entries)
        return f"dterm_{token_id}_{secret}"

    def revoke(self, token_id: str) -> None:
        entries = dict(self.file.entries())
        if entries.pop(token_id, None) is None:
            raise AccountsError(f"no token {token_id!r}")
        self.file.save(entries)

    def list(self) -> dict[str, dict[str, Any]]:
        return {
            k: {f: v for f, v in e.items() if f != "sha256"} for k, e in self.file.entries().items()
        }

    def check(self, token: str) -> Account | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "dterm":
            return None
        entry = self.file.entries().get(parts[1])
        if entry is None or not hmac.compare_digest(_digest(parts[2]), str(entry.get("sha256"))):
            return None
        if entry.get("expires") and time.time() > entry["expires"]:
            return None
        return Account(str(entry["user"]), frozenset(entry.get("groups", [])))
