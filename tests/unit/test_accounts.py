"""Users (argon2id) and bearer tokens."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from frontend_server.accounts import AccountsError, Tokens, Users


def test_password_round_trip_and_argon2id(tmp_path: Path) -> None:
    users = Users(tmp_path / "users.json")
    users.set("alice", "correct horse", ["ops"])
    stored = json.loads((tmp_path / "users.json").read_text())["users"]["alice"]
    assert stored["hash"].startswith("$argon2id$") and "correct horse" not in stored["hash"]
    assert (tmp_path / "users.json").stat().st_mode & 0o077 == 0
    account = users.check_password("alice", "correct horse")
    assert account is not None and account.groups == {"ops"}
    assert users.check_password("alice", "wrong") is None
    assert users.check_password("nobody", "correct horse") is None


def test_changes_on_disk_are_seen_without_restart(tmp_path: Path) -> None:
    reader, writer = Users(tmp_path / "u.json"), Users(tmp_path / "u.json")
    assert reader.check_password("bob", "pw123456") is None
    writer.set("bob", "pw123456")
    assert reader.check_password("bob", "pw123456") is not None
    writer.remove("bob")
    assert reader.check_password("bob", "pw123456") is None


def test_bad_names_and_missing_users(tmp_path: Path) -> None:
    users = Users(tmp_path / "u.json")
    with pytest.raises(AccountsError):
        users.set("../etc", "pw123456")
    with pytest.raises(AccountsError):
        users.remove("ghost")


def test_a_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    """`$` in a pattern also matches before a final newline: names are matched whole."""
    with pytest.raises(AccountsError):
        Users(tmp_path / "u.json").set("alice\n", "pw123456")


def test_tokens_issue_check_revoke_expire(tmp_path: Path) -> None:
    tokens = Tokens(tmp_path / "t.json")
    token = tokens.issue("ci-bot", ["ops"], days=None)
    account = tokens.check(token)
    assert account is not None and account.name == "ci-bot" and account.groups == {"ops"}
    assert token.split("_", 2)[2] not in (tmp_path / "t.json").read_text()
    assert tokens.check(token[:-1] + ("a" if token[-1] != "a" else "b")) is None
    assert tokens.check("dterm_nope_nope") is None and tokens.check("garbage") is None
    tokens.revoke(token.split("_")[1])
    assert tokens.check(token) is None
    expired = tokens.issue("old", [], days=-1)
    assert tokens.check(expired) is None


def test_current_names_the_stored_hash(tmp_path: Path) -> None:
    """A changed password changes the stored hash a sign-in was stamped with."""
    users = Users(tmp_path / "u.json")
    users.set("bob", "first password", ["ops"])
    found = users.current("bob")
    assert found is not None and found[0].groups == {"ops"}
    users.set("bob", "second password")
    again = users.current("bob")
    assert again is not None and again[1] != found[1] and again[0].groups == {"ops"}
    users.remove("bob")
    assert users.current("bob") is None


def test_a_rewrite_keeps_the_group_that_reads_the_file(tmp_path: Path) -> None:
    """A users file a service reads through its group (root:dterm 0640) stays readable
    by that group after `dterm users` rewrites it; others never get access."""
    path = tmp_path / "users.json"
    users = Users(path)
    users.set("alice", "correct horse")
    group = 54321 if os.geteuid() == 0 else os.getgroups()[-1]
    os.chown(path, -1, group)
    path.chmod(0o644)  # an operator's slip: others may read the hashes
    users.set("bob", "battery staple")
    found = path.stat()
    assert (found.st_gid, stat.S_IMODE(found.st_mode)) == (group, 0o640)
