"""Settings from a TOML file, the environment and the command line.

Precedence, later wins: built-in defaults < the config file's section (`[worker]` or
`[frontend]`) < `DTERM_<NAME>` environment variables < command-line flags. Every
field of a config dataclass in shared/settings.py is a setting; its help text is the
docstring written under the field there (read from the source once), so each
setting is documented in exactly one place. A bad file, variable or flag is
refused at start with the file's line and the reason.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import inspect
import itertools
import re
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_origin, get_type_hints

from shared.settings import SettingsError

T = TypeVar("T")

# Flags that read better in the singular, since they are given once per value.
FLAG_NAMES = {
    "workers": "--worker",
    "worker_dns": "--worker-dns",
    "trusted_proxies": "--trusted-proxy",
    "sso_proxies": "--sso-proxy",
    "allowed_origins": "--allowed-origin",
    "allowed_hosts": "--allowed-host",
    "policy_file": "--policy",
    "oidc_scopes": "--oidc-scope",
}
ENV_ALIASES = {"docker_url": "DOCKER_HOST"}


def field_docs(cls: type[Any]) -> dict[str, str]:
    """The docstrings written under the fields in a dataclass's source (and those of
    the dataclasses it extends)."""
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            docs.update(_own_field_docs(base))
    return docs


def _own_field_docs(cls: type[Any]) -> dict[str, str]:
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _kind(tp: Any) -> type:
    if get_origin(tp) is tuple or tp is tuple:
        return tuple
    if isinstance(tp, types.UnionType):
        raise TypeError(f"settings cannot be optional: {tp}")
    return tp  # type: ignore[no-any-return]


def convert(kind: type, value: Any, where: str) -> Any:
    """A value from a file (typed) or a string (environment, flag) as the setting's type."""
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError
            return text in ("1", "true", "yes", "on")
        if kind is tuple:
            items = value if isinstance(value, list) else str(value).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError
        if kind is str and not isinstance(value, str | int | float):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        expected = {int: "an integer", float: "a number", bool: "true or false",
                    tuple: "a list of strings", str: "a string"}[kind]  # fmt: skip
        raise SettingsError(f"{where}: expected {expected}, got {value!r}") from None


class Settings:
    """How one config dataclass is read from file, environment and flags."""

    def __init__(self, cls: type[Any], section: str) -> None:
        self.cls = cls
        self.section = section
        hints = get_type_hints(cls)
        self.kinds = {f.name: _kind(hints[f.name]) for f in dataclasses.fields(cls)}
        self.docs = field_docs(cls)

    def flag(self, name: str) -> str:
        return FLAG_NAMES.get(name, "--" + name.replace("_", "-"))

    def env_name(self, name: str) -> str:
        return "DTERM_" + name.upper()

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(f"settings ([{self.section}] in the config file)")
        defaults = self.cls()
        for name, kind in self.kinds.items():
            default = getattr(defaults, name)
            shown = ",".join(default) if kind is tuple else default
            help_text = f"{self.docs.get(name, '')} [default: {shown!r}; env {self.env_name(name)}]"
            options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
            if kind is bool:
                options["action"] = argparse.BooleanOptionalAction
            elif kind is tuple:
                options["action"] = "append"
                help_text += " (repeat for several)"
            else:
                options["metavar"] = kind.__name__.upper()
            spelled = "--" + name.replace("_", "-")  # the TOML key's own spelling works too
            names = [self.flag(name), *([spelled] if spelled != self.flag(name) else [])]
            group.add_argument(*names, help=help_text, **options)

    def build(
        self, flags: argparse.Namespace, env: Mapping[str, str], config_file: str = ""
    ) -> Any:
        values: dict[str, Any] = {}
        if config_file:
            values.update(self.from_file(config_file))
        for name, kind in self.kinds.items():
            for variable in (ENV_ALIASES.get(name), self.env_name(name)):
                if variable and env.get(variable, "") != "":
                    values[name] = convert(kind, env[variable], f"environment {variable}")
        for name, kind in self.kinds.items():
            if hasattr(flags, name):
                raw = getattr(flags, name)
                if kind is tuple:
                    raw = [part for item in raw for part in str(item).split(",")]
                values[name] = convert(kind, raw, self.flag(name))
        return self.cls(**values)

    def from_file(self, path: str) -> dict[str, Any]:
        try:
            text = Path(path).read_text()
            data = tomllib.loads(text)
        except OSError as exc:
            raise SettingsError(f"config file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path}: {exc}") from None
        section = data.get(self.section, {})
        if not isinstance(section, dict):
            raise SettingsError(f"{path}: [{self.section}] must be a table")
        values: dict[str, Any] = {}
        for key, value in section.items():
            where = f"{path}, line {_line_of(text, self.section, key)}"
            if key not in self.kinds:
                near = difflib.get_close_matches(key, list(self.kinds), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise SettingsError(f"{where}: unknown setting {key!r} in [{self.section}]{hint}")
            values[key] = convert(self.kinds[key], value, f"{where}: {key}")
        return values


def _line_of(text: str, section: str, key: str) -> int:
    """The line where `key` is set inside `[section]` (1 if it cannot be told)."""
    in_section = False
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            in_section = header.group(1).strip() == section
        elif in_section and re.match(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
            return number
    return 1


def config_file_of(flags: argparse.Namespace, env: Mapping[str, str]) -> str:
    return str(getattr(flags, "config", "") or env.get("DTERM_CONFIG", ""))


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """The one flag that is not a setting: where the settings file is."""
    parser.add_argument("--config", help="TOML config file (env DTERM_CONFIG)")


def parse_args(
    settings: Settings, prog: str, description: str, argv: list[str], env: Mapping[str, str]
) -> tuple[Any, argparse.Namespace]:
    """A process's settings and its other flags (the config file)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_common_flags(parser)
    settings.add_flags(parser)
    flags = parser.parse_args(argv)
    return settings.build(flags, env, config_file_of(flags, env)), flags
