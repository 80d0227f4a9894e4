"""The HTTP side: sign-in by token, cookies, Origin checks and the REST API."""

from __future__ import annotations

from typing import Any

from tornado.httpclient import HTTPRequest

from tests.support.http import call, get_json, login_cookie
from tests.support.terminal_client import Stack, TerminalClient, expect_http_error


def test_api_needs_sign_in(stack: Stack) -> None:
    """Without a cookie or token the API answers 401; a wrong bearer token too."""
    assert call(stack, "/api/hosts").status == 401
    assert call(stack, "/api/containers", headers={"Authorization": "Bearer wrong"}).status == 401


def test_token_url_sets_a_safe_cookie_and_redirects(stack: Stack) -> None:
    """The printed URL signs in once: HttpOnly, SameSite=Strict cookie and a clean redirect."""
    response = call(stack, f"/?token={stack.token}")
    assert response.status == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert call(stack, "/api/hosts", headers={"Cookie": cookie.split(";", 1)[0]}).status == 200


def test_wrong_token_and_forged_cookie_are_refused(stack: Stack) -> None:
    """A wrong token sets no cookie; a cookie not signed by the server is ignored."""
    response = call(stack, "/?token=guess")
    assert response.status == 403
    assert "dterm_login" not in str(response.headers.get_all("Set-Cookie"))
    forged = "dterm_login=2|1:0|10:1700000000|11:dterm_login|4:ZGV2|" + "0" * 64
    assert call(stack, "/api/hosts", headers={"Cookie": forged}).status == 401


async def test_websocket_needs_sign_in(stack: Stack) -> None:
    """The WebSocket upgrade is refused without credentials."""
    assert await expect_http_error(HTTPRequest(stack.ws_url())) == 401
    bad = HTTPRequest(stack.ws_url(), headers={"Authorization": "Bearer wrong"})
    assert await expect_http_error(bad) == 401


async def test_foreign_origin_is_refused(stack: Stack) -> None:
    """A WebSocket from another site is refused even with a valid cookie (CSWSH)."""
    headers = {"Cookie": login_cookie(stack), "Origin": "https://evil.example"}
    assert await expect_http_error(HTTPRequest(stack.ws_url(), headers=headers)) == 403


async def test_same_origin_cookie_opens_a_session(stack: Stack, busybox: Any) -> None:
    """The page's own origin with the login cookie may open sessions."""
    headers = {"Cookie": login_cookie(stack), "Origin": stack.base}
    terminal = await TerminalClient.connect(stack, token="", headers=headers)
    try:
        await terminal.open(busybox.name, host="local", cmd=["echo", "via-cookie"])
        await terminal.expect("via-cookie")
    finally:
        await terminal.close()


def test_hosts_and_containers(stack: Stack, busybox: Any) -> None:
    """The API lists the worker's host as up with Docker facts, and its containers."""
    hosts = get_json(stack, "/api/hosts")["hosts"]
    assert [h["host"] for h in hosts] == ["local"]
    assert hosts[0]["state"] == "up" and hosts[0]["docker_version"]
    listed = get_json(stack, "/api/containers")
    assert listed["errors"] == []
    mine = [c for c in listed["containers"] if c["name"] == busybox.name]
    assert mine and mine[0]["host"] == "local" and mine[0]["state"] == "running"
    assert mine[0]["id"] == busybox.id and mine[0]["labels"]["dterm-test"] == "1"
