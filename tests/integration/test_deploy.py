"""The deployment files: nginx really balances two front ends; Compose and Kubernetes
files validate offline and only use flags the processes accept."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import subprocess
import sys
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
from tests.support.accounts import accounts, add_user
from tests.support.containers import require
from tests.support.events_client import EventStream
from tests.support.http import call, cookie_of, login_cookie, sign_in, wait_hosts_up
from tests.support.nginx import nginx_binary, start_nginx
from tests.support.processes import (
    FRONTEND_READY,
    OUTPUT,
    REPO,
    WORKER_METRICS_TOKEN,
    ManagedProcess,
    run_keys,
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
    cookie = login_cookie(stack)
    for _ in range(6):
        assert call(stack, "/api/containers", headers={"Cookie": cookie}).status == 200
    for frontend in frontends:
        frontend.wait_log(r"200 GET /api/containers")


async def test_sessions_and_events_through_nginx(
    balanced: tuple[Stack, list[ManagedProcess]], busybox: Any
) -> None:
    """WebSockets (with the browser's Origin) and the event stream pass through nginx."""
    stack, frontends = balanced
    cookie = await asyncio.to_thread(login_cookie, stack)
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


def compose_services() -> dict[str, Any]:
    """The services as docker-compose itself reads the file (with every profile)."""
    compose = shutil.which("docker-compose")
    require(compose is not None, "docker-compose is missing: apt-get install docker-compose")
    env = {"DTERM_COOKIE_SECRET": "s", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [str(compose), "-f", str(COMPOSE), "--profile", "admin", "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    return services


def compose_config(service: dict[str, Any]) -> Any:
    command = service["command"]
    return check_args(
        *command_args(" ".join(command) if isinstance(command, list) else command),
        service.get("environment", {}),
    )


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Where each volume or folder is mounted in a service: mount point -> source."""
    found = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def test_compose_file_validates_and_uses_real_flags() -> None:
    """docker-compose accepts the file; every command's flags are ones the programs know."""
    services = compose_services()
    assert {"keys", "worker", "frontend-1", "frontend-2", "nginx"} <= set(services)
    assert "/var/run/docker.sock:/var/run/docker.sock" in str(services["worker"]["volumes"])
    assert services["keys"]["command"] == "dterm keys --set /keys"
    assert "dterm-keys:/keys:rw" in services["keys"]["volumes"]
    for name in ("worker", "frontend-1", "frontend-2"):
        service = services[name]
        check_keys(compose_config(service), LinkKeys(Path("/keys")))
        assert "dterm-keys:/keys:ro" in service["volumes"]
        assert service["depends_on"]["keys"]["condition"] == "service_completed_successfully"


def test_compose_front_ends_use_accounts_and_a_policy() -> None:
    """No shared dev token: the front ends read a users file and a policy from the
    folder that the `users` service writes with `dterm users`."""
    services = compose_services()
    users = services["users"]
    assert users["entrypoint"][:2] == ["dterm", "users"]
    at = users["entrypoint"].index("--users-file")
    written = users["entrypoint"][at + 1]
    for name in ("frontend-1", "frontend-2"):
        service = services[name]
        config = compose_config(service)
        assert config.token == "" and "DTERM_TOKEN" not in service.get("environment", {})
        assert config.users_file == written and config.policy_file
        folder = str(Path(config.users_file).parent)
        assert Path(config.policy_file).parent == Path(folder)
        assert mounts(service)[folder] == mounts(users)[folder]  # the same host folder


def test_compose_keeps_recordings_and_audit_logs_in_volumes() -> None:
    """The worker's state, recordings and audit log, and each front end's audit log
    (a file of its own), are on named volumes that outlive the containers."""
    services = compose_services()
    volumes = compose_volumes()

    def on_volume(service: dict[str, Any], path: str) -> None:
        owners = [t for t, source in mounts(service).items() if Path(path).is_relative_to(t)]
        assert owners and mounts(service)[owners[0]] in volumes, (path, mounts(service))

    worker = compose_config(services["worker"])
    for path in (worker.state_dir, worker.recordings_dir, worker.audit_log):
        on_volume(services["worker"], path)
    audit_logs = set()
    for name in ("frontend-1", "frontend-2"):
        frontend = compose_config(services[name])
        on_volume(services[name], frontend.audit_log)
        audit_logs.add(frontend.audit_log)
    assert len(audit_logs) == 2


def compose_volumes() -> set[str]:
    return set(yaml.safe_load(COMPOSE.read_text())["volumes"])


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
    """Every file the pod's Secrets put in its first container; each Secret 0400."""
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
        frontend.users_file,
    }


def pod_volumes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Mount point in the pod's first container -> the volume mounted there."""
    by_name = {v["name"]: v for v in pod["volumes"]}
    return {m["mountPath"]: by_name[m["name"]] for m in pod["containers"][0]["volumeMounts"]}


def volume_of(pod: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume a path of the pod's first container lies on (the deepest mount)."""
    found = [m for m in pod_volumes(pod) if Path(path).is_relative_to(m)]
    assert found, (path, list(pod_volumes(pod)))
    return pod_volumes(pod)[max(found, key=len)]


def test_kubernetes_front_ends_use_accounts_and_a_policy() -> None:
    """No shared dev token: front ends read a users file from a Secret and a policy
    from a ConfigMap, the names the README's commands make."""
    by_name = {d["metadata"]["name"]: d for d in kubernetes_documents()}
    pod = by_name["dterm-frontend"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config = check_args("frontend", container["args"])
    assert config.token == "" and "DTERM_TOKEN" not in {e["name"] for e in container["env"]}
    assert volume_of(pod, config.users_file)["secret"]["secretName"] == "dterm-users"
    assert volume_of(pod, config.policy_file)["configMap"]["name"] == "dterm-policy"
    readme = (KUBERNETES / "README.md").read_text()
    assert "create secret generic dterm-users --from-file=users.json" in readme
    assert "create configmap dterm-policy --from-file=policy.toml" in readme


def test_kubernetes_keeps_recordings_and_audit_logs() -> None:
    """Workers keep state, recordings and audit log on their node; front ends write
    their audit logs, a file per pod, to a claim that outlives the pods."""
    documents = kubernetes_documents()
    by_name = {d["metadata"]["name"]: d for d in documents}
    worker_pod = by_name["dterm-worker"]["spec"]["template"]["spec"]
    worker = check_args("worker", worker_pod["containers"][0]["args"])
    for path in (worker.state_dir, worker.recordings_dir, worker.audit_log):
        assert volume_of(worker_pod, path)["hostPath"]["type"] == "DirectoryOrCreate", path
    pod = by_name["dterm-frontend"]["spec"]["template"]["spec"]
    frontend = check_args("frontend", pod["containers"][0]["args"])
    claim = volume_of(pod, frontend.audit_log)["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in {
        (d["kind"], d["metadata"]["name"]) for d in documents
    }
    assert "$(POD_NAME)" in frontend.audit_log
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in pod[
        "containers"
    ][0]["env"]


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


# --- the shipped front ends, run for real ------------------------------------------------

PASSWORD = "a long enough password"


def moved(text: str, places: dict[str, Path]) -> str:
    """A shipped path (or flag) with the folders it names moved to where a test put them."""
    for inside, outside in sorted(places.items(), key=lambda item: -len(item[0])):
        if inside in text:
            return text.replace(inside, str(outside), 1)
    return text


def run_shipped(
    name: str, args: list[str], env: dict[str, str], places: dict[str, Path], tmp_path: Path
) -> tuple[ManagedProcess, Stack]:
    """A front end with a shipped file's flags and environment (paths moved), on a port
    of its own, and the sign-in of alice, made as the shipped file's notes say."""
    argv = [moved(word, places) for word in args]
    environment = {key: moved(value, places) for key, value in env.items()}
    frontend = ManagedProcess(
        name,
        [sys.executable, "-m", "frontend_server", *argv, "--port", "0",
         "--state-dir", str(tmp_path / "state")],
        FRONTEND_READY, env=environment,
    )  # fmt: skip
    return frontend, Stack(frontend.match["url"], host="local")


def signs_in_and_is_audited(frontend: ManagedProcess, stack: Stack, audit_log: Path) -> None:
    """No dev token; alice signs in with her password, sees the host, and the sign-in
    is audited."""
    try:
        reply = sign_in(stack, "alice", PASSWORD)
        assert reply.status == 200, reply.body
        wait_hosts_up(stack, {"local"}, headers={"Cookie": cookie_of(reply)})
        assert '"user": "alice"' in audit_log.read_text()
        assert "?token=" not in frontend.match["url"]  # no dev token anyone could share
    finally:
        frontend.stop()


def test_the_compose_front_end_signs_people_in_with_accounts(
    worker: ManagedProcess, tmp_path: Path
) -> None:
    """As the Compose file runs them: the `users` service makes alice in the folder the
    front ends mount, and frontend-1 signs her in under the example policy."""
    services = compose_services()
    places = {"/etc/dterm": tmp_path / "config", "/keys": run_keys().folder,
              "/var/log/dterm": tmp_path / "audit"}  # fmt: skip
    for folder in ("config", "audit"):
        (tmp_path / folder).mkdir()
    shutil.copyfile(REPO / "deploy" / "policy.example.toml", tmp_path / "config" / "policy.toml")
    entrypoint = [moved(word, places) for word in services["users"]["entrypoint"]]
    assert entrypoint[0] == "dterm"
    accounts(*entrypoint[1:], "add", "alice", "--groups", "ops", "--password-stdin",
             stdin=PASSWORD + "\n")  # fmt: skip
    service = services["frontend-1"]
    env = {**service["environment"], "DTERM_WORKERS": worker.match["endpoint"]}
    frontend, stack = run_shipped("compose-frontend", service["command"].split()[2:], env,
                                  places, tmp_path)  # fmt: skip
    signs_in_and_is_audited(frontend, stack, tmp_path / "audit" / "frontend-1.jsonl")


def test_the_kubernetes_front_end_signs_people_in_with_accounts(
    worker: ManagedProcess, tmp_path: Path
) -> None:
    """As the Deployment runs them: the users file and policy from the README's Secret
    and ConfigMap, the audit log on the claim, a file named after the pod."""
    by_name = {d["metadata"]["name"]: d for d in kubernetes_documents()}
    container = by_name["dterm-frontend"]["spec"]["template"]["spec"]["containers"][0]
    keys = run_keys().folder
    places = {"/keys/frontend": keys, "/keys/worker": keys, "/etc/dterm": tmp_path / "etc",
              "/var/log/dterm": tmp_path / "audit"}  # fmt: skip
    for folder in ("etc/users", "etc/policy", "audit"):
        (tmp_path / folder).mkdir(parents=True)
    shutil.copyfile(REPO / "deploy" / "policy.example.toml", tmp_path / "etc/policy/policy.toml")
    users = tmp_path / "etc" / "users" / "users.json"
    add_user(users, "alice", PASSWORD, "ops")
    users.chmod(0o400)  # the Secret's defaultMode
    args = [a.replace("$(POD_NAME)", "dterm-frontend-7d9f") for a in container["args"]
            if not a.startswith("--worker-dns")]  # fmt: skip
    args += ["--worker", worker.match["endpoint"]]  # DNS discovery is tested elsewhere
    env = {"DTERM_COOKIE_SECRET": secrets.token_urlsafe(32)}
    frontend, stack = run_shipped("kubernetes-frontend", args, env, places, tmp_path)
    signs_in_and_is_audited(frontend, stack, tmp_path / "audit" / "dterm-frontend-7d9f.jsonl")
