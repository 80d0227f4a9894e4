"""A worker given no Docker daemon (a Kubernetes node with containerd alone has no
socket to mount) stops at start with a sentence naming the socket, not a stack trace
or a worker that lists nothing."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.processes import start_worker


def refusal(url: str) -> str:
    with pytest.raises(RuntimeError) as caught:
        start_worker("no-docker", docker_url=url)
    return str(caught.value)


def test_a_worker_names_a_socket_that_does_not_exist(tmp_path: Path) -> None:
    """No file at the path: it says so, names it, and points at containerd."""
    url = f"unix://{tmp_path}/docker.sock"
    said = refusal(url)
    assert f"no Docker daemon at {url}: there is no such socket" in said
    assert "containerd" in said and "Traceback" not in said


def test_a_worker_names_a_path_that_is_no_socket(tmp_path: Path) -> None:
    """A folder where the socket should be (what a hostPath mount makes of a missing
    socket): it says it is not a socket."""
    (tmp_path / "docker.sock").mkdir()
    said = refusal(f"unix://{tmp_path}/docker.sock")
    assert "docker.sock: it is not a socket" in said and "Traceback" not in said


def test_a_worker_names_a_socket_nobody_answers(tmp_path: Path) -> None:
    """A socket left behind by a daemon that is gone: nothing answers there."""
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as left:
        left.bind(str(path))  # bound, never listening: connecting is refused
        said = refusal(f"unix://{path}")
    assert f"no Docker daemon at unix://{path}: nothing answers there" in said
