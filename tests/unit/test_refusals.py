"""Refused ZeroMQ peers: every one counted, one log line per peer per minute."""

from __future__ import annotations

import logging

import pytest

from exec_worker import metrics, refusals
from exec_worker.refusals import Refusals, describe_peer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "exec_worker.refusals"]


def counted(reason: str) -> float:
    return metrics.LINK_REFUSALS.labels(reason)._value.get()


def test_a_scanner_is_counted_every_time_and_logged_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hundred refusals from one address in a minute: a hundred counted, one line;
    the next minute's line says how many were left out."""
    clock = Clock()
    seen = Refusals(clock)
    before = counted("unknown-key")
    with caplog.at_level(logging.WARNING):
        for _ in range(100):
            seen.key_refused("10.0.0.9", "its key K is not allowed")
            clock.now += 0.1
        assert counted("unknown-key") == before + 100
        assert len(lines(caplog)) == 1 and "10.0.0.9" in lines(caplog)[0]
        clock.now += refusals.EVERY
        seen.key_refused("10.0.0.9", "its key K is not allowed")
    assert len(lines(caplog)) == 2 and "99 more refused since the last line" in lines(caplog)[1]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_each_peer_has_its_own_minute(caplog: pytest.LogCaptureFixture) -> None:
    """A noisy peer does not hide a refusal of another one."""
    seen = Refusals(Clock())
    with caplog.at_level(logging.WARNING):
        for peer in ("10.0.0.1", "10.0.0.1", "10.0.0.2"):
            seen.refused("handshake", peer, "it does not speak CurveZMQ")
    assert [line.split(":")[0] for line in lines(caplog)] == [
        "refused ZeroMQ peer 10.0.0.1",
        "refused ZeroMQ peer 10.0.0.2",
    ]


def test_memory_of_peers_is_bounded(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the limit, stale peers are forgotten; fresh ones are still counted, not logged."""
    monkeypatch.setattr(refusals, "REMEMBERED", 3)
    clock = Clock()
    seen = Refusals(clock)
    with caplog.at_level(logging.WARNING):
        for i in range(5):
            seen.refused("handshake", f"10.0.1.{i}", "no")
        assert len(lines(caplog)) == 3
        clock.now += refusals.EVERY
        seen.refused("handshake", "10.0.1.9", "no")
    assert len(lines(caplog)) == 4 and len(seen._peers) == 1


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("2001:db8::7", "2001:db8::7"),
        ("localhost:1000:1000:4242", "local process pid 4242 (uid 1000)"),
        ("", "at an unknown address"),
    ],
)
def test_peers_are_named_as_zap_gives_them(address: str, shown: str) -> None:
    """tcp peers by address, ipc peers by the process ZeroMQ saw (SO_PEERCRED)."""
    assert describe_peer(address) == shown
