"""Compose projects for real: a project started with `docker-compose` from
tests/compose/shop.yml is grouped by project and service, opens by service in a
running replica (saying which), keeps opening by service after a redeploy, and the
policy's `compose` rules decide who sees and opens which service."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import PASSWORD, add_user
from tests.support.cli import Cli
from tests.support.compose import ComposeProject
from tests.support.http import call, cookie_of, sign_in, wait_hosts_up
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import wait_until

HOST = "compose-host"
POLICY = """
[[roles]]
users = ["admin"]
  [[roles.rules]]
  hosts = ["*"]

[[roles]]
users = ["alice"]
  [[roles.rules]]
  compose = {{ project = "{project}", service = "web" }}

[[roles]]
users = ["carol"]
  [[roles.rules]]
  compose = {{ project = "{project}" }}
  commands = ["echo *"]
"""


@dataclass
class Shop:
    project: ComposeProject
    stack: Stack
    headers: dict[str, dict[str, str]]
    frontend: ManagedProcess

    def containers(self, user: str = "admin") -> list[dict[str, Any]]:
        reply = call(self.stack, "/api/containers", headers=self.headers[user])
        return [
            c
            for c in reply.json()["containers"]
            if (c["service"] or {}).get("project") == self.project.name
        ]

    def running(self, service: str) -> list[dict[str, Any]]:
        return [
            c
            for c in self.containers()
            if c["service"]["service"] == service and c["state"] == "running"
        ]

    async def open(self, user: str, **fields: Any) -> tuple[TerminalClient, dict[str, Any]]:
        """A connection and the first `opened` or `error` answering an open by service."""
        terminal = await TerminalClient.connect(self.stack, token="", headers=self.headers[user])
        reply = await terminal.answer({"type": "open", "project": self.project.name, **fields})
        return terminal, reply


@pytest.fixture(scope="module")
def shop(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder: Path = tmp_path_factory.mktemp("compose")
    project = ComposeProject(f"dtermshop{os.getpid()}")
    users = folder / "users.json"
    for name in ("admin", "alice", "carol"):
        add_user(users, name, PASSWORD)
    (folder / "policy.toml").write_text(POLICY.format(project=project.name))
    project.up()
    worker = start_worker(HOST)
    frontend = start_frontend([worker.match["endpoint"]], "--users-file", str(users),
                              "--policy", str(folder / "policy.toml"))  # fmt: skip
    stack = Stack(frontend.match["url"])
    headers = {
        u: {"Cookie": cookie_of(sign_in(stack, u, PASSWORD))} for u in ("admin", "alice", "carol")
    }
    wait_hosts_up(stack, {HOST}, headers=headers["admin"])
    shop = Shop(project, stack, headers, frontend)
    wait_until(lambda: len(shop.running("web")) == 2, 15, "both web replicas listed")
    yield shop
    frontend.stop()
    worker.stop()
    project.down()


def test_containers_say_their_project_service_and_replica(shop: Shop) -> None:
    """/api/containers names each container's Compose project, service and replica."""
    services = sorted(
        (c["service"]["service"], c["service"]["replica"], c["service"]["kind"])
        for c in shop.containers()
    )
    assert services == [("db", 1, "compose"), ("job", 1, "compose"),
                        ("web", 1, "compose"), ("web", 2, "compose")]  # fmt: skip


async def test_open_by_service_runs_in_a_running_replica_and_says_which(shop: Shop) -> None:
    """An open naming project and service starts a shell in replica 1 of the service,
    and `opened` names that container and its service."""
    first = next(c for c in shop.running("web") if c["service"]["replica"] == 1)
    terminal, opened = await shop.open("admin", service="web")
    try:
        assert opened["type"] == "opened", opened
        assert (opened["host"], opened["container"]) == (HOST, first["name"])
        assert opened["service"] == {"kind": "compose", "project": shop.project.name,
                                     "service": "web", "replica": 1}  # fmt: skip
        await terminal.expect(PROMPT)
        assert (await terminal.run("cat /etc/hostname")).strip() == first["id"][:12].encode()
    finally:
        await terminal.close()


def test_http_api_names_the_replica_an_open_would_choose(shop: Shop) -> None:
    """GET /api/replica answers the replica open would choose, and every running one."""
    path = f"/api/replica?project={shop.project.name}&service=web"
    body = call(shop.stack, path, headers=shop.headers["admin"]).json()
    first = next(c for c in shop.running("web") if c["service"]["replica"] == 1)
    assert (body["host"], body["container"], body["id"]) == (HOST, first["name"], first["id"])
    assert sorted(r["replica"] for r in body["replicas"]) == [1, 2]
    missing = call(shop.stack, f"/api/replica?project={shop.project.name}&service=nope",
                   headers=shop.headers["admin"])  # fmt: skip
    assert missing.status == 404 and missing.json()["error"] == "not_found"


async def test_open_by_service_refuses_with_a_reason(shop: Shop) -> None:
    """No such service: not_found; a service whose only container has exited:
    not_running; both say the service."""
    terminal, reply = await shop.open("admin", service="nope")
    await terminal.close()
    assert (reply["type"], reply["code"]) == ("error", "not_found")
    assert "service nope of project" in reply["message"]
    wait_until(lambda: [c["state"] for c in shop.containers() if c["service"]["service"] == "job"]
               == ["exited"], 15, "the job to exit")  # fmt: skip
    terminal, reply = await shop.open("admin", service="job")
    await terminal.close()
    assert (reply["type"], reply["code"]) == ("error", "not_running")
    assert "no running replica" in reply["message"]


def test_dterm_exec_opens_by_service_and_says_which_replica(shop: Shop, tmp_path: Path) -> None:
    """`dterm exec --service web --project P -- CMD` runs in replica 1 and says so on
    stderr; a service with no running replica ends with dterm's own status for it."""
    cli = Cli(tmp_path / "config")
    cli.login(shop.stack.base, "--user", "admin", "--password-stdin",
              input=f"{PASSWORD}\n".encode())  # fmt: skip
    first = next(c for c in shop.running("web") if c["service"]["replica"] == 1)
    done = cli.run("exec", "--service", "web", "--project", shop.project.name,
                   "--", "cat", "/etc/hostname")  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, first["id"][:12].encode()), done.stderr
    assert f"opened in {first['name']} on {HOST}".encode() in done.stderr
    wait_until(lambda: [c["state"] for c in shop.containers() if c["service"]["service"] == "job"]
               == ["exited"], 15, "the job to exit")  # fmt: skip
    gone = cli.run("exec", "--service", "job", "--project", shop.project.name, "--", "true")
    assert gone.returncode == 251 and b"no running replica" in gone.stderr, gone.stderr
    lost = cli.run("exec", "--project", shop.project.name, "web")
    assert lost.returncode == 2 and b"--project and --stack go with --service" in lost.stderr


async def test_policy_compose_rules_decide_services(shop: Shop) -> None:
    """A rule naming project and service lists and opens only that service; one with
    commands refuses a shell in every replica, with a reason."""
    assert {c["service"]["service"] for c in shop.containers("alice")} == {"web"}
    terminal, reply = await shop.open("alice", service="db")
    await terminal.close()
    assert (reply["type"], reply["code"]) == ("error", "not_found")
    terminal, reply = await shop.open("alice", service="web")
    await terminal.close()
    assert reply["type"] == "opened", reply
    terminal, reply = await shop.open("carol", service="web")
    await terminal.close()
    assert (reply["type"], reply["code"]) == ("error", "forbidden")
    assert "any running replica of service web" in reply["message"]


async def test_open_by_service_survives_a_redeploy(shop: Shop) -> None:
    """After `up --force-recreate` replaces every container, the same open by service
    starts a shell in one of the new ones."""
    before = {c["id"] for c in shop.running("web")}
    shop.project.up("--force-recreate", "web")

    def replaced() -> bool:
        now = {c["id"] for c in shop.running("web")}
        return len(now) == 2 and not now & before

    wait_until(replaced, 30, "two new web replicas")
    terminal, opened = await shop.open("admin", service="web")
    try:
        assert opened["type"] == "opened", opened
        now = {c["name"]: c["id"] for c in shop.running("web")}
        assert opened["container"] in now and now[opened["container"]] not in before
        await terminal.expect(PROMPT)
    finally:
        await terminal.close()
