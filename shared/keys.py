"""CurveZMQ key pairs for worker links: one pair, or the set `dterm up` keeps.

A pair is NAME.key (public: give it to the other side) and NAME.key_secret (keep it
here). A set is a worker pair and a front-end pair, with the front end's public key
allowed in FOLDER/frontends; made once, reused after. Folders made here are 0700
and secret files 0600; a secret file found open to group or others is refused, as
ssh refuses such a private key. The `dterm keys` command is dterm_cli/keys.py.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq.auth

from shared.security import check_private


def make_folder(folder: Path) -> None:
    """Create `folder` (and its parents) if missing; the folder itself is 0700."""
    if not folder.is_dir():
        folder.mkdir(parents=True)
        folder.chmod(0o700)


def make_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """A new pair in `folder`: (public file, secret file); the secret is never, even
    for a moment, readable by others."""
    make_folder(folder)
    previous = os.umask(0o077)
    try:
        public, secret = zmq.auth.create_certificates(folder, name)
    finally:
        os.umask(previous)
    os.chmod(public, 0o644)
    return Path(public), Path(secret)


@dataclass(frozen=True, slots=True)
class LinkKeys:
    """A worker key pair and a front-end key pair in one folder, the front end's
    public key allowed by the worker."""

    folder: Path

    @property
    def worker_secret(self) -> Path:
        return self.folder / "worker.key_secret"

    @property
    def worker_public(self) -> Path:
        return self.folder / "worker.key"

    @property
    def frontend_secret(self) -> Path:
        return self.folder / "frontend.key_secret"

    @property
    def allowed(self) -> Path:
        """The worker's --curve-allow folder."""
        return self.folder / "frontends"

    def worker_flags(self) -> list[str]:
        return ["--curve-secret-key", str(self.worker_secret), "--curve-allow", str(self.allowed)]

    def frontend_flags(self) -> list[str]:
        return ["--curve-secret-key", str(self.frontend_secret),
                "--worker-public-key", str(self.worker_public)]  # fmt: skip


def link_keys(folder: Path) -> tuple[LinkKeys, bool]:
    """The key set in `folder`, made where missing; True if anything was made.
    Raises KeyFileError when a secret file there is open to group or others."""
    keys = LinkKeys(folder)
    made = set()
    for name, secret in (("worker", keys.worker_secret), ("frontend", keys.frontend_secret)):
        if not secret.exists():
            make_pair(folder, name)
            made.add(name)
        check_private(str(secret))
    allowed = keys.allowed / "frontend.key"
    if "frontend" in made or not allowed.exists():
        make_folder(keys.allowed)
        shutil.copyfile(folder / "frontend.key", allowed)
    return keys, bool(made)
