"""Every worker link is authenticated: a ZeroMQ peer without an allowed CurveZMQ key
gets nothing from a worker, loopback included, and `dterm up` links its two
processes with keys it makes once and keeps private."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq

from shared.keys import LinkKeys, link_keys, make_pair
from shared.messages import Hello, ListSessions, Message, OpenSession, RecordingPolicy, Welcome
from shared.protocol import OLDEST_PROTOCOL, PROTOCOL_VERSION, decode, encode
from shared.security import ClientKeys
from tests.support.containers import Containers
from tests.support.http import login_cookie, wait_hosts_up
from tests.support.images import docker_url
from tests.support.metrics import fetch, metric
from tests.support.processes import REPO, ManagedProcess, client_keys, start_worker
from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until

UP_READY = re.compile(r"dterm up: open (?P<url>http://\S+)")
WORKER_READY = re.compile(r"dterm worker ready: host=(?P<host>\S+) endpoint=\S+:(?P<port>\d+) "
                          r"http=(?P<http>\S+)")  # fmt: skip
NO_ANSWER_MS = 2000
REFUSALS = "dterm_worker_link_refusals_total"
METRICS_TOKEN = "scrape-the-refusals"


@dataclass
class Up:
    process: ManagedProcess
    state: Path
    host: str
    port: str  # the worker's ZeroMQ port, on 127.0.0.1
    metrics: str

    @property
    def keys(self) -> LinkKeys:
        return LinkKeys(self.state / "keys")

    def refusals(self, reason: str) -> float:
        return metric(fetch(self.metrics, METRICS_TOKEN)[1], REFUSALS, reason=reason)


def up_argv(state: Path, config: Path) -> list[str]:
    """`dterm up` as a person runs it, on free ports, against this run's Docker daemon."""
    return [sys.executable, "-m", "dterm_cli", "up", "--port", "0", "--worker-port", "*",
            "--state-dir", str(state), "--docker-url", docker_url(),
            "--config", str(config)]  # fmt: skip


def start_up(state: Path, config: Path) -> ManagedProcess:
    return ManagedProcess("up", up_argv(state, config), UP_READY, timeout=90)


def up_of(process: ManagedProcess, state: Path) -> Up:
    worker = WORKER_READY.search(process.log())
    assert worker, process.log()
    return Up(process, state, worker["host"], worker["port"], worker["http"] + "/metrics")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("up-config") / "dterm.toml"
    # the default port may be taken on this machine; scraping needs a token
    path.write_text(f'[worker]\nhttp_port = 0\nmetrics_token = "{METRICS_TOKEN}"\n')
    return path


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, config: Path, docker_client: Any) -> Iterator[Up]:
    state = tmp_path_factory.mktemp("up-state") / "dterm"
    process = start_up(state, config)
    yield up_of(process, state)
    process.stop()


def dealer(port: str, source: str, keys: ClientKeys | None) -> zmq.Socket[bytes]:
    """A raw DEALER to 127.0.0.1:port from the loopback address `source`, with keys or none."""
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        keys.apply(socket)
    socket.connect(f"tcp://{source}:0;127.0.0.1:{port}")
    return socket


def answers(socket: zmq.Socket[bytes], messages: list[Message]) -> list[Message]:
    """Send each message; whatever comes back within the deadline."""
    for message in messages:
        socket.send_multipart(encode(message))
    got = []
    while socket.poll(NO_ANSWER_MS):
        got.append(decode(socket.recv_multipart()))
    return got


def open_session(container: str) -> OpenSession:
    return OpenSession(
        session="raw@host", attachment="raw-1", person="someone", address="10.9.8.7",
        container=container, cmd=["sh", "-c", "echo taken-over"], user="root", workdir=None,
        cols=80, rows=24, recording=RecordingPolicy.FORBIDDEN, record_input=False,
    )  # fmt: skip


def exit_code(process: ManagedProcess) -> int | None:
    """How the process ended within 30 s; None (and killed) if it is still running."""
    try:
        return process.proc.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return None


def refusal_lines(up: Up, peer: str) -> list[str]:
    return [line for line in up.process.log().splitlines() if f"refused ZeroMQ peer {peer}" in line]


# --- peers without an allowed key --------------------------------------------------------


def test_plain_client_on_loopback_gets_nothing_and_starts_nothing(
    up: Up, containers: Containers
) -> None:
    """A ZeroMQ client without keys, on 127.0.0.1, gets no answer to hello, list or open
    from `dterm up`'s worker, and no exec starts in the container it names."""
    box = containers.run(name="dterm-test-link-plain")
    socket = dealer(up.port, "127.0.0.2", None)
    try:
        hello = Hello("intruder", PROTOCOL_VERSION, OLDEST_PROTOCOL)
        got = answers(socket, [hello, ListSessions("r", "dev"), open_session(box.id)])
    finally:
        socket.close()
    assert got == []
    box.reload()
    assert not box.attrs.get("ExecIDs"), box.attrs.get("ExecIDs")
    assert "dterm-test-link-plain" not in up.process.log()
    wait_until(lambda: up.refusals("handshake") >= 1, 10, "the refusal counted")
    up.process.wait_log(r"refused ZeroMQ peer on tcp://\S+ \(ZeroMQ gives no address\)")


def test_unknown_key_gets_nothing_and_is_logged_once_and_counted(
    up: Up, tmp_path: Path, containers: Containers
) -> None:
    """A CurveZMQ client holding the worker's public key but a key of its own that is not
    allowed gets nothing; its refusals are all counted and logged in one line."""
    box = containers.run(name="dterm-test-link-stranger")
    _, secret = make_pair(tmp_path, "stranger")
    stranger = ClientKeys.load(str(secret), str(up.keys.worker_public))
    before = up.refusals("unknown-key")
    for _ in range(3):  # three connections, three handshakes refused
        socket = dealer(up.port, "127.0.0.3", stranger)
        try:
            got = answers(
                socket, [Hello("stranger", PROTOCOL_VERSION, OLDEST_PROTOCOL), open_session(box.id)]
            )
        finally:
            socket.close()
        assert got == []
    wait_until(lambda: up.refusals("unknown-key") >= before + 3, 10, "three refusals counted")
    up.process.wait_log("refused ZeroMQ peer 127.0.0.3")  # passed on by `dterm up`, a moment later
    lines = refusal_lines(up, "127.0.0.3")
    assert len(lines) == 1, lines
    assert stranger.public.decode() in lines[0] and "warning" in lines[0].lower()
    box.reload()
    assert not box.attrs.get("ExecIDs")


@dataclass
class Keyed:
    worker: ManagedProcess
    keys: LinkKeys

    def hello(self) -> list[Message]:
        """Hello from a client holding the set's front-end key, on a new connection."""
        port = self.worker.match["endpoint"].rsplit(":", 1)[1]
        socket = dealer(port, "127.0.0.1", client_keys(self.keys))
        try:
            return answers(socket, [Hello("fe", PROTOCOL_VERSION, OLDEST_PROTOCOL)])
        finally:
            socket.close()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[Keyed]:
    """A worker with a key set of its own, whose allowed folder the tests change."""
    keys = link_keys(tmp_path_factory.mktemp("own-keys") / "keys")[0]
    worker = start_worker("revoking", keys=keys)
    yield Keyed(worker, keys)
    worker.stop()


def test_removed_key_is_refused_without_a_restart(keyed: Keyed, tmp_path: Path) -> None:
    """A front-end key taken out of the allowed folder is refused from the next
    connection on; put back, it is welcomed again; the worker never restarts."""
    allowed = keyed.keys.allowed / "frontend.key"
    kept = tmp_path / "frontend.key"
    assert isinstance(keyed.hello()[0], Welcome)
    allowed.rename(kept)
    try:
        assert keyed.hello() == []
    finally:
        kept.rename(allowed)
    assert isinstance(keyed.hello()[0], Welcome)


def test_unreadable_allowed_keys_refuse_everyone_until_mended(keyed: Keyed) -> None:
    """A broken file in the allowed folder fails closed, said once in the log, however
    many connections come meanwhile."""
    broken = keyed.keys.allowed / "broken.key"
    broken.write_text("not a key\n")
    try:
        assert keyed.hello() == [] and keyed.hello() == []
    finally:
        broken.unlink()
    assert isinstance(keyed.hello()[0], Welcome)
    assert keyed.worker.log().count("refusing every front end until this is mended") == 1


# --- processes without keys refuse to start ---------------------------------------------


@pytest.mark.parametrize(
    "bind", ["tcp://127.0.0.1:*", "ipc://{tmp}/worker.sock", "tcp://0.0.0.0:*"]
)
def test_worker_without_keys_exits_with_a_clear_error(
    bind: str, tmp_path: Path, docker_client: Any
) -> None:
    """Whatever its endpoint, loopback and ipc included, a worker without keys does not
    start, and says in one line what it needs and where to read how to make it."""
    worker = start_worker("keyless", bind=bind.format(tmp=tmp_path), curve=False, wait=False)
    assert exit_code(worker) == 1
    lines = worker.log().strip().splitlines()
    assert len(lines) == 1, lines
    assert "needs --curve-secret-key and --curve-allow" in lines[0]
    assert "dterm keys" in lines[0] and "Many hosts" in lines[0]


def test_front_end_without_keys_exits_with_a_clear_error() -> None:
    """A front end without keys does not start either."""
    result = subprocess.run([sys.executable, "-m", "frontend_server", "--port", "0"],
                            capture_output=True, text=True, timeout=30, cwd=REPO)  # fmt: skip
    assert result.returncode == 1
    assert "needs --curve-secret-key and --worker-public-key" in result.stderr


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o602])
def test_secret_key_open_to_others_stops_the_worker(
    mode: int, tmp_path: Path, docker_client: Any
) -> None:
    """A secret key file that group or others may read or write is refused by name, as
    ssh refuses such a private key."""
    keys = link_keys(tmp_path / "keys")[0]
    keys.worker_secret.chmod(mode)
    worker = start_worker("open-key", keys=keys, wait=False)
    assert exit_code(worker) == 1
    assert str(keys.worker_secret) in worker.log()
    assert f"mode {mode:04o}" in worker.log() and "chmod 600" in worker.log()


def test_secret_key_open_to_others_stops_the_front_end(tmp_path: Path) -> None:
    """The front end's secret key file is held to the same rule."""
    keys = link_keys(tmp_path / "keys")[0]
    keys.frontend_secret.chmod(0o644)
    result = subprocess.run([sys.executable, "-m", "frontend_server", "--port", "0",
                             *keys.frontend_flags()],
                            capture_output=True, text=True, timeout=30, cwd=REPO)  # fmt: skip
    assert result.returncode == 1
    assert str(keys.frontend_secret) in result.stderr and "chmod 600" in result.stderr


# --- dterm up ---------------------------------------------------------------------------


def test_up_makes_private_keys_and_its_url_works(up: Up) -> None:
    """On a fresh state folder `dterm up` makes both key pairs (folder 0700, secrets 0600),
    says where, and the URL it prints signs in and shows the host up."""
    keys = up.keys
    assert f"worker link keys made in {keys.folder}" in up.process.log()
    assert stat.S_IMODE(keys.folder.stat().st_mode) == 0o700
    for secret in (keys.worker_secret, keys.frontend_secret):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert (keys.allowed / "frontend.key").read_bytes() == (
        keys.folder / "frontend.key"
    ).read_bytes()
    url = UP_READY.search(up.process.log())
    assert url
    stack = Stack(url["url"])
    wait_hosts_up(stack, {up.host}, headers={"Cookie": login_cookie(stack)})


def test_second_up_reuses_the_keys(up: Up, config: Path) -> None:
    """A later `dterm up` on the same state folder reuses the keys it made, unchanged."""
    before = {p: p.read_bytes() for p in up.keys.folder.rglob("*") if p.is_file()}
    second = start_up(up.state, config)
    try:
        assert f"worker link keys reused in {up.keys.folder}" in second.log()
        url = UP_READY.search(second.log())
        assert url
        wait_hosts_up(Stack(url["url"]), {up_of(second, up.state).host})
    finally:
        second.stop()
    assert {p: p.read_bytes() for p in up.keys.folder.rglob("*") if p.is_file()} == before


def test_up_refuses_keys_opened_to_others(tmp_path: Path, config: Path) -> None:
    """`dterm up` will not run on keys whose mode was opened, and says which and why."""
    keys = link_keys(tmp_path / "dterm" / "keys")[0]
    shutil.copymode(keys.worker_public, keys.worker_secret)  # 0644, as a careless copy leaves it
    argv = up_argv(tmp_path / "dterm", config)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode != 0
    assert str(keys.worker_secret) in result.stderr and "mode 0644" in result.stderr
    assert "starting the worker" not in result.stdout
