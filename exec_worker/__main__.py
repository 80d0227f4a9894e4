"""dterm worker: the exec worker of one Docker host, next to the daemon socket it owns."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping

import zmq
from tornado.httpserver import HTTPServer

from exec_worker import metrics
from exec_worker.daemon_check import no_daemon
from exec_worker.docker_exec import DockerHost
from exec_worker.server import WorkerServer
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
    check_worker_security(config)
    keys = load_secret_key(config.curve_secret_key)  # a bad key file stops the start here
    private_folder(config.state_dir, "state")  # its records say which processes to end
    if config.record:
        private_folder(config.recordings_dir, "recordings")
    # before any ZeroMQ socket: a port in use is refused with its reason, not left
    # to the context's teardown with sockets still on the loop (libzmq aborts)
    sockets = listen(config.http_address, config.http_port, "http_address, http_port")
    audit = AuditLog(config.audit_log, sinks := make_sinks(config, "dterm-worker"))
    try:
        docker = await DockerHost.connect(config.docker_url, config.docker_threads)
    except DtermError as exc:
        raise Unavailable(no_daemon(config.docker_url, exc)) from None
    context = zmq.Context()
    try:
        server = WorkerServer(config, context, docker, await docker.facts(), audit)
        endpoint = server.bind(keys)
        http = HTTPServer(metrics.make_app(docker.facts, config.metrics_token))
        http.add_sockets(sockets)
        address, port = sockets[0].getsockname()[:2]
        print(
            f"dterm worker ready: host={config.host_id} endpoint={endpoint} "
            f"http=http://{address}:{port}",
            flush=True,
        )
        await server.serve(stop)
        http.stop()
    finally:
        await close_sinks(sinks, config.audit_flush_timeout)  # the sessions' ends included
        audit.close()
        context.destroy(linger=0)  # sockets still open here are on an error path
        docker.close()


def run(argv: list[str] | None = None) -> int:
    """Run, then leave at once: a Docker thread may still wait for a daemon that no
    longer answers, and its sessions' processes are already ended."""
    code = run_process("dterm worker", sys.argv[1:] if argv is None else argv, parse_config, main)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(run())
