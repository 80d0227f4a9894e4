"""Who is asking: sign-in methods, login cookies, bearer tokens, single sign-on headers.

Ways to sign in, any of them configured:
- dev token: the all-in-one mode prints a URL with a random token (as Jupyter does);
- users file: a name and a password checked against an argon2id hash;
- LDAP (ldap_directory.py): a name not in the users file and a password, checked by
  binding to the directory, which also gives the person's groups;
- OpenID Connect (oidc.py, oidc_login.py): the company's identity provider signs the
  person in and names their groups;
- single sign-on: an explicit opt-in (`sso_user_header` and `sso_proxies`): a proxy
  such as oauth2-proxy names the person in that header, believed only from those
  addresses. Trusting a proxy for X-Forwarded-For/-Proto (`trusted_proxies`) never
  lets it say who someone is.
A successful sign-in sets a signed, HttpOnly, SameSite=Strict cookie (Secure over
TLS) that names the person, a random sign-in id and a stamp of the credential, and
expires after `login_ttl`. Every request checks the cookie against the current
credential: removing a user or changing their password ends their sign-ins at
once, their groups are read afresh, and a signed-out id is refused by every front
end (revocations travel through the workers). A sign-in by LDAP or OpenID Connect
keeps the groups it was given in its cookie until it ends; changing the directory's or
the provider's settings ends all such sign-ins. Scripts send `Authorization: Bearer
<token>`: the dev token or one an admin issued.

Pure decisions on request data; password checks run off the loop (argon2 is slow
on purpose) and the caller bounds how many run at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tornado.web import RequestHandler

from frontend_server.accounts import AccountsError, Tokens, Users
from frontend_server.ldap_directory import LdapDirectory
from frontend_server.policy import Person
from shared.errors import Forbidden
from shared.revocation_messages import Revocation
from shared.revocations import Revocations
from shared.settings import FrontendConfig

log = logging.getLogger(__name__)

LOGIN_COOKIE = "dterm_login"
DEV_USER = "dev"
MAX_COOKIE_GROUPS = 2000
"""Characters of group names a login cookie carries at most (a cookie holds about 4 kB):
past that, only the groups the policy names are kept."""
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def direct_peer(handler: RequestHandler) -> str:
    """Whoever opened the TCP connection (the server runs without xheaders, so this is
    never taken from a header)."""
    return str(handler.request.remote_ip or "")


def _networks(entries: tuple[str, ...]) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _from(handler: RequestHandler, networks: list[Network]) -> bool:
    try:
        peer = ipaddress.ip_address(direct_peer(handler))
    except ValueError:
        return False
    return any(peer in network for network in networks)


def stamp(secret: str) -> str:
    """A short digest of a credential: a cookie made with the old one stops working."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SignIn:
    """What a login cookie says."""

    person: Person
    sign_in: str
    method: str
    expires: float


def check_sso_settings(config: FrontendConfig) -> None:
    """Header sign-in is all or nothing: a header to read and proxies to believe."""
    if bool(config.sso_user_header) != bool(config.sso_proxies):
        raise Forbidden(
            "single sign-on needs both sso_user_header (the header naming the person) "
            "and sso_proxies (the addresses allowed to send it)"
        )


def sso_warning(config: FrontendConfig) -> str:
    """What a front end that signs people in by a header says at start."""
    if not config.sso_user_header:
        return ""
    return (
        f"WARNING: people are signed in by the {config.sso_user_header} header from "
        f"{', '.join(config.sso_proxies)}: whoever can send requests from there can be "
        "anyone. That proxy must remove the header from what clients send."
    )


def external_stamps(config: FrontendConfig) -> dict[str, str]:
    """Sign-in methods whose cookies carry the person's groups, each with a stamp of its
    settings: a sign-in made with other settings is over."""
    stamps = {}
    if config.oidc_issuer:
        stamps["oidc"] = stamp(f"oidc {config.oidc_issuer} {config.oidc_client_id}")
    if config.ldap_url:
        stamps["ldap"] = stamp(
            f"ldap {config.ldap_url} {config.ldap_user_dn} {config.ldap_user_base}"
        )
    return stamps


class Authenticator:
    def __init__(
        self, config: FrontendConfig, revoked: Revocations, ldap: LdapDirectory | None = None
    ) -> None:
        check_sso_settings(config)
        self.dev_token = config.token
        self.users = Users(config.users_file) if config.users_file else None
        self.ldap = ldap
        self._external = external_stamps(config)
        self.oidc_name = config.oidc_display_name or urlsplit(config.oidc_issuer).hostname or ""
        self.tokens = Tokens(config.tokens_file) if config.tokens_file else None
        self.login_ttl = config.login_ttl
        self.revoked = revoked
        self._proxies = _networks(config.trusted_proxies)
        self._sso_proxies = _networks(config.sso_proxies)
        self._user_header = config.sso_user_header
        self._groups_header = config.sso_groups_header

    @property
    def methods(self) -> list[str]:
        """Sign-in methods offered to people, for the page's sign-in form."""
        found = ["token"] if self.dev_token else []
        if self.users is not None:
            found.append("password")
        if self.ldap is not None:
            found.append("ldap")
        if "oidc" in self._external:
            found.append("oidc")
        if self._user_header:
            found.append("proxy")
        return found

    def accepts_dev_token(self, candidate: str | None) -> bool:
        return (
            bool(self.dev_token)
            and candidate is not None
            and hmac.compare_digest(candidate.encode(), self.dev_token.encode())
        )

    def person_of(self, handler: RequestHandler) -> Person | None:
        """The signed-in person of a request: bearer token, single sign-on, or cookie."""
        header = handler.request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return self._bearer(header[len("Bearer ") :].strip())
        proxied = self._proxied(handler)
        if proxied is not None:
            return proxied
        signed_in = self.sign_in_of(handler)
        return signed_in.person if signed_in else None

    def _bearer(self, token: str) -> Person | None:
        if self.accepts_dev_token(token):
            return Person(DEV_USER)
        account = self.tokens.check(token) if self.tokens else None
        return Person(account.name, account.groups) if account else None

    def from_trusted_proxy(self, handler: RequestHandler) -> bool:
        """Believed for X-Forwarded-For and X-Forwarded-Proto, nothing more."""
        return _from(handler, self._proxies)

    def _proxied(self, handler: RequestHandler) -> Person | None:
        if not self._user_header:
            return None
        name = handler.request.headers.get(self._user_header, "").strip()
        if not name or not _from(handler, self._sso_proxies):
            return None
        groups = handler.request.headers.get(self._groups_header, "") if self._groups_header else ""
        return Person(name, frozenset(g.strip() for g in groups.split(",") if g.strip()))

    def sign_in_of(self, handler: RequestHandler) -> SignIn | None:
        """The cookie's sign-in, if it is still good: not expired, not signed out, and
        made with the credential the person has now."""
        raw = handler.get_signed_cookie(LOGIN_COOKIE, max_age_days=max(1, self.login_ttl / 86400))
        if raw is None:
            return None
        try:
            claims = json.loads(raw)
            name, sign_in, method = str(claims["u"]), str(claims["sid"]), str(claims["m"])
            expires, made_with = float(claims["exp"]), str(claims["v"])
            groups = frozenset(str(group) for group in claims.get("g", []))
        except (ValueError, KeyError, TypeError):
            return None
        now = time.time()
        if expires < now or self.revoked.revoked(sign_in, now, expires):
            return None
        person = self._current(name, method, made_with, groups)
        return SignIn(person, sign_in, method, expires) if person else None

    def _current(
        self, name: str, method: str, made_with: str, groups: frozenset[str]
    ) -> Person | None:
        """The person as their credential says now; None if it changed or went."""
        if method in self._external:
            ok = hmac.compare_digest(self._external[method], made_with)
            return Person(name, groups) if ok else None
        if method == "token":
            ok = name == DEV_USER and bool(self.dev_token) and made_with == stamp(self.dev_token)
            return Person(DEV_USER) if ok else None
        if method != "password" or self.users is None:
            return None
        try:
            found = self.users.current(name)
        except AccountsError as exc:
            log.warning("cannot read the users file: %s", exc)
            return None
        if found is None or not hmac.compare_digest(stamp(found[1]), made_with):
            return None
        return Person(name, found[0].groups)

    def local_name(self, name: str) -> bool:
        """Whether this name is one of this front end's own: an account of the users
        file, or the dev token's. AccountsError when the users file cannot be read."""
        if self.dev_token and name == DEV_USER:
            return True
        return self.users is not None and self.users.current(name) is not None

    def password_method(self, name: str) -> str:
        """Who checks this name's password: the users file ("password") when it has the
        name, cannot say whether it has it (unreadable: never the directory's person of
        that name instead), or there is no directory; else the directory ("ldap")."""
        if self.ldap is None:
            return "password"
        try:
            return "password" if self.local_name(name) else "ldap"
        except AccountsError as exc:
            log.warning("cannot read the users file: %s", exc)
            return "password"  # its check says so (503)

    async def check_password(self, name: str, password: str, method: str) -> Person | None:
        """The person if the password is right (off the loop: argon2, or LDAP calls)."""
        if method == "ldap" and self.ldap is not None:
            return await self.ldap.check_password(name, password)
        if self.users is None:
            return None
        account = await asyncio.to_thread(self.users.check_password, name, password)
        return Person(account.name, account.groups) if account else None

    def sign_in(
        self,
        handler: RequestHandler,
        person: Person,
        method: str,
        policy_groups: frozenset[str] = frozenset(),
    ) -> None:
        """Set the login cookie, stamped with the credential it was made with; a sign-in
        by LDAP or OpenID Connect carries its groups (see MAX_COOKIE_GROUPS)."""
        extra: dict[str, object] = {}
        if method in self._external:
            made_with = self._external[method]
            extra["g"] = cookie_groups(person, policy_groups)
        elif method == "token":
            made_with = stamp(self.dev_token)
        else:
            assert self.users is not None
            found = self.users.current(person.name)
            if found is None:
                raise Forbidden(f"no user {person.name}")
            made_with = stamp(found[1])
        claims = {
            "u": person.name,
            "sid": secrets.token_urlsafe(12),
            "m": method,
            "v": made_with,
            "exp": time.time() + self.login_ttl,
            **extra,
        }
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

    def sign_out(self, handler: RequestHandler) -> Revocation | None:
        """Clear the cookie and revoke its sign-in here; the caller tells the others."""
        signed_in = self.sign_in_of(handler)
        handler.clear_cookie(LOGIN_COOKIE)
        if signed_in is None:
            return None
        revocation = Revocation(signed_in.sign_in, int(signed_in.expires) + 1)
        self.revoked.add([revocation], time.time())
        return revocation


def cookie_groups(person: Person, policy_groups: frozenset[str]) -> list[str]:
    """The groups a login cookie carries: all of them, or if they are too many for a
    cookie, those the policy names (logged)."""
    groups = sorted(person.groups)
    if sum(len(group) + 3 for group in groups) <= MAX_COOKIE_GROUPS:
        return groups
    kept = [group for group in groups if group in policy_groups]
    log.warning(
        "%s has %d groups, too many for a cookie: kept the %d the policy names",
        person.name,
        len(groups),
        len(kept),
    )
    return kept


def client_address(handler: RequestHandler, auth: Authenticator) -> str:
    """The person's address: the direct peer, or the last hop a trusted proxy names."""
    forwarded = handler.request.headers.get("X-Forwarded-For", "")
    if forwarded and auth.from_trusted_proxy(handler):
        return forwarded.split(",")[-1].strip()
    return direct_peer(handler)
