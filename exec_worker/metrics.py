"""Prometheus metrics of a worker, and its /metrics, /healthz and /readyz endpoints.

Ready means the Docker daemon answers; healthy means the process runs its loop.
/metrics needs the `metrics_token` as a bearer token (403 without, or when unset).
The small HTTP server runs on the worker's own event loop (Tornado), on
`http_address:http_port`, separate from the ZeroMQ socket front ends use. The audit
sinks' metrics (dterm_audit_*, alike in both processes) are declared in
shared/audit_sinks.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge, Histogram
from tornado.web import Application, RequestHandler

from shared.byte_counts import ByteCounts
from shared.probes import HealthHandler, MetricsHandler

SESSIONS_OPEN = Gauge("dterm_worker_sessions_open", "Sessions running on this host")
SESSIONS_HELD = Gauge(
    "dterm_worker_sessions_held",
    "Sessions this host holds: running, or ended and kept for their owner until the grace ends",
)
SESSIONS_OPENED = Counter("dterm_worker_sessions_opened_total", "Sessions started")
SESSIONS_CLOSED = Counter(
    "dterm_worker_sessions_closed_total", "Sessions ended, by reason", ["reason"]
)
BYTES = ByteCounts("dterm_worker_bytes_total", "Terminal bytes, by direction")
OPEN_SECONDS = Histogram(
    "dterm_worker_open_seconds",
    "From an open request to the exec running",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LOG_STREAMS = Gauge("dterm_worker_log_streams", "Container logs streams being served")
LOG_STREAMS_CUT = Counter(
    "dterm_worker_log_streams_cut_total",
    "Logs streams refused or cut short, by error code (timeout: a reader that did not keep up)",
    ["code"],
)
DOCKER_ERRORS = Counter("dterm_worker_docker_errors_total", "Failed Docker API calls", ["call"])
RECORDINGS_REMOVED = Counter(
    "dterm_worker_recordings_removed_total",
    "Recordings removed: past the retention (age) or to stay within the disk budget",
    ["why"],
)
UPLOAD_FAILURES = Counter(
    "dterm_recordings_upload_failures_total",
    "Uploads of recordings to the bucket that failed (each is tried again later)",
)
UPLOADS_PENDING = Gauge(
    "dterm_recordings_upload_pending",
    "Finished recordings on this host not yet confirmed in the bucket",
)
UPLOADED = Counter("dterm_recordings_uploaded_total", "Recordings uploaded and confirmed")
STORAGE_READ_FAILURES = Counter(
    "dterm_recordings_storage_read_failures_total",
    "Listings and plays of recordings in the bucket that failed",
)
FRONTENDS = Gauge("dterm_worker_frontends", "Front ends heard from lately")
UPLOADS = Gauge("dterm_worker_uploads", "Uploads receiving data on this host")
UPLOAD_SPOOL_BYTES = Gauge(
    "dterm_worker_upload_spool_bytes", "Bytes of uploads held in spools (memory or disk)"
)
LINK_REFUSALS = Counter(
    "dterm_worker_link_refusals_total",
    "ZeroMQ peers refused: unknown-key (CurveZMQ key not allowed) or handshake (no CurveZMQ, "
    "wrong worker key, not ZeroMQ)",
    ["reason"],
)

READY_TIMEOUT = 3.0


class ReadyHandler(RequestHandler):
    def initialize(self, probe: Callable[[], Awaitable[object]]) -> None:
        self.probe = probe

    async def get(self) -> None:
        try:
            await asyncio.wait_for(self.probe(), READY_TIMEOUT)
        except Exception as exc:  # any failure means: not ready
            self.set_status(503)
            self.finish({"status": "not ready", "reason": f"Docker does not answer: {exc}"})
            return
        self.finish({"status": "ready"})


def make_app(probe: Callable[[], Awaitable[object]], metrics_token: str) -> Application:
    tokens = (metrics_token,) if metrics_token else ()
    return Application(
        [
            (r"/metrics", MetricsHandler, {"tokens": tokens}),
            (r"/healthz", HealthHandler),
            (r"/readyz", ReadyHandler, {"probe": probe}),
        ]
    )
