"""load_context: a server context of TLS 1.2 or later, and reasons a person can act on."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from frontend_server.tls import TlsError, load_context


def make_pair(folder: Path, name: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is missing")
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def test_a_pair_makes_a_server_context_of_tls_1_2_or_later(tmp_path: Path) -> None:
    """Nothing older than TLS 1.2 is offered, and HTTP/1.1 is the one ALPN protocol."""
    context = load_context(*(str(p) for p in make_pair(tmp_path, "one")))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE  # no client certificates asked for


def test_reasons_name_the_file(tmp_path: Path) -> None:
    """A missing file, a folder, a key of another certificate and a file that is no
    PEM each say which file and why."""
    cert, key = make_pair(tmp_path, "one")
    _, other_key = make_pair(tmp_path, "two")
    cases = {
        (cert, tmp_path / "none"): f"cannot read {tmp_path / 'none'}: No such file",
        (tmp_path, key): f"cannot read {tmp_path}: Is a directory",
        (cert, other_key): f"the private key {other_key} is not the key of the certificate",
        (key, key): "are not a PEM certificate chain and its private key",
    }
    for (c, k), said in cases.items():
        with pytest.raises(TlsError, match=re.escape(said)):
            load_context(str(c), str(k))
