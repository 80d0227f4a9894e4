"""Signing in and out with a password, and what the page needs to know about it.

POST /login takes {"user", "password"} (JSON or a form) and needs the _xsrf token
like every state-changing request; attempts are counted per address and per name
before the password is checked, and past a few free attempts each further one must
wait twice as long as the last (429 with Retry-After; throttle.py), which slows
brute force to a crawl without locking anyone out for long. A name the users file
does not have is checked against the LDAP directory when one is configured (its own
bound on checks running, ldap_directory.py); a directory that cannot answer gives 503.
Every attempt is audited. POST /logout ends the sign-in on every front end and, for
a sign-in through an OpenID Connect provider that offers it, answers where the
browser goes to end its sign-in there too.
"""

from __future__ import annotations

import json
import logging

from frontend_server.accounts import AccountsError
from frontend_server.api import BaseHandler
from frontend_server.metrics import SIGN_INS
from frontend_server.oidc_login import HINT_COOKIE
from frontend_server.policy import Replays
from frontend_server.throttle import Busy
from shared.errors import Unavailable

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


class AuthInfoHandler(BaseHandler):
    """GET /api/auth: who is signed in and how one signs in here."""

    public = True

    def get(self) -> None:
        person = self.person
        replays = self.services.guard.policy.replays(person) if person else Replays.NONE
        self.write_json(
            {
                "user": person.name if person else None,
                "groups": sorted(person.groups) if person else [],
                "methods": self.auth.methods,
                "oidc_name": self.auth.oidc_name,
                "max_upload_bytes": self.services.config.max_upload_bytes,
                "recordings": replays is not Replays.NONE,
                "xsrf": self.xsrf_token.decode(),
            }
        )


class LoginHandler(BaseHandler):
    public = True

    async def post(self) -> None:
        name, password = self._credentials()
        address = self.client_address
        wait = self.throttle.begin(address, name)
        if wait > 0:
            self._refuse(name, address, "throttled", wait)
            return
        method = self.auth.password_method(name)
        checks = self.services.ldap_checks if method == "ldap" else self.services.password_checks
        try:
            async with checks:
                person = (
                    await self.auth.check_password(name, password, method) if password else None
                )
        except Busy:
            self._refuse(name, address, "busy", 1.0)
            return
        except Unavailable as exc:
            self._unavailable(name, address, method, str(exc), "the directory cannot be reached")
            return
        except AccountsError as exc:  # the operator's problem: never "wrong password"
            log.error("sign-in unavailable: cannot read the users file: %s", exc)
            self._unavailable(name, address, method, str(exc), "sign-in is unavailable: "
                              "this front end cannot read its users file")  # fmt: skip
            return
        if person is None:
            SIGN_INS.labels("failed").inc()
            self.audit.record("sign-in", user=name, address=address, ok=False, method=method)
            self.write_json({"error": "bad_credentials", "message": "wrong name or password"}, 401)
            return
        self.throttle.succeeded(address, name)
        SIGN_INS.labels("ok").inc()
        self.auth.sign_in(self, person, method, self.services.guard.policy.group_names)
        self.audit.record(
            "sign-in",
            user=name,
            address=address,
            ok=True,
            method=method,
            groups=sorted(person.groups),
        )
        self.write_json({"user": person.name})

    def _unavailable(self, name: str, address: str, method: str, reason: str, said: str) -> None:
        """503: the users file or the directory could not say whether the password is right."""
        SIGN_INS.labels("unavailable").inc()
        self.audit.record(
            "sign-in",
            user=name,
            address=address,
            ok=False,
            method=method,
            reason="unavailable",
            detail=reason,
        )
        self.write_json({"error": "unavailable", "message": said}, 503)

    def _refuse(self, name: str, address: str, reason: str, wait: float) -> None:
        """429 with Retry-After: throttled, or too many checks running."""
        self.set_header("Retry-After", str(int(wait) + 1))
        SIGN_INS.labels(reason).inc()
        self.audit.record("sign-in", user=name, address=address, ok=False, reason=reason)
        self.write_json({"error": "too_many_attempts", "retry_after": round(wait, 1)}, 429)

    def _credentials(self) -> tuple[str, str]:
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            try:
                body = json.loads(self.request.body)
                return str(body.get("user", ""))[:256], str(body.get("password", ""))[:1024]
            except (ValueError, AttributeError):
                return "", ""
        return self.get_body_argument("user", "")[:256], self.get_body_argument("password", "")[
            :1024
        ]


class LogoutHandler(BaseHandler):
    """POST /logout: the cookie is cleared and its sign-in revoked on every front end;
    `redirect`, when there is one, is where the browser ends its provider sign-in."""

    public = True

    async def post(self) -> None:
        signed_in = self.auth.sign_in_of(self)
        person = self.person
        revocation = self.auth.sign_out(self)
        if revocation is not None:
            self.pool.revoke(revocation)
        if person is not None:
            self.audit.record("sign-out", user=person.name, address=self.client_address)
        redirect = ""
        if signed_in is not None and signed_in.method == "oidc":
            redirect = await self._provider_sign_out()
        self.clear_cookie(HINT_COOKIE, path="/logout")
        self.write_json({"user": None, "redirect": redirect or None})

    async def _provider_sign_out(self) -> str:
        """The provider's end-session URL for this browser, or "" (none, or unreachable:
        the sign-in here is over all the same)."""
        provider = self.services.oidc
        if provider is None:
            return ""
        try:
            endpoints = await provider.endpoints()
        except Unavailable as exc:
            log.warning("signed out here, but not at the provider: %s", exc)
            return ""
        hint = self.get_signed_cookie(HINT_COOKIE, max_age_days=self.auth.login_ttl / 86400)
        scheme = "https" if self.auth.over_tls(self) else "http"
        after = f"{scheme}://{self.request.host}/"
        return provider.end_session_url(endpoints, hint.decode() if hint else "", after)
