"""`dterm login` and `dterm logout`: the credential the other client commands use.

    dterm login URL                    asks how (name and password, or a token)
    dterm login URL --user NAME        a password sign-in (--password-stdin for scripts)
    dterm login URL --token-stdin      a bearer token read from stdin
    dterm login 'http://host:8080/?token=...'   the sign-in URL `dterm up` prints
    dterm logout [URL]                 ends a password sign-in everywhere, forgets it here

The credential is checked with the front end before it is kept (credentials.py says
where and how). Passwords and tokens are read without echo, never from the command
line (where other users' `ps` would see them), and never printed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

from dterm_cli.credentials import Credential, CredentialStore, base_url
from dterm_cli.exit_status import CliError, Status
from dterm_cli.frontend_http import auth_info, password_sign_in, sign_out
from dterm_cli.plain_text import plain


def _secret(prompt: str, from_stdin: bool) -> str:
    return sys.stdin.readline().strip() if from_stdin else getpass.getpass(prompt).strip()


def _credential(url: str, args: argparse.Namespace) -> Credential:
    base = base_url(url)
    token = parse_qs(urlsplit(url).query).get("token", [""])[0]
    if args.token_stdin:
        token = _secret("", True)
    if token:
        return Credential(base, "bearer", "", token)
    methods = [] if args.user else auth_info(base, {})[0].get("methods", [])
    if args.user or "password" in methods:
        user = args.user or input("user: ").strip()
        password = _secret(f"password for {user}: ", args.password_stdin)
        return Credential(base, "cookie", user, password_sign_in(base, user, password))
    if "token" in methods:
        return Credential(base, "bearer", "", _secret("token: ", False))
    raise CliError(
        Status.USAGE,
        f"{base} signs people in through a proxy; ask for a token and use --token-stdin",
    )


def login_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="dterm login",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="the front end, or its sign-in URL with ?token=")
    parser.add_argument("--user", help="sign in with this name and a password")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    parser.add_argument("--token-stdin", action="store_true", help="read a bearer token from stdin")
    args = parser.parse_args(argv)
    store = CredentialStore()
    try:
        credential = _credential(args.url, args)
        user = auth_info(credential.url, credential.headers())[0].get("user")
        if not user:
            raise CliError(Status.NOT_SIGNED_IN, f"{credential.url} refused the token")
        store.save(replace(credential, user=str(user)))
    except CliError as exc:
        print(f"dterm: {exc}", file=sys.stderr)
        return exc.status
    print(plain(f"signed in to {credential.url} as {user} (kept in {store.path})"))
    return 0


def logout_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="dterm logout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", nargs="?", default=os.environ.get("DTERM_URL") or None)
    args = parser.parse_args(argv)
    store = CredentialStore()
    try:
        credential = store.get(args.url)
        try:
            sign_out(credential)
        except CliError as exc:
            print(
                f"dterm: could not sign out at the front end ({exc}); forgetting it here",
                file=sys.stderr,
            )
        store.remove(credential.url)
    except CliError as exc:
        print(f"dterm: {exc}", file=sys.stderr)
        return exc.status
    print(f"signed out of {credential.url}")
    return 0
