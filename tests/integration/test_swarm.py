"""Swarm mode for real: a daemon of its own (swarm init changes a daemon for every
test using it) becomes a one-node swarm advertised on loopback, a stack from
tests/compose/mart-stack.yml runs a service with two replicas; both are listed under
the service, a shell opens in each, and scaling the service changes the live list."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker
import pytest

from tests.support.compose import FILES, docker_cli, free_port
from tests.support.daemons import ExtraDaemon
from tests.support.events_client import EventStream
from tests.support.http import get_json, wait_hosts_up
from tests.support.processes import start_frontend, start_worker
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import eventually, wait_until

HOST = "swarm-host"
STACK = "mart"


@dataclass
class Swarm:
    daemon: ExtraDaemon
    stack: Stack

    def replicas(self) -> list[dict[str, Any]]:
        listed = get_json(self.stack, "/api/containers")["containers"]
        running = [c for c in listed if c["state"] == "running"]
        ours = [c for c in running if (c["service"] or {}).get("stack") == STACK]
        return sorted(ours, key=lambda c: c["service"]["replica"])

    def scale(self, replicas: int) -> None:
        docker_cli(self.daemon.url, "service", "scale", "--detach", f"{STACK}_api={replicas}")


def leave(client: docker.DockerClient) -> None:
    """Leave the swarm and remove the bridge it made, so the host keeps nothing."""
    with contextlib.suppress(docker.errors.APIError):
        client.swarm.leave(force=True)
    with contextlib.suppress(docker.errors.APIError):
        client.networks.get("docker_gwbridge").remove()


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    daemon = ExtraDaemon("swarm")
    try:
        port = free_port()  # not 2377 on every address: other daemons may run here
        address = f"127.0.0.1:{port}"
        daemon.client.swarm.init(
            advertise_addr=address, listen_addr=address, data_path_port=free_port(below=49152)
        )
        docker_cli(
            daemon.url, "stack", "deploy", "--compose-file", str(FILES / "mart-stack.yml"), STACK
        )
        worker = start_worker(HOST, docker_url=daemon.url)
        frontend = start_frontend([worker.match["endpoint"]])
        stack = Stack(frontend.match["url"])
        wait_hosts_up(stack, {HOST})
        found = Swarm(daemon, stack)
        wait_until(lambda: len(found.replicas()) == 2, 60, "two replicas of the service running")
        yield found
        frontend.stop()
        worker.stop()
        docker_cli(daemon.url, "stack", "rm", STACK)
    finally:
        leave(daemon.client)
        daemon.stop()


def test_both_replicas_are_listed_under_the_service(swarm: Swarm) -> None:
    """Each task's container names its stack, its service and its slot."""
    assert [c["service"] for c in swarm.replicas()] == [
        {"kind": "swarm", "stack": STACK, "service": f"{STACK}_api", "replica": n} for n in (1, 2)
    ]


async def test_a_shell_opens_in_each_replica(swarm: Swarm) -> None:
    """Each replica opens by its container name; the stack's service opens in replica 1,
    named by stack and short name or by its full name."""
    replicas = swarm.replicas()
    for container in replicas:
        terminal = await TerminalClient.connect(swarm.stack)
        try:
            await terminal.open(container["name"], HOST)
            await terminal.expect(PROMPT)
            assert (await terminal.run("cat /etc/hostname")).strip() == container["id"][
                :12
            ].encode()
        finally:
            await terminal.close()
    for named in ({"stack": STACK, "service": "api"}, {"service": f"{STACK}_api"}):
        terminal = await TerminalClient.connect(swarm.stack)
        try:
            start = len(terminal.controls)
            terminal.send_control({"type": "open", **named})
            opened = await terminal.next_control("opened", 20, start)
            assert opened["container"] == replicas[0]["name"], (named, terminal.controls)
        finally:
            await terminal.close()


def stopped_since(events: EventStream, mark: int, container_id: str) -> Any:
    """A check: since event number `mark`, that container was reported stopped or gone
    (earlier events do not count: a replica's creation says "not running" too)."""

    def check() -> bool:
        return any(
            name == "container"
            and data["id"] == container_id
            and (data["container"] is None or data["container"]["state"] != "running")
            for _, name, data in events.events[mark:]
        )

    return check


async def test_scaling_updates_the_live_list(swarm: Swarm) -> None:
    """Scaling up to three replicas and down to one shows in the event stream as it
    happens, each replica under the service."""
    events = EventStream(swarm.stack)
    try:
        await events.wait_for(lambda name, _: name == "snapshot", 10, "the snapshot")
        swarm.scale(3)

        def third(name: str, data: Any) -> bool:
            c = data.get("container") if name == "container" else None
            if not c or c["state"] != "running" or not c["service"]:
                return False
            return (c["service"]["service"], c["service"]["replica"]) == (f"{STACK}_api", 3)

        await events.wait_for(third, 60, "replica 3 running")
        replicas = swarm.replicas()
        assert [c["service"]["replica"] for c in replicas] == [1, 2, 3]
        mark = len(events.events)
        swarm.scale(1)
        for gone in replicas[1:]:
            check = stopped_since(events, mark, gone["id"])
            await eventually(check, 60, f"{gone['name']} stopped")
        assert [c["service"]["replica"] for c in swarm.replicas()] == [1]
    finally:
        events.close()
