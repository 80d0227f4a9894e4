"""Certificates made for one test run: a certificate authority and the certificates it
signs (LDAP over TLS), and self-signed pairs (the front end's own TLS)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass
class Authority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _builder(
    subject: str, issuer: str, public: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def make_ca(path: Path) -> Authority:
    """A CA whose certificate is written to `path` (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        _builder("dterm test CA", "dterm test CA", key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Authority(certificate, key)


def make_server_cert(ca: Authority, cert_path: Path, key_path: Path, address: str) -> None:
    """A server certificate for an IP address, signed by `ca`; the key is mode 0600."""
    _server_cert(ca.key, "dterm test CA", cert_path, key_path, address, address)


def make_pair(folder: Path, name: str) -> Pair:
    """A self-signed certificate for 127.0.0.1 (common name `name`) and its key."""
    pair = Pair(folder / f"{name}.crt", folder / f"{name}.key")
    _server_cert(None, name, pair.cert, pair.key, "127.0.0.1", name)
    return pair


def trusting(*pairs: Pair) -> ssl.SSLContext:
    """A client context that trusts these self-signed certificates and no other."""
    context = ssl.create_default_context()
    for pair in pairs:
        context.load_verify_locations(cafile=str(pair.cert))
    return context


def _server_cert(
    signer: ec.EllipticCurvePrivateKey | None,
    issuer: str,
    cert_path: Path,
    key_path: Path,
    address: str,
    subject: str,
) -> None:
    """A certificate for an IP address, signed by `signer` (None: by its own key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(subject, issuer, key.public_key()).add_extension(
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
        critical=False,
    )
    if signer is None:  # its own authority, as `openssl req -x509` makes them
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    certificate = builder.sign(signer or key, hashes.SHA256())
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
