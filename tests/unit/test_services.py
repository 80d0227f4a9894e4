"""Services from labels, services as people name them, and the policy's `compose` and
`swarm` rules over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontend_server import browser_protocol as bp
from frontend_server.policy import Access, Person, Policy, PolicyError, Target
from frontend_server.services import (
    Kind,
    ServiceQuery,
    query_of,
    replica_of,
    replica_order,
    service_json,
    service_of,
)
from shared.errors import ProtocolError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policy.example.toml"
COMPOSE = {
    "com.docker.compose.project": "shop",
    "com.docker.compose.service": "web",
    "com.docker.compose.container-number": "2",
}
SWARM = {
    "com.docker.stack.namespace": "shop",
    "com.docker.swarm.service.name": "shop_api",
    "com.docker.swarm.task.name": "shop_api.3.k2vx9o1w8l0d",
}
shopper = Person("sam", frozenset({"shop"}))


def test_service_and_replica_from_compose_labels() -> None:
    """Compose's project, service and container number."""
    assert service_json(COMPOSE) == {"kind": "compose", "project": "shop", "service": "web",
                                     "replica": 2}  # fmt: skip


def test_service_and_replica_from_swarm_labels() -> None:
    """Swarm's stack, full service name and the task's slot."""
    assert service_json(SWARM) == {"kind": "swarm", "stack": "shop", "service": "shop_api",
                                   "replica": 3}  # fmt: skip


def test_containers_of_no_service_and_unnumbered_replicas() -> None:
    """Plain containers have no service; a global service's task has no slot (0)."""
    assert service_of({"team": "x"}) is None
    assert service_of({"com.docker.compose.project": "shop"}) is None
    task = {
        "com.docker.swarm.service.name": "agent",
        "com.docker.swarm.task.name": "agent.nodeid.task",
    }
    assert service_of(task) is not None and service_of(task).group == ""  # type: ignore[union-attr]
    assert replica_of(task) == 0
    assert replica_order("h", "a", task) > replica_order("h", "z", SWARM)


def test_queries_name_compose_and_swarm_services() -> None:
    """project+service is Compose; stack+service matches the short or the full name;
    service alone is a Swarm service by its full name."""
    compose = query_of({"project": "shop", "service": "web"})
    assert compose == ServiceQuery(Kind.COMPOSE, "shop", "web") and compose.matches(COMPOSE)
    assert not compose.matches(SWARM)
    for body in ({"stack": "shop", "service": "api"}, {"stack": "shop", "service": "shop_api"},
                 {"service": "shop_api"}):  # fmt: skip
        query = query_of(body)
        assert query is not None and query.matches(SWARM), body
        assert not query.matches(COMPOSE)
    assert not ServiceQuery(Kind.SWARM, "other", "api").matches(SWARM)
    assert not ServiceQuery(Kind.COMPOSE, "shop", "db").matches(COMPOSE)
    assert str(compose) == "service web of project shop"


@pytest.mark.parametrize(
    "body",
    [
        {"project": "shop"},
        {"service": ""},
        {"service": 3},
        {"project": "a", "stack": "b", "service": "c"},
    ],
)
def test_queries_that_do_not_fit_together_are_refused(body: dict[str, object]) -> None:
    """No service, an empty or non-string name, or both a project and a stack."""
    with pytest.raises(ValueError):
        query_of(body)


def test_open_by_service_parses_and_refuses_a_container_too() -> None:
    """The browser's open takes a service instead of a container, not both."""
    request = bp.parse_control('{"type": "open", "project": "shop", "service": "web"}')
    assert isinstance(request, bp.OpenRequest)
    assert request.service == ServiceQuery(Kind.COMPOSE, "shop", "web") and request.container == ""
    with pytest.raises(ProtocolError, match="not both"):
        bp.parse_control('{"type": "open", "container": "x", "project": "shop", "service": "web"}')
    with pytest.raises(ProtocolError, match="container must be"):
        bp.parse_control('{"type": "open"}')


def test_example_policy_compose_and_swarm_rules() -> None:
    """The example's shop role: shells in shop/web anywhere, watch-only in the prod stack."""
    policy = Policy.load(EXAMPLE)
    web = Target("any-host", "shop-web-7", COMPOSE)
    assert policy.access(shopper, web) is Access.RW
    db = {**COMPOSE, "com.docker.compose.service": "db"}
    assert policy.access(shopper, Target("any-host", "shop-db-1", db)) is Access.NONE
    assert policy.access(shopper, Target("prod-2", "x", SWARM)) is Access.RO
    assert policy.access(shopper, Target("staging-2", "x", SWARM)) is Access.NONE


def test_service_tables_are_label_rules() -> None:
    """A `compose` table is the same rule as the labels it stands for, and adds to `labels`."""
    sugar = Policy.parse({"roles": [{"users": ["a"], "rules": [
        {"compose": {"project": "shop"}, "labels": {"team": "x"}}]}]})  # fmt: skip
    plain = Policy.parse({"roles": [{"users": ["a"], "rules": [
        {"labels": {"team": "x", "com.docker.compose.project": "shop"}}]}]})  # fmt: skip
    assert sugar == plain


@pytest.mark.parametrize(
    "rule",
    [
        {"compose": {"stack": "x"}},
        {"compose": {}},
        {"swarm": {"service": 1}},
        {"swarm": "x"},
        {"compose": {"project": ""}},
    ],
)
def test_bad_service_tables_are_refused(rule: dict[str, object]) -> None:
    """Unknown keys, empty tables and non-string names stop the policy with a reason."""
    with pytest.raises(PolicyError, match=r"compose|swarm"):
        Policy.parse({"roles": [{"users": ["a"], "rules": [rule]}]})
