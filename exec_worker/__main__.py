"""dterm worker: the exec worker of one Docker host, next to the daemon socket it owns."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

import zmq
from tornado.httpserver import HTTPServer

from exec_worker import metrics
from exec_worker.daemon_check import no_daemon
from exec_worker.docker_exec import DockerHost
from exec_worker.server import WorkerServer
from exec_worker.takeover import HandoverFailed, Successor
from shared.audit import AuditLog
from shared.audit_sinks import close_sinks, make_sinks
from shared.errors import DtermError, Unavailable
from shared.process import listen, run_process
from shared.security import load_secret_key, private_folder
from shared.settings import WorkerConfig, check_worker_security
from shared.settings_sources import Settings, parse_args

log = logging.getLogger("exec_worker")


SETTINGS = Settings(WorkerConfig, "worker")


def parse_config(
    argv: list[str], env: Mapping[str, str] = os.environ
) -> tuple[WorkerConfig, argparse.Namespace]:
    config: WorkerConfig
    config, flags = parse_args(SETTINGS, "dterm worker", __doc__ or "", argv, env)
    return config, flags


async def main(config: WorkerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, start_successor)
    check_worker_security(config)
    keys = load_secret_key(config.curve_secret_key)  # a bad key file stops the start here
    private_folder(config.state_dir, "state")  # its records say which processes to end
    if config.record:
        private_folder(config.recordings_dir, "recordings")
    # before any ZeroMQ socket: a port in use is refused with its reason, not left
    # to the context's teardown with sockets still on the loop (libzmq aborts). A
    # successor binds it once the worker before has let go of it.
    sockets = None if config.take_over else listen_http(config)
    audit = AuditLog(config.audit_log, sinks := make_sinks(config, "dterm-worker"))
    try:
        docker = await DockerHost.connect(config.docker_url, config.docker_threads)
    except DtermError as exc:
        raise Unavailable(no_daemon(config.docker_url, exc)) from None
    context = zmq.Context()
    handed_over = False
    try:
        server = WorkerServer(config, context, docker, await docker.facts(), audit)
        http = HttpEndpoint(config, docker)
        server.endpoint_hooks = (http.close, http.open)
        if sockets is None:
            endpoint = await take_over(server, config, lambda: server.bind(keys), http)
        else:
            http.open(sockets)
            endpoint = server.bind(keys)
        print(
            f"dterm worker ready: host={config.host_id} endpoint={endpoint} "
            f"http=http://{http.address}:{http.port}",
            flush=True,
        )
        notify_systemd()
        await server.serve(stop)
        http.close()
        handed_over = server.handovers.finished.is_set()
    finally:
        context.destroy(linger=1000 if handed_over else 0)
        await close_sinks(sinks, config.audit_flush_timeout)  # the sessions' ends included
        audit.close()
        docker.close()


def listen_http(config: WorkerConfig) -> list[socket.socket]:
    return listen(config.http_address, config.http_port, "http_address, http_port")


class HttpEndpoint:
    """/metrics, /healthz and /readyz: let go of during a handover, like the ZeroMQ one."""

    def __init__(self, config: WorkerConfig, docker: DockerHost) -> None:
        self._config = config
        self._app = metrics.make_app(docker.facts, config.metrics_token)
        self._server: HTTPServer | None = None
        self.address, self.port = config.http_address, config.http_port

    def open(self, sockets: list[socket.socket] | None = None) -> None:
        self._server = HTTPServer(self._app)
        sockets = sockets or listen_http(self._config)
        self._server.add_sockets(sockets)
        self.address, self.port = sockets[0].getsockname()[:2]

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


async def take_over(
    server: WorkerServer, config: WorkerConfig, bind: Callable[[], str], http: HttpEndpoint
) -> str:
    """Take every session of the running worker, then its endpoints; a failure ends
    this process and leaves the running worker serving."""
    successor = Successor(server, config.state_dir)
    started = time.monotonic()
    try:
        count = await successor.receive()

        async def bind_all() -> str:
            http.open()
            return await bind_retrying_with(bind)

        endpoint: str = await successor.bind_when_released(bind_all)
    except Exception as exc:
        successor.give_up(str(exc))
        raise HandoverFailed(f"takeover failed: {exc}") from exc
    log.info("took over %d sessions in %.3f s", count, time.monotonic() - started)
    return endpoint


async def bind_retrying_with(bind: Callable[[], str], seconds: float = 5.0) -> str:
    """Bind, trying again while the worker before lets go of the address."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return bind()
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


_ARGV: list[str] = []


def start_successor() -> None:
    """SIGHUP: start a new worker that takes this one's sessions over (then this one
    exits); if it fails, this one goes on serving and says why."""
    argv = [a for a in _ARGV if a != "--take-over"]
    log.info("SIGHUP: starting a successor to take the sessions over")
    subprocess.Popen([sys.executable, "-m", "exec_worker", *argv, "--take-over"])


def notify_systemd() -> None:
    """Under systemd (Type=notify), this process is the service now, and ready."""
    path = os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return
    address = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(f"READY=1\nMAINPID={os.getpid()}".encode(), address)


def run(argv: list[str] | None = None) -> int:
    """Run, then leave at once: a Docker thread may still wait for a daemon that no
    longer answers, and its sessions' processes are already ended."""
    _ARGV[:] = sys.argv[1:] if argv is None else argv
    code = run_process("dterm worker", _ARGV, parse_config, main)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(run())
