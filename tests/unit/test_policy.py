"""The policy: each kind of rule allows and denies exactly as written; deny by default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from frontend_server.policy import (
    Access,
    FileRight,
    Observe,
    Person,
    Policy,
    PolicyError,
    Target,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policy.example.toml"
alice = Person("alice")
carol_ops = Person("carol", frozenset({"ops"}))
dave_audit = Person("dave", frozenset({"audit"}))
eve = Person("eve")
payments = {"team": "payments"}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load(EXAMPLE)


def test_deny_by_default(policy: Policy) -> None:
    """Someone no role names gets nothing anywhere."""
    assert policy.access(eve, Target("staging-1", "api", payments)) is Access.NONE
    assert not policy.may_open(eve, Target("staging-1", "api", payments), None, None)


def test_host_glob(policy: Policy) -> None:
    assert policy.access(alice, Target("staging-7", "api", payments)) is Access.RW
    assert policy.access(alice, Target("dev-1", "api", payments)) is Access.NONE


def test_label_selector(policy: Policy) -> None:
    """All labels of the selector must match; other labels do not matter."""
    assert policy.access(alice, Target("staging-1", "x", {**payments, "tier": "web"})) is Access.RW
    assert policy.access(alice, Target("staging-1", "x", {"team": "search"})) is Access.NONE
    assert policy.access(alice, Target("staging-1", "x", {})) is Access.NONE


def test_name_glob() -> None:
    rules = Policy.parse({"roles": [{"users": ["alice"], "rules": [{"containers": ["web-*"]}]}]})
    assert rules.access(alice, Target("h", "web-1")) is Access.RW
    assert rules.access(alice, Target("h", "db-1")) is Access.NONE


def test_command_list(policy: Policy) -> None:
    """Listed commands only; the default shell counts as `sh`; one glob per argument."""
    staging = Target("staging-1", "api", payments)
    assert policy.may_open(alice, staging, None, None)
    assert policy.may_open(alice, staging, ["bash"], "app")
    assert policy.may_open(alice, staging, ["psql", "-U", "reports"], None)
    assert policy.may_open(alice, staging, ["psql", "-U", "reports", "ledger"], None)
    assert not policy.may_open(alice, staging, ["psql", "-U", "reports", "-c", "drop"], None)
    assert policy.may_open(alice, staging, ["tail", "-f", "/var/log/app.log"], None)
    assert not policy.may_open(alice, staging, ["rm", "-rf", "/"], None)
    assert not policy.may_open(alice, staging, ["bash", "-c", "rm -rf /"], None)
    assert not policy.may_open(alice, staging, ["psql", "-U", "postgres"], None)


def rules_with(**rule: object) -> Policy:
    return Policy.parse({"roles": [{"users": ["alice"], "rules": [rule]}]})


def test_a_glob_over_a_path_does_not_escape_it_with_dot_dot() -> None:
    """`cat /var/log/*` allowed: `cat /var/log/../../root/secret` is refused."""
    policy = rules_with(commands=["cat /var/log/*"])
    here = Target("h", "c")
    assert policy.may_open(alice, here, ["cat", "/var/log/app.log"], None)
    assert not policy.may_open(alice, here, ["cat", "/var/log/../../root/secret"], None)
    assert not policy.may_open(alice, here, ["cat", "/var/log/.."], None)
    assert not policy.may_open(alice, here, ["cat", "/var/log/a/b"], None)


def test_a_rule_for_one_argument_does_not_allow_two() -> None:
    """`cat /var/log/*` allowed: `cat /var/log/app.log /root/secret` is refused."""
    policy = rules_with(commands=["cat /var/log/*"])
    here = Target("h", "c")
    assert not policy.may_open(alice, here, ["cat", "/var/log/app.log", "/root/secret"], None)
    assert not policy.may_open(alice, here, ["cat", "/var/log/app.log /root/secret"], None)
    assert not policy.may_open(alice, here, ["cat"], None)


def test_command_patterns_are_split_like_a_shell_line() -> None:
    """Quotes keep spaces inside one word; without `commands` any command is allowed."""
    quoted = rules_with(commands=["sh -c 'echo hi'"])
    assert quoted.may_open(alice, Target("h", "c"), ["sh", "-c", "echo hi"], None)
    assert not quoted.may_open(alice, Target("h", "c"), ["sh", "-c", "echo", "hi"], None)
    anything = rules_with()
    assert anything.may_open(alice, Target("h", "c"), ["rm", "-rf", "/tmp/x"], None)


def test_files_are_their_own_permission() -> None:
    """`files` is none unless granted; upload includes download; users must be allowed."""
    here = Target("h", "c")
    assert rules_with().file_right(alice, here, None) is FileRight.NONE
    download = rules_with(files="download", run_as=["default"])
    assert download.file_right(alice, here, None) is FileRight.DOWNLOAD
    assert download.file_right(alice, here, "root") is FileRight.NONE
    assert download.files_offered(alice, here) is FileRight.DOWNLOAD
    upload = rules_with(files="upload", run_as=["app"])
    assert upload.file_right(alice, here, "app") is FileRight.UPLOAD
    assert upload.file_right(alice, here, None) is FileRight.NONE
    assert upload.files_offered(alice, here) is FileRight.UPLOAD
    assert Policy.allow_all().file_right(eve, here, "root") is FileRight.UPLOAD


def test_example_policy_grants_files_as_written(policy: Policy) -> None:
    staging = Target("staging-1", "api", payments)
    assert policy.file_right(alice, staging, "app") is FileRight.DOWNLOAD
    assert policy.file_right(alice, staging, "root") is FileRight.NONE
    assert policy.file_right(alice, Target("prod-1", "api", payments), None) is FileRight.NONE
    assert policy.file_right(carol_ops, Target("prod-1", "db", {}), "root") is FileRight.UPLOAD
    assert policy.files_offered(dave_audit, Target("any", "thing")) is FileRight.NONE


def test_run_as_users(policy: Policy) -> None:
    staging = Target("staging-1", "api", payments)
    assert policy.may_open(alice, staging, ["sh"], "app")
    assert not policy.may_open(alice, staging, ["sh"], "root")


def test_read_only(policy: Policy) -> None:
    """A read-only rule lists and lets watch, never open."""
    prod = Target("prod-3", "api", payments)
    assert policy.access(alice, prod) is Access.RO
    assert not policy.may_open(alice, prod, None, None)
    assert policy.access(dave_audit, Target("any", "thing")) is Access.RO
    assert not policy.may_open(dave_audit, Target("any", "thing"), None, None)


def test_groups_bind_roles(policy: Policy) -> None:
    assert policy.may_open(carol_ops, Target("prod-1", "db", {}), ["rm", "x"], "root")


def test_best_rule_wins(policy: Policy) -> None:
    """Access is the most any rule grants (rules never take access away)."""
    both = Person("bob", frozenset({"audit"}))
    assert policy.access(both, Target("staging-1", "api", payments)) is Access.RW


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({}, "at least one"),
        ({"roles": [{"rules": [{}]}]}, "users or groups"),
        ({"roles": [{"users": ["a"]}]}, "rules"),
        ({"roles": [{"users": ["a"], "rules": [{"acess": "ro"}]}]}, "unknown keys"),
        ({"roles": [{"users": ["a"], "rules": [{"access": "admin"}]}]}, "access"),
        ({"roles": [{"users": ["a"], "rules": [{"hosts": 3}]}]}, "hosts"),
        ({"roles": [{"users": ["a"], "rules": [{"labels": {"a": 1}}]}]}, "labels"),
        ({"roles": [{"users": ["a"], "rules": [{"files": "write"}]}]}, "files"),
        ({"roles": [{"users": ["a"], "rules": [{"files": "upload", "access": "ro"}]}]}, "rw"),
        ({"roles": [{"users": ["a"], "rules": [{"commands": ["cat 'x"]}]}]}, "quotation"),
        ({"roles": [{"users": ["a"], "rules": [{"commands": [""]}]}]}, "empty"),
    ],
)
def test_bad_policies_say_what_is_wrong(data: dict[str, object], says: str) -> None:
    with pytest.raises(PolicyError, match=says):
        Policy.parse(data)


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "p.toml"
    broken.write_text("[[roles]\nname = 'x'")
    with pytest.raises(PolicyError, match="line 1"):
        Policy.load(broken)


def test_recording_settings_come_from_the_allowing_rule(policy: Policy) -> None:
    """The rule that lets a session open says whether and how it is recorded."""
    from shared.messages import RecordingPolicy

    rule = policy.opening_rule(alice, Target("staging-1", "api", payments), None, None)
    assert rule is not None and rule.recording is RecordingPolicy.REQUIRED and rule.record_input
    ops_rule = policy.opening_rule(carol_ops, Target("h", "c"), None, None)
    assert ops_rule is not None and ops_rule.recording is RecordingPolicy.DEFAULT


def test_who_may_see_recordings(policy: Policy) -> None:
    from frontend_server.policy import Replays

    assert policy.replays(carol_ops) is Replays.ALL
    assert policy.replays(alice) is Replays.OWN
    assert policy.replays(dave_audit) is Replays.NONE
    assert Policy.allow_all().replays(eve) is Replays.ALL


def test_hosts_a_person_is_shown(policy: Policy) -> None:
    """A host is shown when a rule of one of the person's roles names it, whatever its
    containers; someone without a role is shown none, and an unnamed host only to
    rules that name every host."""
    assert policy.may_use_host(alice, "staging-1") and policy.may_use_host(alice, "prod-2")
    assert not policy.may_use_host(alice, "dev-1")
    assert not policy.may_use_host(alice, "")
    assert policy.may_use_host(carol_ops, "dev-1") and policy.may_use_host(carol_ops, "")
    assert policy.may_use_host(dave_audit, "anything")  # auditors' rule names every host
    assert not policy.may_use_host(eve, "staging-1") and not policy.may_use_host(eve, "")


SHELLS = {"sh", "bash", "ash", "dash", "zsh"}


def test_the_example_warns_that_a_shell_allows_every_command() -> None:
    """The example says so where `commands` is explained and above every rule that
    allows a shell: a shell runs whatever is typed into it."""
    lines = EXAMPLE.read_text().splitlines()
    explained = next(i for i, line in enumerate(lines) if line.startswith("#   commands"))
    assert "allowing a shell allows every command" in " ".join(lines[explained : explained + 20])
    for number, line in enumerate(lines):
        if line.strip().startswith("commands") and SHELLS & set(re.findall(r'"(\w+)"', line)):
            above = " ".join(lines[max(0, number - 12) : number])
            assert "every command" in above, f"line {number + 1} allows a shell without a warning"


def test_observe_is_off_unless_granted() -> None:
    """Logs and stats need `observe`; "logs" includes stats, and ro rules may grant it."""
    policy = Policy.parse({"roles": [
        {"users": ["ann"], "rules": [{"containers": ["app-*"], "access": "ro",
                                      "observe": "logs"}]},
        {"users": ["ben"], "rules": [{"containers": ["app-*"], "observe": "stats"}]},
        {"users": ["cy"], "rules": [{"containers": ["app-*"]}]},
    ]})  # fmt: skip
    target = Target("h", "app-1")
    assert policy.observe(Person("ann"), target) is Observe.LOGS
    assert policy.observe(Person("ben"), target) is Observe.STATS
    assert policy.observe(Person("cy"), target) is Observe.NONE
    assert policy.observe(Person("ann"), Target("h", "db-1")) is Observe.NONE
    assert Policy.allow_all().observe(Person("dev"), target) is Observe.LOGS


def test_observe_takes_only_its_words() -> None:
    with pytest.raises(PolicyError, match="observe"):
        Policy.parse({"roles": [{"users": ["a"], "rules": [{"observe": "all"}]}]})


def test_the_example_grants_logs_to_operators(policy: Policy) -> None:
    """The example policy gives operators logs and stats everywhere, others none."""
    assert policy.observe(carol_ops, Target("any", "x")) is Observe.LOGS
    assert policy.observe(eve, Target("staging-1", "api", payments)) is Observe.NONE
