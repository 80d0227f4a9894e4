"""REST handlers: the page, sign-in by token, hosts and containers as JSON.

Handlers only read the pool and shape JSON; they hold no state of their own.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tornado.web import RequestHandler

from frontend_server.auth import DEV_USER, TokenAuth
from frontend_server.pool import WorkerPool
from frontend_server.workers import HostStatus
from shared.errors import DtermError
from shared.protocol import ContainerInfo, SessionInfo


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def host_json(status: HostStatus) -> dict[str, Any]:
    facts = status.facts
    return {
        "host": status.host,
        "endpoint": status.endpoint,
        "state": "up" if status.up else "down",
        "since": _iso(status.since),
        "docker_version": facts.docker_version if facts else None,
        "api_version": facts.api_version if facts else None,
        "containers": facts.containers if facts else None,
        "running": facts.running if facts else None,
    }


def container_json(host: str, c: ContainerInfo) -> dict[str, Any]:
    return {
        "host": host,
        "id": c.id,
        "name": c.name,
        "image": c.image,
        "state": c.state,
        "created": c.created,
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "exit_code": c.exit_code,
        "labels": c.labels,
    }


def session_json(host: str, s: SessionInfo) -> dict[str, Any]:
    return {
        "session": s.session,
        "host": host,
        "container": s.container,
        "command": s.command,
        "started": s.started,
        "attached": s.attached,
        "watchers": s.watchers,
    }


def containers_json(pool: WorkerPool) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Containers of every up host, and an error entry for every host that is down."""
    containers: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for status, listed in pool.containers():
        if not status.up:
            name = status.host or status.endpoint
            errors.append({"host": name, "code": "unavailable", "message": f"{name} is down"})
        containers += [container_json(status.host, c) for c in listed]
    return containers, errors


class BaseHandler(RequestHandler):
    def initialize(self, pool: WorkerPool, auth: TokenAuth, web_root: Path) -> None:
        self.pool = pool
        self.auth = auth
        self.web_root = web_root

    def get_current_user(self) -> str | None:
        return self.auth.user_of(self)

    def write_json(self, body: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def prepare(self) -> None:
        if self.request.path.startswith("/api/") and not self.current_user:
            self.write_json({"error": "unauthorized", "message": "sign in first"}, 401)


class PageHandler(BaseHandler):
    """The page; `?token=` signs in once and redirects to a clean URL."""

    def get(self) -> None:
        token = self.get_query_argument("token", None)
        if token is not None:
            if self.auth.accepts(token):
                self.auth.sign_in(self, DEV_USER)
                self.redirect("/")
                return
            self.set_status(403)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((self.web_root / "index.html").read_bytes())


class HostsHandler(BaseHandler):
    def get(self) -> None:
        self.write_json({"hosts": [host_json(s) for s in self.pool.statuses()]})


class SessionsHandler(BaseHandler):
    """The signed-in person's running sessions on every up host, to offer reattaching."""

    async def get(self) -> None:
        person = self.current_user or ""
        links = [link for link in self.pool.links if link.up]
        results = await asyncio.gather(
            *(link.list_sessions(person) for link in links), return_exceptions=True
        )
        sessions: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for link, result in zip(links, results, strict=True):
            if isinstance(result, DtermError):
                errors.append(
                    {"host": link.host or "", "code": result.code.value, "message": str(result)}
                )
            elif isinstance(result, BaseException):
                raise result
            else:
                sessions += [session_json(link.host or "", s) for s in result]
        self.write_json({"sessions": sessions, "errors": errors})


class ContainersHandler(BaseHandler):
    def get(self) -> None:
        containers, errors = containers_json(self.pool)
        self.write_json({"containers": containers, "errors": errors})
