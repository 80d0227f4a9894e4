"""Swarm mode for real: a daemon of its own (swarm init changes a daemon for every
test using it) becomes a one-node swarm advertised on loopback, a stack from
tests/compose/mart-stack.yml runs a service with two replicas; both are listed under
the service, a shell opens in each, the policy's `swarm` rules decide who sees and
opens them, and scaling the service changes the live list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.accounts import PASSWORD, add_user
from tests.support.events_client import EventStream
from tests.support.http import cookie_of, sign_in, wait_hosts_up
from tests.support.processes import start_frontend
from tests.support.swarm import HOST, SERVICE, STACK, Swarm, running_replicas
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import eventually

POLICY = """
[[roles]]
users = ["alice"]
  [[roles.rules]]
  swarm = { stack = "mart", service = "mart_api" }

[[roles]]
users = ["bob"]
  [[roles.rules]]
  swarm = { stack = "mart", service = "mart_web" }

[[roles]]
users = ["carol"]
  [[roles.rules]]
  swarm = { stack = "ma*" }
  access = "ro"
"""


def test_both_replicas_are_listed_under_the_service(swarm: Swarm) -> None:
    """Each task's container names its stack, its service and its slot."""
    assert [c["service"] for c in swarm.replicas()] == [
        {"kind": "swarm", "stack": STACK, "service": SERVICE, "replica": n} for n in (1, 2)
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
    for named in ({"stack": STACK, "service": "api"}, {"service": SERVICE}):
        terminal = await TerminalClient.connect(swarm.stack)
        try:
            start = len(terminal.controls)
            terminal.send_control({"type": "open", **named})
            opened = await terminal.next_control("opened", 20, start)
            assert opened["container"] == replicas[0]["name"], (named, terminal.controls)
        finally:
            await terminal.close()


async def test_policy_swarm_rules_decide_who_sees_and_opens(swarm: Swarm, tmp_path: Path) -> None:
    """`swarm = { stack, service }` in a rule: alice's names the service and she sees and
    opens its replicas; bob's names another service, and the replicas are hidden from
    him, by service and by name; carol's globs the stack but gives only read access."""
    users, policy = tmp_path / "users.json", tmp_path / "policy.toml"
    for name in ("alice", "bob", "carol"):
        add_user(users, name)
    policy.write_text(POLICY)
    frontend = start_frontend(
        [swarm.worker.match["endpoint"]], "--users-file", str(users), "--policy", str(policy)
    )
    stack = Stack(frontend.match["url"])
    try:
        people = {name: {"Cookie": cookie_of(sign_in(stack, name, PASSWORD))}
                  for name in ("alice", "bob", "carol")}  # fmt: skip
        wait_hosts_up(stack, {HOST}, headers=people["alice"])
        names = [c["name"] for c in swarm.replicas()]
        assert [c["name"] for c in running_replicas(stack, people["alice"])] == names
        assert [c["name"] for c in running_replicas(stack, people["carol"])] == names
        assert running_replicas(stack, people["bob"]) == []
        answers = {}
        for name, request in (("alice", {"stack": STACK, "service": "api"}),
                              ("bob", {"stack": STACK, "service": "api"}),
                              ("bob", {"host": HOST, "container": names[0]}),
                              ("carol", {"stack": STACK, "service": "api"})):  # fmt: skip
            terminal = await TerminalClient.connect(stack, token="", headers=people[name])
            try:
                answer = await terminal.answer({"type": "open", **request})
            finally:
                await terminal.close()
            answers[name, tuple(request.values())] = answer.get("code", answer["type"])
        assert answers == {
            ("alice", (STACK, "api")): "opened",
            ("bob", (STACK, "api")): "not_found",
            ("bob", (HOST, names[0])): "not_found",
            ("carol", (STACK, "api")): "forbidden",
        }
    finally:
        frontend.stop()


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
            return (c["service"]["service"], c["service"]["replica"]) == (SERVICE, 3)

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
