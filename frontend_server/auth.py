"""Who is asking: sign-in methods, login cookies, bearer tokens, proxy headers.

Three ways to sign in, any of them configured:
- dev token: the all-in-one mode prints a URL with a random token (as Jupyter does);
- users file: a name and a password checked against an argon2id hash;
- single sign-on: a trusted reverse proxy (oauth2-proxy style) sends
  `X-Forwarded-User` and `X-Forwarded-Groups`; honoured only from configured proxy
  addresses, never from anyone else.
A successful sign-in sets a signed, HttpOnly, SameSite=Strict cookie (Secure over
TLS) that names the person and expires after `login_ttl`. Scripts send
`Authorization: Bearer <token>`: the dev token or one an admin issued.

Pure decisions on request data; password checks run off the loop (argon2 is slow
on purpose).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import time

from tornado.web import RequestHandler

from frontend_server.accounts import Tokens, Users
from frontend_server.policy import Person
from shared.config import FrontendConfig

LOGIN_COOKIE = "dterm_login"
DEV_USER = "dev"


def direct_peer(handler: RequestHandler) -> str:
    """Whoever opened the TCP connection (the server runs without xheaders, so this is
    never taken from a header)."""
    return str(handler.request.remote_ip or "")


def client_address(handler: RequestHandler, auth: Authenticator) -> str:
    """The person's address: the direct peer, or the last hop a trusted proxy names."""
    forwarded = handler.request.headers.get("X-Forwarded-For", "")
    if forwarded and auth.from_trusted_proxy(handler):
        return forwarded.split(",")[-1].strip()
    return direct_peer(handler)


class Authenticator:
    def __init__(self, config: FrontendConfig) -> None:
        self.dev_token = config.token
        self.users = Users(config.users_file) if config.users_file else None
        self.tokens = Tokens(config.tokens_file) if config.tokens_file else None
        self.login_ttl = config.login_ttl
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies]
        self._user_header = config.proxy_user_header
        self._groups_header = config.proxy_groups_header

    @property
    def methods(self) -> list[str]:
        """Sign-in methods offered to people, for the page's sign-in form."""
        found = ["token"] if self.dev_token else []
        if self.users is not None:
            found.append("password")
        if self._proxies:
            found.append("proxy")
        return found

    def accepts_dev_token(self, candidate: str | None) -> bool:
        return (
            bool(self.dev_token)
            and candidate is not None
            and hmac.compare_digest(candidate.encode(), self.dev_token.encode())
        )

    def person_of(self, handler: RequestHandler) -> Person | None:
        """The signed-in person of a request: bearer token, trusted proxy, or cookie."""
        header = handler.request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return self._bearer(header[len("Bearer ") :].strip())
        proxied = self._proxied(handler)
        if proxied is not None:
            return proxied
        return self._cookie(handler)

    def _bearer(self, token: str) -> Person | None:
        if self.accepts_dev_token(token):
            return Person(DEV_USER)
        account = self.tokens.check(token) if self.tokens else None
        return Person(account.name, account.groups) if account else None

    def from_trusted_proxy(self, handler: RequestHandler) -> bool:
        try:
            peer = ipaddress.ip_address(direct_peer(handler))
        except ValueError:
            return False
        return any(peer in network for network in self._proxies)

    def _proxied(self, handler: RequestHandler) -> Person | None:
        name = handler.request.headers.get(self._user_header, "").strip()
        if not name or not self.from_trusted_proxy(handler):
            return None
        groups = handler.request.headers.get(self._groups_header, "")
        return Person(name, frozenset(g.strip() for g in groups.split(",") if g.strip()))

    def _cookie(self, handler: RequestHandler) -> Person | None:
        raw = handler.get_signed_cookie(LOGIN_COOKIE, max_age_days=max(1, self.login_ttl / 86400))
        if raw is None:
            return None
        try:
            claims = json.loads(raw)
            if float(claims["exp"]) < time.time():
                return None
            return Person(str(claims["u"]), frozenset(claims.get("g", [])))
        except (ValueError, KeyError, TypeError):
            return None

    async def check_password(self, name: str, password: str) -> Person | None:
        if self.users is None:
            return None
        account = await asyncio.to_thread(self.users.check_password, name, password)
        return Person(account.name, account.groups) if account else None

    def sign_in(self, handler: RequestHandler, person: Person) -> None:
        claims = {"u": person.name, "g": sorted(person.groups), "exp": time.time() + self.login_ttl}
        handler.set_signed_cookie(
            LOGIN_COOKIE,
            json.dumps(claims),
            expires_days=self.login_ttl / 86400,
            httponly=True,
            samesite="Strict",
            secure=self.over_tls(handler),
        )

    def over_tls(self, handler: RequestHandler) -> bool:
        """Served over TLS, directly or by a trusted proxy that says so."""
        forwarded = handler.request.headers.get("X-Forwarded-Proto", "")
        return handler.request.protocol == "https" or (
            forwarded == "https" and self.from_trusted_proxy(handler)
        )

    def sign_out(self, handler: RequestHandler) -> None:
        handler.clear_cookie(LOGIN_COOKIE)
