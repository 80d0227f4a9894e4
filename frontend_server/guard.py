"""Guard: the policy applied to real containers, with every denial audited.

It finds the container a request names (by name, full id or a unique id prefix,
so a container is judged the same whichever way it is named), decides with the
policy, and answers `not_found` for containers the person may not even see, so
their existence does not leak. Pure decisions over the pool's container mirrors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from frontend_server.metrics import DENIALS
from frontend_server.policy import Access, FileRight, Observe, Person, Policy, Target
from frontend_server.services import ServiceQuery, replica_order
from frontend_server.worker_link import WorkerLink
from shared.audit import AuditLog
from shared.errors import Forbidden, NotFound, NotRunning
from shared.messages import ContainerInfo, RecordingPolicy

if TYPE_CHECKING:
    from frontend_server.pool import WorkerPool


@dataclass(frozen=True, slots=True)
class Grant:
    container: ContainerInfo
    recording: RecordingPolicy
    record_input: bool


Replica = tuple[WorkerLink, ContainerInfo]


def replicas(links: Iterable[WorkerLink], query: ServiceQuery, host: str | None) -> list[Replica]:
    """The service's containers on every usable host (or on `host` only), in the
    order they are tried."""
    found = [
        (link, info)
        for link in links
        if link.up and link.host and host in (None, link.host)
        and not (link.facts and link.facts.docker_problem)
        for info in link.containers.values()
        if query.matches(info.labels)
    ]  # fmt: skip
    return sorted(found, key=lambda r: replica_order(r[0].host or "", r[1].name, r[1].labels))


class Guard:
    def __init__(self, policy: Policy, audit: AuditLog) -> None:
        self.policy = policy
        self.audit = audit

    def access(self, person: Person, host: str, info: ContainerInfo) -> Access:
        return self.policy.access(person, Target(host, info.name, info.labels))

    def visible(self, person: Person, host: str, info: ContainerInfo) -> bool:
        return self.access(person, host, info) >= Access.RO

    def link(
        self, person: Person, pool: WorkerPool, host: str | None, address: str, action: str
    ) -> WorkerLink:
        """The link of a host this person may use. A host no rule of theirs names is
        one that does not exist for them, up or down (and audited: they named it)."""
        try:
            return pool.link_for(host, lambda name: self.policy.may_use_host(person, name))
        except NotFound:
            if host is not None and any(link.host == host for link in pool.links):
                self.deny(person, address, action, host, "", reason="hidden", hidden="host")
            raise

    def _seen(
        self, person: Person, link: WorkerLink, reference: str, address: str, action: str
    ) -> ContainerInfo:
        """The container, if the person may see it; one hidden from them is refused as
        if it did not exist (and audited: someone asked for it by name)."""
        info = link.find(reference)
        if info is not None and not self.visible(person, link.host or "", info):
            self.deny(person, address, action, link.host or "", info.name, reason="hidden")
            info = None
        if info is None:
            raise NotFound(f"no container {reference!r} on host {link.host}")
        return info

    def for_open(
        self,
        person: Person,
        link: WorkerLink,
        reference: str,
        cmd: list[str] | None,
        user: str | None,
        address: str,
    ) -> Grant:
        """The container to open a session in, if the policy allows this command there,
        and how the rule that allows it wants the session recorded."""
        info = self._seen(person, link, reference, address, "open")
        target = Target(link.host or "", info.name, info.labels)
        rule = self.policy.opening_rule(person, target, cmd, user)
        if rule is None:
            self.deny(person, address, "open", link.host or "", info.name, cmd=cmd, run_as=user)
            what = " ".join(cmd) if cmd else "a shell"
            raise Forbidden(
                f"the policy does not let {person.name} run {what} in {info.name}"
                + (f" as {user}" if user else "")
            )
        return Grant(info, rule.recording, rule.record_input)

    def for_service(
        self,
        person: Person,
        found: list[Replica],
        query: ServiceQuery,
        cmd: list[str] | None,
        user: str | None,
        address: str,
    ) -> tuple[WorkerLink, Grant]:
        """The first running replica of the service (`found`: its replicas in order)
        where the policy lets this person run this command; replicas hidden from them
        count as absent, as a container does."""
        seen = [(link, i) for link, i in found if self.visible(person, link.host or "", i)]
        if len(seen) < len(found):
            hidden = sorted({i.name for link, i in found if (link, i) not in seen})
            self.deny(person, address, "open", "", str(query), reason="hidden", replicas=hidden)
        if not seen:
            raise NotFound(f"no {query} on any host this person may use")
        running = [(link, i) for link, i in seen if i.state == "running"]
        if not running:
            raise NotRunning(f"{query} has no running replica ({len(seen)} stopped)")
        for link, info in running:
            target = Target(link.host or "", info.name, info.labels)
            rule = self.policy.opening_rule(person, target, cmd, user)
            if rule is not None:
                return link, Grant(info, rule.recording, rule.record_input)
        self.deny(person, address, "open", "", str(query), cmd=cmd, run_as=user,
                  replicas=[i.name for _, i in running])  # fmt: skip
        what = " ".join(cmd) if cmd else "a shell"
        raise Forbidden(
            f"the policy does not let {person.name} run {what} in any running replica of "
            f"{query}" + (f" as {user}" if user else "")
        )

    def for_files(
        self,
        person: Person,
        link: WorkerLink,
        reference: str,
        user: str | None,
        need: FileRight,
        address: str,
        path: str,
    ) -> ContainerInfo:
        """The container of a file transfer, if the policy lets this person download
        (or upload) there, acting as `user` (None: the container's default user)."""
        action, host = need.action, link.host or ""
        info = link.find(reference)
        if info is None or not self.visible(person, host, info):
            self.deny(person, address, action, host, reference, path=path, run_as=user,
                      reason="no such container, or not visible to them")  # fmt: skip
            raise NotFound(f"no container {reference!r} on host {link.host}")
        right = self.policy.file_right(person, Target(host, info.name, info.labels), user)
        if right < need:
            allowed = "no file transfers" if right is FileRight.NONE else "downloads only"
            self.deny(person, address, action, host, info.name, path=path, run_as=user,
                      reason=f"the policy allows {allowed}")  # fmt: skip
            verb = "upload files into" if need is FileRight.UPLOAD else "download files from"
            raise Forbidden(
                f"the policy does not let {person.name} {verb} {info.name}"
                + (f" as {user}" if user else "")
            )
        return info

    def for_observe(
        self, person: Person, link: WorkerLink, reference: str, need: Observe, address: str
    ) -> ContainerInfo:
        """The container whose logs (or stats) are asked for, if the policy lets this
        person see them; one they may not see at all is not found."""
        info = self._seen(person, link, reference, address, need.action)
        right = self.observed(person, link.host or "", info)
        if right < need:
            self.deny(person, address, need.action, link.host or "", info.name,
                      reason=f"the policy allows {right.name.lower()} of it")  # fmt: skip
            raise Forbidden(f"the policy does not let {person.name} see the {need.action} "
                            f"of {info.name}")  # fmt: skip
        return info

    def observed(self, person: Person, host: str, info: ContainerInfo) -> Observe:
        return self.policy.observe(person, Target(host, info.name, info.labels))

    def files_offered(self, person: Person, host: str, info: ContainerInfo) -> FileRight:
        return self.policy.files_offered(person, Target(host, info.name, info.labels))

    def for_join(
        self, person: Person, link: WorkerLink, container: str, mode: str, address: str
    ) -> None:
        """May this person resume (rw) or watch (ro) a session in this container?"""
        info = self._seen(person, link, container, address, f"attach-{mode}")
        needed = Access.RW if mode == "rw" else Access.RO
        if self.access(person, link.host or "", info) < needed:
            self.deny(person, address, f"attach-{mode}", link.host or "", info.name)
            raise Forbidden(
                f"the policy does not let {person.name} "
                f"{'use' if mode == 'rw' else 'watch'} sessions in {info.name}"
            )

    def deny(
        self,
        person: Person,
        address: str,
        action: str,
        host: str,
        container: str,
        **details: object,
    ) -> None:
        DENIALS.inc()
        self.audit.record(
            "denied",
            user=person.name,
            address=address,
            action=action,
            host=host,
            container=container,
            **details,
        )
