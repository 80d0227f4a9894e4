"""A real OpenID Connect provider for tests: glewlwyd, from Debian's package.

Each provider has its own sqlite database (made from the package's schema) and its
own copy of the package's login pages in a temporary folder. It listens on
127.0.0.2, another site than the front ends on 127.0.0.1, as a company's provider
is (so the browser treats the redirects between them as cross-site). It signs ID
tokens with an RSA key made for the run, puts the person's `groups` and their name
(`preferred_username`) in every ID token, requires a password for the `openid` scope
and offers RP-initiated sign-out (end_session_endpoint). People and clients are
added through its admin API, as its administrator would.

Two fixes to the package's files, made in the copy: the login pages link their
JavaScript and CSS out of the web folder (glewlwyd refuses to serve such links) and
config.json points at a folder; the copy holds the files themselves. glewlwyd cannot
bind port 0, so a port is drawn at random and drawn again when it is taken.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import requests
from joserfc.jwk import RSAKey

from tests.support.containers import require
from tests.support.processes import ManagedProcess

GLEWLWYD = "/usr/bin/glewlwyd"
SCHEMA = Path("/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3")
WEBAPP = Path("/usr/share/glewlwyd/webapp")
WEBAPP_CONFIG = Path("/etc/glewlwyd/config-2.7.json/config.json")
ADMIN = {"username": "admin", "password": "password"}
"""The administrator the package's schema makes."""
HOST = "127.0.0.2"
READY = re.compile(r"Glewlwyd started on port")
PORT_TRIES = 5

CONFIG = """\
port={port}
bind_address="{host}"
external_url="http://{host}:{port}"
login_url="login.html"
api_prefix="api"
static_files_path="{folder}/webapp/"
allow_origin="*"
log_mode="console"
log_level="INFO"
cookie_secure=0
cookie_same_site="empty"
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
hash_algorithm="SHA512"
database = {{ type = "sqlite3"; path = "{folder}/glewlwyd.db"; }};
static_files_mime_types = (
  {{ extension = ".html"; mime_type = "text/html"; }},
  {{ extension = ".js"; mime_type = "application/javascript"; }},
  {{ extension = ".css"; mime_type = "text/css"; }},
  {{ extension = ".json"; mime_type = "application/json"; }},
  {{ extension = ".png"; mime_type = "image/png"; }},
  {{ extension = ".ico"; mime_type = "image/x-icon"; }},
  {{ extension = ".woff2"; mime_type = "font/woff2"; }}
);
"""


def _plugin(issuer: str, jwks: str) -> dict[str, object]:
    """The OpenID Connect plugin: RS256 ID tokens, code flow with PKCE, sign-out."""
    claims = [
        {"name": "groups", "user-property": "groups", "type": "string", "mandatory": True},
        {
            "name": "preferred_username",
            "user-property": "username",
            "type": "string",
            "mandatory": True,
        },
    ]
    return {
        "module": "oidc",
        "name": "oidc",
        "display_name": "OpenID Connect",
        "enabled": True,
        "parameters": {
            "iss": issuer,
            "jwks-private": jwks,
            "default-kid": "test-key",
            "jwt-type": "rsa",
            "jwt-key-size": "256",
            "access-token-duration": 3600,
            "refresh-token-duration": 3600,
            "code-duration": 600,
            "refresh-token-rolling": False,
            "allow-non-oidc": False,
            "auth-type-code-enabled": True,
            "auth-type-token-enabled": False,
            "auth-type-id-token-enabled": False,
            "auth-type-password-enabled": False,
            "auth-type-client-enabled": False,
            "auth-type-refresh-enabled": False,
            "pkce-allowed": True,
            "pkce-method-plain-allowed": False,
            "session-management-allowed": True,
            "session-cookie-name": "GLEWLWYD2_OIDC_SID",
            "session-cookie-expiration": 3600,
            "front-channel-logout-allowed": True,
            "jwks-show": True,
            "subject-type": "public",
            "name-claim": "on-demand",
            "email-claim": "no",
            "scope-claim": "no",
            "claims": claims,
            "scope": [],
        },
    }


@dataclass
class Glewlwyd:
    process: ManagedProcess
    root: str
    admin: requests.Session

    @property
    def issuer(self) -> str:
        return f"{self.root}/api/oidc"

    def _call(self, method: str, path: str, body: object) -> None:
        reply = self.admin.request(method, f"{self.root}/api{path}", json=body, timeout=10)
        assert reply.ok, f"{method} {path}: {reply.status_code} {reply.text}"

    def add_person(self, name: str, password: str, groups: list[str]) -> None:
        self._call(
            "POST",
            "/user/",
            {
                "username": name,
                "name": name.title(),
                "password": password,
                "scope": ["openid"],
                "enabled": True,
                "groups": groups,
            },
        )

    def add_client(self, client_id: str, secret: str, origins: list[str]) -> None:
        """A confidential client whose redirect and sign-out URLs are on these origins."""
        self._call(
            "POST",
            "/client/",
            {
                "client_id": client_id,
                "name": client_id,
                "enabled": True,
                "confidential": True,
                "client_secret": secret,
                "authorization_type": ["code"],
                "token_endpoint_auth_method": ["client_secret_basic", "client_secret_post"],
                "redirect_uri": [f"{origin}/oidc/callback" for origin in origins],
                "post_logout_redirect_uris": [f"{origin}/" for origin in origins],
                "scope": [],
            },
        )

    def stop(self) -> None:
        self.process.stop()


def start_glewlwyd(folder: Path) -> Glewlwyd:
    """A running provider with the OpenID Connect plugin, and no people or clients yet."""
    require(Path(GLEWLWYD).exists(), "glewlwyd is missing: apt-get install glewlwyd")
    _prepare(folder)
    for _ in range(PORT_TRIES):
        port = random.randint(20000, 60000)
        (folder / "glewlwyd.conf").write_text(CONFIG.format(port=port, host=HOST, folder=folder))
        argv = [GLEWLWYD, f"--config-file={folder / 'glewlwyd.conf'}"]
        try:
            process = ManagedProcess("glewlwyd", argv, READY, timeout=20)
        except RuntimeError as exc:
            if "Address already in use" in str(exc) or "Error starting" in str(exc):
                continue
            raise
        root = f"http://{HOST}:{port}"
        provider = Glewlwyd(process, root, requests.Session())
        _configure(provider)
        return provider
    raise RuntimeError(f"glewlwyd found no free port in {PORT_TRIES} tries")


def _prepare(folder: Path) -> None:
    """The database from the package's schema, with a multi-valued `groups` property
    for people and a list of sign-out URLs for clients; the web files, links resolved."""
    folder.mkdir(parents=True, exist_ok=True)
    database = sqlite3.connect(folder / "glewlwyd.db")
    database.executescript(SCHEMA.read_text())
    for table, prefix, key, spec in (
        (
            "g_user_module_instance",
            "gumi",
            "groups",
            {"multiple": True, "read": True, "write": True, "profile-read": True},
        ),
        (
            "g_client_module_instance",
            "gcmi",
            "post_logout_redirect_uris",
            {"multiple": True, "read": True, "write": True},
        ),
    ):
        (raw,) = database.execute(f"SELECT {prefix}_parameters FROM {table}").fetchone()
        parameters = json.loads(raw)
        parameters["data-format"][key] = spec
        database.execute(f"UPDATE {table} SET {prefix}_parameters = ?", (json.dumps(parameters),))
    database.commit()
    database.close()
    shutil.copytree(WEBAPP, folder / "webapp", symlinks=False)
    config = folder / "webapp" / "config.json"
    if config.is_dir():
        shutil.rmtree(config)
    shutil.copyfile(WEBAPP_CONFIG, config)


def _configure(provider: Glewlwyd) -> None:
    """Signed in as the administrator: the plugin with a fresh key, and `openid`
    needing a password."""
    reply = provider.admin.post(f"{provider.root}/api/auth/", json=ADMIN, timeout=10)
    assert reply.ok, f"cannot sign in to glewlwyd as its administrator: {reply.text}"
    key = RSAKey.generate_key(
        2048, parameters={"kid": "test-key", "alg": "RS256", "use": "sig"}, private=True
    )
    jwks = json.dumps({"keys": [key.as_dict(private=True)]})
    provider._call(
        "PUT",
        "/scope/openid",
        {
            "name": "openid",
            "display_name": "OpenID",
            "description": "OpenID Connect",
            "scheme": {},
            "password_required": True,
            "password_max_age": 0,
        },
    )
    provider._call("POST", "/mod/plugin/", _plugin(provider.issuer, jwks))
