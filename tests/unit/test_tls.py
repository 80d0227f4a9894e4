"""load_context: a server context of TLS 1.2 or later, and reasons a person can act on."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest

from frontend_server.tls import TlsError, load_context
from tests.support.tls import make_pair


def test_a_pair_makes_a_server_context_of_tls_1_2_or_later(tmp_path: Path) -> None:
    """Nothing older than TLS 1.2 is accepted, and no client certificate is asked for."""
    pair = make_pair(tmp_path, "one")
    context = load_context(str(pair.cert), str(pair.key))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE


def test_reasons_name_the_file(tmp_path: Path) -> None:
    """A missing file, a folder, a key of another certificate and a file that is no
    PEM each say which file and why."""
    one = make_pair(tmp_path, "one")
    cert, key = one.cert, one.key
    other_key = make_pair(tmp_path, "two").key
    cases = {
        (cert, tmp_path / "none"): f"cannot read {tmp_path / 'none'}: No such file",
        (tmp_path, key): f"cannot read {tmp_path}: Is a directory",
        (cert, other_key): f"the private key {other_key} is not the key of the certificate",
        (key, key): "are not a PEM certificate chain and its private key",
    }
    for (c, k), said in cases.items():
        with pytest.raises(TlsError, match=re.escape(said)):
            load_context(str(c), str(k))
