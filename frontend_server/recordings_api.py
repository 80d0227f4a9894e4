"""GET /api/recordings (the list) and /api/recordings/<host>/<name> (one file).

Recordings live on each worker's host; the front end asks the workers and streams
files through, so no shared disk is needed. Who may list and play them is the
policy's `recordings` setting of the person's roles: none, their own, or all.

    GET /api/recordings?host=H&person=P&container=C&since=T&until=T&session=S
    GET /api/recordings/<host>/<name>            the .cast file, for the player
    GET /api/recordings/<host>/<name>?download=1 the same, as a download
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from frontend_server.api import BaseHandler
from frontend_server.files_api import Transfer, stream_transfer
from frontend_server.policy import Replays
from frontend_server.worker_link import WorkerLink
from shared.errors import DtermError, Forbidden, NotFound
from shared.transfer_messages import (
    FetchRecording,
    FileOpened,
    ListRecordings,
    RecordingEntry,
    RecordingsListed,
)


def recording_json(host: str, entry: RecordingEntry) -> dict[str, Any]:
    return {
        "host": host,
        "name": entry.name,
        "size": entry.size,
        "started": entry.started,
        "person": entry.person,
        "container": entry.container,
        "session": entry.session,
        "part": entry.part,
        "duration": None if entry.duration_ms < 0 else entry.duration_ms / 1000,
    }


async def list_on(link: WorkerLink, person: str, container: str, since: int, until: int,
                  name: str = "", session: str = "") -> list[RecordingEntry]:  # fmt: skip
    request = secrets.token_hex(8)
    query = ListRecordings(request=request, person=person, container=container, since=since,
                           until=until, name=name, session=session)  # fmt: skip
    reply = await link.request(query, request)
    assert isinstance(reply, RecordingsListed)
    return reply.recordings


class RecordingsBase(BaseHandler):
    def whose(self) -> str:
        """Whose recordings this person may see: "" for everyone's, else their own name."""
        assert self.person is not None
        replays = self.services.guard.policy.replays(self.person)
        if replays is Replays.NONE:
            raise Forbidden(f"{self.person.name} may not see recordings")
        return "" if replays is Replays.ALL else self.person.name

    def record(self, event: str, ok: bool, **details: object) -> None:
        """Who looked at which recordings, from where: listing and playing are audited."""
        assert self.person is not None
        self.audit.record(event, user=self.person.name, address=self.client_address, ok=ok,
                          **details)  # fmt: skip

    def fail(self, error: DtermError, event: str, **details: object) -> None:
        self.record(event, False, reason=str(error), **details)
        status = {"forbidden": 403, "not_found": 404, "unavailable": 503}.get(error.code.value, 400)
        self.write_json({"error": error.code.value, "message": str(error)}, status)


class RecordingsHandler(RecordingsBase):
    async def get(self) -> None:
        try:
            mine = self.whose()
            since, until = self.whole_number("since", 0), self.whole_number("until", 0)
        except DtermError as exc:
            self.fail(exc, "recordings-list")
            return
        person = mine or self.get_query_argument("person", "")
        host = self.get_query_argument("host", "")
        links = [link for link in self.pool.links if link.up and host in ("", link.host)]
        args = (person, self.get_query_argument("container", ""), since, until, "",
                self.get_query_argument("session", ""))  # fmt: skip
        results = await asyncio.gather(*(list_on(link, *args) for link in links),
                                       return_exceptions=True)  # fmt: skip
        found: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for link, result in zip(links, results, strict=True):
            if isinstance(result, BaseException):
                errors.append({"host": link.host or "", "message": str(result)})
            else:
                found += [recording_json(link.host or "", entry) for entry in result]
        found.sort(key=lambda r: (r["started"], r["name"]), reverse=True)
        self.record("recordings-list", True, whose=person or "all", host=host, count=len(found))
        self.write_json({"recordings": found, "errors": errors})


class RecordingFileHandler(RecordingsBase):
    async def get(self, host: str, name: str) -> None:
        try:
            mine = self.whose()
            link = self.pool.link_for(host)
            if not await list_on(link, mine, "", 0, 0, name):
                raise NotFound(f"no recording {name} on host {host}")
            transfer = Transfer(link)
            link.send(FetchRecording(transfer.id, name))
            opened: FileOpened = await transfer.next(FileOpened)
        except DtermError as exc:
            self.fail(exc, "recording-play", host=host, name=name)
            return
        self.record("recording-play", True, host=host, name=name)
        self.set_header("Content-Type", "application/x-asciicast")
        if self.get_query_argument("download", ""):
            self.set_header("Content-Disposition", f'attachment; filename="{opened.name}"')
        self.set_header("Content-Length", str(opened.size))
        await stream_transfer(self, transfer)
