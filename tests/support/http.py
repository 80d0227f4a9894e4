"""Plain HTTP requests for tests, with sign-in helpers (cookie, XSRF token)."""

from __future__ import annotations

import http.client
import json
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def cookies(self) -> dict[str, str]:
        found = {}
        for header in self.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            found[name] = rest.split(";", 1)[0]
        return found


def call(
    stack: Stack,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: Any = None,
    source: str = "",
    raw: bytes | None = None,
) -> Reply:
    """One request that does not follow redirects; `source` picks the local address;
    `body` is sent as JSON, `raw` as it is."""
    parts = urlsplit(stack.base)
    where: dict[str, Any] = {"timeout": 10, "source_address": (source, 0) if source else None}
    conn = (
        http.client.HTTPSConnection(parts.hostname or "", parts.port, context=stack.tls, **where)
        if parts.scheme == "https"
        else http.client.HTTPConnection(parts.hostname or "", parts.port, **where)
    )
    payload = json.dumps(body).encode() if body is not None else raw
    kind = {"Content-Type": "application/json"} if body is not None else {}
    all_headers = {**kind, **(headers or {})}
    conn.request(method, path, body=payload, headers=all_headers)
    response = conn.getresponse()
    reply = Reply(response.status, response.headers, response.read())
    conn.close()
    return reply


def xsrf(stack: Stack) -> dict[str, str]:
    """Headers that pass the XSRF check: the _xsrf cookie and its token."""
    info = call(stack, "/api/auth")
    token = info.cookies()["_xsrf"]
    return {"Cookie": f"_xsrf={token}", "X-XSRFToken": token}


def sign_in(stack: Stack, user: str, password: str, source: str = "") -> Reply:
    body = {"user": user, "password": password}
    return call(stack, "/login", "POST", xsrf(stack), body, source=source)


def cookie_of(reply: Reply) -> str:
    return f"dterm_login={reply.cookies()['dterm_login']}"


def get_json(
    stack: Stack, path: str, token: str | None = None, headers: dict[str, str] | None = None
) -> Any:
    """GET with the stack's bearer token, another token, or other sign-in headers."""
    request = urllib.request.Request(
        stack.base + path, headers=headers or {"Authorization": f"Bearer {token or stack.token}"}
    )
    with urllib.request.urlopen(request, timeout=10, context=stack.tls) as response:
        return json.load(response)


def wait_hosts_up(
    stack: Stack, hosts: set[str], timeout: float = 15, headers: dict[str, str] | None = None
) -> None:
    """Up means the front end knows the host's containers."""

    def up() -> bool:
        listed = get_json(stack, "/api/hosts", headers=headers)["hosts"]
        return hosts <= {h["host"] for h in listed if h["state"] == "up"}

    wait_until(up, timeout, f"hosts {hosts} up", every=0.05)


def login_cookie(stack: Stack) -> str:
    """The sign-in cookie the dev token's URL sets, as a Cookie header's value."""
    return call(stack, f"/?token={stack.token}").headers["Set-Cookie"].split(";", 1)[0]
