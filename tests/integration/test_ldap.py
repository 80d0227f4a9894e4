"""Password sign-in against a real LDAP directory (slapd), through a real front end:
direct bind and search-then-bind over StartTLS, groups of both kinds, refusals that
never reach the directory, the throttle, a certificate that does not check out, a
directory that refuses StartTLS, and a directory that never answers."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import add_user
from tests.support.http import Reply, call, sign_in
from tests.support.processes import ManagedProcess, start_frontend
from tests.support.slapd import GROUPS, PEOPLE, SERVICE_DN, Person, Slapd, start_slapd
from tests.support.terminal_client import Stack

SERVICE_PASSWORD = "service account password"
PEOPLE_IN_DIRECTORY = [
    Person("alice", "alice's directory password", ("payments",), ("staff",)),
    Person("bob", "bob's directory password"),
    Person("eve", "eve's directory password"),
]
POLICY = '[[roles]]\ngroups = ["payments"]\n  [[roles.rules]]\n  containers = ["none-*"]\n'


@dataclass
class Setup:
    slapd: Slapd
    direct: Stack
    search: Stack
    folder: Path
    worker: ManagedProcess

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.folder / "audit.jsonl").read_text().splitlines()]

    def directory_log(self) -> str:
        return self.slapd.process.log()


def frontend(setup_folder: Path, worker: ManagedProcess, *flags: str) -> ManagedProcess:
    return start_frontend(
        [worker.match["endpoint"]],
        "--policy",
        str(setup_folder / "policy.toml"),
        "--audit-log",
        str(setup_folder / "audit.jsonl"),
        *flags,
    )


@pytest.fixture(scope="module")
def setup(worker: ManagedProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("ldap")
    slapd = start_slapd(folder / "slapd", PEOPLE_IN_DIRECTORY, SERVICE_PASSWORD)
    (folder / "policy.toml").write_text(POLICY)
    add_user(folder / "users.json", "carol", "carol's local password", "ops")
    password_file = folder / "service-password"
    password_file.touch(mode=0o600)
    password_file.write_text(SERVICE_PASSWORD + "\n")
    direct = frontend(
        folder,
        worker,
        "--users-file",
        str(folder / "users.json"),
        "--ldap-url",
        slapd.url,
        "--ldap-user-dn",
        f"uid={{user}},{PEOPLE}",
        "--ldap-group-base",
        GROUPS,
    )
    search = frontend(
        folder,
        worker,
        "--ldap-url",
        slapd.url,
        "--ldap-start-tls",
        "--ldap-ca-file",
        str(slapd.ca_file),
        "--ldap-bind-dn",
        SERVICE_DN,
        "--ldap-bind-password-file",
        str(password_file),
        "--ldap-user-base",
        PEOPLE,
        "--ldap-group-base",
        GROUPS,
    )
    yield Setup(slapd, Stack(direct.match["url"]), Stack(search.match["url"]), folder, worker)
    direct.stop()
    search.stop()
    slapd.stop()


def groups_of(stack: Stack, reply: Reply) -> list[str]:
    cookie = {"Cookie": f"dterm_login={reply.cookies()['dterm_login']}"}
    auth = call(stack, "/api/auth", headers=cookie).json()
    assert auth["user"]
    groups: list[str] = auth["groups"]
    return groups


def test_directory_password_signs_in_with_its_groups(setup: Setup) -> None:
    """Direct bind: the directory's password signs alice in, with her groupOfNames and
    posixGroup groups; the users file still comes first for its own people."""
    assert call(setup.direct, "/api/auth").json()["methods"] == ["password", "ldap"]
    reply = sign_in(setup.direct, "alice", PEOPLE_IN_DIRECTORY[0].password)
    assert reply.status == 200, reply.body
    assert groups_of(setup.direct, reply) == ["payments", "staff"]
    last = setup.audit()[-1]
    assert (last["user"], last["ok"], last["method"]) == ("alice", True, "ldap")
    assert last["groups"] == ["payments", "staff"]
    local = sign_in(setup.direct, "carol", "carol's local password")
    assert groups_of(setup.direct, local) == ["ops"]
    assert setup.audit()[-1]["method"] == "password"


def test_wrong_directory_password_is_refused_and_audited(setup: Setup) -> None:
    """A wrong password (or another person's) is 401 and audited as an LDAP sign-in."""
    for password in ("not her password", PEOPLE_IN_DIRECTORY[1].password):
        reply = sign_in(setup.direct, "alice", password, source="127.0.0.60")
        assert reply.status == 401 and "dterm_login" not in reply.cookies()
        last = setup.audit()[-1]
        assert (last["user"], last["ok"], last["method"]) == ("alice", False, "ldap")


def test_names_and_passwords_that_could_fool_the_directory_never_reach_it(setup: Setup) -> None:
    """Filter or DN syntax in a name, and an empty password (an anonymous bind that
    "succeeds"), are refused without a connection to the directory."""
    accepted = setup.directory_log().count(" ACCEPT ")
    for name, password in (
        ("*", "x"),
        ("alice)(uid=*", "x"),
        ("uid=alice,ou=people", "x"),
        ("alice", ""),
    ):
        for stack in (setup.direct, setup.search):
            assert sign_in(stack, name, password, source="127.0.0.61").status == 401
    assert setup.directory_log().count(" ACCEPT ") == accepted


def test_search_then_bind_over_start_tls(setup: Setup) -> None:
    """The service account finds the person, over StartTLS with the server's
    certificate checked against the given CA; groups are found the same."""
    started = setup.directory_log().count("oid=1.3.6.1.4.1.1466.20037")
    reply = sign_in(setup.search, "alice", PEOPLE_IN_DIRECTORY[0].password)
    assert reply.status == 200, reply.body
    assert groups_of(setup.search, reply) == ["payments", "staff"]
    assert setup.directory_log().count("oid=1.3.6.1.4.1.1466.20037") > started
    assert f'BIND dn="{SERVICE_DN}"' in setup.directory_log()
    assert sign_in(setup.search, "bob", "wrong", source="127.0.0.62").status == 401
    assert sign_in(setup.search, "nobody", "wrong", source="127.0.0.62").status == 401


def test_directory_attempts_are_throttled_before_the_directory_is_asked(setup: Setup) -> None:
    """Past the free attempts, further ones are refused (429) without a bind."""

    def binds() -> int:
        return len(re.findall(r'BIND dn="uid=eve,', setup.directory_log()))

    before = binds()
    answers = [sign_in(setup.direct, "eve", "guess", source="127.0.0.63").status for _ in range(7)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
    assert binds() == before + 5


def test_unchecked_certificate_is_refused(setup: Setup) -> None:
    """StartTLS to a server whose certificate no trusted CA signed: 503, audited, and
    the password never sent."""
    folder = setup.folder
    untrusting = frontend(
        folder,
        setup.worker,
        "--ldap-url",
        setup.slapd.url,
        "--ldap-start-tls",
        "--ldap-user-dn",
        f"uid={{user}},{PEOPLE}",
    )
    try:
        binds = setup.directory_log().count('BIND dn="uid=bob,')
        reply = sign_in(Stack(untrusting.match["url"]), "bob", PEOPLE_IN_DIRECTORY[1].password)
        assert reply.status == 503 and reply.json()["error"] == "unavailable"
        assert setup.directory_log().count('BIND dn="uid=bob,') == binds
        last = setup.audit()[-1]
        assert (last["user"], last["reason"]) == ("bob", "unavailable")
        assert "CERTIFICATE_VERIFY_FAILED" in last["detail"]
    finally:
        untrusting.stop()


def test_directory_refusing_starttls_never_gets_the_password(setup: Setup, tmp_path: Path) -> None:
    """With --ldap-start-tls, a directory that refuses StartTLS (as an active attacker
    in the way could) is 503, audited, and never sent the password in the clear."""
    plain = start_slapd(tmp_path / "slapd", PEOPLE_IN_DIRECTORY, SERVICE_PASSWORD, tls=False)
    process = frontend(
        setup.folder,
        setup.worker,
        "--ldap-url",
        plain.url,
        "--ldap-start-tls",
        "--ldap-ca-file",
        str(plain.ca_file),
        "--ldap-user-dn",
        f"uid={{user}},{PEOPLE}",
    )
    try:
        reply = sign_in(Stack(process.match["url"]), "bob", PEOPLE_IN_DIRECTORY[1].password)
        assert reply.status == 503 and reply.json()["error"] == "unavailable"
        plain.process.wait_log(r"EXT oid=1\.3\.6\.1\.4\.1\.1466\.20037")
        assert 'BIND dn="uid=bob,' not in plain.process.log()
        last = setup.audit()[-1]
        assert (last["user"], last["reason"]) == ("bob", "unavailable")
        assert "startTLS failed" in last["detail"], last["detail"]
    finally:
        process.stop()
        plain.stop()


def test_silent_directory_answers_in_time_and_holds_nothing_up(setup: Setup) -> None:
    """A directory that accepts connections and never answers: the sign-in ends with
    503 within its deadline while the front end keeps answering others."""
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody answers
    port = silent.getsockname()[1]
    process = frontend(
        setup.folder,
        setup.worker,
        "--ldap-url",
        f"ldap://127.0.0.1:{port}",
        "--ldap-user-dn",
        f"uid={{user}},{PEOPLE}",
        "--ldap-timeout",
        "2",
    )
    stack = Stack(process.match["url"])
    try:
        outcome: dict[str, Any] = {}

        def attempt() -> None:
            began = time.monotonic()
            outcome["reply"] = sign_in(stack, "alice", "any password")
            outcome["took"] = time.monotonic() - began

        thread = threading.Thread(target=attempt)
        thread.start()
        answered = 0
        while thread.is_alive() and answered < 400:
            began = time.monotonic()
            assert call(stack, "/api/auth").status == 200
            # Not a speed check: a loop held by the bind would hold this answer for
            # the whole exchange timeout (2 s).
            assert time.monotonic() - began < 1.5
            answered += 1
            thread.join(0.05)
        thread.join(30)
        assert answered >= 3 and outcome["reply"].status == 503
        assert outcome["took"] < 15, outcome["took"]  # the whole check's deadline is 12 s
    finally:
        process.stop()
        silent.close()


def test_a_users_file_that_cannot_be_read_never_sends_its_names_to_the_directory(
    setup: Setup, tmp_path: Path
) -> None:
    """While the users file cannot be read, a name it may hold is not checked against
    the directory (whose person of that name is someone else): 503, as for a local
    password; once the file is mended, the local account signs in again."""
    users = tmp_path / "users.json"
    add_user(users, "bob", "the local bob's password")
    good = users.read_text()
    front = frontend(setup.folder, setup.worker, "--users-file", str(users), "--ldap-url",
                     setup.slapd.url, "--ldap-user-dn", f"uid={{user}},{PEOPLE}")  # fmt: skip
    try:
        stack = Stack(front.match["url"])
        front.allow_traceback = True
        users.write_text("{ this is no JSON")
        reply = sign_in(stack, "bob", PEOPLE_IN_DIRECTORY[1].password, source="127.0.0.41")
        assert reply.status == 503 and "dterm_login" not in reply.cookies(), reply.body
        users.write_text(good)
        reply = sign_in(stack, "bob", "the local bob's password", source="127.0.0.41")
        assert reply.status == 200, reply.body
        last = setup.audit()[-1]
        assert last["user"] == "bob" and last["method"] == "password" and last["ok"]
    finally:
        front.stop()


def test_a_name_in_other_letter_cases_shares_its_throttle(setup: Setup) -> None:
    """The directory finds bob as Bob or BOB too: guesses spread over the name's letter
    cases and over addresses count as guesses at one name, so past the free attempts
    they are refused (429) without a bind."""

    def binds() -> int:
        return len(re.findall(r'BIND dn="uid=bob,', setup.directory_log(), re.IGNORECASE))

    before = binds()
    names = ["bob", "Bob", "bOb", "boB", "BOb", "BoB", "bOB"]
    answers = [sign_in(setup.direct, name, "guess", source=f"127.0.0.{70 + n}").status
               for n, name in enumerate(names)]  # fmt: skip
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}, answers
    assert binds() == before + 5
