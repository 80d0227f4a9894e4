"""Prometheus metrics of a front end: declared here, counted where things happen.

The audit sinks' metrics (dterm_audit_*, alike in both processes) are declared in
shared/audit_sinks.py.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.byte_counts import ByteCounts

CONNECTIONS = Gauge("dterm_frontend_connections_open", "Terminal WebSockets open")
SESSIONS_OPEN = Gauge("dterm_frontend_sessions_open", "Connections taking part in a session")
SESSIONS_OPENED = Counter(
    "dterm_frontend_sessions_opened_total", "Sessions opened or joined, by mode", ["mode"]
)
SESSIONS_CLOSED = Counter(
    "dterm_frontend_sessions_closed_total", "Sessions that ended, by reason", ["reason"]
)
BYTES = ByteCounts("dterm_frontend_bytes_total", "Terminal bytes, by direction")
OPEN_SECONDS = Histogram(
    "dterm_frontend_open_seconds",
    "From an open request to the session running, as the front end sees it",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KEYSTROKE_SECONDS = Histogram(
    "dterm_frontend_keystroke_seconds",
    "From keystrokes passed to the worker to the next output coming back",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
WORKERS = Gauge("dterm_frontend_workers", "Workers known, by state", ["state"])
RECONNECTS = Counter(
    "dterm_frontend_worker_reconnects_total", "ZeroMQ connections to workers made again"
)
SIGN_INS = Counter("dterm_frontend_sign_ins_total", "Sign-in attempts, by result", ["result"])
DENIALS = Counter("dterm_frontend_denials_total", "Requests the policy refused")
HTTP_CONNECTIONS = Gauge(
    "dterm_frontend_http_connections_open", "HTTP connections open (not upgraded WebSockets)"
)
HTTP_SHED = Counter(
    "dterm_frontend_http_connections_shed_total",
    "Connections closed to keep under the cap: the oldest waiting for a request "
    "(evicted) or the new one (refused)",
    ["how"],
)
ACCEPT_PAUSES = Counter(
    "dterm_frontend_accept_pauses_total",
    "Pauses of accepting connections because descriptors ran out (EMFILE, ENFILE)",
)
