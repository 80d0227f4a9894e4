"""Files in and out of containers through the worker, and the open request's workdir."""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import quote

from tests.support.http import call, cookie_of, xsrf
from tests.support.terminal_client import PROMPT, Stack, TerminalClient


def bearer(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


def file_url(box: Any, path: str) -> str:
    return f"/api/files?host=local&container={box.name}&path={quote(path)}"


def put(stack: Stack, url: str, data: bytes, headers: dict[str, str] | None = None) -> Any:
    return call(stack, url, "PUT", headers or bearer(stack), raw=data)


def test_upload_then_download_binary_bytes_exactly(stack: Stack, busybox: Any) -> None:
    """3 MB of random bytes go in and come back out identical."""
    data = os.urandom(3_000_000)
    stored = put(stack, file_url(busybox, "/tmp/blob.bin"), data)
    assert stored.status == 200, stored.body
    assert stored.json() == {
        "host": "local",
        "container": busybox.name,
        "path": "/tmp/blob.bin",
        "size": len(data),
    }
    fetched = call(stack, file_url(busybox, "/tmp/blob.bin"), headers=bearer(stack))
    assert fetched.status == 200 and fetched.body == data
    assert "blob.bin" in fetched.headers["Content-Disposition"]


async def test_uploaded_file_is_seen_by_the_shell(stack: Stack, busybox: Any) -> None:
    assert put(stack, file_url(busybox, "/tmp/hello.txt"), b"hello from upload\n").status == 200
    terminal = await TerminalClient.connect(stack)
    await terminal.open(busybox.name, host="local", cmd=["cat", "/tmp/hello.txt"])
    await terminal.expect(b"hello from upload\r\n")
    await terminal.close()


async def test_upload_into_the_shells_working_directory(stack: Stack, busybox: Any) -> None:
    """With a session id and a name, the file lands where the shell is."""
    terminal = await TerminalClient.connect(stack)
    opened = await terminal.open(busybox.name, host="local")
    await terminal.expect(PROMPT)
    await terminal.run("mkdir -p /tmp/here && cd /tmp/here")
    url = f"/api/files?session={quote(opened['session'])}&name=dropped.txt"
    stored = put(stack, url, b"dropped\n")
    assert stored.status == 200 and stored.json()["path"] == "/tmp/here/dropped.txt", stored.body
    assert (await terminal.run("cat dropped.txt")).strip() == b"dropped"
    await terminal.run("printf made-here > made.txt")
    fetched = await asyncio.to_thread(
        call,
        stack,
        f"/api/files?session={quote(opened['session'])}&name=made.txt",
        headers=bearer(stack),
    )
    assert fetched.status == 200 and fetched.body == b"made-here"
    await terminal.close()


def test_transfer_errors_are_clear(stack: Stack, busybox: Any) -> None:
    """Bad paths, missing files, directories and oversized uploads get JSON errors."""
    cases = [
        (put(stack, file_url(busybox, "relative.txt"), b"x"), 400),
        (put(stack, file_url(busybox, "/no/such/dir/x.txt"), b"x"), 404),
        (call(stack, file_url(busybox, "/no-such-file"), headers=bearer(stack)), 404),
        (call(stack, file_url(busybox, "/tmp"), headers=bearer(stack)), 400),
        (call(stack, "/api/files?host=local&container=nope&path=/x", headers=bearer(stack)), 404),
        (
            call(stack, f"/api/files?host=local&container={busybox.name}", headers=bearer(stack)),
            400,
        ),
    ]
    for reply, status in cases:
        assert reply.status == status, reply.body
        assert reply.json()["message"]
    assert cases[1][0].json()["message"] == f"no folder /no/such/dir in {busybox.name}"
    huge = {**bearer(stack), "Content-Length": str(200 << 20)}
    too_big = call(stack, file_url(busybox, "/tmp/huge"), "PUT", huge)
    assert too_big.status == 413 and too_big.json()["error"] == "too_large"


def test_uploads_need_the_xsrf_token_with_a_cookie(stack: Stack, busybox: Any) -> None:
    """A cookie-authenticated upload without the XSRF token is refused (CSRF)."""
    login = call(stack, f"/?token={stack.token}")
    cookie = cookie_of(login)
    refused = put(stack, file_url(busybox, "/tmp/csrf.txt"), b"x", {"Cookie": cookie})
    assert refused.status == 403
    token = xsrf(stack)
    headers = {"Cookie": f"{cookie}; {token['Cookie']}", "X-XSRFToken": token["X-XSRFToken"]}
    assert put(stack, file_url(busybox, "/tmp/csrf.txt"), b"x", headers).status == 200


async def test_open_in_a_working_directory_as_a_user(stack: Stack, busybox: Any) -> None:
    """`workdir` and `user` of the open request are where and who the command runs."""
    terminal = await TerminalClient.connect(stack)
    await terminal.open(
        busybox.name, host="local", cmd=["sh", "-c", "pwd; id -un"], workdir="/tmp", user="alice"
    )
    await terminal.expect(b"/tmp\r\nalice\r\n")
    await terminal.close()
    missing = await TerminalClient.connect(stack)
    await missing.open(busybox.name, host="local", cmd=["pwd"], workdir="/no/such/dir")
    error = await missing.next_control("error")
    assert error["code"] == "start_failed" and "working directory" in error["message"]
    await missing.close()


def test_download_abandoned_half_way_harms_nothing(stack: Stack, busybox: Any) -> None:
    """A browser that leaves in the middle of a download ends only that transfer."""
    import http.client
    from urllib.parse import urlsplit

    data = os.urandom(4_000_000)
    assert put(stack, file_url(busybox, "/tmp/abandoned.bin"), data).status == 200
    parts = urlsplit(stack.base)
    for _ in range(3):
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        conn.request("GET", file_url(busybox, "/tmp/abandoned.bin"), headers=bearer(stack))
        response = conn.getresponse()
        assert response.read(100_000)
        conn.close()
    fetched = call(stack, file_url(busybox, "/tmp/abandoned.bin"), headers=bearer(stack))
    assert fetched.body == data
