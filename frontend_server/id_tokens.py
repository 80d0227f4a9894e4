"""OpenID Connect's checks, pure: URLs, discovery's answer, PKCE, the provider's keys,
an ID token and the person it names.

Everything here is untrusted input from a provider: only the fields used are taken,
each checked. An ID token is accepted only with a good signature by one of the
provider's keys in an asymmetric algorithm (never `none`, never a shared-secret HMAC),
the configured issuer, this client in its audience, the nonce of this browser's
sign-in, and not expired. No I/O: oidc.py fetches, this module judges.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, import_key

from frontend_server.accounts import NAME
from frontend_server.policy import Person
from shared.errors import Forbidden, Unavailable

log = logging.getLogger(__name__)

MAX_TOKEN = 16 * 1024
LEEWAY = 60
"""Seconds of clock difference tolerated in `exp`, `iat` and `nbf`."""
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
MAX_GROUPS = 500
MAX_GROUP_LENGTH = 256
PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")


class SignInRefused(Forbidden):
    """The provider's answer does not sign this person in; the message says why."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: object, what: str) -> str:
    """A URL from the provider or the settings: https, or http on a loopback host."""
    if not isinstance(value, str) or not 0 < len(value) <= 2048:
        raise Unavailable(f"the provider's {what} is missing or not a URL")
    parts = urlsplit(value)
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(host))):
        raise Unavailable(f"the provider's {what} {value!r} is not https (nor http on loopback)")
    return value


@dataclass(frozen=True, slots=True)
class Endpoints:
    """What discovery says, checked."""

    issuer: str
    authorization: str
    token: str
    jwks: str
    end_session: str
    """Empty when the provider offers no RP-initiated sign-out."""

    @classmethod
    def of(cls, document: dict[str, Any], issuer: str) -> Endpoints:
        found = document.get("issuer")
        if not isinstance(found, str) or found.rstrip("/") != issuer.rstrip("/"):
            raise Unavailable(f"the provider names itself {found!r}, not {issuer!r}")
        end_session = document.get("end_session_endpoint")
        return cls(
            issuer=found,
            authorization=check_url(
                document.get("authorization_endpoint"), "authorization endpoint"
            ),
            token=check_url(document.get("token_endpoint"), "token endpoint"),
            jwks=check_url(document.get("jwks_uri"), "jwks_uri"),
            end_session=check_url(end_session, "end_session_endpoint") if end_session else "",
        )


def pkce_verifier() -> str:
    """A PKCE code verifier (RFC 7636): 64 characters of 48 random bytes."""
    return secrets.token_urlsafe(48)


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def key_set(document: dict[str, Any]) -> KeySet:
    """The signing keys of a JWKS; keys of other uses or unknown types are skipped."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise Unavailable("the provider's key set has no `keys` list")
    keys = []
    for entry in entries[:100]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        try:
            keys.append(import_key(entry))
        except (JoseError, ValueError, TypeError) as exc:
            log.warning("skipped a key of the provider that cannot be used: %s", exc)
    return KeySet(keys)


def verify_id_token(
    token: str, keys: KeySet, issuer: str, client_id: str, nonce: str, now: float | None = None
) -> dict[str, Any]:
    """The claims of an ID token that passes every check; SignInRefused says which failed.
    InvalidKeyIdError passes through: the caller may read the provider's keys again."""
    if len(token) > MAX_TOKEN:
        raise SignInRefused("the ID token is too large")
    try:
        decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except InvalidKeyIdError:
        raise
    except (JoseError, ValueError, TypeError) as exc:
        raise SignInRefused(f"the ID token is not validly signed by the provider: {exc}") from None
    claims = decoded.claims
    stamp = int(time.time() if now is None else now)
    registry = jwt.JWTClaimsRegistry(
        now=stamp,
        leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise SignInRefused(f"the ID token's claims do not fit: {exc}") from None
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise SignInRefused("the ID token names other audiences and not this client as azp")
    return claims


def person_of(claims: dict[str, Any], user_claim: str, groups_claim: str) -> Person:
    """The person an ID token names, with the groups it lists (anything unusable dropped)."""
    name = claims.get(user_claim)
    if not isinstance(name, str) or not NAME.match(name):
        raise SignInRefused(
            f"the ID token's {user_claim!r} claim is missing or not a usable name "
            "(letters, digits and . _ @ -, at most 64)"
        )
    if user_claim == "email" and claims.get("email_verified") not in (True, "true"):
        # at many providers anyone may type any address into their own profile
        raise SignInRefused(
            f"the provider has not verified the email {name!r} (email_verified is not true)"
        )
    raw = claims.get(groups_claim)
    listed = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    groups = [
        g
        for g in listed
        if isinstance(g, str) and len(g) <= MAX_GROUP_LENGTH and PRINTABLE.match(g)
    ]
    if len(groups) > MAX_GROUPS:
        log.warning("%s has %d groups: only the first %d are kept", name, len(groups), MAX_GROUPS)
    return Person(name, frozenset(groups[:MAX_GROUPS]))
