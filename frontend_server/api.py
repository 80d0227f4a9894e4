"""REST handlers: the page, sign-in by dev token, hosts, containers and sessions as JSON.

Handlers only read the pool and shape JSON; they hold no state of their own.
Every /api/ handler needs a signed-in person unless it says `public = True`, and
every container list is cut down to what that person may see.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tornado.web import RequestHandler

from frontend_server.auth import DEV_USER, client_address
from frontend_server.context import Services
from frontend_server.http_server import lift_body_timeout
from frontend_server.metrics import SIGN_INS
from frontend_server.policy import FileRight, Observe, Person
from frontend_server.pool import WorkerPool
from frontend_server.pool_events import HostStatus
from frontend_server.services import service_json
from frontend_server.worker_link import WorkerLink
from shared.errors import DtermError, ProtocolError
from shared.messages import ContainerInfo, SessionInfo

Visible = Callable[[str, ContainerInfo], bool]
Shown = Callable[[str], bool]
"""Whether a person is shown a host (by name)."""
FilesOffered = Callable[[str, ContainerInfo], FileRight]
Observed = Callable[[str, ContainerInfo], Observe]
HOST_KEY_SECRET = secrets.token_bytes(16)


@dataclass(frozen=True, slots=True)
class View:
    """What one person is shown: which containers, which hosts, what they may do
    with files in each container and what they may observe of it (logs, stats)."""

    visible: Visible
    shown: Shown
    files: FilesOffered
    pool: WorkerPool
    observe: Observed = lambda host, info: Observe.NONE

    def counts(self, host: str) -> tuple[int, int]:
        """(containers, running ones) of a host, counting only those this person sees:
        the host's own totals would tell of containers hidden from them."""
        for status, listed in self.pool.containers():
            if status.host == host:
                seen = [c for c in listed if self.visible(host, c)]
                return len(seen), sum(1 for c in seen if c.state == "running")
        return 0, 0

    def host(self, status: HostStatus) -> dict[str, Any]:
        return host_json(status, self.counts(status.host) if status.up else None)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def host_key(endpoint: str) -> str:
    """An opaque name of a worker link, stable while this process runs: the page tells
    hosts apart by it (a host not reached yet has no name) without learning where
    the worker listens."""
    return hmac.new(HOST_KEY_SECRET, endpoint.encode(), "sha256").hexdigest()[:16]


def host_json(status: HostStatus, counts: tuple[int, int] | None) -> dict[str, Any]:
    """A host as the page sees it; `counts`: its containers and running ones as far as
    the person may see them (None while it is down)."""
    facts = status.facts
    problem = facts.docker_problem if facts and status.up else ""
    down_why = status.problem or "its worker does not answer"
    return {
        "host": status.host,
        "id": host_key(status.endpoint),
        "state": "up" if status.up and not problem else "down",
        "reason": problem or (None if status.up else down_why),
        "since": _iso(status.since),
        "engine": facts.engine if facts else None,
        "docker_version": facts.docker_version if facts else None,
        "api_version": facts.api_version if facts else None,
        "containers": counts[0] if counts else None,
        "running": counts[1] if counts else None,
    }


def container_json(
    host: str, c: ContainerInfo, files: FileRight, observe: Observe = Observe.NONE
) -> dict[str, Any]:
    """A container as the page sees it; `files`: what the person may do with files
    there (as some user the policy allows them); `observe`: whether they may see its
    logs (and stats), or its stats only."""
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
        "service": service_json(c.labels),
        "files": files.name.lower(),
        "observe": observe.name.lower(),
    }


def session_json(host: str, s: SessionInfo) -> dict[str, Any]:
    return {
        "session": s.session,
        "host": host,
        "container": s.container,
        "command": s.cmd or ["sh"],
        "cmd": s.cmd,
        "user": s.user,
        "workdir": s.workdir,
        "started": s.started,
        "attached": s.attached,
        "watchers": s.watchers,
        "tty": s.tty,
    }


def containers_json(
    pool: WorkerPool, view: View
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Visible containers of every up host, and an error entry for every shown host
    that is down."""
    containers: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for status, listed in pool.containers():
        if not status.up and view.shown(status.host):
            name = status.host or "a worker not reached yet"
            errors.append({"host": name, "code": "unavailable", "message": f"{name} is down"})
        containers += [
            container_json(status.host, c, view.files(status.host, c), view.observe(status.host, c))
            for c in listed
            if view.visible(status.host, c)
        ]
    return containers, errors


class BaseHandler(RequestHandler):
    public = False
    """True for handlers that answer without a signed-in person."""

    def initialize(self, services: Services) -> None:
        self.services = services
        self.pool = services.pool
        self.auth = services.auth
        self.audit = services.audit
        self.throttle = services.throttle

    def get_current_user(self) -> Person | None:
        return self.auth.person_of(self)

    @property
    def person(self) -> Person | None:
        person: Person | None = self.current_user
        return person

    @property
    def client_address(self) -> str:
        return client_address(self, self.auth)

    def whole_number(self, name: str, default: int) -> int:
        """A query argument that is a whole number, 0 or more, in ASCII digits (isdigit()
        alone takes "²", which int() refuses, and "٣"); ProtocolError if not."""
        text = self.get_query_argument(name, "") or str(default)
        if not (text.isascii() and text.isdigit()) or len(text) > 15:
            raise ProtocolError(f"{name}: a whole number, 0 or more, not {text!r}")
        return int(text)

    def link_for(self, host: str | None, action: str) -> WorkerLink:
        """The link of a host the signed-in person may use (Guard.link)."""
        assert self.person is not None
        return self.services.guard.link(self.person, self.pool, host, self.client_address, action)

    def view_of(self, person: Person) -> View:
        guard = self.services.guard
        return View(
            lambda host, info: guard.visible(person, host, info),
            lambda host: guard.policy.may_use_host(person, host),
            lambda host, info: guard.files_offered(person, host, info),
            self.pool,
            lambda host, info: guard.observed(person, host, info),
        )

    def check_xsrf_cookie(self) -> None:
        """Bearer requests carry no cookie, so they cannot be forged cross-site."""
        if not self.request.headers.get("Authorization", "").startswith("Bearer "):
            super().check_xsrf_cookie()

    def write_json(self, body: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors of the API are JSON too (a missing query argument, say)."""
        if not self.request.path.startswith("/api/"):
            super().write_error(status_code, **kwargs)
            return
        message = self._reason
        exc_info = kwargs.get("exc_info")
        if exc_info and hasattr(exc_info[1], "log_message") and exc_info[1].log_message:
            message = exc_info[1].log_message % exc_info[1].args
        self.finish(json.dumps({"error": "bad_request" if status_code == 400 else "internal",
                                "message": message}))  # fmt: skip

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """The _xsrf cookie is Secure on the terms of the login cookie (auth.sign_in)."""
        if name == "_xsrf":
            kwargs["secure"] = self.auth.over_tls(self)
        super().set_cookie(name, value, *args, **kwargs)

    def prepare(self) -> Awaitable[None] | None:
        if getattr(self, "_stream_request_body", False):
            lift_body_timeout(self)  # uploads take as long as they take
        if not self.public and self.request.path.startswith("/api/") and not self.person:
            self.write_json({"error": "unauthorized", "message": "sign in first"}, 401)
        return None


class PageHandler(BaseHandler):
    """The page; `?token=` signs in with the dev token once and redirects to a clean URL."""

    public = True

    def get(self) -> None:
        token = self.get_query_argument("token", None)
        if token is not None:
            address = self.client_address
            if self.throttle.begin(address, None) <= 0 and self.auth.accepts_dev_token(token):
                self.throttle.succeeded(address, None)
                SIGN_INS.labels("ok").inc()
                self.auth.sign_in(self, Person(DEV_USER), "token")
                self.audit.record(
                    "sign-in", user=DEV_USER, address=address, ok=True, method="token"
                )
                self.redirect("/")
                return
            SIGN_INS.labels("failed").inc()
            self.audit.record("sign-in", user=None, address=address, ok=False, method="token")
            self.set_status(403)
        _ = self.xsrf_token  # sets the _xsrf cookie the page sends back on POSTs
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((self.services.web_root / "index.html").read_bytes())


class HostsHandler(BaseHandler):
    """The hosts the person may use (by the policy's host globs), never where workers listen."""

    def get(self) -> None:
        assert self.person is not None
        view = self.view_of(self.person)
        hosts = [view.host(s) for s in self.pool.statuses() if view.shown(s.host)]
        self.write_json({"hosts": hosts})


class ContainersHandler(BaseHandler):
    def get(self) -> None:
        assert self.person is not None
        containers, errors = containers_json(self.pool, self.view_of(self.person))
        self.write_json({"containers": containers, "errors": errors})


class SessionsHandler(BaseHandler):
    """The signed-in person's running sessions on every up host they are shown, to offer
    reattaching (a host the policy no longer names for them is neither asked nor named)."""

    async def get(self) -> None:
        assert self.person is not None
        view = self.view_of(self.person)
        links = [link for link in self.pool.links if link.up and view.shown(link.host or "")]
        results = await asyncio.gather(
            *(link.list_sessions(self.person.name) for link in links), return_exceptions=True
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
