"""Who may do what: roles that bind people and groups to rules about containers.

Deny by default: a person may do only what some rule of one of their roles grants.
A rule names hosts (globs), containers (name globs and a label selector whose
values are globs; all must match; `compose` and `swarm` tables name Compose
projects and services and Swarm stacks and services, sugar for the labels those
tools set, see services.py), the commands it allows, the in-container users
it allows (`run_as`, globs; `default` for the image's own user), its access: `rw`
(open sessions, watch) or `ro` (watch only), what it allows with files (`files`:
none, download, or upload, which includes download; only on `rw` rules), and
whether sessions it allows are recorded (`recording`: default, required or
forbidden; `record_input`: keystrokes too), and what it lets them observe of the
container (`observe`: none, stats, or logs, which includes stats; on `rw` and `ro`
rules alike, since both only read). A container is listed to a person when
any rule grants any access to it. A role's `recordings` says whose recordings its
people may list and play: none (default), own or all.

Commands are argv patterns (argv_patterns.py): each entry is split into words like
a shell line, and a command matches when it has as many arguments as the entry has
words and each argument matches its word's glob; in a word holding `/`, `*` stays
within one path segment and no `..` segment is allowed. The default shell counts
as `sh`. A rule without `commands` allows any command.

A file transfer acts as an in-container user like a shell does, and needs a rule
that allows that user (`run_as`) and grants the transfer (`files`); what the
file's permissions allow that user is then decided in the container.
The policy file is TOML; see deploy/policy.example.toml.

Pure: no I/O beyond reading the file in `load`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from frontend_server.argv_patterns import ArgvPattern
from frontend_server.services import COMPOSE_PROJECT, COMPOSE_SERVICE, SWARM_SERVICE, SWARM_STACK
from shared.errors import DtermError
from shared.messages import RecordingPolicy

DEFAULT_SHELL = "sh"  # what a rule's command globs are matched against for `cmd: null`
DEFAULT_USER = "default"  # what run_as globs are matched against for `user: null`


class PolicyError(DtermError):
    """The policy file cannot be used; the message says where and why."""


class Access(IntEnum):
    NONE = 0
    RO = 1
    RW = 2


class FileRight(IntEnum):
    """What a rule allows with files; each includes the ones before it."""

    NONE = 0
    DOWNLOAD = 1
    UPLOAD = 2

    @property
    def action(self) -> str:
        """The audit log's name for a transfer that needs this right."""
        return "file-put" if self is FileRight.UPLOAD else "file-get"


class Observe(IntEnum):
    """What a rule lets people see of a container from outside it; each includes the
    ones before it."""

    NONE = 0
    STATS = 1
    LOGS = 2

    @property
    def action(self) -> str:
        """The audit log's name for a request that needs this right."""
        return "logs" if self is Observe.LOGS else "stats"


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Target:
    """A container as the policy sees it."""

    host: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    hosts: tuple[str, ...] = ("*",)
    containers: tuple[str, ...] = ("*",)
    labels: tuple[tuple[str, str], ...] = ()
    commands: tuple[ArgvPattern, ...] | None = None
    """None: any command."""
    run_as: tuple[str, ...] = ("*",)
    access: Access = Access.RW
    recording: RecordingPolicy = RecordingPolicy.DEFAULT
    record_input: bool = False
    files: FileRight = FileRight.NONE
    observe: Observe = Observe.NONE

    def covers(self, target: Target) -> bool:
        return (
            any(fnmatchcase(target.host, g) for g in self.hosts)
            and any(fnmatchcase(target.name, g) for g in self.containers)
            and all(
                key in target.labels and fnmatchcase(target.labels[key], value)
                for key, value in self.labels
            )
        )

    def allows_command(self, cmd: list[str] | None, user: str | None) -> bool:
        argv = cmd if cmd is not None else [DEFAULT_SHELL]
        allowed = self.commands is None or any(p.matches(argv) for p in self.commands)
        return allowed and self.allows_user(user)

    def allows_user(self, user: str | None) -> bool:
        return any(fnmatchcase(user or DEFAULT_USER, g) for g in self.run_as)


class Replays(IntEnum):
    """Whose recordings a role may list and play."""

    NONE = 0
    OWN = 1
    ALL = 2


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    users: frozenset[str]
    groups: frozenset[str]
    rules: tuple[Rule, ...]
    recordings: Replays = Replays.NONE

    def binds(self, person: Person) -> bool:
        return person.name in self.users or "*" in self.users or bool(person.groups & self.groups)


@dataclass(frozen=True, slots=True)
class Policy:
    roles: tuple[Role, ...]

    @classmethod
    def allow_all(cls) -> Policy:
        """The single-user dev mode: whoever signed in may do everything."""
        rule = Rule(files=FileRight.UPLOAD, observe=Observe.LOGS)
        return cls((Role("everyone", frozenset({"*"}), frozenset(), (rule,), Replays.ALL),))

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(f"policy file {path}: {exc}") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: dict[str, Any], where: str = "policy") -> Policy:
        roles = data.get("roles")
        if not isinstance(roles, list) or not roles:
            raise PolicyError(f"{where}: needs at least one [[roles]] table")
        return cls(tuple(_role(r, f"{where}: roles[{i}]") for i, r in enumerate(roles)))

    @property
    def group_names(self) -> frozenset[str]:
        """Every group a role of this policy names."""
        return frozenset(group for role in self.roles for group in role.groups)

    def _rules(self, person: Person, target: Target) -> list[Rule]:
        return [
            rule
            for role in self.roles
            if role.binds(person)
            for rule in role.rules
            if rule.covers(target)
        ]

    def access(self, person: Person, target: Target) -> Access:
        """The most any rule grants this person on this container."""
        return max((r.access for r in self._rules(person, target)), default=Access.NONE)

    def may_open(
        self, person: Person, target: Target, cmd: list[str] | None, user: str | None
    ) -> bool:
        return self.opening_rule(person, target, cmd, user) is not None

    def opening_rule(
        self, person: Person, target: Target, cmd: list[str] | None, user: str | None
    ) -> Rule | None:
        """The first rule that lets this person run this command here (its recording
        settings apply to the session)."""
        return next(
            (
                rule
                for rule in self._rules(person, target)
                if rule.access is Access.RW and rule.allows_command(cmd, user)
            ),
            None,
        )

    def file_right(self, person: Person, target: Target, user: str | None) -> FileRight:
        """What this person may do with files here, acting as `user` (None: the
        container's default user)."""
        return max(
            (
                rule.files
                for rule in self._rules(person, target)
                if rule.access is Access.RW and rule.allows_user(user)
            ),
            default=FileRight.NONE,
        )

    def files_offered(self, person: Person, target: Target) -> FileRight:
        """The most this person may do with files here, as any user a rule allows."""
        return max(
            (r.files for r in self._rules(person, target) if r.access is Access.RW),
            default=FileRight.NONE,
        )

    def observe(self, person: Person, target: Target) -> Observe:
        """The most any rule lets this person observe of this container (logs, stats)."""
        return max((r.observe for r in self._rules(person, target)), default=Observe.NONE)

    def replays(self, person: Person) -> Replays:
        return max((r.recordings for r in self.roles if r.binds(person)), default=Replays.NONE)

    def may_use_host(self, person: Person, host: str) -> bool:
        """Some rule of one of the person's roles names this host (its `hosts` globs
        match): the hosts a person is shown."""
        return any(
            fnmatchcase(host, glob)
            for role in self.roles
            if role.binds(person)
            for rule in role.rules
            for glob in rule.hosts
        )


def _strings(value: Any, where: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: expected a string or a list of strings")
    return tuple(value)


RULE_KEYS = {
    "hosts", "containers", "labels", "commands", "run_as", "access", "recording", "record_input",
    "files", "observe", "compose", "swarm",
}  # fmt: skip
SERVICE_LABELS = {
    "compose": {"project": COMPOSE_PROJECT, "service": COMPOSE_SERVICE},
    "swarm": {"stack": SWARM_STACK, "service": SWARM_SERVICE},
}
"""What the `compose` and `swarm` tables of a rule stand for: labels (value globs)."""


def _labels(data: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    """The rule's label selector, with its `compose` and `swarm` tables spelled out."""
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise PolicyError(f"{where}.labels: expected a table of strings")
    pairs = set(labels.items())
    for table, keys in SERVICE_LABELS.items():
        if table not in data:
            continue
        names = data[table]
        if not isinstance(names, dict) or not names or set(names) - set(keys):
            raise PolicyError(f"{where}.{table}: expected a table of {' and/or '.join(keys)}")
        for key, value in names.items():
            if not isinstance(value, str) or not value:
                raise PolicyError(f"{where}.{table}.{key}: expected a name or a glob")
            pairs.add((keys[key], value))
    return tuple(sorted(pairs))


def _rule(data: Any, where: str) -> Rule:
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: a rule is a table")
    unknown = set(data) - RULE_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(RULE_KEYS)}")
    labels = _labels(data, where)
    access = data.get("access", "rw")
    if access not in ("rw", "ro"):
        raise PolicyError(f'{where}.access: expected "rw" or "ro", got {access!r}')
    recording = data.get("recording", "default")
    if recording not in ("default", "required", "forbidden"):
        raise PolicyError(f'{where}.recording: expected "default", "required" or "forbidden"')
    if not isinstance(data.get("record_input", False), bool):
        raise PolicyError(f"{where}.record_input: expected true or false")
    return Rule(
        hosts=_strings(data.get("hosts"), f"{where}.hosts", ("*",)),
        containers=_strings(data.get("containers"), f"{where}.containers", ("*",)),
        labels=labels,
        commands=_commands(data.get("commands"), f"{where}.commands"),
        run_as=_strings(data.get("run_as"), f"{where}.run_as", ("*",)),
        access=Access.RW if access == "rw" else Access.RO,
        recording=RecordingPolicy(recording),
        record_input=bool(data.get("record_input", False)),
        files=_files(data.get("files", "none"), access, f"{where}.files"),
        observe=_observe(data.get("observe", "none"), f"{where}.observe"),
    )


def _commands(value: Any, where: str) -> tuple[ArgvPattern, ...] | None:
    if value is None:
        return None
    patterns = []
    for text in _strings(value, where, ()):
        try:
            patterns.append(ArgvPattern.parse(text))
        except ValueError as exc:
            raise PolicyError(f"{where}: {text!r}: {exc}") from None
    return tuple(patterns)


def _files(value: Any, access: str, where: str) -> FileRight:
    if value not in ("none", "download", "upload"):
        raise PolicyError(f'{where}: expected "none", "download" or "upload", got {value!r}')
    if value != "none" and access != "rw":
        raise PolicyError(f'{where}: files need access = "rw" (no more through files than a shell)')
    return FileRight[value.upper()]


def _observe(value: Any, where: str) -> Observe:
    if value not in ("none", "stats", "logs"):
        raise PolicyError(f'{where}: expected "none", "stats" or "logs", got {value!r}')
    return Observe[value.upper()]


def _role(data: Any, where: str) -> Role:
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: a role is a table")
    users = _strings(data.get("users"), f"{where}.users", ())
    groups = _strings(data.get("groups"), f"{where}.groups", ())
    if not users and not groups:
        raise PolicyError(f"{where}: a role needs users or groups")
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise PolicyError(f"{where}: needs at least one [[roles.rules]] table")
    replays = data.get("recordings", "none")
    if replays not in ("none", "own", "all"):
        raise PolicyError(f'{where}.recordings: expected "none", "own" or "all"')
    return Role(
        name=str(data.get("name", where)),
        users=frozenset(users),
        groups=frozenset(groups),
        rules=tuple(_rule(r, f"{where}.rules[{i}]") for i, r in enumerate(rules)),
        recordings=Replays[replays.upper()],
    )
