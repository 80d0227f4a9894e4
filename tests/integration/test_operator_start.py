"""What an operator meets at start and while running: clear refusals for what cannot be
used, a cookie secret kept across restarts, and a policy applied again when its file
changes."""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from shared.keys import link_keys
from tests.support.accounts import accounts, add_user
from tests.support.containers import Containers
from tests.support.http import call, cookie_of, sign_in
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until

PASSWORD = "a long enough password"


def policy_for(container: str) -> str:
    return f'[[roles]]\nusers = ["alice"]\n  [[roles.rules]]\n  containers = ["{container}"]\n'


def refusal(process_start: Any) -> str:
    with pytest.raises(RuntimeError) as caught:
        process_start()
    return str(caught.value)


@pytest.mark.parametrize("kind", ["missing", "not-json"])
def test_a_front_end_refuses_a_users_file_it_cannot_use(
    worker: ManagedProcess, tmp_path: Path, kind: str
) -> None:
    """It stops at start naming the file and why, instead of failing every sign-in."""
    users = tmp_path / "users.json"
    if kind == "not-json":
        users.write_text("{ this is not json")
    (tmp_path / "policy.toml").write_text(policy_for("x"))
    said = refusal(lambda: start_frontend([worker.match["endpoint"]], "--users-file", str(users),
                                          "--policy", str(tmp_path / "policy.toml")))  # fmt: skip
    assert str(users) in said and "Traceback" not in said


@pytest.mark.parametrize("kind", ["folder-missing", "not-json"])
def test_a_front_end_refuses_a_tokens_file_it_cannot_use(
    worker: ManagedProcess, tmp_path: Path, kind: str
) -> None:
    """A tokens file not issued yet is fine; one in no folder, or unreadable, is not."""
    tokens = tmp_path / "tokens.json"
    if kind == "folder-missing":
        tokens = tmp_path / "no-such-folder" / "tokens.json"
    else:
        tokens.write_text("[1, 2")
    said = refusal(lambda: start_frontend([worker.match["endpoint"]], "--tokens-file", str(tokens)))
    assert str(tokens) in said and "Traceback" not in said


def test_a_tokens_file_not_made_yet_is_no_token_yet(worker: ManagedProcess, tmp_path: Path) -> None:
    """Tokens issued after the start are taken at once."""
    tokens, policy = tmp_path / "tokens.json", tmp_path / "policy.toml"
    policy.write_text(policy_for("x"))
    frontend = start_frontend([worker.match["endpoint"]], "--tokens-file", str(tokens),
                              "--policy", str(policy))  # fmt: skip
    try:
        token = accounts("tokens", "--tokens-file", str(tokens), "issue", "ann").strip()
        base = frontend.match["url"].split("/?")[0].rstrip("/")
        request = urllib.request.Request(
            base + "/api/auth", headers={"Authorization": f"Bearer {token}"}
        )
        wait_until(lambda: _auth_user(request) == "ann", 10, "the new token to be taken")
    finally:
        frontend.stop()


def test_a_users_file_gone_bad_while_running_is_no_wrong_password(
    worker: ManagedProcess, tmp_path: Path
) -> None:
    """A users file that cannot be read any more makes sign-in answer 503 saying why
    (and the log say which file), not 500 or "wrong name or password"."""
    users = tmp_path / "users.json"
    add_user(users, "alice", PASSWORD)
    (tmp_path / "policy.toml").write_text(policy_for("x"))
    frontend = start_frontend([worker.match["endpoint"]], "--users-file", str(users),
                              "--policy", str(tmp_path / "policy.toml"))  # fmt: skip
    try:
        users.unlink()
        users.mkdir()  # unreadable as a file, whoever runs the test (root reads any file)
        reply = sign_in(Stack(frontend.match["url"]), "alice", PASSWORD)
        assert reply.status == 503 and "cannot read its users file" in reply.json()["message"]
        frontend.wait_log(rf"cannot read the users file: {users}")
    finally:
        frontend.stop()


def _auth_user(request: urllib.request.Request) -> str | None:
    with urllib.request.urlopen(request, timeout=10) as response:
        user: str | None = json.load(response)["user"]
        return user


@pytest.mark.parametrize("flag", ["--curve-secret-key", "--worker-public-key"])
@pytest.mark.parametrize("kind", ["missing", "a-folder", "not-a-key"])
def test_a_front_end_refuses_key_files_it_cannot_use(tmp_path: Path, flag: str, kind: str) -> None:
    """A key file that is missing, a folder or not a key stops the front end at start,
    with the file's path and the reason."""
    keys = link_keys(tmp_path / "keys")[0]
    flags = dict(zip(keys.frontend_flags()[::2], keys.frontend_flags()[1::2], strict=True))
    bad = tmp_path / "bad.key"
    reason = {"missing": "No such file or directory", "a-folder": "Is a directory",
              "not-a-key": "No public key found"}[kind]  # fmt: skip
    if kind == "a-folder":
        bad.mkdir()
    elif kind == "not-a-key":
        bad.write_text("not a key\n")
        bad.chmod(0o600)
    flags[flag] = str(bad)
    said = refusal(lambda: start_frontend([], *[w for f in flags.items() for w in f], curve=False))
    assert f"cannot read key file {bad}: {reason}" in said and "Traceback" not in said


def test_a_worker_refuses_an_audit_log_it_cannot_write(docker_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "audit.jsonl"
    said = refusal(lambda: start_worker("audit-less", "--audit-log", str(path)))
    assert f"cannot open the audit log {path}" in said and "Traceback" not in said


@pytest.mark.parametrize("which", ["worker-link", "worker-metrics", "front-end"])
def test_a_port_in_use_is_refused_with_its_reason(
    docker_client: Any, worker: ManagedProcess, which: str
) -> None:
    """A port already taken (a second instance left on the first one's ports) stops
    the start with the address, the setting and the reason: not an abort without a
    word from libzmq, nor a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = {
            "worker-link": lambda: start_worker("taken", bind=f"tcp://127.0.0.1:{port}"),
            "worker-metrics": lambda: start_worker("taken", "--http-port", str(port)),
            "front-end": lambda: start_frontend([worker.match["endpoint"]], "--port", str(port)),
        }[which]
        with pytest.raises(RuntimeError) as caught:
            start()
    said = str(caught.value)
    assert f"cannot listen on {'tcp://' if which == 'worker-link' else ''}127.0.0.1:{port}" in said
    assert "Address already in use" in said and "Traceback" not in said
    assert "exited early (code 1)" in said  # an error, not killed by SIGABRT


@pytest.mark.parametrize("kind", ["missing", "a-folder", "not-toml"])
def test_a_front_end_refuses_a_policy_it_cannot_use(
    worker: ManagedProcess, tmp_path: Path, kind: str
) -> None:
    """A policy file that cannot be read or parsed stops the front end at start with its
    path and the reason, instead of serving with no policy."""
    add_user(tmp_path / "users.json", "alice", PASSWORD)
    policy = tmp_path / "policy.toml"
    reason = {"missing": "No such file or directory", "a-folder": "Is a directory",
              "not-toml": "Invalid"}[kind]  # fmt: skip
    if kind == "a-folder":
        policy.mkdir()
    elif kind == "not-toml":
        policy.write_text("[[roles]]\nusers = not toml at all\n")
    flags = ["--users-file", str(tmp_path / "users.json"), "--policy", str(policy)]
    said = refusal(lambda: start_frontend([worker.match["endpoint"]], *flags))
    assert f"policy file {policy}: " in said and reason in said and "Traceback" not in said


def test_the_cookie_secret_survives_a_restart(worker: ManagedProcess, tmp_path: Path) -> None:
    """A front end started again on the same state folder keeps everyone signed in; the
    secret it made is the front end user's alone."""
    add_user(tmp_path / "users.json", "alice", PASSWORD)
    (tmp_path / "policy.toml").write_text(policy_for("x"))
    flags = ["--users-file", str(tmp_path / "users.json"), "--policy",
             str(tmp_path / "policy.toml"), "--state-dir", str(tmp_path / "state")]  # fmt: skip
    first = start_frontend([worker.match["endpoint"]], *flags)
    cookie = {"Cookie": cookie_of(sign_in(Stack(first.match["url"]), "alice", PASSWORD))}
    first.stop()
    second = start_frontend([worker.match["endpoint"]], *flags)
    try:
        assert (
            call(Stack(second.match["url"]), "/api/auth", headers=cookie).json()["user"] == "alice"
        )
        assert (tmp_path / "state" / "cookie_secret").stat().st_mode & 0o077 == 0
    finally:
        second.stop()


def test_a_changed_policy_applies_without_a_restart(
    worker: ManagedProcess, containers: Containers, tmp_path: Path
) -> None:
    """A new policy file applies within seconds (at once on SIGHUP); one that does not
    parse is logged and the policy before it stays."""
    first, second = containers.run(), containers.run()
    add_user(tmp_path / "users.json", "alice", PASSWORD)
    policy = tmp_path / "policy.toml"
    policy.write_text(policy_for(first.name))
    frontend = start_frontend([worker.match["endpoint"]], "--users-file",
                              str(tmp_path / "users.json"), "--policy", str(policy))  # fmt: skip
    stack = Stack(frontend.match["url"])
    alice = {"Cookie": cookie_of(sign_in(stack, "alice", PASSWORD))}

    def listed() -> set[str]:
        return {
            c["name"] for c in call(stack, "/api/containers", headers=alice).json()["containers"]
        }

    try:
        wait_until(lambda: listed() == {first.name}, 15, "the first policy in force")
        policy.write_text(policy_for(second.name))
        wait_until(lambda: listed() == {second.name}, 10, "the changed policy in force")
        policy.write_text("[[roles]]\nusers = not toml at all\n")
        os.kill(frontend.pid, signal.SIGHUP)
        frontend.wait_log("the policy file was not applied, the one before stays")
        assert listed() == {second.name}
    finally:
        frontend.stop()
