"""Hosts a person may not use are not told of: not in /api/hosts or /api/containers,
not in the live event stream (not even as removed), not in their sessions list."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import add_user
from tests.support.containers import Containers
from tests.support.events_client import EventStream
from tests.support.http import call, cookie_of, get_json, sign_in, wait_hosts_up
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import wait_until

PASSWORD = "correct horse battery"
ONLY_VISIBLE = """
[[roles]]
users = ["ann"]
  [[roles.rules]]
  hosts = ["vis-*"]

[[roles]]
users = ["root"]
  [[roles.rules]]
  hosts = ["*"]
"""
BOTH = ONLY_VISIBLE.replace('hosts = ["vis-*"]', 'hosts = ["vis-*", "hid-*"]')


@dataclass
class TwoHosts:
    stack: Stack
    frontend: ManagedProcess
    hidden: ManagedProcess
    policy: Path

    def headers(self, user: str) -> dict[str, str]:
        reply = sign_in(self.stack, user, PASSWORD)
        assert reply.status == 200, reply.body
        return {"Cookie": cookie_of(reply)}

    def hosts(self, user: str) -> set[str]:
        listed = get_json(self.stack, "/api/hosts", headers=self.headers(user))["hosts"]
        return {h["host"] for h in listed}


@pytest.fixture
def two_hosts(docker_client: Any, tmp_path: Path) -> Iterator[TwoHosts]:
    """Hosts vis-1 and hid-1 (one daemon, so both see every container) behind a front
    end whose policy shows ann vis-* only, and root everything."""
    users, policy = tmp_path / "users.json", tmp_path / "policy.toml"
    for name in ("ann", "root"):
        add_user(users, name, PASSWORD)
    policy.write_text(ONLY_VISIBLE)
    visible, hidden = start_worker("vis-1"), start_worker("hid-1")
    frontend = start_frontend(
        [visible.match["endpoint"], hidden.match["endpoint"]],
        "--users-file", str(users), "--policy", str(policy),
    )  # fmt: skip
    try:
        found = TwoHosts(Stack(frontend.match["url"]), frontend, hidden, policy)
        wait_hosts_up(found.stack, {"vis-1", "hid-1"}, headers=found.headers("root"))
        yield found
    finally:
        for process in (frontend, visible, hidden):
            process.stop()


def test_hosts_and_containers_list_only_the_hosts_a_person_may_use(two_hosts: TwoHosts) -> None:
    """ann is shown vis-1 and its containers, nothing of hid-1; root is shown both."""
    assert two_hosts.hosts("ann") == {"vis-1"}
    assert two_hosts.hosts("root") == {"vis-1", "hid-1"}
    reply = call(two_hosts.stack, "/api/containers", headers=two_hosts.headers("ann"))
    assert "hid-1" not in reply.body.decode()
    assert {c["host"] for c in reply.json()["containers"]} <= {"vis-1"}


async def test_the_event_stream_never_names_a_hidden_host(
    two_hosts: TwoHosts, containers: Containers
) -> None:
    """Containers coming and going on hid-1, and hid-1 going down, reach root's stream
    and tell ann's nothing: no event names hid-1 or carries an id ann was not shown."""
    ann = EventStream(two_hosts.stack, await asyncio.to_thread(two_hosts.headers, "ann"))
    root = EventStream(two_hosts.stack, await asyncio.to_thread(two_hosts.headers, "root"))
    try:
        _, _, snapshot = await ann.wait_for(lambda name, _: name == "snapshot", 10, "a snapshot")
        await root.wait_for(lambda name, _: name == "snapshot", 10, "root's snapshot")
        box = await asyncio.to_thread(containers.run, name="dterm-test-visibility")
        for stream, host in ((ann, "vis-1"), (root, "hid-1")):
            await stream.wait_for(
                lambda name, data, host=host: name == "container" and data["host"] == host
                and data["container"] and data["container"]["id"] == box.id,
                10, f"the new container on {host}",
            )  # fmt: skip
        await asyncio.to_thread(box.remove, force=True)
        await root.wait_for(
            lambda name, data: name == "container" and data["host"] == "hid-1"
            and data["container"] is None and data["id"] == box.id,
            10, "its removal on hid-1",
        )  # fmt: skip
        await asyncio.to_thread(two_hosts.hidden.stop)
        await root.wait_for(
            lambda name, data: name in ("host", "host-containers")
            and data["host"] == "hid-1" and data["state"] == "down",
            20, "hid-1 down",
        )  # fmt: skip
        await ann.wait_for(
            lambda name, data: name == "container" and data["id"] == box.id
            and data["container"] is None,
            10, "the removal on vis-1",
        )  # fmt: skip
        shown_ids = {h["id"] for h in snapshot["hosts"]}
        for _, name, data in ann.events:
            assert "hid-1" not in json.dumps(data), (name, data)
            if name == "host-removed":
                assert data["id"] in shown_ids, f"told of a host never shown: {data}"
    finally:
        ann.close()
        root.close()


def apply_policy(two_hosts: TwoHosts, text: str, ann_sees: set[str]) -> None:
    """Write the policy, SIGHUP the front end, wait until ann is shown `ann_sees`."""
    two_hosts.policy.write_text(text)
    os.kill(two_hosts.frontend.pid, signal.SIGHUP)
    wait_until(lambda: two_hosts.hosts("ann") == ann_sees, 10, f"ann shown {ann_sees}")


async def test_sessions_on_a_host_no_longer_named_are_not_listed(
    two_hosts: TwoHosts, busybox: Any
) -> None:
    """ann's session on hid-1, opened while the policy named it, is not listed (nor
    hid-1 named) once a new policy leaves hid-1 out."""
    await asyncio.to_thread(apply_policy, two_hosts, BOTH, {"vis-1", "hid-1"})
    headers = await asyncio.to_thread(two_hosts.headers, "ann")
    terminal = await TerminalClient.connect(two_hosts.stack, token="", headers=headers)
    try:
        await terminal.open(busybox.name, host="hid-1")
        listed = await asyncio.to_thread(call, two_hosts.stack, "/api/sessions", headers=headers)
        assert [s["host"] for s in listed.json()["sessions"]] == ["hid-1"]
        await asyncio.to_thread(apply_policy, two_hosts, ONLY_VISIBLE, {"vis-1"})
        reply = await asyncio.to_thread(call, two_hosts.stack, "/api/sessions", headers=headers)
        assert reply.json()["sessions"] == [] and "hid-1" not in reply.body.decode()
    finally:
        await terminal.close()
