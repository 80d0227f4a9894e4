"""OpenID Connect, the relying party's side: discovery, the provider's keys and the code
exchange (the checks of what the provider says are id_tokens.py's).

The provider's documents are read when first needed and kept: discovery for
DISCOVERY_TTL, the signing keys until a token names a key that is not among them
(the provider rotated its keys), when they are read again, at most once per
KEYS_MIN_INTERVAL, so tokens naming made-up keys cannot make a front end hammer the
provider. Every byte from the provider is untrusted: documents are bounded in size,
must be JSON objects, and only the fields used are taken, each checked.

Concurrency: one event loop. HTTP goes through Tornado's AsyncHTTPClient with a
deadline on every call; callers that need a document at the same time share one
fetch of it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from frontend_server.id_tokens import (
    Endpoints,
    SignInRefused,
    key_set,
    person_of,
    pkce_challenge,
    verify_id_token,
)
from frontend_server.policy import Person
from shared.errors import Unavailable

log = logging.getLogger(__name__)

DISCOVERY_TTL = 3600.0
KEYS_MIN_INTERVAL = 30.0
"""Seconds between two reads of the provider's keys prompted by unknown key ids."""
MAX_DOCUMENT = 256 * 1024
"""Largest discovery, key set or token answer read from the provider."""


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    user_claim: str
    groups_claim: str
    ca_file: str
    timeout: float
    client_auth: str = "client_secret_basic"
    """How the client proves itself at the token endpoint: client_secret_basic (HTTP
    Basic, each part form-encoded as RFC 6749 says) or client_secret_post (the body)."""


class OidcProvider:
    """One OpenID Connect provider as this front end uses it."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._http = AsyncHTTPClient(force_instance=True, max_body_size=MAX_DOCUMENT)
        self._endpoints: Endpoints | None = None
        self._endpoints_at = float("-inf")
        self._keys: KeySet | None = None
        self._keys_at = float("-inf")
        self._refreshed_at = float("-inf")
        self._lock = asyncio.Lock()

    def close(self) -> None:
        self._http.close()

    async def endpoints(self) -> Endpoints:
        """Discovery, read again after DISCOVERY_TTL (or after a failed read)."""
        if self._endpoints and time.monotonic() - self._endpoints_at < DISCOVERY_TTL:
            return self._endpoints
        async with self._lock:
            if self._endpoints and time.monotonic() - self._endpoints_at < DISCOVERY_TTL:
                return self._endpoints
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._json(HTTPRequest(url), "discovery")
            self._endpoints = Endpoints.of(document, self.settings.issuer)
            self._endpoints_at = time.monotonic()
            return self._endpoints

    def _keys_usable(self, refresh: bool) -> KeySet | None:
        """The keys held, unless they are old, or a refresh is asked and none was made
        for that reason in the last KEYS_MIN_INTERVAL."""
        now = time.monotonic()
        if self._keys is None or now - self._keys_at >= DISCOVERY_TTL:
            return None
        if refresh and now - self._refreshed_at >= KEYS_MIN_INTERVAL:
            return None
        return self._keys

    async def _key_set(self, endpoints: Endpoints, refresh: bool) -> KeySet:
        """The provider's keys: read again after DISCOVERY_TTL, or when a token names a
        key not among them (see _keys_usable)."""
        if (keys := self._keys_usable(refresh)) is not None:
            return keys
        async with self._lock:
            if (keys := self._keys_usable(refresh)) is not None:
                return keys
            if refresh:
                self._refreshed_at = time.monotonic()
            document = await self._json(HTTPRequest(endpoints.jwks), "key set")
            self._keys, self._keys_at = key_set(document), time.monotonic()
            return self._keys

    def authorization_url(
        self, endpoints: Endpoints, redirect_uri: str, state: str, nonce: str, verifier: str
    ) -> str:
        scopes = dict.fromkeys(("openid", *self.settings.scopes))
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        joiner = "&" if urlsplit(endpoints.authorization).query else "?"
        return f"{endpoints.authorization}{joiner}{query}"

    def end_session_url(self, endpoints: Endpoints, id_token: str, after: str) -> str:
        """Where the browser ends its sign-in at the provider ("" if it offers no such end)."""
        if not endpoints.end_session:
            return ""
        fields = {
            "client_id": self.settings.client_id,
            "post_logout_redirect_uri": after,
            "state": secrets.token_urlsafe(16),  # some providers return only with one
        }
        if id_token:
            fields["id_token_hint"] = id_token
        joiner = "&" if urlsplit(endpoints.end_session).query else "?"
        return f"{endpoints.end_session}{joiner}{urlencode(fields)}"

    async def redeem(self, code: str, verifier: str, redirect_uri: str, nonce: str) -> IdToken:
        """Exchange the code for an ID token and check it: who signed in."""
        endpoints = await self.endpoints()
        raw = await self._exchange(endpoints, code, verifier, redirect_uri)
        client = self.settings.client_id
        try:
            keys = await self._key_set(endpoints, refresh=False)
            claims = verify_id_token(raw, keys, endpoints.issuer, client, nonce)
        except InvalidKeyIdError:
            keys = await self._key_set(endpoints, refresh=True)  # rotated, perhaps
            try:
                claims = verify_id_token(raw, keys, endpoints.issuer, client, nonce)
            except InvalidKeyIdError:
                raise SignInRefused(
                    "the ID token names a key the provider does not publish"
                ) from None
        person = person_of(claims, self.settings.user_claim, self.settings.groups_claim)
        return IdToken(person, raw)

    async def _exchange(
        self, endpoints: Endpoints, code: str, verifier: str, redirect_uri: str
    ) -> str:
        fields = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        secret = self.settings.client_secret
        if not secret or self.settings.client_auth == "client_secret_post":
            fields["client_id"] = self.settings.client_id
            if secret:
                fields["client_secret"] = secret
        else:
            pair = f"{quote_plus(self.settings.client_id)}:{quote_plus(secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        request = HTTPRequest(
            endpoints.token, "POST", headers, urlencode(fields), follow_redirects=False
        )
        answer = await self._json(request, "token endpoint")
        token = answer.get("id_token")
        if not isinstance(token, str) or not token:
            raise SignInRefused("the provider's answer holds no ID token")
        return token

    async def _json(self, request: HTTPRequest, what: str) -> dict[str, Any]:
        """A JSON object from the provider, within the deadline; a refusal of ours (4xx)
        is SignInRefused, anything else Unavailable."""
        request.connect_timeout = request.request_timeout = self.settings.timeout
        request.ca_certs = self.settings.ca_file or None
        try:
            response: HTTPResponse = await self._http.fetch(request)
        except HTTPClientError as exc:
            detail = _error_detail(exc.response)
            if exc.code is not None and 400 <= exc.code < 500 and what == "token endpoint":
                raise SignInRefused(f"the provider refused the code: {detail}") from None
            raise Unavailable(f"the provider's {what} answered {exc.code}: {detail}") from None
        except OSError as exc:
            raise Unavailable(f"the provider's {what} cannot be reached: {exc}") from None
        try:
            document = json.loads(response.body)
        except ValueError:
            raise Unavailable(f"the provider's {what} did not answer JSON") from None
        if not isinstance(document, dict):
            raise Unavailable(f"the provider's {what} did not answer a JSON object")
        return document


@dataclass(frozen=True, slots=True)
class IdToken:
    person: Person
    raw: str
    """The token itself, kept to name the sign-in when it ends at the provider."""


def _error_detail(response: HTTPResponse | None) -> str:
    """The `error` and `error_description` of an OAuth error answer, bounded and printable."""
    if response is None or not response.body:
        return "no details"
    try:
        body = json.loads(response.body[:4096])
    except ValueError:
        return "no details"
    if not isinstance(body, dict):
        return "no details"
    words = " ".join(str(body.get(key, ""))[:200] for key in ("error", "error_description"))
    return re.sub(r"[\x00-\x1f\x7f]", "?", words.strip()) or "no details"
