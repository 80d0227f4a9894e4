"""How sessions end: exit, close, a stopped container, a resize that comes too late;
and the connection's keep-alive pings."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from tests.support.containers import Containers
from tests.support.http import wait_hosts_up
from tests.support.metrics import fetch, metric
from tests.support.processes import (
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    start_frontend,
    start_worker,
)
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import eventually


async def test_container_stopped_while_open(client: TerminalClient, containers: Containers) -> None:
    """Killing the container ends the session with reason `container-stopped`."""
    doomed = containers.run()
    await client.open(doomed.name, host="local")
    await client.expect(PROMPT)
    doomed.kill()
    exit_message = await client.wait_exit()
    assert exit_message["reason"] == "container-stopped"


async def test_a_container_started_a_moment_ago_opens(
    client: TerminalClient, containers: Containers
) -> None:
    """An open may name a container its host has not reported yet (`docker run`, then a
    click): it waits for it a little, at the size asked meanwhile, and opens."""
    name = f"dterm-test-new-{secrets.token_hex(4)}"
    request = {"host": "local", "container": name, "cols": 80, "rows": 24}
    client.send_control({"type": "open", **request})
    client.send_control({"type": "resize", "cols": 91, "rows": 27})
    await asyncio.to_thread(containers.run, name=name)
    opened = await client.next_control("opened")
    assert opened["container"] == name and client.control("error") is None
    await client.expect(PROMPT)
    assert (await client.run("stty size")).strip() == b"27 91"


async def test_a_resize_while_the_exec_starts_is_applied(
    client: TerminalClient, busybox: Any
) -> None:
    """A window resized between `open` and `opened` gets its size once the exec runs."""
    client.send_control({"type": "open", "host": "local", "container": busybox.name})
    client.send_control({"type": "resize", "cols": 101, "rows": 33})
    await client.next_control("opened")
    await client.expect(PROMPT)
    assert (await client.run("stty size")).strip() == b"33 101"
    assert client.control("error") is None


async def test_close_message_ends_the_session(client: TerminalClient, busybox: Any) -> None:
    """A `close` message ends the session with reason `closed`."""
    await client.open(busybox.name, host="local")
    await client.expect(PROMPT)
    client.send_control({"type": "close"})
    exit_message = await client.wait_exit()
    assert exit_message["reason"] == "closed"


async def test_resize_after_exit_ends_quietly(
    client: TerminalClient, busybox: Any, worker: ManagedProcess
) -> None:
    """Resizes racing the exit give no error: the session just reports its exit code."""
    await client.open(busybox.name, host="local", cmd=["sh", "-c", "echo ready; read x; exit 5"])
    await client.expect("ready")
    client.send_keys(b"\r")
    for cols in range(60, 100):
        client.send_control({"type": "resize", "cols": cols, "rows": 30})
    exit_message = await client.wait_exit()
    assert exit_message == {"type": "exit", "code": 5, "reason": "exited"}
    for cols in range(60, 70):  # after the exit, too
        client.send_control({"type": "resize", "cols": cols, "rows": 30})
    errors = [c for c in client.controls if c["type"] == "error"]
    assert all(e["code"] == "bad_request" for e in errors)  # "no session", from the front end
    assert "Traceback" not in worker.log()


async def test_websocket_pings_keep_an_idle_connection_alive(stack: Stack) -> None:
    """The server pings an idle connection every `ws_ping_interval` seconds (20 by
    default, below the 60 s after which proxies cut idle connections)."""
    from shared.settings import FrontendConfig

    assert FrontendConfig().ws_ping_interval == 20
    frontend = start_frontend([], "--ws-ping-interval", "0.5", "--token", "pinged")
    try:
        terminal = await TerminalClient.connect(Stack(frontend.match["url"]))
        await terminal.wait_for(lambda: terminal.pings >= 3, 10, "three pings")
        await terminal.close()
    finally:
        frontend.stop()


async def test_open_on_a_dead_worker_is_unavailable(busybox: Any) -> None:
    """With its worker killed, opening a session on that host is refused as unavailable."""
    worker = start_worker("doomed")
    frontend = start_frontend([worker.match["endpoint"]])
    try:
        stack = Stack(frontend.match["url"])
        (await asyncio.to_thread(wait_hosts_up, stack, {"doomed"}))
        worker.kill()
        terminal = await TerminalClient.connect(stack)
        terminal.send_control({"type": "open", "host": "doomed", "container": busybox.name})
        error = await terminal.next_control("error", timeout=20)
        assert error["code"] == "unavailable", error
        await terminal.close()
    finally:
        worker.kill()
        frontend.stop()


async def test_short_sessions_count_no_docker_errors(
    stack: Stack, worker: ManagedProcess, busybox: Any
) -> None:
    """A resize that meets an exec which has just ended (every short session on a daemon
    older than API 1.42) is an answer, not a Docker error: no error is counted or logged."""
    url = worker.match["http"] + "/metrics"
    before = metric(
        (await asyncio.to_thread(fetch, url, WORKER_METRICS_TOKEN))[1],
        "dterm_worker_docker_errors_total",
        call="exec_resize",
    )
    for _ in range(5):
        client = await TerminalClient.connect(stack)
        await client.open(busybox.name, host="local", cmd=["true"])
        await client.wait_exit()
        await client.close()
    after = metric(
        (await asyncio.to_thread(fetch, url, WORKER_METRICS_TOKEN))[1],
        "dterm_worker_docker_errors_total",
        call="exec_resize",
    )
    assert after == before


async def test_ended_sessions_are_let_go_and_leave_the_worker_no_bigger(busybox: Any) -> None:
    """200 sessions that print 100 kB and end, 20 at a time: once the grace period
    has let go of them the worker holds none (its sessions_held metric), and its memory
    is about what it was after the first 40: no ring, recorder or books stay behind."""
    worker = start_worker("forgetful", "--grace", "1")
    frontend = start_frontend([worker.match["endpoint"]])
    stack = Stack(frontend.match["url"], host="forgetful")

    async def one() -> None:
        client = await TerminalClient.connect(stack)
        await client.open(busybox.name, host="forgetful", cmd=["seq", "1", "20000"])
        await client.wait_exit()
        await client.close()

    def held() -> float:
        text = fetch(worker.match["http"] + "/metrics", WORKER_METRICS_TOKEN)[1]
        return metric(text, "dterm_worker_sessions_held")

    try:
        (await asyncio.to_thread(wait_hosts_up, stack, {"forgetful"}))
        rss = []
        for batches in (2, 8):  # 40 sessions, then 160 more
            for _ in range(batches):
                await asyncio.gather(*(one() for _ in range(20)))
            await eventually(lambda: held() == 0, 20, "every ended session let go")
            rss.append(worker.rss())
        growth = (rss[1] - rss[0]) / 2**20
        print(f"worker RSS after 40 sessions {rss[0] / 2**20:.1f} MiB, after 200 +{growth:.1f} MiB")
        assert growth < 16, f"the worker grew {growth:.1f} MiB over 160 sessions that ended"
    finally:
        frontend.stop()
        worker.stop()
