"""What a front end checks and prepares before it serves anyone.

It refuses to start, saying which file and why, when what it is told to use cannot
be used: a users file that is missing, a users or tokens file that cannot be read
(a tokens file not made yet is fine while its folder is there: no token was issued
yet, and `dterm tokens issue` makes it), a policy that does not parse (policy.py),
keys (shared/security.py), an audit log it cannot write, an identity provider's
settings that cannot work or a secret file open to others, a TLS certificate and key
that do not load (tls.py).
Serving first and failing every sign-in later would show people "wrong name or
password" for an operator's mistake. It also keeps the cookie secret between runs.

Blocking file I/O: called once, before the loop serves anything.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from frontend_server.accounts import AccountsError, JsonFile
from frontend_server.id_tokens import check_url
from frontend_server.ldap_directory import LdapDirectory, LdapSettings
from frontend_server.oidc import OidcProvider, ProviderSettings
from frontend_server.tls import TlsError, TlsFiles
from shared.errors import DtermError
from shared.security import private_folder
from shared.settings import FrontendConfig

CLIENT_AUTH = ("client_secret_basic", "client_secret_post")


class StartupError(DtermError):
    """Something this front end was told to use cannot be used; the message says why."""


def check_account_files(config: FrontendConfig) -> None:
    for path, key, command in ((config.users_file, "users", "users"),
                               (config.tokens_file, "tokens", "tokens")):  # fmt: skip
        if not path:
            continue
        if key == "tokens" and not Path(path).exists() and Path(path).parent.is_dir():
            continue
        if not Path(path).is_file():
            raise StartupError(f"the {key} file {path} does not exist: make it with "
                               f"`dterm {command} --{key}-file {path} ...`")  # fmt: skip
        try:
            JsonFile(path, key).entries()
        except AccountsError as exc:
            raise StartupError(f"cannot use the {key} file: {exc}") from None


def tls_files(config: FrontendConfig) -> TlsFiles | None:
    """The TLS pair to serve with, loaded; None for plain HTTP."""
    if not config.tls_cert and not config.tls_key:
        return None
    if not config.tls_cert or not config.tls_key:
        raise StartupError("TLS needs both --tls-cert and --tls-key (tls_cert, tls_key)")
    try:
        return TlsFiles(config.tls_cert, config.tls_key)
    except TlsError as exc:
        raise StartupError(f"cannot serve TLS: {exc}") from None


def cookie_secret(config: FrontendConfig) -> str:
    """The configured secret, or the one kept in the state folder (made on first start)."""
    if config.cookie_secret:
        return config.cookie_secret
    path = private_folder(config.state_dir, "state") / "cookie_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(32))
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    found = path.stat()
    if found.st_mode & 0o077 or found.st_uid != os.geteuid():
        raise StartupError(
            f"{path} is open to others (mode {stat.S_IMODE(found.st_mode):04o}) "
            f"or not this user's: chmod 600 it, or remove it to make a new one"
        )
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise StartupError(f"{path} holds no usable secret: remove it to make a new one")
    return secret


def read_secret_file(path: str, setting: str) -> str:
    """A secret kept in a file (never on the command line, where `ps` shows it): the
    file must be readable by its owner alone and hold a value."""
    try:
        found = os.stat(path)
        text = Path(path).read_text()
    except OSError as exc:
        raise StartupError(f"{setting} {path}: {exc.strerror}") from None
    if found.st_mode & 0o077:
        raise StartupError(
            f"{setting} {path} is open to group or others "
            f"(mode {stat.S_IMODE(found.st_mode):04o}): chmod 600 {path}"
        )
    secret = text.strip("\r\n")
    if not secret:
        raise StartupError(f"{setting} {path} is empty")
    return secret


def oidc_provider(config: FrontendConfig) -> OidcProvider | None:
    """The OpenID Connect provider people sign in with, if one is configured."""
    if not config.oidc_issuer and not config.oidc_client_id:
        return None
    if not config.oidc_issuer or not config.oidc_client_id:
        raise StartupError("OpenID Connect needs both oidc_issuer and oidc_client_id")
    try:
        check_url(config.oidc_issuer, "issuer (oidc_issuer)")
    except DtermError as exc:
        raise StartupError(str(exc)) from None
    if config.oidc_client_auth not in CLIENT_AUTH:
        raise StartupError(f"oidc_client_auth: expected one of {', '.join(CLIENT_AUTH)}")
    secret = ""
    if config.oidc_client_secret_file:
        secret = read_secret_file(config.oidc_client_secret_file, "oidc_client_secret_file")
    return OidcProvider(ProviderSettings(
        config.oidc_issuer, config.oidc_client_id, secret, config.oidc_scopes,
        config.oidc_user_claim, config.oidc_groups_claim, config.oidc_ca_file,
        config.oidc_timeout, config.oidc_client_auth,
    ))  # fmt: skip


def ldap_directory(config: FrontendConfig) -> LdapDirectory | None:
    """The LDAP directory that checks passwords, if one is configured."""
    if not config.ldap_url:
        return None
    password = ""
    if config.ldap_bind_dn:
        if not config.ldap_bind_password_file:
            raise StartupError("ldap_bind_dn needs ldap_bind_password_file")
        password = read_secret_file(config.ldap_bind_password_file, "ldap_bind_password_file")
    return LdapDirectory(LdapSettings.of(config, password))
