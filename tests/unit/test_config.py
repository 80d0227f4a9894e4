"""Settings defaults that the product's promises rest on."""

from __future__ import annotations

import pytest

from shared.config import FrontendConfig, WorkerConfig, is_loopback_endpoint, require_loopback
from shared.errors import Forbidden


def test_pings_fit_under_proxy_idle_cuts() -> None:
    """WebSocket pings every 20-25 s by default (nginx cuts idle at 60 s)."""
    assert 20 <= FrontendConfig().ws_ping_interval <= 25


def test_defaults_are_loopback() -> None:
    assert FrontendConfig().address == "127.0.0.1"
    assert is_loopback_endpoint(WorkerConfig().bind)


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("tcp://127.0.0.1:7701", True),
        ("tcp://127.0.0.1:*", True),
        ("tcp://[::1]:7701", True),
        ("tcp://localhost:7701", True),
        ("ipc:///run/dterm.sock", True),
        ("tcp://0.0.0.0:7701", False),
        ("tcp://*:7701", False),
        ("tcp://10.0.0.5:7701", False),
        ("tcp://eth0:7701", False),
        ("udp://127.0.0.1:1", False),
    ],
)
def test_loopback_endpoints(endpoint: str, loopback: bool) -> None:
    assert is_loopback_endpoint(endpoint) is loopback


def test_require_loopback_refuses_public_binds() -> None:
    with pytest.raises(Forbidden, match="only loopback"):
        require_loopback("tcp://0.0.0.0:7701")


def test_detach_keys_do_not_start_with_ctrl_p() -> None:
    """Docker's default detach keys would hold a lone Ctrl-P back."""
    assert not WorkerConfig().detach_keys.startswith("ctrl-p")
