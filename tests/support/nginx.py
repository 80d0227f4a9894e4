"""The repository's nginx example in front of real front ends, on this run's ports."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.processes import REPO

NGINX_CONF = REPO / "deploy" / "nginx" / "dterm.conf"


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(folder: Path, upstreams: list[int], listen: int) -> Path:
    """The repository's nginx file with this run's ports, inside a minimal nginx.conf."""
    text = NGINX_CONF.read_text()
    defaults = ("127.0.0.1:8081", "127.0.0.1:8082")
    for default in defaults:
        assert f"server {default};" in text
    servers = "\n    ".join(f"server 127.0.0.1:{port};" for port in upstreams)
    text = text.replace(f"server {defaults[0]};", servers).replace(f"server {defaults[1]};", "")
    assert "listen 127.0.0.1:8080;" in text
    (folder / "dterm.conf").write_text(
        text.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{listen};")
    )
    temp = " ".join(
        f"{kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        f"daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
        f"events {{}}\nhttp {{ access_log {folder}/access.log; {temp}\n"
        f"include {folder}/dterm.conf; }}\n"
    )
    return main


def port_answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def start_nginx(folder: Path, upstreams: list[int]) -> tuple[subprocess.Popen[bytes], int]:
    """nginx balancing the given front-end ports; returns the process and its port."""
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(10):  # nginx cannot bind port 0: try ports until one is free
        listen = random.randint(20000, 60000)
        config = nginx_config(folder, upstreams, listen)
        proc = subprocess.Popen(
            [nginx_binary(), "-c", str(config), "-e", str(folder / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while proc.poll() is None and not port_answers(listen) and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None and port_answers(listen):
            return proc, listen
        proc.kill()
        proc.wait(10)
    raise RuntimeError(f"nginx did not start: {(folder / 'error.log').read_text()[-1000:]}")
