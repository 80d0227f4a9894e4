"""GET /api/replica: which running replica of a service a shell would open in.

The HTTP side of opening by service, for scripts and links: it names the replica
the WebSocket's `open` with the same `service` and `project` (or `stack`) would
choose now for the person's shell (as `user`), and every running replica they may
see, so a client can pick another by its container name. Refusals are the ones
`open` gives, with their HTTP status; the audit log records them the same way.
"""

from __future__ import annotations

from typing import Any

from frontend_server.api import BaseHandler
from frontend_server.files_api import HTTP_STATUS
from frontend_server.guard import replicas
from frontend_server.services import query_of, replica_of, service_json
from shared.errors import DtermError, ProtocolError


class ReplicaHandler(BaseHandler):
    def get(self) -> None:
        person = self.person
        assert person is not None
        arg = self.get_query_argument
        try:
            try:
                query = query_of({k: arg(k, None) for k in ("service", "project", "stack")})
            except ValueError as exc:
                raise ProtocolError(str(exc)) from None
            if query is None:
                raise ProtocolError("name a service (service, with project or stack)")
            found = replicas(self.pool.links, query, arg("host", None))
            user = arg("user", None) or None
            link, grant = self.services.guard.for_service(
                person, found, query, None, user, self.client_address
            )
        except DtermError as exc:
            self.write_json({"error": exc.code.value, "message": str(exc)},
                            HTTP_STATUS.get(exc.code, 500))  # fmt: skip
            return
        guard = self.services.guard
        running = [
            {"host": link.host, "container": info.name, "id": info.id,
             "replica": replica_of(info.labels)}
            for link, info in found
            if info.state == "running" and guard.visible(person, link.host or "", info)
        ]  # fmt: skip
        chosen = grant.container
        body: dict[str, Any] = {
            "host": link.host,
            "container": chosen.name,
            "id": chosen.id,
            "service": service_json(chosen.labels),
            "replicas": running,
        }
        self.write_json(body)
