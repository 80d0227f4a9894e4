"""A scripted OpenID Connect provider, for what no honest provider does.

It serves discovery, its public keys and a token endpoint that answers each code
with the ID token the test set for it, signed by the test: expired, for another
client, tampered, with a made-up key. So a real front end can be shown such tokens
and seen to refuse them. It runs in a thread of the test on 127.0.0.1, port 0.
The real provider (glewlwyd, tests/support/glewlwyd.py) is what the browser tests
sign in with.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "dterm-test"
CLIENT_SECRET = "secret of the test client"


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"}, private=True
    )


class ScriptedProvider:
    def __init__(self) -> None:
        self.published = [new_key("first")]
        """The keys /jwks shows (tests rotate them)."""
        self.tokens: dict[str, str] = {}
        """code -> the ID token the token endpoint answers for it (once)."""
        self.calls: Counter[str] = Counter()
        self.verifiers: list[str] = []
        self.client_auth = "client_secret_basic"
        """How the client must prove itself: client_secret_basic, client_secret_post or
        public (no secret: PKCE alone)."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/end",
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }

    def claims(self, nonce: str | None, **changes: Any) -> dict[str, Any]:
        """What an honest ID token for alice would say, with `changes` (None removes)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "id-of-alice",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "preferred_username": "alice",
            "groups": ["payments", "staff"],
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        chosen = key or self.published[0]
        return jwt.encode({"alg": "RS256", "kid": chosen.kid or ""}, claims, chosen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(provider: ScriptedProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            provider.calls[path] += 1
            if path == "/.well-known/openid-configuration":
                self.answer(200, provider.discovery())
            elif path == "/jwks":
                self.answer(200, {"keys": [k.as_dict(private=False) for k in provider.published]})
            else:
                self.answer(404, {"error": "not_found"})

        def client(self) -> tuple[str, str]:
            """HTTP Basic credentials, each part form-urlencoded (RFC 6749, 2.3.1)."""
            scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
            if scheme != "Basic":
                return "", ""
            name, _, secret = base64.b64decode(encoded).decode().partition(":")
            return unquote_plus(name), unquote_plus(secret)

        def client_proved(self, form: dict[str, str]) -> bool:
            """The client proved itself the way the provider expects, and no other."""
            basic = "Authorization" in self.headers
            if provider.client_auth == "client_secret_basic":
                return self.client() == (CLIENT_ID, CLIENT_SECRET) and "client_secret" not in form
            posted = (form.get("client_id"), form.get("client_secret"))
            if provider.client_auth == "client_secret_post":
                return not basic and posted == (CLIENT_ID, CLIENT_SECRET)
            return not basic and posted == (CLIENT_ID, None)

        def do_POST(self) -> None:
            provider.calls[self.path] += 1
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if not self.client_proved(form):
                self.answer(401, {"error": "invalid_client"})
                return
            provider.verifiers.append(form.get("code_verifier", ""))
            token = provider.tokens.pop(form.get("code", ""), None)
            if form.get("grant_type") != "authorization_code" or token is None:
                self.answer(400, {"error": "invalid_grant", "error_description": "unknown code"})
                return
            self.answer(200, {"access_token": "opaque", "token_type": "Bearer", "id_token": token})

    return Handler
