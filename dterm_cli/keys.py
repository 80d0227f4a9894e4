"""dterm keys: make CurveZMQ key pairs for worker links.

    dterm keys NAME --out FOLDER   one pair: FOLDER/NAME.key (public: give it to the
                                   other side), FOLDER/NAME.key_secret (keep it here)
    dterm keys --set FOLDER        a worker pair and a front-end pair, the front end's
                                   public key allowed in FOLDER/frontends; made once,
                                   reused after (what `dterm up` keeps)

Folders made here are 0700 and secret files 0600 (shared/keys.py makes them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.keys import link_keys, make_pair
from shared.security import KeyFileError


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
