"""dterm: one command for everything.

    dterm up          a worker and a front end on this machine (what `make run` does)
    dterm worker      the exec worker of one Docker host
    dterm frontend    a front end (page, API, WebSockets)
    dterm keys        make a CurveZMQ key pair for worker links
    dterm users       manage password sign-in (--users-file)
    dterm tokens      manage bearer tokens (--tokens-file)
    dterm version     print the version

    dterm login URL   sign in to a front end (kept in ~/.config/dterm/, mode 0600)
    dterm logout      sign out
    dterm exec C      a shell (or -- CMD ARGS) in container C, from this terminal or a
                      script (--service S: in a replica of a service); survives the network
    dterm ls          containers (--json for scripts)
    dterm sessions    your sessions (--json)
    dterm attach S    resume session S
    dterm watch LINK  watch a session read-only

`dterm COMMAND --help` tells more. Settings come from flags, DTERM_* variables and
a TOML config file (--config), in that order of precedence.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version


def _version(argv: list[str]) -> int:
    try:
        print(f"dterm {version('dterm')}")
    except PackageNotFoundError:
        print("dterm (not installed as a package)")
    return 0


def _accounts(kind: str) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        from dterm_cli.accounts import main

        return main([kind, *argv])

    return run


def _lazy(module: str, function: str) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        imported = __import__(module, fromlist=[function])
        result: int = getattr(imported, function)(argv)
        return result

    return run


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "up": _lazy("dterm_cli.up", "main"),
    "worker": _lazy("exec_worker.__main__", "run"),
    "frontend": _lazy("frontend_server.__main__", "run"),
    "keys": _lazy("dterm_cli.keys", "main"),
    "users": _accounts("users"),
    "tokens": _accounts("tokens"),
    "version": _version,
    "login": _lazy("dterm_cli.signin", "login_main"),
    "logout": _lazy("dterm_cli.signin", "logout_main"),
    "exec": _lazy("dterm_cli.session_commands", "exec_main"),
    "attach": _lazy("dterm_cli.session_commands", "attach_main"),
    "watch": _lazy("dterm_cli.session_commands", "watch_main"),
    "ls": _lazy("dterm_cli.listing", "ls_main"),
    "sessions": _lazy("dterm_cli.listing", "sessions_main"),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"dterm: no command {args[0]!r}\n\n{__doc__.strip()}", file=sys.stderr)
        return 2
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
