"""Password sign-in against an LDAP directory: bind as the person, then their groups.

Two ways to find the person's entry: a DN template (`ldap_user_dn`, direct bind), or
a service account that searches for it (`ldap_bind_dn`, `ldap_user_base`,
`ldap_user_filter`), then binds as what it found with the person's password. Their
groups are the `ldap_group_attribute` values of the entries under `ldap_group_base`
that `ldap_group_filter` matches, searched by the service account or, without one,
by the person. A name is checked against the names dterm accepts before anything is
sent, and every value put into a DN or a filter is escaped, so a name cannot widen a
search; an empty password is refused before any bind (LDAP takes it as an anonymous
bind that "succeeds"). Passwords go over TLS (ldaps:// or StartTLS) with the server's
certificate and host name checked, unless the operator chose plain ldap://.

ldap3 is blocking: checks run on a pool of CHECK_THREADS threads, each exchange bound
by `ldap_timeout` and the whole check by a deadline, so a silent server answers
"unavailable" in bounded time and never holds the event loop. The caller bounds how
many checks run and wait (shared/slots.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.core.results import (
    RESULT_INVALID_CREDENTIALS,
    RESULT_SIZE_LIMIT_EXCEEDED,
    RESULT_SUCCESS,
)
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from frontend_server.accounts import NAME
from frontend_server.policy import Person
from shared.errors import Unavailable
from shared.settings import FrontendConfig, SettingsError

log = logging.getLogger(__name__)

CHECK_THREADS = 4
EXCHANGES = 6
"""At most this many exchanges make one check: the whole of it gets EXCHANGES times
`ldap_timeout` before it is given up."""
MAX_GROUPS = 500
SEARCH_OK = (RESULT_SUCCESS, RESULT_SIZE_LIMIT_EXCEEDED)


@dataclass(frozen=True, slots=True)
class LdapSettings:
    url: str
    start_tls: bool
    ca_file: str
    user_dn: str
    bind_dn: str
    bind_password: str
    user_base: str
    user_filter: str
    group_base: str
    group_filter: str
    group_attribute: str
    timeout: float

    @classmethod
    def of(cls, config: FrontendConfig, bind_password: str) -> LdapSettings:
        settings = cls(
            config.ldap_url,
            config.ldap_start_tls,
            config.ldap_ca_file,
            config.ldap_user_dn,
            config.ldap_bind_dn,
            bind_password,
            config.ldap_user_base,
            config.ldap_user_filter,
            config.ldap_group_base,
            config.ldap_group_filter,
            config.ldap_group_attribute,
            config.ldap_timeout,
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot work, saying which."""
        scheme = urlsplit(self.url).scheme
        if scheme not in ("ldap", "ldaps") or not urlsplit(self.url).hostname:
            raise SettingsError(
                f"ldap_url {self.url!r}: expected ldap://host[:port] or ldaps://..."
            )
        if scheme == "ldaps" and self.start_tls:
            raise SettingsError("ldap_start_tls is for ldap:// URLs; ldaps:// is TLS already")
        if self.user_dn and "{user}" not in self.user_dn:
            raise SettingsError("ldap_user_dn must contain {user}, where the name goes")
        if not self.user_dn and not (self.bind_dn and self.user_base):
            raise SettingsError(
                "LDAP sign-in needs ldap_user_dn (direct bind) or ldap_bind_dn with "
                "ldap_bind_password_file and ldap_user_base (search, then bind)"
            )


def plain_warning(config: FrontendConfig) -> str:
    """What a front end says at start when LDAP passwords would travel in the clear."""
    if not config.ldap_url or urlsplit(config.ldap_url).scheme != "ldap" or config.ldap_start_tls:
        return ""
    return (
        f"WARNING: passwords go to {config.ldap_url} in the clear: use ldaps:// or "
        "ldap_start_tls unless that link is private"
    )


class LdapDirectory:
    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        parts = urlsplit(settings.url)
        self._server = Server(
            parts.hostname or "",
            port=parts.port,
            use_ssl=parts.scheme == "ldaps",
            tls=Tls(
                validate=ssl.CERT_REQUIRED,
                ca_certs_file=settings.ca_file or None,
                sni=parts.hostname,
            ),
            get_info=NONE,
            connect_timeout=settings.timeout,
        )
        self._threads = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="ldap")

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def check_password(self, name: str, password: str) -> Person | None:
        """The person if the directory takes this password, None if not; Unavailable if
        the directory cannot say within the deadline."""
        if not password or not NAME.match(name):
            return None
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._threads, self._check, name, password)
        try:
            return await asyncio.wait_for(work, EXCHANGES * self.settings.timeout)
        except TimeoutError:
            raise Unavailable(f"the directory {self.settings.url} did not answer in time") from None

    def _check(self, name: str, password: str) -> Person | None:
        """Blocking: find the entry, bind as it, read the groups."""
        try:
            return self._check_unguarded(name, password)
        except LDAPException as exc:
            log.warning("LDAP check of %s failed: %s", name, exc)
            raise Unavailable(f"the directory {self.settings.url} cannot be used: {exc}") from None

    def _check_unguarded(self, name: str, password: str) -> Person | None:
        service = self._service() if self.settings.bind_dn else None
        try:
            dn = self._find(service, name) if service else self._template_dn(name)
            bound = self._connection(dn, password) if dn else None
            if dn is None or bound is None:
                return None
            try:
                return Person(name, self._groups(service or bound, dn, name))
            finally:
                bound.unbind()
        finally:
            if service is not None:
                service.unbind()

    def _template_dn(self, name: str) -> str:
        return self.settings.user_dn.replace("{user}", escape_rdn(name))

    def _connection(self, dn: str, password: str) -> Connection | None:
        """A connection bound as `dn`, or None if the password is wrong."""
        connection = Connection(
            self._server,
            user=dn,
            password=password,
            read_only=True,
            receive_timeout=max(1, math.ceil(self.settings.timeout)),
            raise_exceptions=False,
        )
        connection.open()
        if self.settings.start_tls:
            connection.start_tls()
        if connection.bind():
            return connection
        result = connection.result or {}
        connection.unbind()
        if result.get("result") == RESULT_INVALID_CREDENTIALS:
            return None
        raise Unavailable(f"the directory refused the bind: {result.get('description')}")

    def _service(self) -> Connection:
        connection = self._connection(self.settings.bind_dn, self.settings.bind_password)
        if connection is None:
            raise Unavailable("the directory refused ldap_bind_dn's password")
        return connection

    def _find(self, service: Connection, name: str) -> str | None:
        """The DN of the one entry the user filter finds (None for none or several)."""
        query = self.settings.user_filter.replace("{user}", escape_filter_chars(name))
        service.search(
            self.settings.user_base,
            query,
            SUBTREE,
            attributes=[],
            size_limit=2,
            time_limit=int(self.settings.timeout) or 1,
        )
        found = [
            entry["dn"] for entry in service.response or [] if entry.get("type") == "searchResEntry"
        ]
        return found[0] if len(found) == 1 else None

    def _groups(self, connection: Connection, dn: str, name: str) -> frozenset[str]:
        if not self.settings.group_base:
            return frozenset()
        query = self.settings.group_filter.replace("{dn}", escape_filter_chars(dn)).replace(
            "{user}", escape_filter_chars(name)
        )
        attribute = self.settings.group_attribute
        connection.search(
            self.settings.group_base,
            query,
            SUBTREE,
            attributes=[attribute],
            size_limit=MAX_GROUPS,
            time_limit=int(self.settings.timeout) or 1,
        )
        if connection.result and connection.result.get("result") not in SEARCH_OK:
            log.warning(
                "the group search for %s failed: %s", name, connection.result.get("description")
            )
        groups: set[str] = set()
        for entry in connection.response or []:
            if entry.get("type") != "searchResEntry":
                continue
            values = entry.get("attributes", {}).get(attribute, [])
            groups.update(str(v) for v in (values if isinstance(values, list) else [values]))
        return frozenset(groups)
