"""/metrics and /healthz, answered alike by the worker and the front end.

/metrics is this process's Prometheus registry in the text format, after an optional
`refresh` that sets gauges read only when scraped. It answers only a scraper that
sends `Authorization: Bearer <token>` with one of `tokens` (403 otherwise, and always
when no token is configured): the numbers say who signs in, how often, and which
hosts are up. /healthz says the loop runs and is open to all. What makes a process
ready differs, so each keeps its own /readyz.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado.web import RequestHandler


def _nothing() -> None:
    pass


def bearer_matches(header: str, tokens: tuple[str, ...]) -> bool:
    """`Authorization: Bearer <t>` with t one of `tokens` (compared in constant time)."""
    given = header[len("Bearer ") :].strip().encode() if header.startswith("Bearer ") else b""
    found = False
    for token in tokens:
        found |= bool(token) and hmac.compare_digest(given, token.encode())
    return found


class MetricsHandler(RequestHandler):
    def initialize(self, tokens: tuple[str, ...], refresh: Callable[[], None] = _nothing) -> None:
        self.refresh = refresh
        self.tokens = tokens

    def get(self) -> None:
        if not bearer_matches(self.request.headers.get("Authorization", ""), self.tokens):
            self.set_status(403)
            self.finish({"error": "forbidden", "message": "send the metrics bearer token"})
            return
        self.refresh()
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())


class HealthHandler(RequestHandler):
    def get(self) -> None:
        self.finish({"status": "ok"})
