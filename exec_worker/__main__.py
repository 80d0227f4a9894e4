"""Entry point: `python -m exec_worker`. Parses settings, runs one event loop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

import uvloop
import zmq

from exec_worker.docker_exec import DockerHost
from exec_worker.server import WorkerServer
from shared.config import WorkerConfig, check_worker_security
from shared.errors import DtermError
from shared.process import raise_open_file_limit, setup_logging
from shared.security import start_authenticator

log = logging.getLogger("exec_worker")


def parse_config(argv: list[str]) -> tuple[WorkerConfig, str]:
    defaults = WorkerConfig()
    parser = argparse.ArgumentParser(prog="exec_worker", description=__doc__)
    parser.add_argument("--host-id", default=os.environ.get("DTERM_HOST_ID", defaults.host_id))
    parser.add_argument("--bind", default=os.environ.get("DTERM_WORKER_BIND", defaults.bind))
    parser.add_argument("--docker-url", default=os.environ.get("DOCKER_HOST", defaults.docker_url))
    parser.add_argument("--docker-threads", type=int, default=defaults.docker_threads)
    parser.add_argument("--window", type=int, default=defaults.window)
    parser.add_argument("--ring-bytes", type=int, default=defaults.ring_bytes)
    parser.add_argument(
        "--grace",
        type=float,
        default=defaults.grace,
        help="seconds a session waits for its owner to reconnect",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=defaults.idle_timeout,
        help="seconds without keystrokes before a session ends (0: never)",
    )
    parser.add_argument("--idle-warning", type=float, default=defaults.idle_warning)
    parser.add_argument("--kill-grace", type=float, default=defaults.kill_grace)
    parser.add_argument("--deny-label", default=defaults.deny_label)
    parser.add_argument("--allow-label", default=defaults.allow_label)
    parser.add_argument("--max-sessions", type=int, default=defaults.max_sessions)
    parser.add_argument(
        "--max-sessions-per-person", type=int, default=defaults.max_sessions_per_person
    )
    parser.add_argument("--max-upload-bytes", type=int, default=defaults.max_upload_bytes)
    parser.add_argument("--audit-log", default=os.environ.get("DTERM_AUDIT_LOG", ""))
    parser.add_argument(
        "--curve-secret-key",
        default=os.environ.get("DTERM_CURVE_SECRET_KEY", ""),
        help="this worker's CurveZMQ .key_secret file (encrypts links; allows non-loopback binds)",
    )
    parser.add_argument(
        "--curve-allow",
        default=os.environ.get("DTERM_CURVE_ALLOW", ""),
        help="folder of front-end public keys (*.key) to accept",
    )
    parser.add_argument("--log-level", default=os.environ.get("DTERM_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    config = WorkerConfig(
        host_id=args.host_id,
        bind=args.bind,
        docker_url=args.docker_url,
        docker_threads=args.docker_threads,
        window=args.window,
        ring_bytes=args.ring_bytes,
        grace=args.grace,
        idle_timeout=args.idle_timeout,
        idle_warning=args.idle_warning,
        kill_grace=args.kill_grace,
        deny_label=args.deny_label,
        allow_label=args.allow_label,
        max_sessions=args.max_sessions,
        max_sessions_per_person=args.max_sessions_per_person,
        audit_log=args.audit_log,
        max_upload_bytes=args.max_upload_bytes,
        curve_secret_key=args.curve_secret_key,
        curve_allow=args.curve_allow,
    )
    return config, args.log_level


async def main(config: WorkerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    check_worker_security(config)
    docker = await DockerHost.connect(config.docker_url, config.docker_threads)
    context = zmq.Context()
    try:
        if config.curve_allow:
            start_authenticator(context, config.curve_allow)
        server = WorkerServer(config, context, docker, await docker.facts())
        endpoint = server.bind()
        print(f"dterm worker ready: host={config.host_id} endpoint={endpoint}", flush=True)
        await server.serve(stop)
    finally:
        context.destroy(linger=0)  # sockets still open here are on an error path
        docker.close()


def run(argv: list[str] | None = None) -> int:
    config, level = parse_config(sys.argv[1:] if argv is None else argv)
    setup_logging(level)
    raise_open_file_limit()
    try:
        uvloop.run(main(config))
    except DtermError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
