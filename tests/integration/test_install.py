"""dterm installed as an operator installs it: the wheel built from this checkout and
installed with pip into a new environment serves the page; the systemd units pass
`systemd-analyze verify` against that installation and make every folder the
processes write; the front end runs as its unit's throwaway user on the files the
unit and the README give it, and keeps reading its users file after `dterm users`
rewrites it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exec_worker.__main__ import parse_config as parse_worker_args
from frontend_server.__main__ import parse_config as parse_frontend_args
from tests.support.containers import require
from tests.support.http import call, cookie_of, sign_in, wait_hosts_up
from tests.support.install import Installed, install
from tests.support.processes import (
    FRONTEND_READY,
    REPO,
    ManagedProcess,
    RunAs,
    run_keys,
)
from tests.support.terminal_client import Stack

SYSTEMD = REPO / "deploy" / "systemd"
UNITS = ("dterm-worker.service", "dterm-frontend.service")
EXAMPLE_CONFIG = REPO / "deploy" / "dterm.example.toml"
EXAMPLE_POLICY = REPO / "deploy" / "policy.example.toml"
PASSWORD = "a long enough password"
UNIT_UID = 61999
"""Where systemd's dynamic users live (61184 to 65519), and no one's here."""
DTERM_GID = 61998
"""Stands for the dterm group that dterm.sysusers makes."""
JS = re.compile(r"^(application|text)/javascript")


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    """The wheel installed in a folder everyone may enter, at opt/dterm under it."""
    root = Path(tempfile.mkdtemp(prefix="dterm-install-"))
    root.chmod(0o755)
    try:
        yield install(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def start_installed(installed: Installed, *args: str, run_as: RunAs, **env: str) -> ManagedProcess:
    return ManagedProcess("installed-frontend", [str(installed.dterm), "frontend", *args],
                          FRONTEND_READY, env=env, run_as=run_as)  # fmt: skip


# --- the wheel ---------------------------------------------------------------------------


def test_the_installed_wheel_serves_the_page(
    installed: Installed, worker: ManagedProcess, tmp_path: Path
) -> None:
    """From the installed package alone (no checkout in sight), the page, its modules
    and every entry of its import map answer 200 with the right content types."""
    where = subprocess.run([str(installed.python), "-c", "import frontend_server as f; "
                            "print(f.__file__)"], capture_output=True, text=True, cwd="/",
                           check=True)  # fmt: skip
    assert where.stdout.startswith(str(installed.root / "opt" / "dterm")), where.stdout
    frontend = start_installed(
        installed, "--port", "0", "--state-dir", str(tmp_path / "state"),
        "--worker", worker.match["endpoint"], *run_keys().frontend_flags(),
        run_as=RunAs(os.geteuid(), os.getegid(), cwd=tmp_path),
    )  # fmt: skip
    try:
        stack = Stack(frontend.match["url"])
        page = call(stack, "/")
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        imports = re.search(rb'<script type="importmap">(.*?)</script>', page.body, re.DOTALL)
        assert imports is not None
        modules = re.findall(r'"(/vendor/[^"]+)"', imports[1].decode())
        assert len(modules) >= 7, modules
        for path in ["/static/app.js", *modules]:
            reply = call(stack, path)
            assert reply.status == 200 and JS.match(reply.headers["Content-Type"]), path
        css = call(stack, "/vendor/xterm/css/xterm.css")
        assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    finally:
        frontend.stop()


# --- systemd -------------------------------------------------------------------------------


def systemd_root(installed: Installed) -> Path:
    """The installation's root with the units in /etc/systemd/system, the machine's
    own units (targets, docker.service) beside them and its /bin/sh (which the worker
    unit's reload runs), for `systemd-analyze --root`."""
    root = installed.root
    (root / "bin").mkdir(exist_ok=True)
    if not (root / "bin" / "sh").exists():
        shutil.copyfile(os.path.realpath("/bin/sh"), root / "bin" / "sh")
        (root / "bin" / "sh").chmod(0o755)
    system = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                   if p.is_dir()), None)  # fmt: skip
    require(system is not None, "no systemd unit folder on this machine: apt-get install systemd")
    assert system is not None
    target = root / "usr" / "lib" / "systemd" / "system"
    if not target.exists():
        shutil.copytree(system, target, symlinks=True)
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True, exist_ok=True)
    for unit in UNITS:
        shutil.copyfile(SYSTEMD / unit, units / unit)
    return root


def verify(root: Path) -> str:
    """What `systemd-analyze verify` says of the units under root: empty when all is
    well (unknown settings are only warned about, so any output counts)."""
    analyze = shutil.which("systemd-analyze")
    require(analyze is not None, "systemd-analyze is missing: apt-get install systemd")
    result = subprocess.run(
        [str(analyze), "verify", f"--root={root}", *(f"/etc/systemd/system/{u}" for u in UNITS)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    said = (result.stdout + result.stderr).strip()
    return said or ("" if result.returncode == 0 else f"exit status {result.returncode}")


def test_the_units_pass_systemd_analyze_verify(installed: Installed) -> None:
    """Both units verify clean against the installed /opt/dterm/bin/dterm; a unit with a
    mistake does not (so the check can fail)."""
    root = systemd_root(installed)
    assert verify(root) == ""
    broken = root / "etc" / "systemd" / "system" / "dterm-worker.service"
    broken.write_text(broken.read_text().replace("StateDirectory=", "StateDirectori="))
    try:
        assert "Unknown key 'StateDirectori'" in verify(root)
    finally:
        shutil.copyfile(SYSTEMD / "dterm-worker.service", broken)


def test_the_sysusers_file_makes_the_dterm_group(tmp_path: Path) -> None:
    """systemd-sysusers accepts dterm.sysusers and makes the group the front end's
    unit names in SupplementaryGroups=."""
    sysusers = shutil.which("systemd-sysusers")
    require(sysusers is not None, "systemd-sysusers is missing: apt-get install systemd")
    (tmp_path / "etc").mkdir()
    subprocess.run([str(sysusers), f"--root={tmp_path}", str(SYSTEMD / "dterm.sysusers")],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    group = unit_settings("dterm-frontend.service")["SupplementaryGroups"][0]
    assert re.search(rf"^{group}:x:\d+:", (tmp_path / "etc" / "group").read_text(), re.M)


def unit_settings(unit: str) -> dict[str, list[str]]:
    """Every Key=value of a unit's [Service] section (continuation lines joined)."""
    text = (SYSTEMD / unit).read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.split("[Service]", 1)[1].split("\n[", 1)[0].splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def unit_config(unit: str) -> Any:
    """The settings a unit's process runs with: its ExecStart flags over the example
    config file it names (credentials, %d, left as they are)."""
    words = unit_settings(unit)["ExecStart"][0].split()
    at = words.index("--config")
    assert words[at + 1] == "/etc/dterm/dterm.toml"
    args = [*words[2:at], "--config", str(EXAMPLE_CONFIG), *words[at + 2 :]]
    parse = parse_worker_args if words[1] == "worker" else parse_frontend_args
    return parse(args, {})[0]


def made_by_unit(unit: str) -> list[Path]:
    """The folders systemd makes for the unit, writable by its user."""
    settings = unit_settings(unit)
    bases = {"StateDirectory": "/var/lib", "LogsDirectory": "/var/log",
             "CacheDirectory": "/var/cache", "RuntimeDirectory": "/run"}  # fmt: skip
    return [Path(bases[key]) / name for key in bases for value in settings.get(key, [])
            for name in value.split()]  # fmt: skip


def test_the_units_make_every_folder_their_processes_write() -> None:
    """State, recordings and audit logs, as the units and the example config place
    them, lie in folders the units make (ProtectSystem= leaves nothing else writable)."""
    worker, frontend = unit_config("dterm-worker.service"), unit_config("dterm-frontend.service")
    written = {
        "dterm-worker.service": [worker.state_dir, worker.recordings_dir,
                                 str(Path(worker.audit_log).parent)],
        "dterm-frontend.service": [frontend.state_dir, str(Path(frontend.audit_log).parent)],
    }  # fmt: skip
    for unit, paths in written.items():
        folders = made_by_unit(unit)
        for path in paths:
            assert any(Path(path).is_relative_to(f) for f in folders), (unit, path, folders)
    for read in (frontend.users_file, frontend.policy_file):
        assert Path(read).is_relative_to("/etc/dterm"), read  # ConfigurationDirectory=dterm


# --- the front end as its unit's user ------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def mapped(value: Any, root: Path) -> Any:
    """A setting with its absolute paths moved under root."""
    if isinstance(value, list):
        return [mapped(v, root) for v in value]
    return f"{root}{value}" if isinstance(value, str) and value.startswith("/") else value


def lay_out_etc(root: Path, endpoint: str) -> None:
    """/etc/dterm as the README and the unit ask: the example config (on loopback, with
    this test's worker), keys root's alone, the users file and the policy root:dterm
    0640, the users file made by the installed `dterm users`."""
    etc = root / "etc" / "dterm"
    (etc / "keys").mkdir(parents=True, mode=0o700)
    keys = run_keys()
    shutil.copyfile(keys.frontend_secret, etc / "keys" / "frontend.key_secret")
    shutil.copyfile(keys.worker_public, etc / "keys" / "worker.key")
    settings = tomllib.loads(EXAMPLE_CONFIG.read_text())["frontend"]
    settings = {k: mapped(v, root) for k, v in settings.items()}
    settings.update(address="127.0.0.1", port=0, workers=[endpoint])
    (etc / "dterm.toml").write_text(
        "[frontend]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items())
    )
    shutil.copyfile(EXAMPLE_POLICY, etc / "policy.toml")
    add_user(root, "alice")
    for name in ("policy.toml", "users.json"):
        os.chown(etc / name, 0, DTERM_GID)
        (etc / name).chmod(0o640)


def add_user(root: Path, name: str) -> None:
    """`dterm users add` of the installed package, run by root as an operator would."""
    subprocess.run(
        [str(root / "opt" / "dterm" / "bin" / "dterm"), "users", "--users-file",
         f"{root}/etc/dterm/users.json", "add", name, "--groups", "ops", "--password-stdin"],
        input=PASSWORD + "\n", text=True, capture_output=True, check=True, timeout=60, cwd="/",
    )  # fmt: skip


def start_as_unit(root: Path) -> ManagedProcess:
    """The front end as systemd starts dterm-frontend.service: its ExecStart with the
    paths under root, its credentials (0400, the user's) in a folder of their own,
    StateDirectory and LogsDirectory made for the user, its supplementary group."""
    settings = unit_settings("dterm-frontend.service")
    credentials = root / "run" / "credentials" / "dterm-frontend.service"
    credentials.mkdir(parents=True)
    for line in settings["LoadCredential"]:
        name, source = line.split(":", 1)
        shutil.copyfile(f"{root}{source}", credentials / name)
        os.chown(credentials / name, UNIT_UID, UNIT_UID)
        (credentials / name).chmod(0o400)
    os.chown(credentials, UNIT_UID, UNIT_UID)
    credentials.chmod(0o500)
    for folder in made_by_unit("dterm-frontend.service"):
        made = Path(f"{root}{folder}")
        made.mkdir(parents=True, mode=0o700)
        os.chown(made, UNIT_UID, UNIT_UID)
    words = settings["ExecStart"][0].replace("%d", str(credentials)).split()
    argv = [w if not w.startswith("/") or w.startswith(str(root)) else f"{root}{w}" for w in words]
    environment = dict(line.split("=", 1) for line in settings["Environment"])
    groups = (DTERM_GID,) if settings["SupplementaryGroups"] == ["dterm"] else ()
    return ManagedProcess("unit-frontend", argv, FRONTEND_READY, env=environment,
                          run_as=RunAs(UNIT_UID, UNIT_UID, groups))  # fmt: skip


def test_the_front_end_runs_as_its_units_user(installed: Installed, worker: ManagedProcess) -> None:
    """As the unit's throwaway user, the front end reads its keys, config, users file
    and policy, keeps its cookie secret and audit log in the unit's folders, and still
    reads the users file after root adds someone with `dterm users`."""
    require(installed.for_everyone, "no Python here that users other than root may run")
    root = installed.root
    lay_out_etc(root, worker.match["endpoint"])
    frontend = start_as_unit(root)
    try:
        stack = Stack(frontend.match["url"], host="local")
        alice = {"Cookie": cookie_of(sign_in(stack, "alice", PASSWORD))}
        wait_hosts_up(stack, {"local"}, headers=alice)
        add_user(root, "bob")
        bob = sign_in(stack, "bob", PASSWORD)
        assert bob.status == 200, bob.body
        assert (root / "var" / "lib" / "dterm-frontend" / "cookie_secret").stat().st_uid == UNIT_UID
        audit = (root / "var" / "log" / "dterm-frontend" / "audit.jsonl").read_text()
        assert '"user": "bob"' in audit
    finally:
        frontend.stop()
