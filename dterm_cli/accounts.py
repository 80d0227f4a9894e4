"""Manage users and bearer tokens (`dterm users ...`, `dterm tokens ...`).

    users [--users-file F] add NAME [--groups a,b]   (asks for the password, or
                                                      --password-stdin; an existing
                                                      NAME only with --replace)
    users [--users-file F] passwd NAME | remove NAME | list
    users [--users-file F] groups NAME a,b            (new groups, same password)
    tokens [--tokens-file F] issue USER [--groups a,b] [--days N]
    tokens [--tokens-file F] revoke ID | list

A running front end picks the changes up by itself: a removed user, a new password
or new groups apply to the person's next request, signed in or not.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from frontend_server.accounts import AccountsError, Tokens, Users


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise AccountsError("no password on standard input")
    else:
        # Without a terminal getpass reads the pipe for both prompts and fails on the
        # second: a script must say that the password comes from standard input.
        if not sys.stdin.isatty():
            raise AccountsError(
                "standard input is not a terminal: to give the password through a pipe, "
                "add --password-stdin"
            )
        try:
            password = getpass.getpass("password: ")
            if getpass.getpass("again: ") != password:
                raise AccountsError("the passwords differ")
        except EOFError:
            raise AccountsError("no password given") from None
    if len(password) < 8:
        raise AccountsError("use at least 8 characters")
    return password


def _groups(text: str | None) -> list[str] | None:
    return None if text is None else [g for g in text.split(",") if g]


def _check_exists(users: Users, name: str, adding: bool, replace: bool) -> None:
    """`add` makes a new user (an existing one only with --replace); `passwd` changes
    the password of one that exists, so a mistyped name never makes an account."""
    exists = users.current(name) is not None
    if adding and exists and not replace:
        raise AccountsError(f"{name} already exists: add --replace to give them a new password")
    if not adding and not exists:
        raise AccountsError(f"no user {name!r} (`add` makes one)")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="dterm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    kinds = main.add_subparsers(dest="kind", required=True)
    users = kinds.add_parser("users", help="people who sign in with a password")
    users.add_argument("--users-file", default=os.environ.get("DTERM_USERS_FILE", "users.json"))
    users_do = users.add_subparsers(dest="action", required=True)
    for action in ("add", "passwd"):
        sub = users_do.add_parser(action)
        sub.add_argument("name")
        sub.add_argument("--groups", help="comma-separated groups")
        sub.add_argument("--password-stdin", action="store_true")
        if action == "add":
            sub.add_argument(
                "--replace", action="store_true", help="an existing user gets this password"
            )
    users_do.add_parser("remove").add_argument("name")
    groups = users_do.add_parser("groups")
    groups.add_argument("name")
    groups.add_argument("groups", help="comma-separated groups (empty: none)")
    users_do.add_parser("list")
    tokens = kinds.add_parser("tokens", help="bearer tokens for scripts")
    tokens.add_argument("--tokens-file", default=os.environ.get("DTERM_TOKENS_FILE", "tokens.json"))
    tokens_do = tokens.add_subparsers(dest="action", required=True)
    issue = tokens_do.add_parser("issue")
    issue.add_argument("user")
    issue.add_argument("--groups", default="")
    issue.add_argument("--days", type=float, help="expires after this many days")
    tokens_do.add_parser("revoke").add_argument("id")
    tokens_do.add_parser("list")
    return main


def run(args: argparse.Namespace) -> None:
    users = Users(getattr(args, "users_file", "users.json"))
    tokens = Tokens(getattr(args, "tokens_file", "tokens.json"))
    match args.kind, args.action:
        case "users", "add" | "passwd":
            _check_exists(users, args.name, args.action == "add", getattr(args, "replace", False))
            users.set(args.name, _password(args.password_stdin), _groups(args.groups))
            print(f"{args.name}: password set")
        case "users", "groups":
            users.set_groups(args.name, _groups(args.groups) or [])
            print(f"{args.name}: groups {args.groups or '(none)'}")
        case "users", "remove":
            users.remove(args.name)
            print(f"{args.name}: removed")
        case "users", "list":
            for account in users.list():
                print(account.name, ",".join(sorted(account.groups)))
        case "tokens", "issue":
            token = tokens.issue(args.user, _groups(args.groups) or [], args.days)
            print(token)
        case "tokens", "revoke":
            tokens.revoke(args.id)
            print(f"{args.id}: revoked")
        case "tokens", "list":
            for token_id, entry in sorted(tokens.list().items()):
                print(
                    token_id,
                    entry["user"],
                    ",".join(entry["groups"]),
                    f"expires={entry['expires'] or 'never'}",
                )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        run(args)
    except AccountsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
