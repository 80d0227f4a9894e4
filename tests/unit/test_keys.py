"""Key files: made private, reused as they are, refused once opened to others."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import zmq.auth

from dterm_cli.keys import main
from shared.keys import link_keys
from shared.security import KeyFileError, load_secret_key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_key_set_is_private_and_complete(tmp_path: Path) -> None:
    """Folder 0700, secrets 0600, and the front end's public key in the allowed folder."""
    keys, made = link_keys(tmp_path / "state" / "keys")
    assert made and mode(keys.folder) == 0o700
    assert mode(keys.worker_secret) == mode(keys.frontend_secret) == 0o600
    frontend_public = zmq.auth.load_certificate(keys.folder / "frontend.key")[0]
    assert zmq.auth.load_certificate(keys.allowed / "frontend.key")[0] == frontend_public
    assert load_secret_key(str(keys.frontend_secret))[0] == frontend_public


def test_a_key_set_is_reused_unchanged(tmp_path: Path) -> None:
    """A second call makes nothing and leaves every file as it was."""
    first, _ = link_keys(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again, made = link_keys(tmp_path)
    assert not made and again == first
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("opened", [0o640, 0o604, 0o660, 0o700])
def test_an_opened_secret_key_is_refused_by_name(tmp_path: Path, opened: int) -> None:
    """As ssh does: any bit for group or others is refused; the owner's bits are free."""
    keys, _ = link_keys(tmp_path)
    keys.worker_secret.chmod(opened)
    if opened & 0o077:
        with pytest.raises(KeyFileError, match=f"{keys.worker_secret}.*chmod 600"):
            link_keys(tmp_path)
    else:
        link_keys(tmp_path)


def test_keys_command_makes_a_private_folder(tmp_path: Path) -> None:
    """`dterm keys NAME --out NEW` makes NEW 0700 and the secret 0600."""
    assert main(["w", "--out", str(tmp_path / "new")]) == 0
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "w.key_secret") == 0o600
    assert mode(tmp_path / "new" / "w.key") == 0o644
