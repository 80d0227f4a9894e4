"""Signing in through an OpenID Connect provider: GET /oidc/login and its callback.

GET /oidc/login makes a state, a nonce and a PKCE verifier, keeps them in a signed,
HttpOnly cookie that lives FLOW_TTL seconds (SameSite=Lax: the provider's redirect
back is a cross-site navigation, which a Strict cookie would miss), and sends the
browser to the provider. GET /oidc/callback accepts a code only with the state of
that cookie (so nobody can sign a browser in as someone else by sending it a code),
redeems it once with the verifier, checks the ID token (oidc.py), and signs the
person in with the usual login cookie, groups taken from the token. A name the users
file holds is refused: people choose their own names at many providers, and a
sign-in owns whatever is that name's (sessions, recordings, rules naming it). The cookie is
cleared whatever the outcome. Every callback is audited; each is counted by the
login throttle like a password attempt.

The ID token is kept in a cookie that only POST /logout receives, to name the sign-in
when it is ended at the provider too (login.py).

Concurrency: one event loop; provider calls are awaited (oidc.py gives them deadlines).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from html import escape

from frontend_server.accounts import AccountsError
from frontend_server.api import BaseHandler
from frontend_server.id_tokens import SignInRefused, pkce_verifier
from frontend_server.metrics import SIGN_INS
from frontend_server.policy import Person
from shared.errors import Unavailable

log = logging.getLogger(__name__)

FLOW_COOKIE = "dterm_oidc_flow"
HINT_COOKIE = "dterm_oidc_hint"
FLOW_TTL = 600.0
MAX_HINT = 3000
"""Longer ID tokens are not kept for sign-out (a cookie holds about 4 kB); the
provider is then told only the client id."""


@dataclass(frozen=True, slots=True)
class Flow:
    """One browser's sign-in under way."""

    state: str
    nonce: str
    verifier: str
    redirect_uri: str

    @classmethod
    def start(cls, redirect_uri: str) -> Flow:
        return cls(
            secrets.token_urlsafe(24), secrets.token_urlsafe(24), pkce_verifier(), redirect_uri
        )

    def dumps(self) -> str:
        return json.dumps([self.state, self.nonce, self.verifier, self.redirect_uri])

    @classmethod
    def loads(cls, raw: bytes | None) -> Flow | None:
        try:
            state, nonce, verifier, redirect_uri = json.loads(raw or b"")
            return cls(str(state), str(nonce), str(verifier), str(redirect_uri))
        except (ValueError, TypeError):
            return None


class OidcHandler(BaseHandler):
    public = True

    def origin(self) -> str:
        """The page's origin as this request names it."""
        scheme = "https" if self.auth.over_tls(self) else "http"
        return f"{scheme}://{self.request.host}"

    def failed(self, status: int, reason: str) -> None:
        SIGN_INS.labels("failed").inc()
        self.audit.record(
            "sign-in",
            user=None,
            address=self.client_address,
            ok=False,
            method="oidc",
            reason=reason,
        )
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Sign-in failed</title>"
            f"<h1>Sign-in failed</h1><p>{escape(reason)}</p><p><a href='/'>Back to dterm</a></p>"
        )


class OidcLoginHandler(OidcHandler):
    """GET /oidc/login: off to the provider, with this browser's state, nonce and PKCE."""

    async def get(self) -> None:
        if self.services.oidc is None:
            self.send_error(404)
            return
        provider = self.services.oidc
        try:
            endpoints = await provider.endpoints()
        except Unavailable as exc:
            self.failed(503, str(exc))
            return
        redirect_uri = self.services.config.oidc_redirect_url or self.origin() + "/oidc/callback"
        flow = Flow.start(redirect_uri)
        self.set_signed_cookie(
            FLOW_COOKIE,
            flow.dumps(),
            expires_days=FLOW_TTL / 86400,
            httponly=True,
            samesite="Lax",
            secure=self.auth.over_tls(self),
            path="/oidc/",
        )
        url = provider.authorization_url(
            endpoints, redirect_uri, flow.state, flow.nonce, flow.verifier
        )
        self.redirect(url)


class OidcCallbackHandler(OidcHandler):
    """GET /oidc/callback: the provider sends the browser back with a code (or an error)."""

    async def get(self) -> None:
        provider = self.services.oidc
        if provider is None:
            self.send_error(404)
            return
        flow = Flow.loads(self.get_signed_cookie(FLOW_COOKIE, max_age_days=FLOW_TTL / 86400))
        self.clear_cookie(FLOW_COOKIE, path="/oidc/")
        reason = self._refusal(flow)
        if reason:
            self.failed(400, reason)
            return
        assert flow is not None
        address = self.client_address
        if self.throttle.begin(address, None) > 0:
            self.failed(429, "too many sign-in attempts from this address: wait a little")
            return
        try:
            token = await provider.redeem(
                self.get_query_argument("code", ""), flow.verifier, flow.redirect_uri, flow.nonce
            )
        except SignInRefused as exc:
            self.failed(403, str(exc))
            return
        except Unavailable as exc:
            self.failed(503, str(exc))
            return
        refusal = self._local_refusal(token.person.name)
        if refusal is not None:
            self.failed(*refusal)
            return
        self.throttle.succeeded(address, None)
        self._signed_in(token.person, token.raw)

    def _local_refusal(self, name: str) -> tuple[int, str] | None:
        """A provider's name is often the person's own choice: it must not take over an
        account of ours (its sessions, recordings and rules go by name)."""
        try:
            local = self.auth.local_name(name)
        except AccountsError as exc:
            log.error("sign-in unavailable: cannot read the users file: %s", exc)
            return 503, "sign-in is unavailable: this front end cannot read its users file"
        if local:
            return 403, (f"the provider names {name!r}, a name of this front end's users "
                         "file, which signs in only with its password")  # fmt: skip
        return None

    def _refusal(self, flow: Flow | None) -> str:
        """Why this callback cannot be a sign-in before asking the provider anything."""
        error = self.get_query_argument("error", "")
        if error:
            said = self.get_query_argument("error_description", "")[:200]
            return f"the provider said {error[:100]!r}" + (f": {said!r}" if said else "")
        if flow is None:
            return "no sign-in was under way in this browser (or it took over 10 minutes)"
        if not hmac.compare_digest(
            self.get_query_argument("state", "").encode(), flow.state.encode()
        ):
            return "the state does not match this browser's sign-in"
        if not self.get_query_argument("code", ""):
            return "the provider sent no code"
        return ""

    def _signed_in(self, person: Person, id_token: str) -> None:
        self.auth.sign_in(self, person, "oidc", self.services.guard.policy.group_names)
        if len(id_token) <= MAX_HINT:
            self.set_signed_cookie(
                HINT_COOKIE,
                id_token,
                expires_days=self.auth.login_ttl / 86400,
                httponly=True,
                samesite="Strict",
                secure=self.auth.over_tls(self),
                path="/logout",
            )
        SIGN_INS.labels("ok").inc()
        self.audit.record(
            "sign-in",
            user=person.name,
            address=self.client_address,
            ok=True,
            method="oidc",
            groups=sorted(person.groups),
        )
        self.redirect("/")
