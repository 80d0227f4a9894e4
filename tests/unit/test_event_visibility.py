"""What one person's event stream tells of pool events: nothing of hosts hidden from
them, and a removal only of what it told them before."""

from __future__ import annotations

from typing import Any, cast

from frontend_server.api import View, host_key
from frontend_server.events import Told, event_json
from frontend_server.policy import FileRight
from frontend_server.pool_events import ContainerUpdated, HostChanged, HostRemoved, HostStatus
from shared.messages import ContainerInfo


class NoContainers:
    """A pool without containers: what View.counts() reads (unit test stand-in)."""

    def containers(self) -> list[Any]:
        return []


def box(cid: str, name: str) -> ContainerInfo:
    return ContainerInfo(id=cid, name=name, image="busybox", state="running", created=1,
                         started_at=1, finished_at=0, exit_code=0, labels={})  # fmt: skip


def status(host: str, up: bool = True) -> HostStatus:
    return HostStatus(host, f"tcp://{host}:7000", up, 0.0, None)


# The person may use hosts named vis-*, and sees only containers named app-* there.
VIEW = View(
    visible=lambda host, c: host.startswith("vis-") and c.name.startswith("app-"),
    shown=lambda host: host.startswith("vis-"),
    files=lambda host, c: FileRight.NONE,
    pool=cast(Any, NoContainers()),
)


def test_a_hidden_host_changing_or_going_is_not_told() -> None:
    """A hidden host's changes, containers and removal produce no event at all."""
    told = Told()
    assert event_json(HostChanged(status("hid-1"), [box("a", "app-1")]), VIEW, told) is None
    assert event_json(HostChanged(status("hid-1", up=False), None), VIEW, told) is None
    assert event_json(ContainerUpdated("hid-1", "a", box("a", "app-1")), VIEW, told) is None
    assert event_json(ContainerUpdated("hid-1", "a", None), VIEW, told) is None
    assert event_json(HostRemoved("tcp://hid-1:7000"), VIEW, told) is None
    assert told == Told()


def test_a_shown_host_is_told_and_its_removal_too() -> None:
    """A shown host's changes are told, and so is its removal, once."""
    told = Told()
    name, data = event_json(HostChanged(status("vis-1"), [box("a", "app-1")]), VIEW, told) or (
        "",
        {},
    )
    assert name == "host-containers" and [c["id"] for c in data["items"]] == ["a"]
    key = host_key("tcp://vis-1:7000")
    assert event_json(HostRemoved("tcp://vis-1:7000"), VIEW, told) == ("host-removed", {"id": key})
    assert event_json(HostRemoved("tcp://vis-1:7000"), VIEW, told) is None


def test_a_host_that_becomes_hidden_is_removed_for_the_page() -> None:
    """A host told of that the person is no longer shown (renamed) is sent as removed."""
    told = Told()
    event_json(HostChanged(status("vis-1"), None), VIEW, told)
    renamed = HostStatus("hid-1", "tcp://vis-1:7000", True, 0.0, None)
    key = host_key("tcp://vis-1:7000")
    assert event_json(HostChanged(renamed, None), VIEW, told) == ("host-removed", {"id": key})


def test_hidden_containers_are_removed_only_if_they_were_told() -> None:
    """On a shown host, a container the person never saw is not named, even gone; one
    they saw is sent as removed when it goes or becomes hidden."""
    told = Told()
    event_json(HostChanged(status("vis-1"), []), VIEW, told)
    assert event_json(ContainerUpdated("vis-1", "s", box("s", "secret")), VIEW, told) is None
    assert event_json(ContainerUpdated("vis-1", "s", None), VIEW, told) is None
    shown = event_json(ContainerUpdated("vis-1", "a", box("a", "app-1")), VIEW, told)
    assert shown is not None and shown[1]["container"]["name"] == "app-1"
    hidden = event_json(ContainerUpdated("vis-1", "a", box("a", "renamed")), VIEW, told)
    assert hidden == ("container", {"host": "vis-1", "id": "a", "container": None})
    assert event_json(ContainerUpdated("vis-1", "a", None), VIEW, told) is None
