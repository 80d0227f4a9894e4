"""Encrypted, authenticated worker links: only front ends with an accepted key get in."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.auth

from shared.keys import LinkKeys, link_keys
from shared.messages import Hello, Welcome
from shared.protocol import OLDEST_PROTOCOL, PROTOCOL_VERSION, decode, encode
from tests.support.http import get_json, wait_hosts_up
from tests.support.processes import REPO, ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import Stack, TerminalClient
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key set of its own (made by the CLI) and an intruder's pair beside it."""
    folder = tmp_path_factory.mktemp("keys")
    for args in (["--set", str(folder)], ["intruder", "--out", str(folder)]):
        subprocess.run([sys.executable, "-m", "dterm_cli.keys", *args],
                       check=True, cwd=REPO, capture_output=True)  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def secure_worker(keys: Path, docker_client: Any) -> Iterator[ManagedProcess]:
    worker = start_worker(
        "secure",
        keys=LinkKeys(keys),
        bind="tcp://0.0.0.0:*",  # a reachable address; the tests still connect over loopback
    )
    yield worker
    worker.stop()


def loopback(worker: ManagedProcess) -> str:
    return "tcp://127.0.0.1:" + worker.match["endpoint"].rsplit(":", 1)[1]


def hello(worker: ManagedProcess, keys: Path | None, name: str = "frontend") -> object | None:
    """Say Hello with a raw pyzmq DEALER; return the reply, or None if none came in 1.5 s."""
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        public, secret = zmq.auth.load_certificate(str(keys / f"{name}.key_secret"))
        socket.curve_publickey, socket.curve_secretkey = public, secret
        socket.curve_serverkey = zmq.auth.load_certificate(str(keys / "worker.key"))[0]
    socket.connect(loopback(worker))
    try:
        socket.send_multipart(encode(Hello("probe", PROTOCOL_VERSION, OLDEST_PROTOCOL)))
        if socket.poll(1500, zmq.POLLIN):
            return decode(socket.recv_multipart())
        return None
    finally:
        socket.close()


def test_accepted_key_is_welcomed(secure_worker: ManagedProcess, keys: Path) -> None:
    """A client with an accepted key gets an answer (the control for the tests below)."""
    assert isinstance(hello(secure_worker, keys), Welcome)


def test_plain_client_gets_nothing(secure_worker: ManagedProcess) -> None:
    """A client without CurveZMQ gets no answer at all."""
    assert hello(secure_worker, None) is None


def test_unknown_key_gets_nothing(secure_worker: ManagedProcess, keys: Path) -> None:
    """A CurveZMQ client whose public key is not in the allowed folder gets nothing."""
    assert hello(secure_worker, keys, name="intruder") is None


async def test_front_end_with_keys_opens_sessions(
    secure_worker: ManagedProcess, keys: Path, busybox: Any
) -> None:
    """A front end holding an accepted key sees the host and opens a session on it."""
    frontend = start_frontend([loopback(secure_worker)], keys=LinkKeys(keys))
    try:
        stack = Stack(frontend.match["url"])
        (await asyncio.to_thread(wait_hosts_up, stack, {"secure"}))
        terminal = await TerminalClient.connect(stack)
        await terminal.open(busybox.name, host="secure", cmd=["echo", "encrypted"])
        await terminal.expect("encrypted")
        await terminal.close()
    finally:
        frontend.stop()


def test_front_end_with_another_key_never_sees_the_host(
    secure_worker: ManagedProcess, keys: Path
) -> None:
    """A front end whose key the worker does not allow cannot reach it."""
    frontend = start_frontend(
        [loopback(secure_worker)],
        "--curve-secret-key",
        str(keys / "intruder.key_secret"),
        "--worker-public-key",
        str(keys / "worker.key"),
        curve=False,
    )
    try:
        stack = Stack(frontend.match["url"])
        with pytest.raises(AssertionError):
            wait_hosts_up(stack, {"secure"}, timeout=3)
        host = get_json(stack, "/api/hosts")["hosts"][0]
        assert host["state"] == "down"
        assert "refused this front end's key" in host["reason"]
        frontend.wait_log(
            r"worker link tcp://\S+: the worker refused this front end's key "
            r"\(\S+/intruder\.key\)"
        )
        assert "worker None" not in frontend.log() and "connection dropped" not in frontend.log()
    finally:
        frontend.stop()


def test_front_end_holding_another_worker_key_says_so(
    secure_worker: ManagedProcess, keys: Path
) -> None:
    """A front end given the wrong worker public key reports the failed handshake in
    /api/hosts and its log, naming the key file it holds."""
    frontend = start_frontend(
        [loopback(secure_worker)],
        "--curve-secret-key",
        str(keys / "frontend.key_secret"),
        "--worker-public-key",
        str(keys / "intruder.key"),
        curve=False,
    )
    try:
        stack = Stack(frontend.match["url"])
        wait_until(
            lambda: "handshake" in (get_json(stack, "/api/hosts")["hosts"][0]["reason"] or ""),
            10,
            "the failed handshake in /api/hosts",
        )
        host = get_json(stack, "/api/hosts")["hosts"][0]
        assert host["state"] == "down" and str(keys / "intruder.key") in host["reason"]
        frontend.wait_log(r"worker link tcp://\S+: the CurveZMQ handshake failed")
        assert "connection dropped" not in frontend.log()
    finally:
        frontend.stop()


def test_a_key_allowed_later_is_used_without_a_restart(tmp_path: Path, docker_client: Any) -> None:
    """Once the operator adds a refused front end's public key to the worker's folder,
    the front end gets in by itself (ZeroMQ alone never dials again after a refusal)."""
    own_keys = link_keys(tmp_path / "keys")[0]
    allowed, parked = own_keys.allowed / "frontend.key", tmp_path / "frontend.key"
    worker = start_worker("later", keys=own_keys)  # it needs a key to start with
    allowed.rename(parked)
    frontend = start_frontend([worker.match["endpoint"]], keys=own_keys)
    try:
        stack = Stack(frontend.match["url"])
        frontend.wait_log(r"refused this front end's key")
        parked.rename(allowed)
        wait_hosts_up(stack, {"later"}, timeout=45)
        assert get_json(stack, "/api/hosts")["hosts"][0]["reason"] is None
    finally:
        frontend.stop()
        worker.stop()


def test_secret_key_without_allowed_keys_is_refused(keys: Path) -> None:
    """Keys without an allow-list would admit any client: the worker refuses to start."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "exec_worker",
            "--bind",
            "tcp://0.0.0.0:*",
            "--curve-secret-key",
            str(keys / "worker.key_secret"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert result.returncode != 0 and "needs --curve-secret-key and --curve-allow" in result.stderr
