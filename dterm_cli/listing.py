"""`dterm ls` and `dterm sessions`: containers and your sessions, as a table or JSON.

    dterm ls [--host H] [--json]     containers of every host you may see
    dterm sessions [--json]          your sessions on every host (to `dterm attach`)

`--json` prints the front end's answer as it is (docs/protocol.md): a stable shape
for scripts, with an `errors` list naming hosts that did not answer. The table says
those on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from dterm_cli.credentials import CredentialStore
from dterm_cli.exit_status import CliError, Status
from dterm_cli.frontend_http import get_json
from dterm_cli.plain_text import plain


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns as wide as their widest cell, two spaces apart; the last one unpadded."""
    rows = [[plain(cell) for cell in row] for row in rows]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)


def _container_row(c: dict[str, Any]) -> list[str]:
    return [c["host"], c["name"], c["state"], c["image"], c["id"][:12]]


def _session_row(s: dict[str, Any]) -> list[str]:
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s["started"]))
    return [
        s["session"],
        s["host"],
        s["container"],
        " ".join(s["command"]),
        "yes" if s.get("tty", True) else "no",
        started,
        "yes" if s["attached"] else "no",
    ]


def _command(
    prog: str, path: str, key: str, headers: list[str], row: Callable[[dict[str, Any]], list[str]]
) -> Callable[[list[str]], int]:
    """A listing command: GET `path`, whose answer holds the list `key` (of entries
    with a `host`) and `errors`."""

    def main(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(
            prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument("--url", default=os.environ.get("DTERM_URL") or None)
        parser.add_argument("--host", help="only this Docker host")
        parser.add_argument("--json", action="store_true", help="the front end's JSON answer")
        args = parser.parse_args(argv)
        try:
            body = get_json(CredentialStore().get(args.url), path)
            if args.host is not None:
                body[key] = [entry for entry in body[key] if entry["host"] == args.host]
            if args.json:
                print(json.dumps(body, indent=2))
                return 0
            print(table(headers, [row(entry) for entry in body[key]]))
            for error in body.get("errors", []):
                print(plain(f"dterm: {error['host']}: {error['message']}"), file=sys.stderr)
        except CliError as exc:
            print(f"dterm: {exc}", file=sys.stderr)
            return exc.status
        except (KeyError, TypeError, AttributeError) as exc:
            print(f"dterm: an answer of an unexpected shape: {exc!r}", file=sys.stderr)
            return Status.FAILED
        return 0

    return main


ls_main = _command(
    "dterm ls",
    "/api/containers",
    "containers",
    ["HOST", "NAME", "STATE", "IMAGE", "ID"],
    _container_row,
)
sessions_main = _command(
    "dterm sessions",
    "/api/sessions",
    "sessions",
    ["SESSION", "HOST", "CONTAINER", "COMMAND", "TTY", "STARTED", "ATTACHED"],
    _session_row,
)
