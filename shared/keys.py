"""Generate a CurveZMQ key pair: dterm keys NAME --out FOLDER.

Writes FOLDER/NAME.key (public: give it to the other side) and
FOLDER/NAME.key_secret (keep it private to this process).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import zmq.auth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dterm keys", description=__doc__)
    parser.add_argument("name", help="file name stem, e.g. worker or frontend-1")
    parser.add_argument("--out", default=".", help="folder to write into (created if missing)")
    args = parser.parse_args(argv)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / f"{args.name}.key_secret").exists():
        print(f"{folder / args.name}.key_secret exists; not overwriting", file=sys.stderr)
        return 1
    public, secret = zmq.auth.create_certificates(folder, args.name)
    os.chmod(secret, 0o600)
    print(f"public key: {public}\nsecret key: {secret}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
