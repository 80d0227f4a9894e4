"""Why a worker finds no Docker daemon at the socket it was given, in one sentence.

A worker is useless without its host's Docker Engine API, and the commonest
reason for none is a host that has no Docker at all: most Kubernetes nodes run
containerd alone, so a DaemonSet that mounts /var/run/docker.sock mounts nothing
(or an empty directory). The worker stops at start with this sentence rather
than run and list nothing. Pure apart from looking at the socket's path.
"""

from __future__ import annotations

import stat
from pathlib import Path

CONTAINERD_HINT = (
    "a worker needs the Docker Engine API of its host (or Podman's); nodes that run "
    "containerd alone, as most Kubernetes nodes do, have none: see docs/containerd.md"
)


def no_daemon(url: str, error: Exception) -> str:
    """The sentence a worker stops with when `url` does not answer at start."""
    if not url.startswith("unix://"):
        return f"no Docker daemon answers at {url}: {error}"
    path = Path(url.removeprefix("unix://"))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        why = "there is no such socket"
    except OSError as exc:
        why = f"it cannot be looked at ({exc.strerror})"
    else:
        socket = stat.S_ISSOCK(mode)
        why = f"nothing answers there ({error})" if socket else "it is not a socket"
    return f"no Docker daemon at {url}: {why}; {CONTAINERD_HINT}"
