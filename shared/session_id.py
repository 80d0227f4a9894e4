"""Session ids: `<token>@<host>`, so any front end can route a resume to the right host.

The token is random and unguessable (it is half of what lets an owner resume); the
host part is the worker's name. Made and read here only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from shared.errors import NotFound

TOKEN_BYTES = 18


@dataclass(frozen=True, slots=True)
class SessionId:
    token: str
    host: str

    @classmethod
    def new(cls, host: str) -> SessionId:
        return cls(secrets.token_urlsafe(TOKEN_BYTES), host)

    @classmethod
    def parse(cls, text: str) -> SessionId:
        """Raises NotFound for anything that is not `<token>@<host>`."""
        token, at, host = text.rpartition("@")
        if not at or not token or not host:
            raise NotFound(f"no session {text[:80]!r}")
        return cls(token, host)

    def __str__(self) -> str:
        return f"{self.token}@{self.host}"
