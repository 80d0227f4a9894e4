"""Make CurveZMQ key pairs for worker links.

    dterm keys NAME --out FOLDER   one pair: FOLDER/NAME.key (public: give it to the
                                   other side), FOLDER/NAME.key_secret (keep it here)
    dterm keys --set FOLDER        a worker pair and a front-end pair, the front end's
                                   public key allowed in FOLDER/frontends; made once,
                                   reused after (what `dterm up` keeps)

Folders made here are 0700 and secret files 0600; a secret file found open to
group or others is refused, as ssh refuses such a private key.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import zmq.auth

from shared.security import KeyFileError, check_private


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dterm keys", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name", nargs="?", help="file name stem, e.g. worker or frontend-1")
    parser.add_argument("--out", default=".", help="folder to write into (created if missing)")
    parser.add_argument("--set", metavar="FOLDER", help="make or reuse a worker+front-end set")
    args = parser.parse_args(argv)
    if args.set:
        try:
            keys, made = link_keys(Path(args.set))
        except KeyFileError as exc:
            print(f"dterm keys: {exc}", file=sys.stderr)
            return 1
        print(f"{'made' if made else 'reused'} worker link keys in {keys.folder}")
        print(f"worker:    {' '.join(keys.worker_flags())}")
        print(f"front end: {' '.join(keys.frontend_flags())}")
        return 0
    if not args.name:
        parser.error("give a NAME, or --set FOLDER")
    folder = Path(args.out)
    if (folder / f"{args.name}.key_secret").exists():
        print(f"{folder / args.name}.key_secret exists; not overwriting", file=sys.stderr)
        return 1
    public, secret = make_pair(folder, args.name)
    print(f"public key: {public}\nsecret key: {secret}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
