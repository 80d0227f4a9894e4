"""Certificates for tests of the front end's own TLS, made with the openssl command."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.containers import require


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def make_pair(folder: Path, name: str) -> Pair:
    """A self-signed certificate for 127.0.0.1 (common name `name`) and its key."""
    openssl = shutil.which("openssl")
    require(openssl is not None, "openssl is missing: apt-get install openssl")
    pair = Pair(folder / f"{name}.crt", folder / f"{name}.key")
    subprocess.run(
        [str(openssl), "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(pair.key),
         "-out", str(pair.cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return pair


def trusting(*pairs: Pair) -> ssl.SSLContext:
    """A client context that trusts these self-signed certificates and no other."""
    context = ssl.create_default_context()
    for pair in pairs:
        context.load_verify_locations(cafile=str(pair.cert))
    return context
