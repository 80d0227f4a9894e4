"""Settings defaults that the product's promises rest on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from frontend_server.auth import check_sso_settings
from shared.errors import Forbidden
from shared.settings import (
    FrontendConfig,
    WorkerConfig,
    check_frontend_security,
    check_worker_security,
)
from shared.settings_sources import ENV_ALIASES, Settings


def test_pings_fit_under_proxy_idle_cuts() -> None:
    """WebSocket pings every 20-25 s by default (nginx cuts idle at 60 s)."""
    assert 20 <= FrontendConfig().ws_ping_interval <= 25


def test_defaults_are_loopback() -> None:
    assert FrontendConfig().address == "127.0.0.1"
    assert WorkerConfig().bind.startswith("tcp://127.0.0.1:")


@pytest.mark.parametrize("bind", ["tcp://127.0.0.1:7701", "ipc:///run/dterm.sock", "tcp://*:7701"])
@pytest.mark.parametrize(("secret", "allow"), [("", ""), ("w.key_secret", ""), ("", "frontends")])
def test_worker_without_both_keys_is_refused_on_any_endpoint(
    bind: str, secret: str, allow: str
) -> None:
    """No unauthenticated mode: loopback and ipc binds need the keys too."""
    config = WorkerConfig(bind=bind, curve_secret_key=secret, curve_allow=allow)
    with pytest.raises(Forbidden, match="dterm keys"):
        check_worker_security(config)


@pytest.mark.parametrize(("secret", "public"), [("", ""), ("f.key_secret", ""), ("", "w.key")])
def test_front_end_without_both_keys_is_refused(secret: str, public: str) -> None:
    with pytest.raises(Forbidden, match="--worker-public-key"):
        check_frontend_security(FrontendConfig(curve_secret_key=secret, worker_public_key=public))


def test_detach_keys_do_not_start_with_ctrl_p() -> None:
    """Docker's default detach keys would hold a lone Ctrl-P back."""
    assert not WorkerConfig().detach_keys.startswith("ctrl-p")


def test_every_setting_is_taken_as_its_toml_key_spells_it() -> None:
    """A flag named like the TOML key works beside its shorter form (the docs and the
    config file use `policy_file`, `trusted_proxies`)."""
    from frontend_server.__main__ import parse_config

    config, _ = parse_config(["--policy-file", "p.toml", "--trusted-proxies", "10.0.0.1",
                              "--workers", "tcp://w:1"], env={})  # fmt: skip
    assert config.policy_file == "p.toml" and config.trusted_proxies == ("10.0.0.1",)
    assert config.workers == ("tcp://w:1",)
    short, _ = parse_config(["--policy", "p.toml", "--trusted-proxy", "10.0.0.1"], env={})
    assert short.policy_file == "p.toml" and short.trusted_proxies == ("10.0.0.1",)


README = Path(__file__).resolve().parents[2] / "README.md"
SAMPLES = {"log_level": "debug", "log_format": "json", "workers": "tcp://w:1"}


def readme_settings() -> list[tuple[str, str, str]]:
    """(process, flag or environment variable, the whole row) for every name in the
    README's table of settings."""
    text = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if re.match(r"\| (worker|front end|both) \|", line)]
    found = []
    for row in rows:
        process = row.split("|")[1].strip()
        for name in re.findall(r"`(--[a-z-]+|DTERM_[A-Z_]+|DOCKER_HOST)`", row):
            for one in ("worker", "front end") if process == "both" else (process,):
                found.append((one, name, row))
    return found


def parse(process: str, argv: list[str], env: dict[str, str]) -> Any:
    from exec_worker.__main__ import parse_config as parse_worker
    from frontend_server.__main__ import parse_config as parse_frontend

    return (parse_worker if process == "worker" else parse_frontend)(argv, env)[0]


def setting_of(process: str, name: str) -> str:
    """The setting a flag or an environment variable of the README stands for."""
    settings = Settings(WorkerConfig if process == "worker" else FrontendConfig, "")
    for setting in settings.kinds:
        spelled = {settings.flag(setting), "--" + setting.replace("_", "-"),
                   "--no-" + setting.replace("_", "-"), settings.env_name(setting),
                   ENV_ALIASES.get(setting)}  # fmt: skip
        if name in spelled:
            return setting
    raise AssertionError(f"README names {name} for the {process}, which has no such setting")


def test_the_readme_table_names_settings_that_exist() -> None:
    """The README's table has rows for both processes, none of them empty."""
    names = readme_settings()
    assert {p for p, _, _ in names} == {"worker", "front end"} and len(names) > 40


@pytest.mark.parametrize(
    ("process", "name", "row"), readme_settings(), ids=[f"{p}:{n}" for p, n, _ in readme_settings()]
)
def test_every_name_in_the_readme_table_sets_its_setting(process: str, name: str, row: str) -> None:
    """Each flag and environment variable the README lists works for that process and
    sets the setting it names (`--config` and DTERM_CONFIG are the file itself)."""
    if name in ("--config", "DTERM_CONFIG"):
        return
    setting = setting_of(process, name)
    kind = Settings(WorkerConfig if process == "worker" else FrontendConfig, "").kinds[setting]
    sample = SAMPLES.get(setting, {int: "3", float: "2.5", bool: "", tuple: "a"}.get(kind, "x"))
    if name.startswith("--"):
        argv = [name] if kind is bool else [name, sample]
        config = parse(process, argv, {})
    else:
        config = parse(process, [], {name: sample or "false"})
    want = {int: 3, float: 2.5, tuple: (sample,)}.get(kind, sample)
    if kind is bool:
        want = not name.startswith("--no-") and name.startswith("--")
    assert getattr(config, setting) == want, row


@pytest.mark.parametrize(("header", "proxies"), [("X-Forwarded-User", ()), ("", ("10.0.0.5",))])
def test_header_sign_in_needs_both_its_header_and_its_proxies(
    header: str, proxies: tuple[str, ...]
) -> None:
    """Half a single sign-on setup is refused at start: a header from anyone, or
    proxies whose header is never read, is a mistake either way."""
    with pytest.raises(Forbidden, match=r"sso_user_header .* sso_proxies"):
        check_sso_settings(FrontendConfig(sso_user_header=header, sso_proxies=proxies))
    check_sso_settings(FrontendConfig())
    check_sso_settings(
        FrontendConfig(sso_user_header="X-Forwarded-User", sso_proxies=("10.0.0.5",))
    )
