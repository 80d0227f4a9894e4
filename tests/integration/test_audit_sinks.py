"""Audit events leave the host: to a real rsyslogd (RFC 5424 over TCP, UDP and a unix
socket) and to a real HTTP collector, from real front ends and workers, with
nothing lost while a sink is down or slow, and every drop counted and said."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.audit_syslog import SyslogTransport
from tests.support.collector import Collector
from tests.support.http import call, wait_hosts_up
from tests.support.metrics import fetch, metric
from tests.support.processes import (
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    start_frontend,
    start_worker,
)
from tests.support.rsyslog import Rsyslog, wait_received
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import wait_until

AUTHPRIV = 10
FRAMED = b"21 <86>1 - - - - - first8 <86>1 \xc3\xa9"
"""Two messages as octet-counted frames: lengths in bytes, not characters."""


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sign_in_with_token(stack: Stack, token: str) -> int:
    """The dev token's sign-in through the page's URL: one `sign-in` audit event."""
    return call(stack, f"/?token={token}").status


def frontend_metrics(stack: Stack) -> str:
    status, text = fetch(stack.base + "/metrics", stack.token)
    assert status == 200, text
    return text


def worker_metrics(worker: ManagedProcess) -> str:
    status, text = fetch(worker.match["http"] + "/metrics", WORKER_METRICS_TOKEN)
    assert status == 200, text
    return text


async def run_a_session(stack: Stack, host: str, container: str) -> None:
    """Open a session that runs `echo` and ends: session-start and session-end."""
    terminal = await TerminalClient.connect(stack)
    await terminal.open(container, host=host, cmd=["echo", "audited"])
    await terminal.wait_exit()
    await terminal.close()


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    daemon = Rsyslog(tmp_path / "rsyslog")
    yield daemon
    daemon.stop()


def of_app(messages: list[dict[str, Any]], app: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["app"] == app]


def check_rfc5424(messages: list[dict[str, Any]], records: list[dict[str, Any]], pid: int) -> None:
    """rsyslog parsed each as RFC 5424 with our fields, the JSON line as MSG, in order,
    numbered 1, 2, ... by meta sequenceId."""
    assert [json.loads(m["msg"]) for m in messages] == records
    for number, (message, record) in enumerate(zip(messages, records, strict=True), 1):
        assert message["version"] == "1", message  # "0" would mean the legacy parser
        assert message["procid"] == str(pid) and message["msgid"] == record["event"]
        assert message["hostname"] == socket.gethostname()
        refused = record.get("ok") is False or record["event"] == "denied"
        assert int(message["pri"]) == AUTHPRIV * 8 + (5 if refused else 6)
        assert message["sd"].startswith('[origin software="dterm"')
        assert f'[meta sequenceId="{number}"]' in message["sd"]
        assert datetime.fromisoformat(message["time"]) == datetime.fromisoformat(record["time"])


async def test_front_end_and_worker_events_reach_rsyslog_over_tcp(
    rsyslog: Rsyslog, busybox: Any, tmp_path: Path
) -> None:
    """A sign-in, a refused sign-in and a session open/close arrive in rsyslog from
    both processes as RFC 5424 (APP-NAME, PROCID, MSGID the kind, the JSON as MSG),
    exactly as in each process's audit file; after rsyslog restarts, events made
    while it was away arrive too."""
    sink = f"tcp://127.0.0.1:{rsyslog.tcp_port}"
    worker = start_worker("syslog-host", "--audit-log", str(tmp_path / "worker.jsonl"),
                          "--audit-syslog", sink)  # fmt: skip
    frontend = start_frontend([worker.match["endpoint"]], "--audit-log",
                              str(tmp_path / "fe.jsonl"), "--audit-syslog", sink)  # fmt: skip
    try:
        stack = Stack(frontend.match["url"])
        assert sign_in_with_token(stack, "not-the-token") == 403
        assert sign_in_with_token(stack, stack.token) in (200, 302)
        wait_hosts_up(stack, {"syslog-host"})
        await run_a_session(stack, "syslog-host", busybox.name)
        fe_records = audit_lines(tmp_path / "fe.jsonl")
        worker_records = wait_until(
            lambda: [r for r in audit_lines(tmp_path / "worker.jsonl")
                     if r["event"] == "session-end"] and audit_lines(tmp_path / "worker.jsonl"),
            10, "the session's end in the worker's audit log",
        )  # fmt: skip
        assert [r["event"] for r in fe_records] == ["sign-in", "sign-in"]
        assert [r["event"] for r in worker_records] == ["session-start", "session-end"]
        received = wait_received(
            rsyslog, lambda m: len(m) >= len(fe_records) + len(worker_records), "every event"
        )
        check_rfc5424(of_app(received, "dterm-frontend"), fe_records, frontend.pid)
        check_rfc5424(of_app(received, "dterm-worker"), worker_records, worker.pid)
        assert all(re.match(r"<8[56]>1 \S+Z \S+ dterm-\w+ \d+ \S+ \[origin ", line)
                   for line in rsyslog.reemitted())  # fmt: skip

        rsyslog.stop()
        assert sign_in_with_token(stack, stack.token) in (200, 302)
        frontend.wait_log("audit sink syslog cannot deliver")
        restarted = Rsyslog(rsyslog.folder, tcp_port=rsyslog.tcp_port)
        try:
            fe_records = audit_lines(tmp_path / "fe.jsonl")
            received = wait_received(
                restarted, lambda m: len(of_app(m, "dterm-frontend")) >= 3, "the later sign-in"
            )
            check_rfc5424(of_app(received, "dterm-frontend"), fe_records, frontend.pid)
            frontend.wait_log("audit sink syslog delivers again")
        finally:
            restarted.stop()
    finally:
        frontend.stop()
        worker.stop()


def test_events_wait_for_a_unix_socket_daemon_and_arrive_in_order(tmp_path: Path) -> None:
    """With no syslog daemon on the socket yet, events wait in the buffer (counted in
    dterm_audit_buffered); once rsyslog listens there, all arrive, in order."""
    folder = tmp_path / "rsyslog"
    folder.mkdir()
    frontend = start_frontend([], "--audit-log", str(tmp_path / "fe.jsonl"),
                              "--audit-syslog", f"unix://{folder / 'log.sock'}")  # fmt: skip
    try:
        stack = Stack(frontend.match["url"])
        for _ in range(4):
            assert sign_in_with_token(stack, stack.token) in (200, 302)
        frontend.wait_log("audit sink syslog cannot deliver")
        assert metric(frontend_metrics(stack), "dterm_audit_buffered", sink="syslog") == 4
        daemon = Rsyslog(folder)
        try:
            records = audit_lines(tmp_path / "fe.jsonl")
            received = wait_received(daemon, lambda m: len(m) >= 4, "the waiting events", 40)
            check_rfc5424(received, records, frontend.pid)
            wait_until(lambda: metric(frontend_metrics(stack), "dterm_audit_buffered",
                                      sink="syslog") == 0, 10, "nothing buffered")  # fmt: skip
            text = frontend_metrics(stack)
            assert metric(text, "dterm_audit_delivered_total", sink="syslog") == 4
            assert metric(text, "dterm_audit_dropped_total", sink="syslog") == 0
        finally:
            daemon.stop()
    finally:
        frontend.stop()


def test_events_reach_rsyslog_over_udp(rsyslog: Rsyslog, tmp_path: Path) -> None:
    """One datagram per event, parsed by rsyslog as RFC 5424."""
    frontend = start_frontend([], "--audit-log", str(tmp_path / "fe.jsonl"), "--audit-syslog",
                              f"udp://127.0.0.1:{rsyslog.udp_port}")  # fmt: skip
    try:
        stack = Stack(frontend.match["url"])
        for _ in range(3):
            assert sign_in_with_token(stack, stack.token) in (200, 302)
        received = wait_received(rsyslog, lambda m: len(m) >= 3, "three sign-ins")
        check_rfc5424(received, audit_lines(tmp_path / "fe.jsonl"), frontend.pid)
    finally:
        frontend.stop()


async def test_tcp_frames_are_octet_counted() -> None:
    """Over TCP each message is `LENGTH SP MESSAGE` (RFC 6587 3.4.1), never a newline
    (rsyslog takes either, so a listener of our own reads the bytes)."""
    received = bytearray()
    got_all = asyncio.Event()

    async def listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            received.extend(data)
            if len(received) >= len(FRAMED):
                got_all.set()
        writer.close()

    server = await asyncio.start_server(listen, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = SyslogTransport(f"tcp://127.0.0.1:{port}", 5.0)
    try:
        await transport.send([b"<86>1 - - - - - first", "<86>1 é".encode()])
        await asyncio.wait_for(got_all.wait(), 5)
    finally:
        transport.close()
        server.close()
        await server.wait_closed()
    assert bytes(received) == FRAMED


# --- HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    yield found
    found.close()


async def test_http_sink_retries_through_errors_and_a_hang_losing_nothing(
    collector: Collector, busybox: Any, tmp_path: Path
) -> None:
    """The collector answers 503 twice, then hangs past the send timeout, then 200: the
    front end's and the worker's events all arrive once, in order, as JSON lines with
    the bearer token from the token file."""
    collector.script = ["503", "503", "hang"]
    token_file = tmp_path / "token"
    token_file.write_text("collector-token-123\n")
    # under the collector's 3 s hang, and far over a busy machine's 200 (a late 200 repeats)
    sink = ("--audit-http-token-file", str(token_file), "--audit-send-timeout", "2")
    worker = start_worker("http-host", "--audit-log", str(tmp_path / "worker.jsonl"),
                          "--audit-http", collector.url("/worker"), *sink)  # fmt: skip
    frontend = start_frontend([worker.match["endpoint"]], "--audit-log",
                              str(tmp_path / "fe.jsonl"), "--audit-http",
                              collector.url("/frontend"), *sink)  # fmt: skip
    try:
        stack = Stack(frontend.match["url"])
        for _ in range(3):
            assert sign_in_with_token(stack, stack.token) in (200, 302)
        wait_hosts_up(stack, {"http-host"})
        await run_a_session(stack, "http-host", busybox.name)
        fe_records = audit_lines(tmp_path / "fe.jsonl")
        assert len(fe_records) == 3
        assert collector.wait_events("/frontend", 3) == fe_records
        worker_records = collector.wait_events("/worker", 2)
        assert worker_records == audit_lines(tmp_path / "worker.jsonl")
        assert [r["event"] for r in worker_records] == ["session-start", "session-end"]
        assert collector.answered("503") == 2 and collector.answered("hang") == 1
        for request in collector.requests:
            assert request.headers["Content-Type"] == "application/x-ndjson"
            assert request.headers["Authorization"] == "Bearer collector-token-123"
        assert "collector-token-123" not in " ".join(frontend.proc.args)  # type: ignore[arg-type]
        failures = 0.0
        for read in (lambda: frontend_metrics(stack), lambda: worker_metrics(worker)):
            # the collector keeps a batch before it answers: the sender hears a moment later
            wait_until(lambda read=read: metric(read(), "dterm_audit_buffered", sink="http") == 0,
                       10, "nothing buffered")  # fmt: skip
            assert metric(read(), "dterm_audit_dropped_total", sink="http") == 0
            failures += metric(read(), "dterm_audit_send_failures_total", sink="http")
        assert failures == 3  # the two 503s and the hang, whichever process met them
    finally:
        frontend.stop()
        worker.stop()
    assert collector.events("/frontend") == audit_lines(tmp_path / "fe.jsonl")  # no repeats
    for process in (frontend, worker):
        assert "audit sink http: nothing left unsent at shutdown" in process.log()


def test_tiny_buffer_and_a_down_collector_count_every_drop(
    collector: Collector, tmp_path: Path
) -> None:
    """With a buffer of 3 and the collector down, the oldest events are dropped: the
    metric, the log lines and the count left unsent at shutdown add up exactly to
    the events in the audit file."""
    collector.default = "503"
    frontend = start_frontend([], "--audit-log", str(tmp_path / "fe.jsonl"), "--audit-http",
                              collector.url("/frontend"), "--audit-buffer", "3",
                              "--audit-flush-timeout", "0.5")  # fmt: skip
    stopped = False
    try:
        stack = Stack(frontend.match["url"])
        for _ in range(12):
            assert sign_in_with_token(stack, stack.token) in (200, 302)
        events = len(audit_lines(tmp_path / "fe.jsonl"))
        assert events == 12
        text = frontend_metrics(stack)
        dropped = metric(text, "dterm_audit_dropped_total", sink="http")
        held = metric(text, "dterm_audit_buffered", sink="http")
        assert dropped + held == events and 0 < held <= 6 and dropped >= 6
        frontend.wait_log(r"audit sink http dropped the \d+ oldest waiting events")
        frontend.stop()
        stopped = True
    finally:
        if not stopped:
            frontend.stop()
    log = frontend.log()
    said = [int(n) for n in re.findall(r"audit sink http dropped the (\d+) oldest", log)]
    in_all = [int(n) for n in re.findall(r"waiting events \((\d+) in all\)", log)]
    [left] = [int(n) for n in re.findall(r"audit sink http: (\d+) events left unsent", log)]
    assert sum(said) == in_all[-1] and in_all[-1] >= dropped
    assert in_all[-1] + left == events
    assert collector.events("/frontend") == []


def test_on_sigterm_a_sink_tries_again_at_once_and_delivers(
    collector: Collector, tmp_path: Path
) -> None:
    """A sink backing off (seconds to its next try) is hurried by SIGTERM: the
    collector, back meanwhile, gets everything within the flush time."""
    collector.default = "503"
    frontend = start_frontend([], "--audit-log", str(tmp_path / "fe.jsonl"),
                              "--audit-http", collector.url("/frontend"))  # fmt: skip
    stopped = False
    try:
        stack = Stack(frontend.match["url"])
        for _ in range(3):
            assert sign_in_with_token(stack, stack.token) in (200, 302)
        wait_until(lambda: collector.answered("503") >= 4, 20, "four failed tries")
        collector.default = "200"  # its next try is about 4 s away: only a hurry makes it
        frontend.stop()
        stopped = True
    finally:
        if not stopped:
            frontend.stop()
    assert collector.events("/frontend") == audit_lines(tmp_path / "fe.jsonl")
    assert "audit sink http: nothing left unsent at shutdown" in frontend.log()


def test_a_token_file_that_cannot_be_read_stops_the_start(tmp_path: Path) -> None:
    """Said at start with the path, not found out at the first event."""
    missing = tmp_path / "no-such-token"
    with pytest.raises(RuntimeError) as caught:
        start_frontend([], "--audit-http", "https://collector.example/ingest",
                       "--audit-http-token-file", str(missing))  # fmt: skip
    said = str(caught.value)
    assert f"cannot read the audit HTTP token file {missing}" in said and "Traceback" not in said
