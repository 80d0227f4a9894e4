"""Entry point: `python -m frontend_server`. Parses settings, runs one event loop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys

import uvloop
import zmq
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from frontend_server.app import make_app, web_root
from frontend_server.auth import Authenticator
from frontend_server.context import Services
from frontend_server.guard import Guard
from frontend_server.policy import Policy, PolicyError
from frontend_server.pool import WorkerPool
from frontend_server.throttle import LoginThrottle
from shared.audit import AuditLog
from shared.config import FrontendConfig, check_frontend_security
from shared.errors import DtermError
from shared.process import raise_open_file_limit, setup_logging

log = logging.getLogger("frontend_server")


def parse_config(argv: list[str]) -> tuple[FrontendConfig, str]:
    d = FrontendConfig()
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="frontend_server", description=__doc__)
    parser.add_argument("--address", default=env("DTERM_ADDRESS", d.address))
    parser.add_argument("--port", type=int, default=int(env("DTERM_PORT", d.port)))
    parser.add_argument(
        "--worker",
        action="append",
        dest="workers",
        help="ZeroMQ endpoint of an exec worker (repeatable)",
    )
    parser.add_argument(
        "--worker-dns",
        action="append",
        default=[],
        help="DNS name of workers: name:port (A/AAAA records) or an SRV name (repeatable)",
    )
    parser.add_argument("--dns-interval", type=float, default=d.dns_interval)
    parser.add_argument("--dns-nameserver", default=env("DTERM_DNS_NAMESERVER", d.dns_nameserver))
    parser.add_argument("--token", default=env("DTERM_TOKEN", d.token))
    parser.add_argument("--users-file", default=env("DTERM_USERS_FILE", d.users_file))
    parser.add_argument("--tokens-file", default=env("DTERM_TOKENS_FILE", d.tokens_file))
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        help="address or network of a reverse proxy whose X-Forwarded-* headers to believe",
    )
    parser.add_argument("--login-ttl", type=float, default=d.login_ttl)
    parser.add_argument("--max-upload-bytes", type=int, default=d.max_upload_bytes)
    parser.add_argument("--policy", default=env("DTERM_POLICY", d.policy_file))
    parser.add_argument("--audit-log", default=env("DTERM_AUDIT_LOG", d.audit_log))
    parser.add_argument("--cookie-secret", default=env("DTERM_COOKIE_SECRET", d.cookie_secret))
    parser.add_argument("--allowed-origin", action="append", dest="origins", default=[])
    parser.add_argument("--ws-ping-interval", type=float, default=d.ws_ping_interval)
    parser.add_argument("--heartbeat-interval", type=float, default=d.heartbeat_interval)
    parser.add_argument(
        "--curve-secret-key",
        default=env("DTERM_CURVE_SECRET_KEY", ""),
        help="this front end's CurveZMQ .key_secret file (encrypted worker links)",
    )
    parser.add_argument(
        "--worker-public-key",
        default=env("DTERM_WORKER_PUBLIC_KEY", ""),
        help="the workers' CurveZMQ public key file (.key)",
    )
    parser.add_argument("--web-root", default=env("DTERM_WEB_ROOT", d.web_root))
    parser.add_argument("--log-level", default=env("DTERM_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    accounts = bool(args.users_file or args.tokens_file or args.trusted_proxy)
    worker_dns = args.worker_dns or [n for n in env("DTERM_WORKER_DNS", "").split(",") if n]
    workers = args.workers or [w for w in env("DTERM_WORKERS", "").split(",") if w]
    if not workers and not worker_dns:
        workers = list(d.workers)
    config = FrontendConfig(
        address=args.address,
        port=args.port,
        workers=tuple(workers),
        worker_dns=tuple(worker_dns),
        dns_interval=args.dns_interval,
        dns_nameserver=args.dns_nameserver,
        token=args.token or ("" if accounts else secrets.token_urlsafe(24)),
        users_file=args.users_file,
        tokens_file=args.tokens_file,
        trusted_proxies=tuple(args.trusted_proxy),
        login_ttl=args.login_ttl,
        max_upload_bytes=args.max_upload_bytes,
        policy_file=args.policy,
        audit_log=args.audit_log,
        cookie_secret=args.cookie_secret or secrets.token_urlsafe(32),
        allowed_origins=tuple(o.rstrip("/") for o in args.origins),
        ws_ping_interval=args.ws_ping_interval,
        heartbeat_interval=args.heartbeat_interval,
        web_root=args.web_root,
        curve_secret_key=args.curve_secret_key,
        worker_public_key=args.worker_public_key,
    )
    return config, args.log_level


async def main(config: FrontendConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    check_frontend_security(config)
    policy = load_policy(config)
    audit = AuditLog(config.audit_log)
    context = zmq.Context()
    pool = WorkerPool(config, context)
    pool.start()
    services = Services(
        config, pool, Authenticator(config), Guard(policy, audit), audit, LoginThrottle(),
        web_root(config.web_root) / "src",
    )  # fmt: skip
    server = HTTPServer(make_app(services, config.cookie_secret), xheaders=False)
    sockets = bind_sockets(config.port, config.address)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    host = f"[{config.address}]" if ":" in config.address else config.address
    sign_in = f"?token={config.token}" if config.token else ""
    print(f"dterm frontend ready: open http://{host}:{port}/{sign_in}", flush=True)
    try:
        await stop.wait()
    finally:
        server.stop()
        await server.close_all_connections()
        pool.close()
        audit.close()
        context.destroy(linger=0)


def load_policy(config: FrontendConfig) -> Policy:
    """The policy file; required once people sign in with accounts (deny by default)."""
    if config.policy_file:
        return Policy.load(config.policy_file)
    if config.users_file or config.tokens_file or config.trusted_proxies:
        raise PolicyError("a policy file (--policy) is required when people sign in with accounts")
    return Policy.allow_all()


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
