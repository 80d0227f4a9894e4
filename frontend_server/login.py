"""Signing in and out with a password, and what the page needs to know about it.

POST /login takes {"user", "password"} (JSON or a form) and needs the _xsrf token
like every state-changing request; attempts are counted per address and per name
before the password is checked, and past a few free attempts each further one must
wait twice as long as the last (429 with Retry-After; throttle.py), which slows
brute force to a crawl without locking anyone out for long. Every attempt is
audited. POST /logout ends the sign-in on every front end.
"""

from __future__ import annotations

import json
import logging

from frontend_server.accounts import AccountsError
from frontend_server.api import BaseHandler
from frontend_server.metrics import SIGN_INS
from frontend_server.policy import Replays
from frontend_server.throttle import Busy

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
        try:
            async with self.services.password_checks:
                person = await self.auth.check_password(name, password) if password else None
        except Busy:
            self._refuse(name, address, "busy", 1.0)
            return
        except AccountsError as exc:  # the operator's problem: never "wrong password"
            log.error("sign-in unavailable: cannot read the users file: %s", exc)
            self.audit.record("sign-in", user=name, address=address, ok=False, reason="no-users")
            self.write_json({"error": "unavailable", "message": "sign-in is unavailable: this "
                             "front end cannot read its users file"}, 503)  # fmt: skip
            return
        if person is None:
            SIGN_INS.labels("failed").inc()
            self.audit.record("sign-in", user=name, address=address, ok=False, method="password")
            self.write_json({"error": "bad_credentials", "message": "wrong name or password"}, 401)
            return
        self.throttle.succeeded(address, name)
        SIGN_INS.labels("ok").inc()
        self.auth.sign_in(self, person, "password")
        self.audit.record("sign-in", user=name, address=address, ok=True, method="password")
        self.write_json({"user": person.name})

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
    """POST /logout: the cookie is cleared and its sign-in revoked on every front end."""

    public = True

    def post(self) -> None:
        person = self.person
        revocation = self.auth.sign_out(self)
        if revocation is not None:
            self.pool.revoke(revocation)
        if person is not None:
            self.audit.record("sign-out", user=person.name, address=self.client_address)
        self.write_json({"user": None})
