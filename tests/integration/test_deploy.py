"""The deployment files: nginx really balances two front ends; Compose and Kubernetes
files validate offline and only use flags the processes accept."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exec_worker.__main__ import parse_config as parse_worker_args
from frontend_server.__main__ import parse_config as parse_frontend_args
from shared.keys import LinkKeys
from shared.settings import WorkerConfig, check_frontend_security, check_worker_security
from shared.settings_sources import SettingsError
from tests.integration.test_http import request
from tests.support.containers import require
from tests.support.events_client import EventStream
from tests.support.http import wait_hosts_up
from tests.support.nginx import nginx_binary, start_nginx
from tests.support.processes import (
    OUTPUT,
    REPO,
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    start_frontend,
)
from tests.support.terminal_client import Stack, TerminalClient

KUBERNETES = REPO / "deploy" / "kubernetes"
COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def balanced(worker: ManagedProcess) -> Iterator[tuple[Stack, list[ManagedProcess]]]:
    """Two front ends sharing token and cookie secret, behind the repository's nginx config."""
    require(Path(nginx_binary()).exists(), "nginx is missing: apt-get install nginx")
    token, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
    frontends = [
        start_frontend([worker.match["endpoint"]], f"--token={token}", f"--cookie-secret={secret}")
        for _ in range(2)
    ]
    ports = [int(fe.match["url"].split(":")[2].split("/")[0]) for fe in frontends]
    proc, listen = start_nginx(OUTPUT / "nginx", ports)
    for frontend in frontends:
        wait_hosts_up(Stack(frontend.match["url"]), {"local"})
    stack = Stack(f"http://127.0.0.1:{listen}/?token={token}", host="local")
    yield stack, frontends
    proc.terminate()
    proc.wait(10)
    for frontend in frontends:
        frontend.stop()


def test_sign_in_and_api_through_nginx_reach_both_front_ends(
    balanced: tuple[Stack, list[ManagedProcess]],
) -> None:
    """One sign-in cookie works on whichever front end nginx picks."""
    stack, frontends = balanced
    cookie = request(stack, f"/?token={stack.token}").headers["Set-Cookie"].split(";")[0]
    for _ in range(6):
        assert request(stack, "/api/containers", {"Cookie": cookie}).status == 200
    for frontend in frontends:
        frontend.wait_log(r"200 GET /api/containers")


async def test_sessions_and_events_through_nginx(
    balanced: tuple[Stack, list[ManagedProcess]], busybox: Any
) -> None:
    """WebSockets (with the browser's Origin) and the event stream pass through nginx."""
    stack, frontends = balanced
    cookie = (
        (await asyncio.to_thread(request, stack, f"/?token={stack.token}"))
        .headers["Set-Cookie"]
        .split(";")[0]
    )
    headers = {"Cookie": cookie, "Origin": stack.base}
    for i in range(4):
        terminal = await TerminalClient.connect(stack, token="", headers=headers)
        await terminal.open(busybox.name, host="local", cmd=["echo", f"via-nginx-{i}"])
        await terminal.expect(f"via-nginx-{i}")
        await terminal.close()
    for frontend in frontends:
        (await asyncio.to_thread(frontend.wait_log, r"101 GET /ws/exec"))
    stream = EventStream(stack)
    try:
        await stream.wait_for(lambda name, _: name == "snapshot", 10, "snapshot through nginx")
    finally:
        stream.close()


def command_args(command: str) -> tuple[str, list[str]]:
    words = command.split()
    assert words[0] == "dterm", command
    return words[1], words[2:]


def check_args(program: str, args: list[str], env: dict[str, str] | None = None) -> Any:
    """The arguments parse with the program's own parser (no invented flags); the
    settings they make, every worker link keyed at the given folder."""
    parse = {"worker": parse_worker_args, "frontend": parse_frontend_args}[program]
    return parse(args, env or {})[0]


def check_keys(config: Any, keys: LinkKeys) -> None:
    """The process holds the keys of the set in `keys.folder` (none may run without)."""
    if isinstance(config, WorkerConfig):
        assert (config.curve_secret_key, config.curve_allow) == (
            str(keys.worker_secret),
            str(keys.allowed),
        )
    else:
        assert (config.curve_secret_key, config.worker_public_key) == (
            str(keys.frontend_secret),
            str(keys.worker_public),
        )


def test_compose_file_validates_and_uses_real_flags() -> None:
    """docker-compose accepts the file; every command's flags are ones the programs know."""
    compose = shutil.which("docker-compose")
    require(compose is not None, "docker-compose is missing: apt-get install docker-compose")
    env = {"DTERM_TOKEN": "t", "DTERM_COOKIE_SECRET": "s", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(compose), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"keys", "worker", "frontend-1", "frontend-2", "nginx"} <= set(services)
    assert "/var/run/docker.sock:/var/run/docker.sock" in str(services["worker"]["volumes"])
    assert services["keys"]["command"] == "dterm keys --set /keys"
    assert "dterm-keys:/keys:rw" in services["keys"]["volumes"]
    for name in ("worker", "frontend-1", "frontend-2"):
        service = services[name]
        command = service["command"]
        config = check_args(
            *command_args(" ".join(command) if isinstance(command, list) else command),
            service.get("environment", {}),
        )
        check_keys(config, LinkKeys(Path("/keys")))
        assert "dterm-keys:/keys:ro" in service["volumes"]
        assert service["depends_on"]["keys"]["condition"] == "service_completed_successfully"


def kubernetes_documents() -> list[dict[str, Any]]:
    return [d for f in sorted(KUBERNETES.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]


def test_kubernetes_manifests_validate_offline() -> None:
    """Every manifest passes strict schema validation for Kubernetes 1.30."""
    import kubernetes_validate

    documents = kubernetes_documents()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {
        ("DaemonSet", "dterm-worker"),
        ("Deployment", "dterm-frontend"),
        ("Service", "dterm-workers"),
    } <= kinds
    for document in documents:
        kubernetes_validate.validate(document, "1.30.0", strict=True)
    broken = dict(documents[0], spec={"nonsense": True})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def test_kubernetes_wiring() -> None:
    """Workers: host PID, Docker socket, headless Service; front ends find them by DNS."""
    by_name = {d["metadata"]["name"]: d for d in kubernetes_documents()}
    worker_pod = by_name["dterm-worker"]["spec"]["template"]["spec"]
    assert worker_pod["hostPID"] is True
    assert any(
        v.get("hostPath", {}).get("path") == "/var/run/docker.sock" for v in worker_pod["volumes"]
    )
    assert by_name["dterm-workers"]["spec"]["clusterIP"] == "None"
    worker = worker_pod["containers"][0]
    frontend = by_name["dterm-frontend"]["spec"]["template"]["spec"]["containers"][0]
    for container in (worker, frontend):
        check_args(container["command"][1], container["args"])
    assert "--worker-dns=dterm-workers.dterm.svc.cluster.local:7701" in frontend["args"]


SECRET_FILES = {
    "dterm-worker-key": ["worker.key", "worker.key_secret"],
    "dterm-frontend-key": ["frontend.key", "frontend.key_secret"],
}
"""What the README's `kubectl create secret` commands put in each Secret."""


def mounted_files(pod: dict[str, Any]) -> set[str]:
    """Every file the pod's key Secrets put in its first container; each Secret 0400."""
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    files = set()
    for volume in pod["volumes"]:
        secret = volume.get("secret")
        if secret is None:
            continue
        assert secret["defaultMode"] == 0o400, volume  # the secret-key mode check passes
        items = secret.get("items") or [{"path": f} for f in SECRET_FILES[secret["secretName"]]]
        files |= {f"{mounts[volume['name']]}/{item['path']}" for item in items}
    return files


def test_kubernetes_keys_are_mounted_where_the_processes_read_them() -> None:
    """Each process gets its secret key and the other side's public key, at the paths
    its flags name, and nothing of the other side's secret."""
    by_name = {d["metadata"]["name"]: d for d in kubernetes_documents()}
    worker_pod = by_name["dterm-worker"]["spec"]["template"]["spec"]
    worker = check_args("worker", worker_pod["containers"][0]["args"])
    assert mounted_files(worker_pod) == {
        worker.curve_secret_key,
        worker.curve_secret_key.removesuffix("_secret"),
        f"{worker.curve_allow}/frontend.key",
    }
    frontend_pod = by_name["dterm-frontend"]["spec"]["template"]["spec"]
    frontend = check_args("frontend", frontend_pod["containers"][0]["args"])
    assert mounted_files(frontend_pod) == {
        frontend.curve_secret_key,
        frontend.curve_secret_key.removesuffix("_secret"),
        frontend.worker_public_key,
    }


def test_example_config_and_systemd_units_use_real_settings() -> None:
    """The example config parses for both processes; the units run real commands."""
    example = str(REPO / "deploy" / "dterm.example.toml")
    worker, _ = parse_worker_args(["--config", example])
    frontend, _ = parse_frontend_args(["--config", example])
    assert worker.host_id == "db-1" and frontend.port == 8080
    check_worker_security(worker)  # both hold their keys
    check_frontend_security(frontend)
    for unit in ("dterm-worker", "dterm-frontend"):
        words = exec_start(unit)
        assert words[0].endswith("/dterm")
        parse = parse_worker_args if words[1] == "worker" else parse_frontend_args
        with pytest.raises(SettingsError, match="No such file"):
            parse(words[2:])  # the config file is not on this machine, the flags are valid


def exec_start(unit: str) -> list[str]:
    """The words of a unit's ExecStart=, continuation lines included."""
    text = (REPO / "deploy" / "systemd" / f"{unit}.service").read_text().replace("\\\n", " ")
    command = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return command.removeprefix("ExecStart=").split()


def test_the_worker_unit_keeps_its_state_in_a_private_folder() -> None:
    """The worker's state and recordings live under the unit's own 0700 state folder."""
    words = exec_start("dterm-worker")
    text = (REPO / "deploy" / "systemd" / "dterm-worker.service").read_text()
    assert "StateDirectory=dterm-worker" in text and "StateDirectoryMode=0700" in text
    for flag in ("--state-dir", "--recordings-dir"):
        assert words[words.index(flag) + 1].startswith("/var/lib/dterm-worker/")


def test_frontend_unit_reads_its_keys_from_credentials() -> None:
    """The front end's throwaway user cannot read /etc/dterm/keys: the unit hands it
    the keys as credentials, and its flags name exactly those."""
    lines = (REPO / "deploy" / "systemd" / "dterm-frontend.service").read_text().splitlines()
    words = exec_start("dterm-frontend")
    at = words.index("--config")
    config = check_args("frontend", words[2:at] + words[at + 2 :])
    loaded = {
        line.removeprefix("LoadCredential=").split(":")[0]
        for line in lines
        if line.startswith("LoadCredential=")
    }
    assert {config.curve_secret_key, config.worker_public_key} == {f"%d/{c}" for c in loaded}


def test_procfile_commands_use_real_flags_and_the_keys_of_dterm_up(tmp_path: Path) -> None:
    """Both Procfile lines, as a shell expands them, parse and use `dterm up`'s keys."""
    state = tmp_path / "state"
    for line in (REPO / "Procfile").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        command = line.split(":", 1)[1]
        words = subprocess.run(
            ["sh", "-c", f'for w in {command}; do echo "$w"; done'],
            capture_output=True,
            text=True,
            check=True,
            env={"XDG_STATE_HOME": str(state), "PATH": "/usr/bin:/bin"},
        ).stdout.split()
        check_keys(check_args(*command_args(" ".join(words))), LinkKeys(state / "dterm" / "keys"))


def test_grafana_dashboard_uses_metrics_that_exist(stack: Stack, worker: ManagedProcess) -> None:
    """Every dterm metric a panel queries is one the processes export."""
    import urllib.request

    dashboard = json.loads((REPO / "deploy" / "grafana" / "dterm.json").read_text())
    queried = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"dterm_[a-z_]+", target["expr"])
    }
    exported = ""
    for url, token in (
        (f"{stack.base}/metrics", stack.token),
        (f"{worker.match['http']}/metrics", WORKER_METRICS_TOKEN),
    ):
        scrape = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(scrape, timeout=10) as response:
            exported += response.read().decode()
    assert queried and all(f"# TYPE {name} " in exported for name in queried), queried
