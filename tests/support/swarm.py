"""A one-node Swarm for real, on a daemon of its own (`swarm init` changes a daemon for
every test using it), advertised on loopback, running the stack of
tests/compose/mart-stack.yml (a service with two replicas), with a worker and a front
end of its own. Leaving it removes the swarm and the bridge it made.

A swarm keeps adding links and addresses to the host (its bridge, each task's veth,
and their IPv6 link-local addresses a second or two later) after its tasks run, and
Chromium aborts the requests under way on each such change
(net::ERR_NETWORK_CHANGED): a page loaded then may miss a module. So the swarm is
ready once the host's links and addresses have stayed the same for QUIET_SECONDS."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker

from tests.support.compose import FILES, docker_cli, free_port
from tests.support.daemons import ExtraDaemon
from tests.support.http import get_json, wait_hosts_up
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until

HOST = "swarm-host"
STACK = "mart"
SERVICE = f"{STACK}_api"
QUIET_SECONDS = 3.0


def running_replicas(stack: Stack, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The stack's running replicas as this front end lists them (to whoever `headers`
    sign in), by number."""
    listed = get_json(stack, "/api/containers", headers=headers)["containers"]
    running = [c for c in listed if c["state"] == "running"]
    ours = [c for c in running if (c["service"] or {}).get("stack") == STACK]
    return sorted(ours, key=lambda c: c["service"]["replica"])


@dataclass
class Swarm:
    daemon: ExtraDaemon
    worker: ManagedProcess
    stack: Stack

    def replicas(self) -> list[dict[str, Any]]:
        return running_replicas(self.stack)

    def scale(self, replicas: int) -> None:
        docker_cli(self.daemon.url, "service", "scale", "--detach", f"{SERVICE}={replicas}")


def network_settled() -> Callable[[], bool]:
    """A check: the host's links and addresses are what they were QUIET_SECONDS ago."""
    seen, since = "", 0.0

    def check() -> bool:
        nonlocal seen, since
        state = "".join(
            subprocess.run(["ip", "-o", what], capture_output=True, text=True, check=True).stdout
            for what in ("addr", "link")
        )
        if state != seen:
            seen, since = state, time.monotonic()
            return False
        return time.monotonic() - since >= QUIET_SECONDS

    return check


def _leave(client: docker.DockerClient) -> None:
    with contextlib.suppress(docker.errors.APIError):
        client.swarm.leave(force=True)
    with contextlib.suppress(docker.errors.APIError):
        client.networks.get("docker_gwbridge").remove()


@contextlib.contextmanager
def running_swarm(host: str = HOST) -> Iterator[Swarm]:
    """The swarm, its stack's two replicas running, and a stack whose worker is `host`."""
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
        worker = start_worker(host, docker_url=daemon.url)
        frontend = start_frontend([worker.match["endpoint"]])
        try:
            stack = Stack(frontend.match["url"], host=host)
            wait_hosts_up(stack, {host})
            found = Swarm(daemon, worker, stack)
            wait_until(
                lambda: len(found.replicas()) == 2, 60, "two replicas of the service running"
            )
            wait_until(network_settled(), 30, "the host's links and addresses to settle")
            yield found
        finally:
            frontend.stop()
            worker.stop()
            docker_cli(daemon.url, "stack", "rm", STACK)
    finally:
        _leave(daemon.client)
        daemon.stop()
