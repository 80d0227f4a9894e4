"""Signing in with a company's identity provider, in Chromium, against real servers:
glewlwyd (OpenID Connect) on another site than the front ends, and slapd (LDAP).
Two front ends share one cookie secret, as a fleet does; the policy gives containers
to groups that only the provider or the directory says the person is in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import artifacts
from tests.support.containers import Containers
from tests.support.glewlwyd import Glewlwyd, start_glewlwyd
from tests.support.http import call
from tests.support.page import WAIT_MS
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.slapd import GROUPS, PEOPLE, Person, Slapd, start_slapd
from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until

CLIENT_ID = "dterm"
CLIENT_SECRET = "Client_Secret-at.the~Provider"
"""Unreserved characters only: glewlwyd does not decode HTTP Basic credentials, which
RFC 6749 has form-encoded (tests/integration/test_oidc.py sends one that needs it)."""
ALICE_PASSWORD = "alice at the provider"
OLGA_PASSWORD = "olga in the directory"
POLICY = """
[[roles]]
groups = ["payments"]
  [[roles.rules]]
  containers = ["dterm-test-idp-pay-*"]

[[roles]]
groups = ["directory-ops"]
  [[roles.rules]]
  containers = ["dterm-test-idp-ops-*"]
"""


@dataclass
class Setup:
    provider: Glewlwyd
    directory: Slapd
    stacks: tuple[Stack, Stack]
    boxes: dict[str, Any]
    folder: Path

    def audit(self) -> list[dict[str, Any]]:
        lines = (self.folder / "audit.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def setup(
    worker: ManagedProcess, containers: Containers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("identity")
    provider = start_glewlwyd(folder / "glewlwyd")
    directory = start_slapd(
        folder / "slapd",
        [Person("olga", OLGA_PASSWORD, ("directory-ops",))],
        "unused service password",
    )
    (folder / "policy.toml").write_text(POLICY)
    secret = folder / "client-secret"
    secret.touch(mode=0o600)
    secret.write_text(CLIENT_SECRET)
    boxes = {kind: containers.run(name=f"dterm-test-idp-{kind}-1") for kind in ("pay", "ops")}
    frontends = [
        start_frontend(
            [worker.match["endpoint"]],
            "--policy",
            str(folder / "policy.toml"),
            "--audit-log",
            str(folder / "audit.jsonl"),
            "--oidc-issuer",
            provider.issuer,
            "--oidc-client-id",
            CLIENT_ID,
            "--oidc-client-secret-file",
            str(secret),
            "--oidc-scope",
            "openid",
            "--oidc-display-name",
            "Example SSO",
            "--ldap-url",
            directory.url,
            "--ldap-user-dn",
            f"uid={{user}},{PEOPLE}",
            "--ldap-group-base",
            GROUPS,
        )
        for _ in range(2)
    ]
    stacks = (Stack(frontends[0].match["url"]), Stack(frontends[1].match["url"]))
    provider.add_client(CLIENT_ID, CLIENT_SECRET, [s.base for s in stacks])
    provider.add_person("alice", ALICE_PASSWORD, ["payments", "staff"])
    yield Setup(provider, directory, stacks, boxes, folder)
    for frontend in frontends:
        frontend.stop()
    directory.stop()
    provider.stop()


def provider_sign_in(page: Page, setup: Setup, name: str, password: str) -> None:
    """From the page's button through the provider's own login page and back."""
    page.goto(setup.stacks[0].base)
    page.get_by_role("link", name="Sign in with Example SSO").click()
    expect(page.get_by_placeholder("Your username")).to_be_visible(timeout=WAIT_MS)
    assert page.url.startswith(setup.provider.root)
    page.get_by_placeholder("Your username").fill(name)
    page.get_by_placeholder("Your password").fill(password)
    page.get_by_role("button", name="OK").click()
    page.get_by_role("button", name="Continue").click(timeout=WAIT_MS)
    page.wait_for_url(f"{setup.stacks[0].base}/", timeout=WAIT_MS)


def login_cookie(page: Page) -> dict[str, str]:
    found = next(c for c in page.context.cookies() if c["name"] == "dterm_login")
    return {"Cookie": f"dterm_login={found['value']}"}


def test_signs_in_through_the_providers_login_page(
    page: Page, setup: Setup, request: pytest.FixtureRequest
) -> None:
    """The provider's button leads to its login page and back; the page lists only the
    containers the provider's groups give, and names the person."""
    provider_sign_in(page, setup, "alice", ALICE_PASSWORD)
    pay, ops = setup.boxes["pay"].name, setup.boxes["ops"].name
    expect(page.locator(f'button[data-container="{pay}"]')).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(f'button[data-container="{ops}"]')).to_have_count(0)
    expect(page.locator("button.sign-out")).to_have_text("sign out alice")
    page.screenshot(path=str(artifacts(request) / "signed-in-by-provider.png"))
    auth = call(setup.stacks[0], "/api/auth", headers=login_cookie(page)).json()
    assert auth["groups"] == ["payments", "staff"]
    last = setup.audit()[-1]
    assert (last["user"], last["method"], last["ok"]) == ("alice", "oidc", True)


def test_sign_out_ends_the_sign_in_everywhere_and_at_the_provider(page: Page, setup: Setup) -> None:
    """Signing out revokes the sign-in on the other front end too, and ends the
    provider's own sign-in: the next sign-in asks for the password again."""
    provider_sign_in(page, setup, "alice", ALICE_PASSWORD)
    old = login_cookie(page)
    assert call(setup.stacks[1], "/api/auth", headers=old).json()["user"] == "alice"
    page.locator("button.sign-out").click()
    page.wait_for_url(f"{setup.provider.root}/**", timeout=WAIT_MS)
    wait_until(
        lambda: call(setup.stacks[1], "/api/auth", headers=old).json()["user"] is None,
        10,
        "the other front end refuses the signed-out cookie",
    )
    page.get_by_role("button", name="Logout").click(timeout=WAIT_MS)
    page.wait_for_url(f"{setup.stacks[0].base}/**", timeout=WAIT_MS)
    expect(page.get_by_role("link", name="Sign in with Example SSO")).to_be_visible()
    page.get_by_role("link", name="Sign in with Example SSO").click()
    expect(page.get_by_placeholder("Your password")).to_be_visible(timeout=WAIT_MS)


def test_directory_password_in_the_page(
    page: Page, setup: Setup, request: pytest.FixtureRequest
) -> None:
    """The same page signs in with a directory password: a wrong one is said and
    audited, the right one lists what the directory's groups give."""
    page.goto(setup.stacks[1].base)
    expect(page.get_by_role("link", name="Sign in with Example SSO")).to_be_visible()
    page.screenshot(path=str(artifacts(request) / "sign-in-choices.png"))
    page.fill("input[name=user]", "olga")
    page.fill("input[name=password]", "not her password")
    page.click("form.sign-in button")
    expect(page.locator("form.sign-in [role=alert]")).to_have_text("Wrong name or password.")
    last = setup.audit()[-1]
    assert (last["user"], last["method"], last["ok"]) == ("olga", "ldap", False)
    page.fill("input[name=password]", OLGA_PASSWORD)
    page.click("form.sign-in button")
    pay, ops = setup.boxes["pay"].name, setup.boxes["ops"].name
    expect(page.locator(f'button[data-container="{ops}"]')).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(f'button[data-container="{pay}"]')).to_have_count(0)
