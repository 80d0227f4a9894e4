"""dterm frontend: the page, its API and WebSockets, in front of the exec workers."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import resource
import secrets
import signal
import sys
from collections.abc import Mapping

import zmq

from frontend_server.acceptor import Acceptor
from frontend_server.app import make_app, web_root
from frontend_server.auth import Authenticator, check_sso_settings, sso_warning
from frontend_server.context import Services
from frontend_server.guard import Guard
from frontend_server.http_server import make_http_server
from frontend_server.ldap_directory import plain_warning
from frontend_server.policy import Policy, PolicyError
from frontend_server.policy_file import PolicyFile
from frontend_server.pool import WorkerPool
from frontend_server.startup import (
    check_account_files,
    cookie_secret,
    ldap_directory,
    oidc_provider,
    tls_files,
)
from frontend_server.throttle import LoginThrottle
from frontend_server.tls import TlsFiles
from shared.audit import AuditLog
from shared.audit_sinks import close_sinks, make_sinks
from shared.process import listen, run_process
from shared.settings import DEFAULT_WORKER, FrontendConfig, check_frontend_security
from shared.settings_sources import Settings, parse_args

log = logging.getLogger("frontend_server")
SHUTDOWN_GRACE = 10.0


SETTINGS = Settings(FrontendConfig, "frontend")


def parse_config(
    argv: list[str], env: Mapping[str, str] = os.environ
) -> tuple[FrontendConfig, argparse.Namespace]:
    """Settings from file, environment and flags, with what dev mode fills in."""
    config: FrontendConfig
    config, flags = parse_args(SETTINGS, "dterm frontend", __doc__ or "", argv, env)
    accounts = has_accounts(config)
    config = dataclasses.replace(
        config,
        workers=config.workers or (() if config.worker_dns else (DEFAULT_WORKER,)),
        token=config.token or ("" if accounts else secrets.token_urlsafe(24)),
        allowed_origins=tuple(origin.rstrip("/") for origin in config.allowed_origins),
    )
    return config, flags


async def main(config: FrontendConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    check_frontend_security(config)
    check_sso_settings(config)
    check_account_files(config)
    tls = tls_files(config)
    config = dataclasses.replace(config, cookie_secret=cookie_secret(config))
    policy = load_policy(config)
    audit = AuditLog(config.audit_log, sinks := make_sinks(config, "dterm-frontend"))
    ldap, oidc = ldap_directory(config), oidc_provider(config)
    sockets = listen(config.address, config.port, "address, port")  # in use: stop here
    context = zmq.Context()
    pool = WorkerPool(config, context)
    pool.start()
    services = Services(
        config, pool, Authenticator(config, pool.revoked, ldap), Guard(policy, audit), audit,
        LoginThrottle(), web_root(config.web_root) / "src", oidc,
    )  # fmt: skip
    for warning in (sso_warning(config), plain_warning(config)):
        if warning:
            log.warning("%s", warning)
            print(f"dterm frontend: {warning}", file=sys.stderr, flush=True)
    watchers = watch_files(config, services.guard, tls)
    server = make_http_server(
        make_app(services, config.cookie_secret), config, (lambda: tls.context) if tls else None
    )
    warn_if_cap_near_file_limit(config.max_http_connections)
    acceptors = [Acceptor(sock, server.admit) for sock in sockets]
    port = sockets[0].getsockname()[1]
    host = f"[{config.address}]" if ":" in config.address else config.address
    sign_in = f"?token={config.token}" if config.token else ""
    scheme = "https" if tls else "http"
    print(f"dterm frontend ready: open {scheme}://{host}:{port}/{sign_in}", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping: %d connections told to resume elsewhere", len(services.connections))
        for watcher in watchers:
            watcher.cancel()
        for acceptor in acceptors:
            acceptor.close()
        for connection in list(services.connections):
            connection.restart()
        try:
            await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE)
        except TimeoutError:  # the audit sinks are still flushed, and the log says so
            log.warning("connections still open after %s s: closed anyway", SHUTDOWN_GRACE)
        pool.close()
        await close_sinks(sinks, config.audit_flush_timeout)
        audit.close()
        if ldap is not None:
            ldap.close()
        if oidc is not None:
            oidc.close()
        context.destroy(linger=0)


def watch_files(
    config: FrontendConfig, guard: Guard, tls: TlsFiles | None
) -> list[asyncio.Task[None]]:
    """Apply the policy and the TLS pair again when their files change, and both at
    once on SIGHUP."""
    policy_file = PolicyFile(config.policy_file, guard) if config.policy_file else None
    watched: list[PolicyFile | TlsFiles] = [f for f in (policy_file, tls) if f is not None]

    def reload_all() -> None:
        for file in watched:
            file.reload(True)

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_all)
    return [asyncio.create_task(file.watch()) for file in watched]


def warn_if_cap_near_file_limit(max_connections: int) -> None:
    """Past the open-file limit, accept fails before the cap can act (and
    WebSockets, worker links and files need descriptors as well)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and max_connections > soft // 2:
        log.warning(
            "max_http_connections (%d) is not well below the open-file limit (%d)",
            max_connections,
            soft,
        )


def load_policy(config: FrontendConfig) -> Policy:
    """The policy file; required once people sign in with accounts (deny by default)."""
    if config.policy_file:
        return Policy.load(config.policy_file)
    if has_accounts(config):
        raise PolicyError("a policy file (--policy) is required when people sign in with accounts")
    return Policy.allow_all()


def has_accounts(config: FrontendConfig) -> bool:
    """People sign in as themselves (no dev token, and a policy is needed)."""
    return bool(
        config.users_file
        or config.tokens_file
        or config.sso_user_header
        or config.oidc_issuer
        or config.ldap_url
    )


def run(argv: list[str] | None = None) -> int:
    return run_process("dterm frontend", sys.argv[1:] if argv is None else argv, parse_config, main)


if __name__ == "__main__":
    sys.exit(run())
