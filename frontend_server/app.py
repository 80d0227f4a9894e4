"""make_app(): the Tornado application of a front end. Routes are at the bottom."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tornado.web import Application, StaticFileHandler

from frontend_server.api import ContainersHandler, HostsHandler, PageHandler, SessionsHandler
from frontend_server.auth import TokenAuth
from frontend_server.events import EventsHandler
from frontend_server.pool import WorkerPool
from frontend_server.terminal_socket import TerminalSocket
from shared.config import FrontendConfig

DEFAULT_WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


def make_app(
    config: FrontendConfig, pool: WorkerPool, auth: TokenAuth, cookie_secret: str
) -> Application:
    web_root = Path(config.web_root) if config.web_root else DEFAULT_WEB_ROOT
    page: dict[str, Any] = {"pool": pool, "auth": auth, "web_root": web_root / "src"}
    socket: dict[str, Any] = {"pool": pool, "config": config, "auth": auth}
    routes: list[Any] = [
        (r"/", PageHandler, page),
        (r"/api/hosts", HostsHandler, page),
        (r"/api/containers", ContainersHandler, page),
        (r"/api/events", EventsHandler, page),
        (r"/api/sessions", SessionsHandler, page),
        (r"/ws/exec", TerminalSocket, socket),
        (r"/static/(.*)", StaticFileHandler, {"path": str(web_root / "src")}),
        (r"/vendor/(.*)", StaticFileHandler, {"path": str(web_root / "node_modules" / "@xterm")}),
    ]
    return Application(
        routes,
        cookie_secret=cookie_secret,
        websocket_ping_interval=config.ws_ping_interval,
        websocket_ping_timeout=config.ws_ping_timeout,
        websocket_max_message_size=4 * max(config.max_input_frame, config.max_control_frame),
    )
