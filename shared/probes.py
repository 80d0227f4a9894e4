"""/metrics and /healthz, answered alike by the worker and the front end.

/metrics is this process's Prometheus registry in the text format, after an optional
`refresh` that sets gauges read only when scraped; /healthz says the loop runs.
What makes a process ready differs, so each keeps its own /readyz.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado.web import RequestHandler


def _nothing() -> None:
    pass


class MetricsHandler(RequestHandler):
    def initialize(self, refresh: Callable[[], None] = _nothing) -> None:
        self.refresh = refresh

    def get(self) -> None:
        self.refresh()
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())


class HealthHandler(RequestHandler):
    def get(self) -> None:
        self.finish({"status": "ok"})
