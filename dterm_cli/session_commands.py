"""`dterm exec`, `dterm attach` and `dterm watch`: a session from a terminal or a script.

    dterm exec [--host H] [-u USER] [-w DIR] [-T] [-n] CONTAINER [-- CMD ARGS...]
    dterm exec [--host H] ... --service S [--project P | --stack K] [-- CMD ARGS...]
    dterm attach SESSION          resume one of your sessions (`dterm sessions`)
    dterm watch LINK              watch a session read-only, from its watch link

With a terminal on both stdin and stdout (and no -T), `exec` opens a session with a
tty: the local terminal goes to raw mode, so every key (Ctrl-C, Ctrl-Z included)
reaches the program, and its size follows the window. Without one (a pipe, a file,
or -T) the session has no tty: the program's stdout and stderr stay apart and
byte-exact on dterm's own, and the end of stdin reaches the program as EOF. Without
a CMD the session runs the container's shell (bash if present, else sh; sh without a
tty). With --service, the session opens in a running replica of a Compose service
(--project) or a Swarm service (--stack, or its full name alone), as the page's
service rows do, and dterm says which replica. The session survives the network:
see remote_session.py. The front end is the one of `dterm login` (--url or
$DTERM_URL when there are several).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from dterm_cli.credentials import CredentialStore, base_url
from dterm_cli.exit_status import TABLE, CliError, Status
from dterm_cli.local_io import OutputWriter, StdinReader
from dterm_cli.remote_session import Link, RemoteSession, Target

RECONNECT_FOR = 300.0


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=TABLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    made.add_argument(
        "--url",
        default=os.environ.get("DTERM_URL") or None,
        help="the front end (default: $DTERM_URL, else the only one signed in to)",
    )
    made.add_argument(
        "--reconnect-for",
        type=float,
        default=RECONNECT_FOR,
        metavar="SECONDS",
        help="how long to try to reconnect after a drop [%(default)g]",
    )
    return made


def exec_main(argv: list[str]) -> int:
    parser = _parser(
        "dterm exec",
        "Run a shell or a command in a container, like "
        "`docker exec -it`, through a dterm front end.",
    )
    parser.add_argument("--host", help="the Docker host (when the front end knows several)")
    parser.add_argument("-u", "--user", help="the user in the container")
    parser.add_argument("-w", "--workdir", help="the working directory (an absolute path)")
    parser.add_argument(
        "-T",
        "--no-tty",
        action="store_true",
        help="no tty even on a terminal: stdout and stderr apart, stdin's end sent",
    )
    parser.add_argument(
        "-n", "--no-stdin", action="store_true", help="read nothing from stdin (as from /dev/null)"
    )
    parser.add_argument("--share", action="store_true", help="say the session's watch link")
    parser.add_argument(
        "--service", help="a running replica of this service instead of a named container"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--project", help="the Compose project of --service")
    group.add_argument("--stack", help="the Swarm stack of --service")
    parser.add_argument("container", nargs="?", help="a container's name, id or id prefix")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- and the command")
    args = parser.parse_args(argv)
    where, words = _where(parser, args)
    command = words[1:] if words[:1] == ["--"] else words
    if args.workdir is not None and not args.workdir.startswith("/"):
        parser.error("--workdir must be an absolute path")
    tty = not args.no_tty and os.isatty(0) and os.isatty(1)
    opening = {
        "host": args.host,
        **where,
        "cmd": command or (None if tty else ["sh"]),
        "user": args.user,
        "workdir": args.workdir,
        "tty": tty,
    }
    local = Local(not args.no_stdin, tty, args.reconnect_for, args.share)
    return run(args.url, Target(open=opening), local)


def _where(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[dict[str, str], list[str]]:
    """The open's container or service, and the words of the command. With --service
    no container is named, so the first word after the options (argparse has taken
    `--` away by then) is the command's."""
    if args.service is None:
        if args.project is not None or args.stack is not None:
            parser.error("--project and --stack go with --service")
        if args.container is None:
            parser.error("name a container, or a service with --service")
        return {"container": args.container}, args.command
    service = {"service": args.service}
    if args.project is not None:
        service["project"] = args.project
    if args.stack is not None:
        service["stack"] = args.stack
    words = [args.container, *args.command] if args.container is not None else args.command
    return service, words


def attach_main(argv: list[str]) -> int:
    parser = _parser("dterm attach", "Resume one of your sessions (see `dterm sessions`).")
    parser.add_argument("-n", "--no-stdin", action="store_true", help="read nothing from stdin")
    parser.add_argument("session")
    args = parser.parse_args(session_last(argv))
    local = Local(not args.no_stdin, os.isatty(0) and os.isatty(1), args.reconnect_for)
    return run(args.url, Target(session=args.session), local)


def session_last(argv: list[str]) -> list[str]:
    """Session ids are random URL-safe text and may start with "-": an argument that
    names a host (`@`) and is not `--url=...` is the session, whatever its first
    character, so it goes after `--` (no option of `dterm attach` holds an `@` else)."""
    for arg in argv:
        if arg == "--":
            break
        if arg.startswith("-") and "@" in arg and not arg.startswith("--url="):
            return [a for a in argv if a is not arg] + ["--", arg]
    return argv


def watch_main(argv: list[str]) -> int:
    parser = _parser(
        "dterm watch",
        "Watch a session read-only, from the watch link its "
        "owner shared (http://.../#/watch/SESSION/TOKEN).",
    )
    parser.add_argument("link")
    args = parser.parse_args(argv)
    try:
        base, session, token = watch_link(args.link)
    except CliError as exc:
        parser.error(str(exc))
    target = Target(session=session, mode="ro", token=token)
    return run(args.url or base, target, Local(False, False, args.reconnect_for))


def watch_link(link: str) -> tuple[str, str, str]:
    """(front end, session, token) of a watch link."""
    parts = urlsplit(link)
    words = parts.fragment.strip("/").split("/")
    if len(words) != 3 or words[0] != "watch" or not words[1] or not words[2]:
        raise CliError(Status.USAGE, f"not a watch link: {link!r}")
    return base_url(link), unquote(words[1]), unquote(words[2])


@dataclass(frozen=True, slots=True)
class Local:
    """How the session meets this machine."""

    read_stdin: bool
    terminal: bool  # stdin and stdout are a terminal (raw mode for a session with a tty)
    reconnect_for: float
    share: bool = False


def run(url: str | None, target: Target, local: Local) -> int:
    """Run the session to its end; says a failure on stderr; the exit status."""
    try:
        link = Link.of(CredentialStore().get(url))
        return asyncio.run(_session(link, target, local))
    except CliError as exc:
        if str(exc):
            print(f"dterm: {exc}", file=sys.stderr)
        return exc.status


async def _session(link: Link, target: Target, local: Local) -> int:
    stdin = StdinReader() if local.read_stdin else None
    terminal = 0 if local.terminal else None
    session = RemoteSession(
        link, target, OutputWriter(), stdin, terminal, local.reconnect_for, local.share
    )
    return await session.run()
