"""A second Docker daemon on this machine, standing in for a second host.

It has its own socket, data root, exec root and pidfile, and a Linux bridge of its
own for its default network, so it shares nothing with the machine's main daemon but
the kernel. Not `--bridge=none`: a daemon started so deletes `docker0`, the main
daemon's bridge, and every container started on the main daemon's default network
afterwards fails.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from tests.support.images import ensure_images
from tests.support.processes import OUTPUT, terminate

_bridges = itertools.count(1)
BRIDGE_PREFIX = "dtb"
SUBNETS = range(16, 216)
"""The third number of each bridge's 10.213.N.0/24."""


def _make_bridge() -> str:
    """A bridge named after this test process, on a 10.213.N.0/24 no link here uses.
    Bridges of test runs that died before removing theirs are removed first."""
    _remove_orphaned_bridges()
    name = f"{BRIDGE_PREFIX}{os.getpid()}x{next(_bridges)}"  # at most 15 characters
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    subnet = next(n for n in SUBNETS if f" 10.213.{n}." not in used)
    subprocess.run(["ip", "link", "add", "name", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"10.213.{subnet}.1/24", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
    except BaseException:
        _remove_bridge(name)
        raise
    return name


def _remove_orphaned_bridges() -> None:
    for link in Path("/sys/class/net").glob(f"{BRIDGE_PREFIX}*x*"):
        pid = link.name.removeprefix(BRIDGE_PREFIX).split("x", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _remove_bridge(link.name)


def _remove_bridge(name: str) -> None:
    subprocess.run(["ip", "link", "del", name], check=False)


class ExtraDaemon:
    def __init__(self, name: str, timeout: float = 60) -> None:
        self.bridge = _make_bridge()
        self.root = Path(tempfile.mkdtemp(prefix=f"dterm-{name}-"))
        self.url = f"unix://{self.root}/docker.sock"
        self._log = (OUTPUT / "logs").joinpath(f"dockerd-{name}.log")
        self._log.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        try:
            self.client = self._start()
        except BaseException:
            self._end()
            raise
        try:
            ensure_images(self.client)
        except BaseException:
            self.stop()
            raise

    def _start(self) -> docker.DockerClient:
        with self._log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    "dockerd",
                    "--host",
                    self.url,
                    "--data-root",
                    str(self.root / "data"),
                    "--exec-root",
                    str(self.root / "exec"),
                    "--pidfile",
                    str(self.root / "docker.pid"),
                    f"--bridge={self.bridge}",
                    "--iptables=false",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self._wait_ready(self._timeout, self._log)

    def kill(self) -> None:
        """SIGKILL of dockerd and its containerd, as a crash would: the containers and
        their processes live on under their shims."""
        self.client.close()
        self.proc.kill()
        self.proc.wait(10)
        pidfile = self.root / "exec" / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text())
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        pidfile.unlink(missing_ok=True)

    def restart(self) -> None:
        """Start again on the same data after a kill."""
        (self.root / "docker.pid").unlink(missing_ok=True)
        self.client = self._start()

    def _wait_ready(self, timeout: float, log: Path) -> docker.DockerClient:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited early:\n{log.read_text()[-2000:]}")
            try:
                client = docker.DockerClient(base_url=self.url)
                client.ping()
                return client
            except Exception:
                time.sleep(0.1)
        raise TimeoutError(f"dockerd not ready within {timeout}s:\n{log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            for container in self.client.containers.list(all=True):
                container.remove(force=True)
        self.client.close()
        self._end()

    def _end(self) -> None:
        """Stop dockerd (if it ever started) and remove its folder and bridge."""
        if hasattr(self, "proc"):
            terminate(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)
        _remove_bridge(self.bridge)
