"""Identity providers' pieces on their own: ID token checks, what a token's claims
give, provider documents, LDAP and OpenID Connect settings, secret files, cookie
groups, and the example config's identity keys."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from frontend_server.__main__ import parse_config
from frontend_server.auth import MAX_COOKIE_GROUPS, cookie_groups
from frontend_server.id_tokens import (
    MAX_GROUPS,
    Endpoints,
    SignInRefused,
    check_url,
    key_set,
    person_of,
    pkce_challenge,
    verify_id_token,
)
from frontend_server.ldap_directory import LdapSettings
from frontend_server.policy import Person
from frontend_server.startup import StartupError, oidc_provider, read_secret_file
from shared.errors import Unavailable
from shared.settings import FrontendConfig, SettingsError

REPO = Path(__file__).resolve().parents[2]
ISSUER = "https://sso.example.com"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k", "alg": "RS256"}, private=True)
KEYS = KeySet([RSAKey.import_key(KEY.as_dict(private=False))])


def token(**changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "dterm",
        "sub": "1",
        "exp": now + 60,
        "iat": now,
        "nonce": "n",
        **changes,
    }
    return jwt.encode({"alg": "RS256", "kid": "k"}, claims, KEY)


def test_a_good_id_token_passes_and_clock_skew_is_tolerated() -> None:
    """Every check passes for an honest token, also one that expired seconds ago."""
    assert verify_id_token(token(), KEYS, ISSUER, "dterm", "n")["sub"] == "1"
    verify_id_token(token(exp=int(time.time()) - 30), KEYS, ISSUER, "dterm", "n")


def test_several_audiences_need_this_client_as_azp() -> None:
    """A token for several clients is taken only when it names this one as azp."""
    with pytest.raises(SignInRefused, match="azp"):
        verify_id_token(token(aud=["dterm", "other"]), KEYS, ISSUER, "dterm", "n")
    ok = token(aud=["dterm", "other"], azp="dterm")
    assert verify_id_token(ok, KEYS, ISSUER, "dterm", "n")["azp"] == "dterm"


def test_a_token_signed_with_a_shared_secret_is_refused() -> None:
    """HS256, even with a key the set would hold, is no proof from the provider."""
    secret = OctKey.import_key("a shared secret of thirty-two bytes!!")
    forged = jwt.encode({"alg": "HS256", "kid": "k"}, {"iss": ISSUER}, secret)
    with pytest.raises(SignInRefused, match="not validly signed"):
        verify_id_token(forged, KeySet([secret]), ISSUER, "dterm", "n")


def test_oversized_tokens_are_refused_unread() -> None:
    with pytest.raises(SignInRefused, match="too large"):
        verify_id_token("a" * 20_000, KEYS, ISSUER, "dterm", "n")


def test_groups_from_the_claim_keep_only_usable_names() -> None:
    """A list or a single string; non-strings, control characters and overlong names
    are dropped; a missing claim means no groups."""
    claims = {"preferred_username": "alice@example.com"}
    assert person_of({**claims, "groups": "ops"}, "preferred_username", "groups") == Person(
        "alice@example.com", frozenset({"ops"})
    )
    listed = ["ops", 7, None, "bad\nline", "x" * 300, {"a": 1}, "db"]
    person = person_of({**claims, "roles": listed}, "preferred_username", "roles")
    assert person.groups == {"ops", "db"}
    assert person_of(claims, "preferred_username", "groups").groups == frozenset()
    many = [f"g{i}" for i in range(MAX_GROUPS + 10)]
    assert len(person_of({**claims, "groups": many}, "preferred_username", "groups").groups) == (
        MAX_GROUPS
    )


@pytest.mark.parametrize("name", [None, "", "al ice", "x" * 65, "../root", 42, "alice\n"])
def test_unusable_names_are_refused(name: object) -> None:
    with pytest.raises(SignInRefused, match="usable name"):
        person_of({"preferred_username": name}, "preferred_username", "groups")


def test_key_sets_keep_only_signing_keys_they_can_use() -> None:
    """Encryption keys, symmetric keys and junk in the provider's JWKS are skipped."""
    public = KEY.as_dict(private=False)
    document = {
        "keys": [
            public,
            {**public, "kid": "enc", "use": "enc"},
            {"kty": "oct", "k": "c2VjcmV0"},
            "junk",
            {"kty": "RSA", "n": "x"},
        ]
    }
    assert [k.kid for k in key_set(document).keys] == ["k"]
    with pytest.raises(Unavailable):
        key_set({"keys": "none"})


def test_discovery_is_checked() -> None:
    """The issuer must be the one configured; endpoints https (or loopback http)."""
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/keys",
    }
    assert Endpoints.of(document, ISSUER + "/").end_session == ""
    with pytest.raises(Unavailable, match="names itself"):
        Endpoints.of({**document, "issuer": "https://evil.example"}, ISSUER)
    with pytest.raises(Unavailable, match="not https"):
        Endpoints.of({**document, "token_endpoint": "http://sso.example.com/token"}, ISSUER)
    with pytest.raises(Unavailable, match="missing"):
        Endpoints.of({**document, "jwks_uri": 5}, ISSUER)
    assert check_url("http://127.0.0.2:8080/x", "x") and check_url("http://localhost/x", "x")


def test_pkce_challenge_is_rfc7636_s256() -> None:
    """The example of RFC 7636, appendix B."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"ldap_url": "http://ldap.example.com"}, "expected ldap://"),
        ({"ldap_url": "ldaps://ldap.example.com", "ldap_start_tls": True}, "TLS already"),
        ({"ldap_user_dn": "uid=x,dc=example"}, "must contain"),
        ({"ldap_user_dn": ""}, "needs ldap_user_dn"),
    ],
)
def test_ldap_settings_that_cannot_work_are_refused(changes: dict[str, Any], why: str) -> None:
    base = {"ldap_url": "ldap://ldap.example.com", "ldap_user_dn": "uid={user},dc=example"}
    with pytest.raises(SettingsError, match=why):
        LdapSettings.of(FrontendConfig(**{**base, **changes}), "")


def test_secret_files_must_be_private_and_hold_a_value(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    with pytest.raises(StartupError, match="chmod 600"):
        read_secret_file(str(secret), "oidc_client_secret_file")
    secret.chmod(0o600)
    assert read_secret_file(str(secret), "oidc_client_secret_file") == "s3cret"
    secret.write_text("\n")
    with pytest.raises(StartupError, match="empty"):
        read_secret_file(str(secret), "oidc_client_secret_file")
    with pytest.raises(StartupError, match="No such file"):
        read_secret_file(str(tmp_path / "missing"), "ldap_bind_password_file")


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"oidc_client_id": ""}, "both"),
        ({"oidc_issuer": "http://sso.example.com"}, "not https"),
        ({"oidc_client_auth": "private_key_jwt"}, "oidc_client_auth"),
    ],
)
def test_openid_connect_settings_that_cannot_work_are_refused(
    changes: dict[str, Any], why: str
) -> None:
    base = {"oidc_issuer": ISSUER, "oidc_client_id": "dterm"}
    with pytest.raises(StartupError, match=why):
        oidc_provider(FrontendConfig(**{**base, **changes}))


def test_cookies_carry_all_groups_unless_too_many() -> None:
    """Past what a cookie holds, only the groups the policy names are kept."""
    few = Person("a", frozenset({"ops", "db"}))
    assert cookie_groups(few, frozenset()) == ["db", "ops"]
    many = Person("a", frozenset({f"group-{i:04}" for i in range(MAX_COOKIE_GROUPS // 10)}))
    assert cookie_groups(many, frozenset({"group-0001", "elsewhere"})) == ["group-0001"]


def test_example_config_identity_keys_are_real_settings(tmp_path: Path) -> None:
    """The example's commented identity keys, uncommented, configure both providers
    and need no dev token."""
    text = (REPO / "deploy" / "dterm.example.toml").read_text()
    keys = re.findall(r"^# ((?:oidc|ldap)_\w+ = .+)$", text, re.MULTILINE)
    assert len(keys) >= 6
    path = tmp_path / "config.toml"
    path.write_text("[frontend]\n" + "\n".join(keys) + "\n")
    config, _ = parse_config(["--config", str(path)], env={})
    assert config.oidc_issuer.startswith("https://") and config.ldap_url.startswith("ldaps://")
    assert config.token == ""
    LdapSettings.of(config, "")
