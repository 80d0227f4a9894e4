"""The Content Security Policy's one allowed inline script: the page's import map, by
the hash of its text as a browser computes it."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from frontend_server.web_security import (
    content_security_policy,
    import_map_hashes,
    page_policy,
    security_headers,
)

MAP = '\n  {"imports": {"@xterm/xterm": "/vendor/xterm/lib/xterm.mjs"}}\n  '
PAGE = f"""<!doctype html><html><head>
<script type="importmap">{MAP}</script>
<script type="module" src="/static/app.js"></script>
</head><body></body></html>"""


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def script_src(policy: str) -> list[str]:
    (directive,) = [part.split() for part in policy.split(";") if "script-src" in part]
    return directive[1:]


def test_the_import_map_is_hashed_over_its_exact_text() -> None:
    """The hash covers everything between the tags, white space included."""
    assert import_map_hashes(PAGE) == (sha256_source(MAP),)


def test_line_breaks_are_hashed_as_a_browser_parses_them() -> None:
    """A page saved with CRLF line breaks gets the hash of the LF text, as HTML parsing
    normalizes line breaks before a browser hashes a script."""
    assert import_map_hashes(PAGE.replace("\n", "\r\n")) == (sha256_source(MAP),)


def test_no_other_script_is_hashed() -> None:
    """Inline classic and module scripts, and an import map with src= (which browsers
    do not load), get no hash."""
    page = (
        "<script>alert(1)</script><script type='module'>import 'x';</script>"
        '<script type="importmap" src="/map.json"></script><script src="/a.js"></script>'
    )
    assert import_map_hashes(page) == ()


def test_the_policy_adds_the_hashes_to_script_src_only() -> None:
    """script-src keeps 'self' and 'wasm-unsafe-eval' and gains the hashes; nothing
    else changes."""
    plain = content_security_policy()
    hashed = content_security_policy([sha256_source(MAP)])
    assert script_src(plain) == ["'self'", "'wasm-unsafe-eval'"]
    assert script_src(hashed) == ["'self'", "'wasm-unsafe-eval'", sha256_source(MAP)]
    assert hashed.replace(f" {sha256_source(MAP)}", "") == plain


def test_the_policy_of_the_real_page_allows_its_one_import_map() -> None:
    """web/src/index.html has one import map, and its policy allows exactly it."""
    index = Path(__file__).resolve().parents[2] / "web" / "src" / "index.html"
    hashes = import_map_hashes(index.read_text())
    assert len(hashes) == 1
    assert [s for s in script_src(page_policy(index)) if s.startswith("'sha256-")] == list(hashes)


def test_a_front_end_without_a_page_allows_no_inline_script(tmp_path: Path) -> None:
    """No page to read: the policy has no hash at all."""
    assert page_policy(tmp_path / "index.html") == content_security_policy()


def test_the_headers_transform_sends_the_policy_it_was_made_with() -> None:
    """security_headers(policy) puts that policy and the other headers on a response."""
    start = RequestStartLine("GET", "/", "HTTP/1.1")
    request = HTTPServerRequest(start_line=start, headers=HTTPHeaders({"Host": "localhost"}))
    transform = security_headers("default-src 'none'")(request)
    _, headers, _ = transform.transform_first_chunk(200, HTTPHeaders(), b"", True)
    assert headers["Content-Security-Policy"] == "default-src 'none'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
