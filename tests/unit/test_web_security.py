"""The front end's pure HTTP checks: Host names against DNS rebinding, Origins by
scheme, host and port, and credentials kept out of logged URIs."""

from __future__ import annotations

import logging

import pytest

from frontend_server.web_security import (
    REDACT_SECRETS,
    HostCheck,
    origin_key,
    page_origin,
    redacted_uri,
)

LOOPBACK = HostCheck.of("127.0.0.1", ())


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:8080", True),
        ("127.0.0.1:8080", True),
        ("127.1.2.3", True),
        ("[::1]:8080", True),
        ("LOCALHOST:80", True),
        ("evil.example:8080", False),
        ("localhost.evil.example", False),
        ("10.0.0.1:8080", False),
        ("evil@127.0.0.1", False),
        ("127.0.0.1:8080/x", False),
        ("", False),
    ],
)
def test_a_loopback_front_end_answers_loopback_names(host: str, allowed: bool) -> None:
    assert LOOPBACK.allows(host) is allowed


def test_allowed_hosts_add_to_loopback_and_restrict_others() -> None:
    """Listed names (with or without a port) are answered besides loopback; a front end
    bound elsewhere answers any name until names are listed, then only those."""
    listed = HostCheck.of("::1", ("dterm.example", "alt.example:8443"))
    assert listed.allows("dterm.example:8080") and listed.allows("[::1]:9")
    assert listed.allows("alt.example:8443") and not listed.allows("alt.example:443")
    assert not listed.allows("evil.example")
    assert HostCheck.of("0.0.0.0", ()).allows("anything.example")
    public = HostCheck.of("0.0.0.0", ("dterm.example",))
    assert public.allows("dterm.example") and not public.allows("127.0.0.1")


def test_origins_compare_scheme_host_and_port() -> None:
    """Default ports are filled in; scheme, host and port all count; junk is no origin."""
    assert origin_key("http://127.0.0.1") == ("http", "127.0.0.1", 80)
    assert origin_key("HTTPS://Dterm.Example/") == ("https", "dterm.example", 443)
    assert origin_key("http://[::1]:8080") == ("http", "::1", 8080)
    assert page_origin("http", "127.0.0.1:80") == origin_key("http://127.0.0.1")
    assert page_origin("http", "127.0.0.1:8080") != origin_key("https://127.0.0.1:8080")
    assert page_origin("http", "127.0.0.1:8080") != origin_key("http://127.0.0.1:8081")
    for junk in ("null", "file://", "http://a b", "ws://127.0.0.1", "http://x@127.0.0.1"):
        assert origin_key(junk) is None, junk


@pytest.mark.parametrize(
    ("uri", "logged"),
    [
        ("/?token=abc", "/?token=[redacted]"),
        ("/api/x?a=1&Token=abc&b=2", "/api/x?a=1&Token=[redacted]&b=2"),
        ("/?to%6Ben=abc", "/?to%6Ben=[redacted]"),
        ("/?password=p&access_token=t", "/?password=[redacted]&access_token=[redacted]"),
        ("/oidc/callback?code=c0de&state=s", "/oidc/callback?code=[redacted]&state=s"),
        ("/?tokens=1&token", "/?tokens=1&token"),
        ("/plain", "/plain"),
    ],
)
def test_credentials_are_redacted_from_uris(uri: str, logged: str) -> None:
    assert redacted_uri(uri) == logged


def test_tornado_log_lines_quoting_a_token_are_redacted() -> None:
    """Tornado's HTTPError warnings quote the URI: the filter rewrites them."""
    record = logging.LogRecord(
        "tornado.general", logging.WARNING, __file__, 1, "%d %s: %s",
        (401, "GET /ws/exec?token=s3cret&x=1 (127.0.0.1)", "sign in first"), None,
    )  # fmt: skip
    assert REDACT_SECRETS.filter(record)
    assert record.getMessage() == "401 GET /ws/exec?token=[redacted]&x=1 (127.0.0.1): sign in first"
