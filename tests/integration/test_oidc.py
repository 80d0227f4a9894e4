"""OpenID Connect sign-in refused where it must be, against a real front end: ID
tokens no honest provider signs (from a scripted provider), a wrong state, a
provider's error, keys that rotate, and the sign-out that goes on to the provider.
The sign-in through a real provider's pages is in tests/e2e/test_identity_providers.py.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from frontend_server.id_tokens import pkce_challenge
from tests.support.accounts import add_user
from tests.support.http import Reply, call, xsrf
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, ScriptedProvider, new_key
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.terminal_client import Stack

POLICY = '[[roles]]\ngroups = ["payments"]\n  [[roles.rules]]\n  containers = ["none-*"]\n'
_sources = itertools.count(20)


def source() -> str:
    """A fresh loopback address per attempt: refusals count against an address."""
    return f"127.0.0.{next(_sources)}"


@dataclass
class Setup:
    provider: ScriptedProvider
    stack: Stack
    frontend: ManagedProcess
    audit_path: Path

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]


@pytest.fixture(scope="module")
def setup(worker: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("oidc")
    provider = ScriptedProvider()
    secret = folder / "client-secret"
    secret.touch(mode=0o600)
    secret.write_text(CLIENT_SECRET + "\n")
    (folder / "policy.toml").write_text(POLICY)
    frontend = start_frontend(
        [worker.match["endpoint"]],
        "--oidc-issuer",
        provider.issuer,
        "--oidc-client-id",
        CLIENT_ID,
        "--oidc-client-secret-file",
        str(secret),
        "--oidc-scope",
        "openid",
        "--oidc-scope",
        "groups",
        "--oidc-display-name",
        "Example SSO",
        "--policy",
        str(folder / "policy.toml"),
        "--audit-log",
        str(folder / "audit.jsonl"),
    )
    yield Setup(provider, Stack(frontend.match["url"]), frontend, folder / "audit.jsonl")
    frontend.stop()
    provider.close()


@dataclass
class Flow:
    cookie: str
    query: dict[str, str]
    address: str
    stack: Stack


def start(setup: Setup, stack: Stack | None = None) -> Flow:
    """GET /oidc/login, as a browser does: the flow cookie and where it is sent."""
    address = source()
    stack = stack or setup.stack
    reply = call(stack, "/oidc/login", source=address)
    assert reply.status == 302, reply.body
    location = reply.headers["Location"]
    assert location.startswith(setup.provider.issuer + "/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return Flow(reply.cookies()["dterm_oidc_flow"], query, address, stack)


def finish(setup: Setup, flow: Flow, token: str | None, **changes: str) -> Reply:
    """The provider's redirect back with a code that it answers with `token`."""
    code = f"code-{time.monotonic_ns()}"
    if token is not None:
        setup.provider.tokens[code] = token
    fields = {"code": code, "state": flow.query["state"], **changes}
    query = "&".join(f"{k}={v}" for k, v in fields.items())
    headers = {"Cookie": f"dterm_oidc_flow={flow.cookie}"}
    return call(flow.stack, f"/oidc/callback?{query}", headers=headers, source=flow.address)


def login_cookie(reply: Reply) -> dict[str, str]:
    return {"Cookie": f"dterm_login={reply.cookies()['dterm_login']}"}


def test_page_is_offered_the_provider(setup: Setup) -> None:
    """/api/auth lists oidc with its display name; no dev token exists."""
    auth = call(setup.stack, "/api/auth").json()
    assert auth["methods"] == ["oidc"] and auth["oidc_name"] == "Example SSO"
    assert setup.stack.token == ""


def test_signs_in_with_pkce_and_groups_from_the_id_token(setup: Setup) -> None:
    """The code flow with PKCE (S256), state and nonce; the ID token's groups are the
    person's; the flow cookie is HttpOnly, Lax, for /oidc/ only, and cleared after."""
    flow = start(setup)
    assert flow.query["response_type"] == "code" and flow.query["client_id"] == CLIENT_ID
    assert flow.query["scope"] == "openid groups"
    assert flow.query["code_challenge_method"] == "S256"
    assert flow.query["redirect_uri"] == f"{setup.stack.base}/oidc/callback"
    reply = finish(setup, flow, setup.provider.mint(setup.provider.claims(flow.query["nonce"])))
    assert reply.status == 302 and reply.headers["Location"] == "/", reply.body
    assert pkce_challenge(setup.provider.verifiers[-1]) == flow.query["code_challenge"]
    auth = call(setup.stack, "/api/auth", headers=login_cookie(reply)).json()
    assert auth["user"] == "alice" and auth["groups"] == ["payments", "staff"]
    assert reply.cookies()["dterm_oidc_flow"] in ("", '""')  # cleared
    set_cookies = call(setup.stack, "/oidc/login").headers.get_all("Set-Cookie") or []
    flow_cookie = next(c for c in set_cookies if c.startswith("dterm_oidc_flow="))
    assert {"HttpOnly", "SameSite=Lax", "Path=/oidc/"} <= {
        p.strip() for p in flow_cookie.split(";")
    }
    last = setup.audit()[-1]
    assert last["event"] == "sign-in" and last["ok"] and last["method"] == "oidc"
    assert last["user"] == "alice" and last["groups"] == ["payments", "staff"]


def _tampered(provider: ScriptedProvider, nonce: str) -> str:
    """A good token whose claims were changed after signing (more groups)."""
    header, _, signature = provider.mint(provider.claims(nonce)).split(".")
    claims = provider.claims(nonce, groups=["admins"])
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def _unsigned(provider: ScriptedProvider, nonce: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(provider.claims(nonce))}."


Forge = Callable[[ScriptedProvider, str], str]
FORGED: dict[str, tuple[Forge, str]] = {
    "tampered": (_tampered, "not validly signed"),
    "unsigned": (_unsigned, "'none' is not allowed"),
    "signed by another key": (
        lambda p, n: p.mint(p.claims(n), new_key(p.published[0].kid or "")),
        "not validly signed",
    ),
    "expired": (
        lambda p, n: p.mint(p.claims(n, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        "expired",
    ),
    "for another client": (lambda p, n: p.mint(p.claims(n, aud="someone-else")), "'aud'"),
    "from another issuer": (lambda p, n: p.mint(p.claims(n, iss="https://evil.example")), "'iss'"),
    "another nonce": (lambda p, n: p.mint(p.claims("a-nonce-of-another-sign-in")), "'nonce'"),
    "no nonce": (lambda p, n: p.mint(p.claims(None)), "'nonce'"),
    "unusable name": (
        lambda p, n: p.mint(p.claims(n, preferred_username="al ice;")),
        "not a usable name",
    ),
}


@pytest.mark.parametrize("forgery", FORGED)
def test_refuses_id_tokens_no_provider_would_sign(setup: Setup, forgery: str) -> None:
    """Tampered, unsigned, foreign-key, expired, wrong audience, issuer or nonce, or
    naming nobody usable: 403, no login cookie, and an audit line saying why."""
    forge, why = FORGED[forgery]
    flow = start(setup)
    reply = finish(setup, flow, forge(setup.provider, flow.query["nonce"]))
    assert reply.status == 403, reply.body
    assert "dterm_login" not in reply.cookies()
    last = setup.audit()[-1]
    assert (last["event"], last["ok"], last["method"]) == ("sign-in", False, "oidc")
    assert why in last["reason"], last["reason"]


def test_wrong_state_is_refused_before_the_code_is_redeemed(setup: Setup) -> None:
    """A code with another state, or with no sign-in under way in this browser, is
    refused (400) and never sent to the provider: nobody can sign a browser in as
    someone else by sending it a code."""
    tokens_asked = setup.provider.calls["/token"]
    flow = start(setup)
    good = setup.provider.mint(setup.provider.claims(flow.query["nonce"]))
    assert finish(setup, flow, good, state="another-state").status == 400
    no_cookie = Flow("", flow.query, flow.address, flow.stack)
    assert finish(setup, no_cookie, good).status == 400
    assert setup.provider.calls["/token"] == tokens_asked
    assert "state" in setup.audit()[-2]["reason"]


def test_provider_error_is_shown_and_audited(setup: Setup) -> None:
    """The provider's own refusal (error=access_denied) ends the sign-in: 400, audited."""
    flow = start(setup)
    reply = finish(setup, flow, None, error="access_denied")
    assert reply.status == 400 and b"access_denied" in reply.body
    assert "access_denied" in setup.audit()[-1]["reason"]


def test_rotated_keys_are_read_again_and_made_up_ones_are_not(setup: Setup) -> None:
    """A token under a new key id makes the front end read the provider's keys again;
    a token under a made-up one right after is refused without another read."""
    provider = setup.provider
    flow = start(setup)
    assert finish(setup, flow, provider.mint(provider.claims(flow.query["nonce"]))).status == 302
    provider.published = [new_key("second")]
    reads = provider.calls["/jwks"]
    flow = start(setup)
    assert finish(setup, flow, provider.mint(provider.claims(flow.query["nonce"]))).status == 302
    assert provider.calls["/jwks"] == reads + 1
    flow = start(setup)
    made_up = provider.mint(provider.claims(flow.query["nonce"]), new_key("made-up"))
    assert finish(setup, flow, made_up).status == 403
    assert provider.calls["/jwks"] == reads + 1


def test_sign_out_ends_the_sign_in_and_goes_on_to_the_provider(setup: Setup) -> None:
    """POST /logout revokes the sign-in and answers the provider's end-session URL,
    naming the sign-in by its ID token and coming back to the page."""
    flow = start(setup)
    token = setup.provider.mint(setup.provider.claims(flow.query["nonce"]))
    reply = finish(setup, flow, token)
    login, hint = reply.cookies()["dterm_login"], reply.cookies()["dterm_oidc_hint"]
    hint_cookie = next(c for c in reply.headers.get_all("Set-Cookie") or [] if "oidc_hint" in c)
    assert "Path=/logout" in hint_cookie and "HttpOnly" in hint_cookie
    token_headers = xsrf(setup.stack)
    cookies = f"dterm_login={login}; dterm_oidc_hint={hint}; {token_headers['Cookie']}"
    out = call(setup.stack, "/logout", "POST", {**token_headers, "Cookie": cookies}, body={})
    redirect = urlsplit(out.json()["redirect"])
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}" == f"{setup.provider.issuer}/end"
    query = {k: v[0] for k, v in parse_qs(redirect.query).items()}
    assert query.pop("state")
    assert query == {
        "client_id": CLIENT_ID,
        "id_token_hint": token,
        "post_logout_redirect_uri": f"{setup.stack.base}/",
    }
    assert call(setup.stack, "/api/auth", headers=login_cookie(reply)).json()["user"] is None


@pytest.mark.parametrize("client_auth", ["client_secret_post", "public"])
def test_other_ways_for_the_client_to_prove_itself(
    setup: Setup, worker: ManagedProcess, tmp_path: Path, client_auth: str
) -> None:
    """client_secret_post sends the secret in the body, not a header; a public client
    sends none and proves the sign-in by PKCE alone."""
    secret = tmp_path / "secret"
    secret.touch(mode=0o600)
    secret.write_text(CLIENT_SECRET)
    flags = ["--oidc-client-auth", client_auth, "--oidc-client-secret-file", str(secret)]
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    frontend = start_frontend(
        [worker.match["endpoint"]],
        "--oidc-issuer", setup.provider.issuer, "--oidc-client-id", CLIENT_ID,
        "--policy", str(policy), *(flags if client_auth != "public" else []),
    )  # fmt: skip
    setup.provider.client_auth = client_auth
    try:
        flow = start(setup, Stack(frontend.match["url"]))
        honest = setup.provider.mint(setup.provider.claims(flow.query["nonce"]))
        assert finish(setup, flow, honest).status == 302
        assert pkce_challenge(setup.provider.verifiers[-1]) == flow.query["code_challenge"]
    finally:
        setup.provider.client_auth = "client_secret_basic"
        frontend.stop()


def test_groups_and_name_come_from_the_configured_claims(
    setup: Setup, worker: ManagedProcess, tmp_path: Path
) -> None:
    """With oidc_groups_claim and oidc_user_claim set, the groups are those of that
    claim (the `groups` claim is ignored) and the person is named by the other claim."""
    secret = tmp_path / "secret"
    secret.touch(mode=0o600)
    secret.write_text(CLIENT_SECRET)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    frontend = start_frontend(
        [worker.match["endpoint"]],
        "--oidc-issuer", setup.provider.issuer, "--oidc-client-id", CLIENT_ID,
        "--oidc-client-secret-file", str(secret), "--policy", str(policy),
        "--oidc-groups-claim", "https://example.com/roles", "--oidc-user-claim", "email",
    )  # fmt: skip
    try:
        flow = start(setup, Stack(frontend.match["url"]))
        claims = setup.provider.claims(
            flow.query["nonce"],
            email="alice@example.com",
            email_verified=True,
            **{"https://example.com/roles": ["payments", "on-call"]},
        )
        reply = finish(setup, flow, setup.provider.mint(claims))
        assert reply.status == 302, reply.body
        auth = call(flow.stack, "/api/auth", headers=login_cookie(reply)).json()
        assert auth["user"] == "alice@example.com"
        assert auth["groups"] == ["on-call", "payments"]
    finally:
        frontend.stop()


def test_a_provider_cannot_sign_in_a_name_of_the_users_file(
    setup: Setup, worker: ManagedProcess, tmp_path: Path
) -> None:
    """An ID token naming an account of the users file (a name anyone may choose at
    many providers) is refused, 403 and audited: it would own that account's sessions
    and rules. Other names still sign in through the provider."""
    secret = tmp_path / "secret"
    secret.touch(mode=0o600)
    secret.write_text(CLIENT_SECRET)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    users = tmp_path / "users.json"
    add_user(users, "alice", "the local alice's password")
    audit = tmp_path / "audit.jsonl"
    frontend = start_frontend(
        [worker.match["endpoint"]],
        "--oidc-issuer", setup.provider.issuer, "--oidc-client-id", CLIENT_ID,
        "--oidc-client-secret-file", str(secret), "--policy", str(policy),
        "--users-file", str(users), "--audit-log", str(audit),
    )  # fmt: skip
    try:
        flow = start(setup, Stack(frontend.match["url"]))
        reply = finish(setup, flow, setup.provider.mint(setup.provider.claims(flow.query["nonce"])))
        assert reply.status == 403, reply.body
        assert reply.cookies().get("dterm_login", "") in ("", '""')
        last = json.loads(audit.read_text().splitlines()[-1])
        assert last["event"] == "sign-in" and last["ok"] is False
        assert "users file" in last["reason"] and "alice" in last["reason"]
        flow = start(setup, Stack(frontend.match["url"]))
        claims = setup.provider.claims(flow.query["nonce"], preferred_username="bob")
        reply = finish(setup, flow, setup.provider.mint(claims))
        assert reply.status == 302, reply.body
        auth = call(flow.stack, "/api/auth", headers=login_cookie(reply)).json()
        assert auth["user"] == "bob"
        frontend.allow_traceback = True
        good = users.read_text()
        users.write_text("{ no JSON")  # cannot say whether it holds bob: not signed in
        flow = start(setup, Stack(frontend.match["url"]))
        claims = setup.provider.claims(flow.query["nonce"], preferred_username="bob")
        assert finish(setup, flow, setup.provider.mint(claims)).status == 503
        users.write_text(good)
    finally:
        frontend.stop()


@pytest.mark.parametrize("verified", [False, None, "false"])
def test_an_unverified_email_names_no_one(
    setup: Setup, worker: ManagedProcess, tmp_path: Path, verified: Any
) -> None:
    """With oidc_user_claim = email, a token whose email the provider has not verified
    (email_verified false or missing) is refused: at many providers anyone may type
    any address into their profile. A verified one signs in."""
    secret = tmp_path / "secret"
    secret.touch(mode=0o600)
    secret.write_text(CLIENT_SECRET)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    frontend = start_frontend(
        [worker.match["endpoint"]],
        "--oidc-issuer", setup.provider.issuer, "--oidc-client-id", CLIENT_ID,
        "--oidc-client-secret-file", str(secret), "--policy", str(policy),
        "--oidc-user-claim", "email",
    )  # fmt: skip
    try:
        flow = start(setup, Stack(frontend.match["url"]))
        claims = setup.provider.claims(flow.query["nonce"], email="ceo@example.com",
                                       email_verified=verified)  # fmt: skip
        reply = finish(setup, flow, setup.provider.mint(claims))
        assert reply.status == 403 and b"email_verified" in reply.body, reply.body
        flow = start(setup, Stack(frontend.match["url"]))
        claims = setup.provider.claims(flow.query["nonce"], email="ceo@example.com",
                                       email_verified=True)  # fmt: skip
        assert finish(setup, flow, setup.provider.mint(claims)).status == 302
    finally:
        frontend.stop()
