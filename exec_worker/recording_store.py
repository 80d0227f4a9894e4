"""The bucket that recordings are uploaded to: the only module that imports boto3.

One RecordingStore per worker holds one S3 client (boto3 clients are thread-safe;
sessions are not, so it makes its own). Uploads go in one request up to
`storage_part_bytes`, else as a multipart upload in parts of that size, each with
its Content-MD5, which the server checks; a failed multipart upload is aborted so
no parts are left behind. An upload counts only once a HEAD of the object shows the
size sent and (unless turned off) the ETag those MD5s make.

Everything the bucket says is untrusted: keys outside this host's folder or that a
recording could not be named, sizes out of bounds, and objects that turn out longer
or shorter than announced are refused or left out; reads never take more than they
asked for. Errors of boto3 and botocore become Unavailable (NotFound for a missing
object), with the operation in the message.

Credentials come from `storage_credentials_file` (checked like a secret key: mode
0600 or 0400) or from the standard AWS chain; never from the command line.

Concurrency: every method blocks (network I/O); call them from worker threads. Each
request has the `storage_timeout` to connect and to answer, and an upload gives up
between parts once its deadline has passed.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import hashlib
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from exec_worker.bucket_plan import believable_size, host_prefix, multipart_etag, name_of_key
from exec_worker.recording_files import open_plain
from shared.errors import NotFound, TimedOut, Unavailable
from shared.security import check_private
from shared.settings import SettingsError, WorkerConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

CONTENT_TYPE = "application/x-asciicast"
PAGE = 1000
_ETAG_LIMIT = 200
_MISSING = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A recording in the bucket, as the bucket describes it (bounds checked)."""

    name: str
    size: int
    etag: str


class RecordingStore:
    """This host's folder of the bucket."""

    def __init__(self, config: WorkerConfig) -> None:
        self.bucket = config.storage_bucket
        self.folder = host_prefix(config.storage_prefix, config.host_id)
        self._part = config.storage_part_bytes
        self._verify_etag = config.storage_verify_etag
        self._client = _client(config)

    def key(self, name: str) -> str:
        return self.folder + name

    # --- uploads ---------------------------------------------------------------------

    def upload(self, path: Path, deadline: float) -> StoredObject:
        """Upload one recording file as it is now, and confirm it; Unavailable when it
        did not go up or the bucket holds something else; TimedOut past `deadline`
        (time.monotonic)."""
        with open_plain(path) as file, _errors(f"upload of {path.name}"):
            size = file.seek(0, 2)
            file.seek(0)
            if size <= self._part:
                digests, etag = self._put(path.name, file.read(self._part))
            else:
                digests, etag = self._put_parts(path.name, file, deadline)
            return self._confirm(path.name, sum(n for _, n in digests), digests, etag)

    def _put(self, name: str, body: bytes) -> tuple[list[tuple[bytes, int]], str]:
        digest = hashlib.md5(body, usedforsecurity=False).digest()
        answer = self._client.put_object(Bucket=self.bucket, Key=self.key(name), Body=body,
                                         ContentMD5=base64.b64encode(digest).decode(),
                                         ContentType=CONTENT_TYPE)  # fmt: skip
        return [(digest, len(body))], answer.get("ETag", "")

    def _put_parts(
        self, name: str, file: IO[bytes], deadline: float
    ) -> tuple[list[tuple[bytes, int]], str]:
        key = self.key(name)
        started = self._client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=CONTENT_TYPE
        )
        upload = started["UploadId"]
        digests: list[tuple[bytes, int]] = []
        parts: list[CompletedPartTypeDef] = []
        try:
            while body := file.read(self._part):
                if time.monotonic() > deadline:
                    raise TimedOut(f"upload of {name} not done in time ({len(parts)} parts sent)")
                digest = hashlib.md5(body, usedforsecurity=False).digest()
                answer = self._client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=len(parts) + 1,
                    Body=body, ContentMD5=base64.b64encode(digest).decode(),
                )  # fmt: skip
                digests.append((digest, len(body)))
                parts.append({"ETag": answer["ETag"], "PartNumber": len(parts) + 1})
            done = self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(BotoCoreError, ClientError):
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise
        return digests, done.get("ETag", "")

    def _confirm(
        self, name: str, size: int, digests: list[tuple[bytes, int]], written: str
    ) -> StoredObject:
        """The object as HEAD shows it, if it is what was sent."""
        found = self.head(name)
        if found is None or found.size != size:
            raise Unavailable(f"{name} in the bucket has {found and found.size} bytes, not {size}")
        expected = multipart_etag([digest for digest, _ in digests])
        if self._verify_etag and found.etag != expected:
            raise Unavailable(f"{name} in the bucket has ETag {found.etag!r}, not {expected!r}")
        if written.strip('"') and written.strip('"') != found.etag:
            raise Unavailable(f"{name} in the bucket was replaced while it was uploaded")
        return found

    def abort_unfinished(self) -> int:
        """Abort multipart uploads of this host's folder that an earlier run left
        (killed mid-upload); call before any upload of this run starts."""
        aborted = 0
        with _errors("listing unfinished uploads"):
            answer = self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.folder)
            for upload in answer.get("Uploads", [])[:PAGE]:
                key, upload_id = upload.get("Key", ""), upload.get("UploadId", "")
                if name_of_key(key, self.folder) and upload_id:
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                        UploadId=upload_id)  # fmt: skip
                    aborted += 1
        return aborted

    # --- reading ---------------------------------------------------------------------

    def list_objects(self, limit: int) -> tuple[list[StoredObject], bool]:
        """This host's recordings in the bucket (at most `limit`), and whether there
        were more."""
        found: list[StoredObject] = []
        token = ""
        with _errors("listing the bucket"):
            while len(found) < limit:
                more = {"ContinuationToken": token} if token else {}
                answer = self._client.list_objects_v2(Bucket=self.bucket, Prefix=self.folder,
                                                      MaxKeys=PAGE, **more)  # type: ignore[arg-type]  # fmt: skip
                for item in answer.get("Contents", [])[:PAGE]:
                    stored = self._believed(item.get("Key"), item.get("Size"), item.get("ETag"))
                    if stored is not None:
                        found.append(stored)
                token = answer.get("NextContinuationToken", "")
                if not answer.get("IsTruncated") or not isinstance(token, str) or not token:
                    return found[:limit], len(found) > limit
        return found[:limit], True

    def head(self, name: str) -> StoredObject | None:
        """The object of recording `name`; None when there is none."""
        try:
            with _errors(f"looking up {name}"):
                answer = self._client.head_object(Bucket=self.bucket, Key=self.key(name))
        except NotFound:
            return None
        return self._believed(self.key(name), answer.get("ContentLength"), answer.get("ETag"))

    def read_head(self, name: str, limit: int) -> bytes:
        """At most the first `limit` bytes of a recording (its header line)."""
        with _errors(f"reading {name}"):
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key(name),
                                             Range=f"bytes=0-{limit - 1}")  # fmt: skip
            body = answer["Body"]
            try:
                return body.read(limit)  # a server that ignores Range sends more: not read
            finally:
                body.close()

    def open(self, name: str, size: int) -> Generator[bytes, None, None]:
        """The bytes of a recording, `size` of them exactly, in chunks; NotFound when it
        is gone, Unavailable when the object is longer or shorter than that."""
        with _errors(f"reading {name}"):
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key(name))
        if answer.get("ContentLength") != size:
            answer["Body"].close()
            raise Unavailable(f"{name} in the bucket changed while it was opened")
        return _exactly(name, answer["Body"], size)

    def _believed(self, key: object, size: object, etag: object) -> StoredObject | None:
        if not isinstance(key, str) or not believable_size(size):
            return None
        name = name_of_key(key, self.folder)
        if name is None:
            return None
        tag = etag.strip('"') if isinstance(etag, str) and len(etag) <= _ETAG_LIMIT else ""
        return StoredObject(name, size, tag)  # type: ignore[arg-type]


CHUNK = 64 * 1024


def _exactly(name: str, body: Any, size: int) -> Generator[bytes, None, None]:
    """`size` bytes of a streamed body, chunk by chunk, never more; closes the body."""
    left = size
    try:
        while left > 0:
            with _errors(f"reading {name}"):
                chunk = body.read(min(CHUNK, left))
            if not chunk:
                raise Unavailable(f"{name} in the bucket ended {left} bytes early")
            left -= len(chunk)
            yield chunk
    finally:
        body.close()


@contextlib.contextmanager
def _errors(doing: str) -> Iterator[None]:
    """boto3's and botocore's errors as ours, naming what was being done."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING:
            raise NotFound(f"{doing}: no such object") from None
        message = error.get("Message", "")
        raise Unavailable(f"{doing}: the store answered {code} {message}") from None
    except BotoCoreError as exc:
        raise Unavailable(f"{doing}: {exc}") from None


def _client(config: WorkerConfig) -> S3Client:
    settings = Config(
        connect_timeout=config.storage_timeout,
        read_timeout=config.storage_timeout,
        retries={"mode": "standard", "max_attempts": 2},
        s3={"addressing_style": "path" if config.storage_path_style else "auto"},
        max_pool_connections=config.storage_uploads + 8,
        request_checksum_calculation="when_required",  # not all S3-compatible servers
        response_checksum_validation="when_required",  # take the newer checksums
    )
    keys = _credentials(config.storage_credentials_file)
    session = boto3.session.Session(
        aws_access_key_id=keys.get("aws_access_key_id"),
        aws_secret_access_key=keys.get("aws_secret_access_key"),
        aws_session_token=keys.get("aws_session_token"),
    )
    return session.client("s3", endpoint_url=config.storage_endpoint or None,
                          region_name=config.storage_region or None, config=settings)  # fmt: skip


def _credentials(path: str) -> dict[str, str]:
    """Keys from an AWS-style credentials file; none (the standard chain) without one."""
    if not path:
        return {}
    check_private(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(Path(path).read_text())
    except (OSError, configparser.Error) as exc:
        raise SettingsError(f"storage_credentials_file {path}: {exc}") from None
    section = parser["default"] if parser.has_section("default") else None
    if section is None or not section.get("aws_access_key_id"):
        raise SettingsError(
            f"storage_credentials_file {path}: no [default] section with aws_access_key_id"
        )
    keys = {"aws_access_key_id": section["aws_access_key_id"],
            "aws_secret_access_key": section.get("aws_secret_access_key", "")}  # fmt: skip
    if section.get("aws_session_token"):
        keys["aws_session_token"] = section["aws_session_token"]
    return keys
