"""Settings defaults that the product's promises rest on."""

from __future__ import annotations

import pytest

from shared.errors import Forbidden
from shared.settings import (
    FrontendConfig,
    WorkerConfig,
    check_frontend_security,
    check_worker_security,
)


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
