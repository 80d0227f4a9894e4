"""What a front end adds to the probes: workers counted for /metrics, and /readyz.

Ready means at least one worker is up; healthy means the process runs its loop.
These answer without sign-in, like the probes and scrapers that call them.
"""

from __future__ import annotations

from tornado.web import RequestHandler

from frontend_server.metrics import WORKERS
from frontend_server.pool import WorkerPool


def count_workers(pool: WorkerPool) -> None:
    """Workers up and down, counted when scraped."""
    up = sum(1 for link in pool.links if link.up)
    WORKERS.labels("up").set(up)
    WORKERS.labels("down").set(len(pool.links) - up)


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
