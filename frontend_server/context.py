"""Services: what every handler of a front end shares, made once in __main__."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from frontend_server.auth import Authenticator
from frontend_server.guard import Guard
from frontend_server.ldap_directory import CHECK_THREADS
from frontend_server.oidc import OidcProvider
from frontend_server.pool import WorkerPool
from frontend_server.throttle import LoginThrottle, check_slots
from shared.audit import AuditLog
from shared.settings import FrontendConfig
from shared.slots import Slots

LDAP_WAITING = 32


class Connection(Protocol):
    def restart(self) -> None: ...


@dataclass
class Services:
    config: FrontendConfig
    pool: WorkerPool
    auth: Authenticator
    guard: Guard
    audit: AuditLog
    throttle: LoginThrottle
    web_root: Path
    oidc: OidcProvider | None = None
    """The OpenID Connect provider people sign in with, if any."""
    password_checks: Slots = field(default_factory=check_slots)
    """Bounds the argon2 checks running and waiting at once."""
    ldap_checks: Slots = field(default_factory=lambda: check_slots(CHECK_THREADS, LDAP_WAITING))
    """Bounds the LDAP checks running and waiting at once."""
    connections: set[Connection] = field(default_factory=set)
    """Open terminal WebSockets, told to reconnect elsewhere when this process stops."""
