"""Where Podman's Docker-compatible API differs, read as one behaviour (engines.py)."""

from __future__ import annotations

from exec_worker.commands import start_failure
from exec_worker.engines import Engine, engine_of, exec_state, not_running_answer, path_stat
from shared.errors import CommandNotFound

DOCKER_VERSION = {"Version": "20.10.24", "Components": [{"Name": "Engine", "Version": "20.10.24"}]}
PODMAN_VERSION = {
    "Version": "4.3.1",
    "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}, {"Name": "Conmon"}],
}


def podman_exec(running: bool, can_remove: bool, code: int, pid: int) -> dict[str, object]:
    return {"Running": running, "CanRemove": can_remove, "ExitCode": code, "Pid": pid,
            "ContainerID": "c"}  # fmt: skip


def test_engine_is_read_from_the_version_components() -> None:
    """Podman names itself among the components of /version; anything else is Docker."""
    assert engine_of(PODMAN_VERSION) is Engine.PODMAN
    assert engine_of(DOCKER_VERSION) is Engine.DOCKER
    assert engine_of({"Version": "1", "Components": None}) is Engine.DOCKER


def test_podman_exit_code_counts_only_once_the_exec_has_stopped() -> None:
    """Podman's ExitCode 0 of an exec not started yet, or running, is no exit code."""
    created = exec_state(Engine.PODMAN, podman_exec(False, False, 0, 0))
    assert created.exit_code is None and not created.running and created.started is None
    running = exec_state(Engine.PODMAN, podman_exec(True, False, 0, 4242))
    assert running.exit_code is None and running.pid == 4242 and running.started is True
    ended = exec_state(Engine.PODMAN, podman_exec(False, True, 3, 0))
    assert ended.exit_code == 3 and ended.started is None


def test_docker_exec_state_is_taken_as_it_is() -> None:
    """Docker keeps the PID after the end and says null before: both are read as given."""
    raw = {"Running": False, "ExitCode": 127, "Pid": 99, "ContainerID": "c", "CanRemove": False}
    state = exec_state(Engine.DOCKER, raw)
    assert state.exit_code == 127 and state.started is True
    never = exec_state(Engine.DOCKER, {"Running": False, "ExitCode": None, "Pid": 0})
    assert never.exit_code is None and never.started is False


def test_podman_start_failure_is_told_by_its_error_text() -> None:
    """Without a PID to tell, 127 is a failed start only when Podman says so."""
    said = (b'Error: runc: exec failed: unable to start container process: exec: "nope": '
            b"executable file not found in $PATH")  # fmt: skip
    assert isinstance(start_failure(["nope"], None, 127, said), CommandNotFound)
    assert start_failure(["sh"], None, 127, b"ran\r\n") is None
    assert start_failure(["sh"], None, 127, b"") is None


def test_podman_link_target_of_a_plain_file_is_no_link() -> None:
    """Podman names a plain file's own path as its link target; Docker leaves it empty."""
    plain = {"name": "a.txt", "size": 5, "mode": 0o644, "linkTarget": "/tmp/a.txt"}
    assert path_stat(Engine.PODMAN, "/tmp/a.txt", plain).link_target == ""
    link = {"name": "l", "size": 5, "mode": 0o644, "linkTarget": "/tmp/a.txt"}
    assert path_stat(Engine.PODMAN, "/tmp/l", link).link_target == "/tmp/a.txt"
    folder = {"name": "tmp", "size": 4096, "mode": (1 << 31) | 0o777, "linkTarget": "/tmp"}
    assert path_stat(Engine.PODMAN, "/tmp/", folder).is_dir
    assert path_stat(Engine.DOCKER, "/tmp/l", {**link, "linkTarget": "/x"}).link_target == "/x"


def test_podman_not_running_answer_is_read_as_not_running() -> None:
    """Podman's 500 for an exec in a stopped container means "not running"; other 500s
    stay failures."""
    assert not_running_answer(500, "can only create exec sessions on running containers: "
                                   "container state improper")  # fmt: skip
    assert not not_running_answer(500, "OCI runtime error")
    assert not not_running_answer(404, "container state improper")
