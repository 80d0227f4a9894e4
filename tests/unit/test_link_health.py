"""LinkHealth: monitor events of a worker link read as problems, log lines and redials."""

from __future__ import annotations

import logging

import zmq

from frontend_server.link_health import REDIAL_MAX, LinkHealth, LinkKeyFiles

KEYS = LinkKeyFiles.of("/etc/dterm/keys/fe.key_secret", "/etc/dterm/keys/worker.key")


def health() -> LinkHealth:
    return LinkHealth("tcp://10.0.0.12:7701", KEYS)


def test_a_refused_key_is_a_problem_logged_once_and_redialled_with_growing_pauses() -> None:
    """The first refusal warns and names our public key file; later ones are quiet,
    and each asks for a redial after a longer pause, up to REDIAL_MAX."""
    link = health()
    verdicts = [link.on_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400) for _ in range(8)]
    assert verdicts[0].log_level == logging.WARNING and verdicts[0].changed
    assert "/etc/dterm/keys/fe.key)" in link.problem
    assert all(v.log_level == logging.DEBUG and not v.changed for v in verdicts[1:])
    pauses = [v.redial_after for v in verdicts]
    assert pauses[:3] == [1.0, 2.0, 4.0] and pauses[-1] == REDIAL_MAX


def test_a_handshake_that_succeeds_clears_the_problem() -> None:
    """After a refusal, a successful handshake ends the problem and says so."""
    link = health()
    link.on_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400)
    verdict = link.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0)
    assert verdict.changed and link.problem == "" and verdict.log_level == logging.INFO
    again = link.on_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400)
    assert again.redial_after == 1.0  # the pause starts short again


def test_a_wrong_worker_key_names_the_file_and_needs_no_redial() -> None:
    """A dropped handshake points at the worker public key we hold; libzmq redials."""
    link = health()
    verdict = link.on_event(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0)
    assert "/etc/dterm/keys/worker.key" in link.problem and verdict.redial_after is None


def test_drops_are_told_only_for_connections_that_worked() -> None:
    """A connection that never passed its handshake was never there: no "dropped" line;
    one that did is logged as dropped, and the next handshake counts as a reconnect."""
    link = health()
    assert link.on_event(zmq.EVENT_DISCONNECTED, 0).log_level == logging.NOTSET
    assert not link.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0).reconnected
    dropped = link.on_event(zmq.EVENT_DISCONNECTED, 0)
    assert dropped.log_level == logging.WARNING and "connection dropped" in dropped.log
    assert link.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 0).reconnected


def test_other_refusals_say_what_the_worker_answered() -> None:
    """An unreadable folder on the worker (500) and other statuses read differently."""
    link = health()
    link.on_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 500)
    assert "cannot read its folder" in link.problem
    link.on_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 300)
    assert "status 300" in link.problem
    link.on_event(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, 0x11000001)
    assert "0x11000001" in link.problem
