"""Audit events to an HTTP collector: batches POSTed as JSON lines.

Each batch is one `POST` with `Content-Type: application/x-ndjson`, one event's
JSON object per line (the same lines as the audit file), oldest first, and
`Authorization: Bearer <token>` when a token file is configured. Any 2xx answer
means the whole batch arrived; anything else (another status, no answer in time,
no connection) means none of it did, and it is sent again later. A collector that
stored a batch but failed to answer will see it twice: delivery is at least once.
Redirects are not followed (a POST is not replayed elsewhere).

The token comes from a file, read once at start, never from a flag: argv is
readable by every local user through /proc.

Concurrency: Tornado's AsyncHTTPClient on the process's own event loop, one
request at a time per sink; no thread.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from shared.audit import AuditSinkError, SinkError

CONTENT_TYPE = "application/x-ndjson"


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")


def read_token(path: str) -> str:
    """The bearer token in `path` (its first line), refused at start when unusable."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise AuditSinkError(
            f"cannot read the audit HTTP token file {path}: {exc.strerror or exc}"
        ) from None
    token = lines[0].strip() if lines else ""
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise AuditSinkError(f"the audit HTTP token file {path} holds no usable token")
    return token


class HttpTransport:
    def __init__(self, url: str, token: str, timeout: float) -> None:
        check_url(url)
        self.url, self._timeout = url, timeout
        self._headers = {"Content-Type": CONTENT_TYPE}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        # its own client: a hung collector does not take slots from anyone else's
        self._client = AsyncHTTPClient(force_instance=True)

    async def send(self, lines: list[bytes]) -> None:
        request = HTTPRequest(
            self.url,
            method="POST",
            headers=self._headers,
            body=b"".join(line + b"\n" for line in lines),
            connect_timeout=self._timeout,
            request_timeout=self._timeout,
            follow_redirects=False,
        )
        try:
            response = await self._client.fetch(request, raise_error=False)
        except (HTTPClientError, OSError) as exc:  # no answer: refused, reset, timed out
            raise SinkError(f"{self.url}: {exc}") from None
        if not 200 <= response.code < 300:
            raise SinkError(f"{self.url}: {response.code} {response.reason}")

    def close(self) -> None:
        self._client.close()
