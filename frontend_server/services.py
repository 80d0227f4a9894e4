"""Services: Compose projects and Swarm stacks, as containers' labels tell of them.

Compose labels each container with its project and service
(`com.docker.compose.project`, `com.docker.compose.service`) and its number among
the service's replicas; Swarm labels each task's container with its service
(`com.docker.swarm.service.name`, `stack_web` for service `web` of stack `stack`),
its stack when deployed as one (`com.docker.stack.namespace`) and its task name
(`stack_web.2.<task id>`: slot 2). A service is known by these labels only, so it
stays the same service when a redeploy replaces every container, and it may span
hosts. A person may name a service to open a shell in: a `ServiceQuery`, which
the front end resolves to one running replica.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
SWARM_STACK = "com.docker.stack.namespace"
SWARM_SERVICE = "com.docker.swarm.service.name"
SWARM_TASK = "com.docker.swarm.task.name"


class Kind(StrEnum):
    COMPOSE = "compose"
    SWARM = "swarm"

    @property
    def group_word(self) -> str:
        """What this kind calls a group of services."""
        return "project" if self is Kind.COMPOSE else "stack"


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """The service a container belongs to; `group` is the Compose project or the
    Swarm stack ("" for a Swarm service deployed outside any stack)."""

    kind: Kind
    group: str
    service: str


def service_of(labels: Mapping[str, str]) -> ServiceRef | None:
    """The container's service, or None for a container of no service."""
    if labels.get(SWARM_SERVICE):
        return ServiceRef(Kind.SWARM, labels.get(SWARM_STACK, ""), labels[SWARM_SERVICE])
    if labels.get(COMPOSE_PROJECT) and labels.get(COMPOSE_SERVICE):
        return ServiceRef(Kind.COMPOSE, labels[COMPOSE_PROJECT], labels[COMPOSE_SERVICE])
    return None


def replica_of(labels: Mapping[str, str]) -> int:
    """The replica's number within its service (Compose's container number, Swarm's
    task slot); 0 when the labels do not say (a global Swarm service, say)."""
    number = labels.get(COMPOSE_NUMBER, "")
    if SWARM_SERVICE in labels:
        parts = labels.get(SWARM_TASK, "").rsplit(".", 2)
        number = parts[1] if len(parts) == 3 else ""
    # isdigit() alone also takes digits int() refuses ("²"), and labels are anyone's
    return int(number) if number.isascii() and number.isdigit() and len(number) < 10 else 0


def service_json(labels: Mapping[str, str]) -> dict[str, Any] | None:
    """A container's service as the API tells of it, or None."""
    ref = service_of(labels)
    if ref is None:
        return None
    return {
        "kind": ref.kind.value,
        ref.kind.group_word: ref.group,
        "service": ref.service,
        "replica": replica_of(labels),
    }


@dataclass(frozen=True, slots=True)
class ServiceQuery:
    """A service as a person names it: a Compose service of a project, or a Swarm
    service by its full name, or by its short name within its stack."""

    kind: Kind
    group: str | None
    service: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        ref = service_of(labels)
        if ref is None or ref.kind is not self.kind:
            return False
        if self.kind is Kind.COMPOSE:
            return (ref.group, ref.service) == (self.group, self.service)
        if self.group is None:
            return ref.service == self.service
        names = (self.service, f"{self.group}_{self.service}")
        return ref.group == self.group and ref.service in names

    def __str__(self) -> str:
        if self.group is None:
            return f"swarm service {self.service}"
        return f"service {self.service} of {self.kind.group_word} {self.group}"

    def as_json(self) -> dict[str, str]:
        body = {"service": self.service}
        if self.group is not None:
            body[self.kind.group_word] = self.group
        return body


MAX_NAME = 256


def query_of(body: Mapping[str, Any]) -> ServiceQuery | None:
    """The service a request names (`service` with `project`, or with `stack`, or
    alone for a Swarm service by its full name), None when it names none; raises
    ValueError with a sentence when the names do not fit together."""
    service, project, stack = (body.get(k) for k in ("service", "project", "stack"))
    if service is None and project is None and stack is None:
        return None
    for key, value in (("service", service), ("project", project), ("stack", stack)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_NAME):
            raise ValueError(f"{key} must be a non-empty string of at most {MAX_NAME} characters")
    if service is None:
        raise ValueError("name the service to open (service), with its project or stack")
    if project is not None and stack is not None:
        raise ValueError("a service belongs to a Compose project or a Swarm stack, not both")
    if project is not None:
        return ServiceQuery(Kind.COMPOSE, project, service)
    return ServiceQuery(Kind.SWARM, stack, service)


def replica_order(host: str, name: str, labels: Mapping[str, str]) -> tuple[int, str, str]:
    """How replicas are tried: by number, then host and name, so the same one is
    chosen while it runs."""
    number = replica_of(labels)
    return (number if number > 0 else 1 << 30, host, name)
