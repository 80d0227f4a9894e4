"""A Podman host for the tests: `podman system service` with everything in a temp folder.

Podman's Docker-compatible API service stands in for a host that runs Podman. Its
storage (vfs, no kernel overlay needed), run root, events file, locks and network
settings all live under one temporary folder, given by flags and a containers.conf
of its own (CONTAINERS_CONF replaces the machine's), so a run leaves nothing behind.

Settings that make it work in a container, as this test machine is:
- the cgroupfs cgroup manager (no systemd) and the `file` events backend (no journald);
- runc, since crun refuses the hybrid cgroup v1/v2 layout such machines have;
- no network for containers (`netns = "none"`), as the Docker test containers have;
- lower rlimits than Podman's default (1048576 open files and processes as root),
  which a process whose own hard limits are lower may not grant its containers.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker

from tests.support.containers import TEST_LABEL
from tests.support.images import BUSYBOX_IMAGE, rootfs_tar
from tests.support.processes import OUTPUT, ManagedProcess, start_worker, terminate

RLIMIT = 16384
"""Open files and processes for containers (no more than the test process may have)."""


def _limit(kind: int) -> int:
    hard = resource.getrlimit(kind)[1]
    return RLIMIT if hard == resource.RLIM_INFINITY else min(RLIMIT, hard)


def _containers_conf(root: Path) -> str:
    files, processes = _limit(resource.RLIMIT_NOFILE), _limit(resource.RLIMIT_NPROC)
    return f"""[containers]
default_ulimits = ["nofile={files}:{files}", "nproc={processes}:{processes}"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{root}/events.log"
runtime = "runc"
tmp_dir = "{root}/tmp"
volume_path = "{root}/storage/volumes"
lock_type = "file"

[network]
network_config_dir = "{root}/networks"
"""


class PodmanService:
    """One `podman system service` on a socket of its own, until stop()."""

    def __init__(self, timeout: float = 60) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dterm-podman-"))
        (self.root / "tmp").mkdir()
        self.conf = self.root / "containers.conf"
        self.conf.write_text(_containers_conf(self.root))
        self.url = f"unix://{self.root}/podman.sock"
        self._log = OUTPUT / "logs" / "podman-service.log"
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.podman(), "system", "service", "--time=0", self.url],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )
        self.client = self._wait_ready(timeout)

    def podman(self) -> list[str]:
        """The podman command line for this service's storage."""
        return ["podman", "--root", str(self.root / "storage"), "--runroot",
                str(self.root / "run"), "--storage-driver", "vfs"]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "CONTAINERS_CONF": str(self.conf), "HOME": str(self.root)}  # fmt: skip

    def _wait_ready(self, timeout: float) -> docker.DockerClient:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self._log.read_text()[-2000:]
                raise RuntimeError(f"podman service exited early:\n{log}")
            with contextlib.suppress(Exception):
                client = docker.DockerClient(base_url=self.url, version="auto")
                client.ping()
                return client
            time.sleep(0.1)
        raise TimeoutError(
            f"podman service not ready in {timeout}s:\n{self._log.read_text()[-2000:]}"
        )

    def import_image(self, tag: str = BUSYBOX_IMAGE) -> None:
        """The busybox test image, made with `podman import` as the Docker tests make
        theirs with `docker import`."""
        tar = self.root / "rootfs.tar"
        tar.write_bytes(rootfs_tar())
        subprocess.run(
            [*self.podman(), "import", "--change", 'CMD ["/bin/sh"]', "--change",
             "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", str(tar), tag],
            env=self.env(), check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        tar.unlink()

    def stop(self) -> None:
        """Remove every container, stop the service and delete its folder."""
        with contextlib.suppress(Exception):
            for container in self.client.containers.list(all=True):
                container.remove(force=True)
        self.client.close()
        terminate(self.proc)
        subprocess.run([*self.podman(), "rm", "--all", "--force"], env=self.env(),
                       capture_output=True, timeout=60, check=False)  # fmt: skip
        for pid in self._own_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def _own_processes(self) -> list[int]:
        """Processes still working for this service: an exec's conmon waits 300 s after
        the exec ends before it cleans up. They name this service's folder."""
        found = []
        mark = str(self.root).encode()
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if entry.name.isdigit() and mark in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
        return found


@contextlib.contextmanager
def podman_host(host: str, *worker_flags: str) -> Iterator[tuple[PodmanService, ManagedProcess]]:
    """A Podman service with the busybox image, and a worker `host` that owns it."""
    service = PodmanService()
    try:
        service.import_image()
        worker = start_worker(host, *worker_flags, docker_url=service.url)
        try:
            yield service, worker
        finally:
            worker.stop()
    finally:
        service.stop()


def run_box(service: PodmanService) -> Any:
    """A running Podman container with busybox and no network, labelled as a test's."""
    return service.client.containers.run(BUSYBOX_IMAGE, ["sleep", "1000000"], detach=True,
                                         network_mode="none", labels={TEST_LABEL: "1"})  # fmt: skip
