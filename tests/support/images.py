"""Test images built locally with `docker import` (no registry is reachable).

busybox: a static busybox with every applet linked, a root and an `alice` user.
bash: the same plus the machine's /bin/bash and the libraries it links.
Images are rebuilt only when missing; their tags carry a version to bump on change.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker

BUSYBOX_IMAGE = "dterm-test/busybox:2"
BASH_IMAGE = "dterm-test/bash:2"
NOSH_IMAGE = "dterm-test/nosh:2"
"""Only /bin/busybox, no applet links: a container with no shell at all."""

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
GROUP = b"root:x:0:\nalice:x:1000:\n"


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755, uid: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
    tar.addfile(info)


def _busybox_path() -> Path:
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    if not path.exists():
        raise RuntimeError("busybox is missing: apt-get install busybox-static")
    return path


def rootfs_tar(with_bash: bool = False, with_links: bool = True) -> bytes:
    """A root filesystem as a tar archive, ready for `docker import`."""
    busybox = _busybox_path()
    applets = subprocess.run(
        [busybox, "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in (
            "bin",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
            "etc",
            "root",
            "home",
            "proc",
            "sys",
            "dev",
            "lib",
            "lib64",
        ):
            _add_dir(tar, folder)
        _add_dir(tar, "tmp", 0o1777)
        _add_dir(tar, "home/alice", 0o755, uid=1000)
        _add_file(tar, "bin/busybox", busybox.read_bytes(), 0o755)
        for applet in applets if with_links else []:
            if applet == "bin/busybox":
                continue
            link = tarfile.TarInfo(applet)
            link.type, link.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(link)
        _add_file(tar, "etc/passwd", PASSWD)
        _add_file(tar, "etc/group", GROUP)
        if with_bash:
            _add_bash(tar)
    return buffer.getvalue()


def _add_bash(tar: tarfile.TarFile) -> None:
    bash = Path("/bin/bash").resolve()
    _add_file(tar, "bin/bash", bash.read_bytes(), 0o755)
    ldd = subprocess.run(["ldd", str(bash)], check=True, capture_output=True, text=True).stdout
    for line in ldd.splitlines():
        parts = [p for p in line.split() if p.startswith("/")]
        if parts:
            library = Path(parts[0])
            for name in {str(library).lstrip("/"), str(library.resolve()).lstrip("/")}:
                _add_file(tar, name, library.resolve().read_bytes(), 0o755)


def ensure_images(client: docker.DockerClient) -> None:
    """Build the test images unless this daemon already has them."""
    builds = {
        BUSYBOX_IMAGE: {},
        BASH_IMAGE: {"with_bash": True},
        NOSH_IMAGE: {"with_links": False},
    }
    for tag, options in builds.items():
        try:
            client.images.get(tag)
            continue
        except docker.errors.ImageNotFound:
            pass
        repository, version = tag.split(":")
        print(f"building test image {tag} with docker import", flush=True)
        client.api.import_image_from_data(
            rootfs_tar(**options),
            repository=repository,
            tag=version,
            changes=['CMD ["/bin/sh"]', "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        )


def docker_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
