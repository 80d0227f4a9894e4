"""Who is asking: the dev sign-in token, login cookies and bearer tokens.

The all-in-one dev mode prints a URL with a random token (as Jupyter does). The
token is exchanged once for a signed, HttpOnly, SameSite=Strict cookie; scripts
may send it instead as `Authorization: Bearer <token>`. Comparisons are constant
time. Pure decisions on request data; handlers do the I/O.
"""

from __future__ import annotations

import hmac

from tornado.web import RequestHandler

LOGIN_COOKIE = "dterm_login"
DEV_USER = "dev"


class TokenAuth:
    """One shared token; whoever shows it is the dev user."""

    def __init__(self, token: str) -> None:
        self.token = token

    def accepts(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(
            candidate.encode(), self.token.encode()
        )

    def user_of(self, handler: RequestHandler) -> str | None:
        """The signed-in user of a request, from its cookie or bearer token."""
        header = handler.request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return DEV_USER if self.accepts(header[len("Bearer ") :].strip()) else None
        cookie = handler.get_signed_cookie(LOGIN_COOKIE, max_age_days=7)
        return cookie.decode() if cookie else None

    def sign_in(self, handler: RequestHandler, user: str) -> None:
        handler.set_signed_cookie(
            LOGIN_COOKIE,
            user,
            expires_days=7,
            httponly=True,
            samesite="Strict",
            secure=handler.request.protocol == "https",
        )
