"""What every HTTP answer of the front end carries, and the checks that come first.

- Security headers on every response (the page, the API, static files, errors): a
  Content Security Policy that lets the page load and connect only to its own
  origin and never be framed, `X-Frame-Options`, `nosniff`, and no Referer (the
  page's URL may carry the dev token). The one inline script the policy allows is
  the page's import map, by the hash of its text as read from the page at start
  (browsers take import maps only inline, never from a file of their own).
- The Host check against DNS rebinding, as Jupyter's `check_host`: a front end bound
  to loopback answers only requests naming a loopback host (or one of
  `allowed_hosts`); one bound elsewhere answers any Host unless `allowed_hosts` is
  set. A page on a rebound name is then refused before it reaches any handler. The
  probes (/healthz, /readyz) and /metrics (which needs a token) are exempt, so that
  orchestrators and scrapers reach them by address.
- The page's own origin (scheme, host, port), which a WebSocket's Origin must equal.
- The access log with credentials in the query string redacted, and the same
  redaction on Tornado's other loggers (its HTTPError and exception lines quote
  the URI too).

Pure functions over request data, plus thin Tornado classes; no state.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from tornado import httputil
from tornado.log import access_log
from tornado.web import Application, OutputTransform, RequestHandler

log = logging.getLogger(__name__)

# asciinema-player's terminal emulator is WebAssembly: 'wasm-unsafe-eval' lets it
# compile (and nothing else: JavaScript eval stays refused).
SCRIPT_SOURCES = "'self' 'wasm-unsafe-eval'"
OTHER_DIRECTIVES = (
    "connect-src 'self'",
    "img-src 'self' data:",
    "style-src 'self'",
    # xterm.js writes its computed styles (cell sizes, theme) into <style> elements
    # it makes at run time, with no way to give them a nonce.
    "style-src-elem 'self' 'unsafe-inline'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
)
OTHER_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
UNCHECKED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Answered whatever the Host: probes say nothing secret, /metrics needs a token."""
SECRET_ARGUMENTS = frozenset({"token", "access_token", "password", "code"})
"""Query arguments never logged: credentials, and the code an identity provider sends
back (it signs in whoever redeems it first)."""
SECRET_IN_TEXT = re.compile(r"(?i)([?&](?:token|access_token|password|code)=)[^&\s'\"]*")
HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?")
ORIGIN = re.compile(r"(https?)://(.+)")
DEFAULT_PORTS = {"http": 80, "https": 443}


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """The policy, allowing also the inline scripts of these hash sources ('sha256-...')."""
    scripts = " ".join([SCRIPT_SOURCES, *script_hashes])
    return "; ".join(["default-src 'self'", f"script-src {scripts}", *OTHER_DIRECTIVES])


class ImportMapFinder(HTMLParser):
    """Collects the text of each inline `<script type="importmap">` of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.maps: list[str] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        # An import map with src= is not loaded by browsers: nothing to allow.
        self.inside = tag == "script" and found.get("type") == "importmap" and "src" not in found
        if self.inside:
            self.maps.append("")

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.maps[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.inside = False


def import_map_hashes(page: str) -> tuple[str, ...]:
    """CSP hash sources of the page's inline import maps, over their text as a browser
    hashes it (UTF-8, line breaks normalized to LF as HTML parsing does)."""
    finder = ImportMapFinder()
    finder.feed(page.replace("\r\n", "\n").replace("\r", "\n"))
    finder.close()
    digests = (hashlib.sha256(text.encode()).digest() for text in finder.maps)
    return tuple(f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests)


def page_policy(index_html: Path) -> str:
    """The policy for a front end serving this page, read once at start. Without the
    page (a front end for the API alone) no inline script is allowed."""
    try:
        page = index_html.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("no page at %s (%s): the policy allows no import map", index_html, exc)
        return content_security_policy()
    return content_security_policy(import_map_hashes(page))


def security_headers(policy: str) -> type[OutputTransform]:
    """An OutputTransform that adds this Content Security Policy and OTHER_HEADERS to
    every response of the application."""
    added = {"Content-Security-Policy": policy, **OTHER_HEADERS}

    class SecurityHeaders(OutputTransform):
        def transform_first_chunk(
            self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
        ) -> tuple[int, httputil.HTTPHeaders, bytes]:
            for name, value in added.items():
                headers[name] = value
            return status_code, headers, chunk

    return SecurityHeaders


# --- hosts and origins --------------------------------------------------------------------


def split_host(host: str) -> tuple[str, int | None] | None:
    """(name, port) of a Host header (brackets off an IPv6 address); None if malformed."""
    found = HOST.fullmatch(host.strip().lower())
    if found is None:
        return None
    port = int(found[2]) if found[2] else None
    return found[1].strip("[]"), port


def is_loopback_name(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class HostCheck:
    loopback_only: bool
    """Bound to a loopback address: loopback names are the default allowed hosts."""
    allowed: frozenset[str] = frozenset()
    """Names or name:port pairs, lower case."""

    @classmethod
    def of(cls, address: str, allowed_hosts: tuple[str, ...]) -> HostCheck:
        return cls(is_loopback_name(address), frozenset(h.lower() for h in allowed_hosts))

    def allows(self, host: str) -> bool:
        parts = split_host(host)
        if parts is None:
            return False
        name, port = parts
        if name in self.allowed or f"{name}:{port}" in self.allowed:
            return True
        if self.loopback_only:
            return is_loopback_name(name)
        return not self.allowed


def origin_key(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an Origin header, the default port filled in."""
    found = ORIGIN.fullmatch(origin.strip().lower().rstrip("/"))
    parts = split_host(found[2]) if found else None
    if found is None or parts is None:
        return None
    return found[1], parts[0], parts[1] or DEFAULT_PORTS[found[1]]


def page_origin(scheme: str, host: str) -> tuple[str, str, int] | None:
    """The origin of the page as served: its scheme and the request's Host."""
    return origin_key(f"{scheme}://{host}")


# --- the application -----------------------------------------------------------------------


class WrongHostHandler(RequestHandler):
    """403 for a request naming a host this front end does not answer to."""

    def prepare(self) -> None:
        log.warning(
            "refused a request for host %r: not a name this front end answers to "
            "(see allowed_hosts)",
            self.request.host,
        )
        self.set_status(403)
        self.finish("403: this front end does not answer to that host name")


class CheckedApplication(Application):
    """A Tornado Application that refuses wrong Host headers before routing."""

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> Any:  # tornado.web._HandlerDelegate
        check: HostCheck = self.settings["host_check"]
        if request.path not in UNCHECKED_PATHS and not check.allows(request.host):
            return self.get_handler_delegate(request, WrongHostHandler)
        return super().find_handler(request, **kwargs)


# --- logs ------------------------------------------------------------------------------------


def redacted_uri(uri: str) -> str:
    """The URI with the values of credential query arguments replaced."""
    path, mark, query = uri.partition("?")
    if not mark:
        return uri
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        secret = unquote_plus(name).lower() in SECRET_ARGUMENTS
        pairs.append(f"{name}{equals}[redacted]" if secret and equals else pair)
    return f"{path}?{'&'.join(pairs)}"


def log_request(handler: RequestHandler) -> None:
    """Tornado's access log line, with `redacted_uri`."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    request = handler.request
    access_log.log(
        level,
        "%d %s %s (%s) %.2fms",
        status,
        request.method,
        redacted_uri(request.uri or ""),
        request.remote_ip,
        1000.0 * request.request_time(),
    )


class RedactSecrets(logging.Filter):
    """Rewrites a record whose text quotes a credential query argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if SECRET_IN_TEXT.search(text):
            record.msg, record.args = SECRET_IN_TEXT.sub(r"\1[redacted]", text), None
        return True


REDACT_SECRETS = RedactSecrets()


def redact_tornado_logs() -> None:
    for name in ("tornado.access", "tornado.general", "tornado.application"):
        logging.getLogger(name).addFilter(REDACT_SECRETS)
