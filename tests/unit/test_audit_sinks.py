"""The audit sinks' delivering shell on a real event loop, with a transport of our own
(the real transports meet rsyslog and an HTTP collector in the integration tests)."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from shared.audit import AuditEvent, AuditLog, SinkError
from shared.audit_outbox import Backoff, Outbox
from shared.audit_sinks import AuditSink
from tests.support.waiting import eventually


class Scripted:
    """A transport that fails while `down`, holds every send until `open` is set (a
    slow collector), and keeps what it took, in order."""

    def __init__(self) -> None:
        self.down = False
        self.open = asyncio.Event()
        self.open.set()
        self.taken: list[bytes] = []

    async def send(self, messages: list[bytes]) -> None:
        await self.open.wait()
        if self.down:
            raise SinkError("down")
        self.taken += messages

    def close(self) -> None:
        pass


def event(number: int) -> AuditEvent:
    return AuditEvent("sign-in", datetime.now(UTC), b'{"n": %d}' % number, False)


def make_sink(name: str, transport: Scripted, capacity: int, report_every: float) -> AuditSink:
    outbox: Outbox[bytes] = Outbox(capacity, 2, Backoff(0.05, 0.05, 0.0), report_every)
    return AuditSink(name, transport, lambda e: e.line, outbox, 1.0, max_message=20)


def dropped_lines(caplog: pytest.LogCaptureFixture, name: str) -> list[int]:
    pattern = rf"audit sink {name} dropped the (\d+) oldest"
    return [int(n) for r in caplog.records for n in re.findall(pattern, r.getMessage())]


async def test_later_drops_are_said_after_the_interval_without_new_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first drop is logged at once; those after it within the interval are
    logged when it has passed, while the sink is stuck on a slow send and no event
    comes to trigger it."""
    caplog.set_level(logging.WARNING, "shared.audit_sinks")
    transport = Scripted()
    transport.open.clear()
    sink = make_sink("later", transport, capacity=2, report_every=0.3)
    sink.start()
    for number in range(7):
        sink.add(event(number))
    assert dropped_lines(caplog, "later") == [1]
    # well before the stuck send's guard (3 s) would end it and log anything
    await eventually(lambda: sum(dropped_lines(caplog, "later")) == sink.outbox.dropped, 1.5,
                     "the rest of the drops logged")  # fmt: skip
    assert len(dropped_lines(caplog, "later")) == 2
    counted = REGISTRY.get_sample_value("dterm_audit_dropped_total", {"sink": "later"})
    assert counted == sink.outbox.dropped
    transport.open.set()
    await eventually(lambda: sink.outbox.held == 0, 5, "the rest delivered")
    assert await sink.close(1.0) == 0
    assert transport.taken == [event(n).line for n in range(7 - len(transport.taken), 7)]


async def test_an_event_too_large_for_a_datagram_is_counted_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It cannot be sent at all: counted as dropped, logged, and the others go on."""
    caplog.set_level(logging.WARNING, "shared.audit_sinks")
    transport = Scripted()
    sink = make_sink("small", transport, capacity=10, report_every=10.0)
    sink.start()
    sink.add(event(1))
    sink.add(AuditEvent("file-put", datetime.now(UTC), b"x" * 21, False))
    sink.add(event(2))
    await eventually(lambda: len(transport.taken) == 2, 5, "the other events delivered")
    assert transport.taken == [b'{"n": 1}', b'{"n": 2}'] and sink.outbox.dropped == 1
    assert "a file-put event of 21 bytes is over the 20 bytes" in caplog.text
    await sink.close(1.0)


@pytest.mark.timeout(30)
async def test_close_says_how_many_were_left_unsent(caplog: pytest.LogCaptureFixture) -> None:
    """Within its grace, even with the sink failing over and over (a send that ends as
    it is cancelled must not keep the delivering task alive)."""
    caplog.set_level(logging.INFO, "shared.audit_sinks")
    transport = Scripted()
    transport.down = True
    sink = make_sink("stuck", transport, capacity=10, report_every=10.0)
    sink.start()
    for number in range(3):
        sink.add(event(number))
    assert await sink.close(0.2) == 3
    assert "audit sink stuck: 3 events left unsent at shutdown" in caplog.text


async def test_the_file_is_written_before_the_sinks_are_handed_the_line(tmp_path: Path) -> None:
    """Every sink gets the very line the audit file got, after it was written."""
    path = tmp_path / "audit.jsonl"
    seen: list[tuple[AuditEvent, str]] = []

    class Watching:
        def add(self, audited: AuditEvent) -> None:
            seen.append((audited, path.read_text()))

    log = AuditLog(str(path), [Watching()])
    log.record("denied", user="eve", cmd=["id"])
    log.close()
    [(audited, file_then)] = seen
    assert file_then == audited.line.decode() + "\n"
    assert audited.kind == "denied" and audited.refused


class FinishingAsCancelled(Scripted):
    """A send that holds until the delivering task is being cancelled, then ends
    normally in that same turn of the loop (an answer arriving as shutdown cancels)."""

    def __init__(self, task_name: str) -> None:
        super().__init__()
        self.task_name = task_name

    async def send(self, messages: list[bytes]) -> None:
        [task] = [t for t in asyncio.all_tasks() if t.get_name() == self.task_name]
        while not task.cancelling():
            await asyncio.sleep(0)
        self.taken += messages


@pytest.mark.timeout(30)
async def test_close_ends_a_task_whose_send_finishes_as_it_is_cancelled() -> None:
    """The cancel that ends the delivering task is not swallowed by a send completing
    at that very moment: close returns, the sink's task is over."""
    transport = FinishingAsCancelled("audit sink racing")
    sink = make_sink("racing", transport, capacity=10, report_every=10.0)
    sink.start()
    sink.add(event(1))
    async with asyncio.timeout(5):
        await sink.close(0.05)
    assert sink._task is not None and sink._task.done()
