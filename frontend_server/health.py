"""/metrics, /healthz and /readyz of a front end.

Ready means at least one worker is up; healthy means the process runs its loop.
These answer without sign-in, like the probes and scrapers that call them.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado.web import RequestHandler

from frontend_server.metrics import WORKERS
from frontend_server.pool import WorkerPool


class MetricsHandler(RequestHandler):
    def initialize(self, pool: WorkerPool) -> None:
        self.pool = pool

    def get(self) -> None:
        up = sum(1 for link in self.pool.links if link.up)
        WORKERS.labels("up").set(up)
        WORKERS.labels("down").set(len(self.pool.links) - up)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())


class HealthHandler(RequestHandler):
    def get(self) -> None:
        self.finish({"status": "ok"})


class ReadyHandler(RequestHandler):
    def initialize(self, pool: WorkerPool) -> None:
        self.pool = pool

    def get(self) -> None:
        up = [link.host for link in self.pool.links if link.up]
        if not up:
            self.set_status(503)
            self.finish({"status": "not ready", "reason": "no worker is up"})
            return
        self.finish({"status": "ready", "workers_up": len(up)})
