"""The front end's own TLS: its certificate and key, loaded again when they change.

For those without a TLS proxy in front, a front end given `tls_cert` and `tls_key`
serves HTTPS and WSS itself. The context has the ssl module's server defaults
(no SSLv3, no compression, forward-secret ciphers first) and refuses anything older
than TLS 1.2.

Renewals need no restart: every LOOK_EVERY seconds, and at once on SIGHUP, the two
files are looked at (device, inode, size and modification time, following symbolic
links as certbot's live/ folder has them); when either changed, the pair is loaded
into a new context, which every connection accepted from then on uses (those open
keep theirs). A pair that does not load (a key that is not the certificate's, a file
half written, missing or unreadable) is logged with its reason and the pair before
stays in use; it is tried again when the files change again. At start, a pair that
does not load stops the front end (startup.py).

Concurrency: one task on the front end's loop. Loading a pair is a few milliseconds
of file reading and parsing, rare enough to do on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl

from shared.errors import DtermError

log = logging.getLogger(__name__)

LOOK_EVERY = 2.0
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2

Stamp = tuple[tuple[int, int, int, int] | None, ...]


class TlsError(DtermError):
    """A certificate and key that cannot serve TLS; the message says which and why."""


def load_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context holding this pair; TlsError if it cannot be loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MINIMUM_VERSION
    context.set_alpn_protocols(["http/1.1"])
    for path in (cert, key):  # OpenSSL would not say which of the two it cannot read
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise TlsError(f"cannot read {path}: {exc.strerror}") from None
    asked: list[bool] = []

    def no_passphrase() -> bytes:
        """Without a callback OpenSSL asks on the controlling terminal, holding the loop."""
        asked.append(True)
        return b""

    try:
        context.load_cert_chain(cert, key, password=no_passphrase)
    except ssl.SSLError as exc:
        if asked:
            raise TlsError(
                f"the private key {key} is encrypted: give the front end an unencrypted "
                "key (mode 0600)"
            ) from None
        raise TlsError(_why_not_loaded(cert, key, exc)) from None
    except OSError as exc:  # changed between the look above and the load
        raise TlsError(f"cannot read {cert} or {key}: {exc.strerror}") from None
    return context


def _why_not_loaded(cert: str, key: str, exc: ssl.SSLError) -> str:
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"the private key {key} is not the key of the certificate {cert}"
    return (
        f"{cert} and {key} are not a PEM certificate chain and its private key "
        f"(OpenSSL: {exc.reason or exc})"
    )


class TlsFiles:
    """The certificate and key in use, and the watch that loads them again."""

    def __init__(self, cert: str, key: str) -> None:
        """Loads the pair now: TlsError if it cannot be used."""
        self.cert = cert
        self.key = key
        self._seen = self._stamp()
        self.context = load_context(cert, key)

    def _stamp(self) -> Stamp:
        stamps: list[tuple[int, int, int, int] | None] = []
        for path in (self.cert, self.key):
            try:
                found = os.stat(path)
            except OSError:
                stamps.append(None)
                continue
            stamps.append((found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns))
        return tuple(stamps)

    def reload(self, forced: bool = False) -> None:
        """Load the pair again if either file changed (or if asked); keep the one in
        use if the new one does not load."""
        stamp = self._stamp()
        if stamp == self._seen and not forced:
            return
        self._seen = stamp
        try:
            context = load_context(self.cert, self.key)
        except TlsError as exc:
            log.error("TLS: the new certificate was not loaded, the one before stays: %s", exc)
            return
        self.context = context
        log.info("TLS: certificate %s and key %s loaded; new connections use them",
                 self.cert, self.key)  # fmt: skip

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(LOOK_EVERY)
            self.reload()
