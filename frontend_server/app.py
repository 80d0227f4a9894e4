"""make_app(): the Tornado application of a front end. Routes are at the bottom."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from tornado.web import Application, StaticFileHandler

from frontend_server.api import ContainersHandler, HostsHandler, PageHandler, SessionsHandler
from frontend_server.context import Services
from frontend_server.events import EventsHandler
from frontend_server.files_api import FilesHandler
from frontend_server.health import ReadyHandler, count_workers
from frontend_server.login import AuthInfoHandler, LoginHandler, LogoutHandler
from frontend_server.observe_api import LogsHandler, StatsHandler
from frontend_server.oidc_login import OidcCallbackHandler, OidcLoginHandler
from frontend_server.recordings_api import RecordingFileHandler, RecordingsHandler
from frontend_server.services_api import ReplicaHandler
from frontend_server.terminal_socket import TerminalSocket
from frontend_server.web_security import (
    CheckedApplication,
    HostCheck,
    log_request,
    page_policy,
    redact_tornado_logs,
    security_headers,
)
from shared.probes import HealthHandler, MetricsHandler
from shared.settings import FrontendConfig

INSTALLED_WEB_ROOT = Path(__file__).resolve().parent / "web"
"""Where an installed package holds the page (pyproject.toml puts web/ there)."""
CHECKOUT_WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
"""The page in a checkout of the repository, beside the packages."""


def web_root(configured: str) -> Path:
    """The configured folder, else the installed page, else the checkout's."""
    if configured:
        return Path(configured)
    if (INSTALLED_WEB_ROOT / "src" / "index.html").is_file():
        return INSTALLED_WEB_ROOT
    return CHECKOUT_WEB_ROOT


def make_app(services: Services, cookie_secret: str) -> Application:
    config = services.config
    root = web_root(config.web_root)
    handlers: dict[str, Any] = {"services": services}
    routes: list[Any] = [
        (r"/", PageHandler, handlers),
        (r"/login", LoginHandler, handlers),
        (r"/logout", LogoutHandler, handlers),
        (r"/oidc/login", OidcLoginHandler, handlers),
        (r"/oidc/callback", OidcCallbackHandler, handlers),
        (r"/api/auth", AuthInfoHandler, handlers),
        (r"/api/hosts", HostsHandler, handlers),
        (r"/api/containers", ContainersHandler, handlers),
        (r"/api/events", EventsHandler, handlers),
        (r"/api/sessions", SessionsHandler, handlers),
        (r"/api/replica", ReplicaHandler, handlers),
        (r"/api/files", FilesHandler, handlers),
        (r"/api/containers/([^/]+)/([^/]+)/logs", LogsHandler, handlers),
        (r"/api/containers/([^/]+)/([^/]+)/stats", StatsHandler, handlers),
        (r"/api/recordings", RecordingsHandler, handlers),
        (r"/api/recordings/([^/]+)/([^/]+\.cast)", RecordingFileHandler, handlers),
        (r"/ws/exec", TerminalSocket, handlers),
        (
            r"/metrics",
            MetricsHandler,
            {"refresh": partial(count_workers, services.pool), "tokens": metrics_tokens(config)},
        ),
        (r"/healthz", HealthHandler),
        (r"/readyz", ReadyHandler, {"pool": services.pool}),
        (r"/static/(.*)", StaticFileHandler, {"path": str(root / "src")}),
        (
            r"/vendor/asciinema-player/(.*)",
            StaticFileHandler,
            {"path": str(root / "node_modules" / "asciinema-player")},
        ),
        (r"/vendor/(.*)", StaticFileHandler, {"path": str(root / "node_modules" / "@xterm")}),
    ]
    redact_tornado_logs()
    return CheckedApplication(
        routes,
        transforms=[security_headers(page_policy(services.web_root / "index.html"))],
        cookie_secret=cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Strict"},
        log_function=log_request,
        host_check=HostCheck.of(config.address, config.allowed_hosts),
    )


def metrics_tokens(config: FrontendConfig) -> tuple[str, ...]:
    """Who may read /metrics: the metrics token, else the dev token, else nobody."""
    if config.metrics_token:
        return (config.metrics_token,)
    return (config.token,) if config.token else ()
