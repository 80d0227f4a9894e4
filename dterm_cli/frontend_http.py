"""The dterm client's HTTP requests to a front end: sign-in and sign-out, lists as JSON.

Plain blocking http.client: a command makes a few short requests before (or instead
of) a session, each with a timeout. POSTs with a cookie carry the `_xsrf` token the
front end asks of every state-changing request (its cookie and the X-XSRFToken
header). A refusal becomes a CliError with the documented exit status; a front end
that cannot be reached is `lost` (255). Secrets never appear in an error message.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from dterm_cli.credentials import LOGIN_COOKIE, Credential
from dterm_cli.exit_status import CliError, Status, for_http

TIMEOUT = 15.0
XSRF_COOKIE = "_xsrf"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise CliError(
                Status.FAILED,
                f"the front end answered HTTP {self.status} with something that is not JSON",
            ) from None

    def cookie(self, name: str) -> str:
        for header in self.headers.get_all("Set-Cookie") or []:
            key, _, rest = header.partition("=")
            if key.strip() == name:
                return rest.split(";", 1)[0]
        return ""

    def message(self) -> str:
        """What a refusal says, from its JSON body when it has one."""
        try:
            body = json.loads(self.body)
            return str(body.get("message") or body.get("error") or "")
        except (ValueError, AttributeError):
            return ""


def request(base: str, method: str, path: str, headers: dict[str, str], body: Any = None) -> Reply:
    """One request; `body` goes as JSON."""
    parts = urlsplit(base)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.netloc, timeout=TIMEOUT, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT)
    payload = None if body is None else json.dumps(body).encode()
    sent = {**headers, **({"Content-Type": "application/json"} if payload else {})}
    try:
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    except (OSError, http.client.HTTPException) as exc:
        raise CliError(Status.LOST, f"cannot reach {base}: {exc}") from None
    finally:
        connection.close()


def refused(base: str, reply: Reply) -> CliError:
    said = reply.message()
    if reply.status == 401:
        return CliError(
            Status.NOT_SIGNED_IN,
            f"{base} refused the sign-in of `dterm login` (expired or revoked): log in again",
        )
    return CliError(
        for_http(reply.status), f"{base}: HTTP {reply.status}{': ' + said if said else ''}"
    )


def get_json(credential: Credential, path: str) -> Any:
    reply = request(credential.url, "GET", path, credential.headers())
    if reply.status != 200:
        raise refused(credential.url, reply)
    return reply.json()


def auth_info(base: str, headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    """GET /api/auth: who is signed in, the ways to sign in, and an _xsrf cookie."""
    reply = request(base, "GET", "/api/auth", headers)
    if reply.status != 200:
        raise refused(base, reply)
    info = reply.json()
    if not isinstance(info, dict):
        raise CliError(Status.FAILED, f"{base}/api/auth did not answer a JSON object")
    return info, reply.cookie(XSRF_COOKIE)


def _xsrf_headers(xsrf: str, cookies: str = "") -> dict[str, str]:
    jar = "; ".join(c for c in (cookies, f"{XSRF_COOKIE}={xsrf}") if c)
    return {"Cookie": jar, "X-XSRFToken": xsrf}


def password_sign_in(base: str, user: str, password: str) -> str:
    """POST /login; returns the login cookie's value."""
    _, xsrf = auth_info(base, {})
    reply = request(
        base, "POST", "/login", _xsrf_headers(xsrf), {"user": user, "password": password}
    )
    if reply.status == 401:
        raise CliError(Status.NOT_SIGNED_IN, f"{base}: wrong name or password")
    if reply.status == 429:
        wait = reply.headers.get("Retry-After", "a few")
        raise CliError(Status.UNAVAILABLE, f"{base}: too many attempts; try again in {wait} s")
    cookie = reply.cookie(LOGIN_COOKIE)
    if reply.status != 200 or not cookie:
        raise refused(base, reply)
    return cookie


def sign_out(credential: Credential) -> None:
    """POST /logout: ends a password sign-in on every front end (a bearer token stays
    valid until an admin revokes it: there is nothing to end)."""
    if credential.kind != "cookie":
        return
    login = f"{LOGIN_COOKIE}={credential.secret}"
    _, xsrf = auth_info(credential.url, {"Cookie": login})
    reply = request(credential.url, "POST", "/logout", _xsrf_headers(xsrf, login))
    if reply.status != 200:
        raise refused(credential.url, reply)
