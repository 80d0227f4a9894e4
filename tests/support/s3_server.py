"""A real S3-compatible server for tests: moto's server mode, as its own process.

It binds a free loopback port (port 0) and says which in its ready line. Its state
lives in memory: a server stopped and started again on the same port (`restart`)
is empty, as a store that lost its data would be; the test makes its bucket again.
Credentials are checked by nothing: workers get a credentials file all the same,
as in production.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.support.processes import ManagedProcess

READY = re.compile(r"Running on http://127\.0\.0\.1:(?P<port>\d+)")
BUCKET = "recordings"
PREFIX = "dterm/"


class S3Server:
    def __init__(self, port: int = 0) -> None:
        self.process = self._start(port)
        self.port = int(self.process.match["port"])
        self.url = f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _start(port: int) -> ManagedProcess:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        process = ManagedProcess("s3", argv, READY)
        process.allow_traceback = True  # the server's own error reports are not ours
        return process

    def stop(self) -> None:
        self.process.stop()

    def restart(self) -> None:
        """Start again on the same port, empty."""
        self.process.stop()
        self.process = self._start(self.port)

    def client(self) -> Any:
        """A boto3 S3 client of this server, for the test's own looks."""
        settings = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          connect_timeout=5, read_timeout=10)  # fmt: skip
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="test-key", aws_secret_access_key="test-secret",
                            config=settings)  # fmt: skip

    def make_bucket(self, name: str = BUCKET) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, prefix: str = PREFIX, bucket: str = BUCKET) -> dict[str, int]:
        """Key and size of each object under `prefix`."""
        answer = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return {item["Key"]: item["Size"] for item in answer.get("Contents", [])}

    def get(self, key: str, bucket: str = BUCKET) -> bytes:
        return bytes(self.client().get_object(Bucket=bucket, Key=key)["Body"].read())

    def put(self, key: str, body: bytes, bucket: str = BUCKET) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=body)


def credentials_file(folder: Path) -> Path:
    """An AWS-style credentials file only its owner may read."""
    path = folder / "s3-credentials"
    path.write_text(
        "[default]\naws_access_key_id = test-key\naws_secret_access_key = test-secret\n"
    )
    os.chmod(path, 0o600)
    return path


def storage_flags(server: S3Server, credentials: Path, *extra: str) -> list[str]:
    """A worker's settings for the bucket of `server`, retrying fast."""
    return ["--storage-bucket", BUCKET, "--storage-endpoint", server.url,
            "--storage-region", "us-east-1", "--storage-path-style",
            "--storage-prefix", PREFIX, "--storage-credentials-file", str(credentials),
            "--storage-retry-initial", "0.2", "--storage-retry-max", "1",
            "--storage-timeout", "5", *extra]  # fmt: skip
