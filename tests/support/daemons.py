"""A second Docker daemon on this machine, standing in for a second host.

It has its own socket, data root, exec root and pidfile, and no bridge network,
so it shares nothing with the machine's main daemon but the kernel.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from tests.support.images import ensure_images
from tests.support.processes import OUTPUT


class ExtraDaemon:
    def __init__(self, name: str, timeout: float = 60) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"dterm-{name}-"))
        self.url = f"unix://{self.root}/docker.sock"
        self._log = (OUTPUT / "logs").joinpath(f"dockerd-{name}.log")
        self._log.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self.client = self._start()
        ensure_images(self.client)

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
                    "--bridge=none",
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
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
