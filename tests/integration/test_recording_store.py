"""RecordingStore against a real S3-compatible server (moto's, its own process): large
recordings go up in parts and are confirmed by the ETag S3 gives them, parts an
earlier run left are aborted, and reads never take more than was announced."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exec_worker.recording_store import CHUNK, RecordingStore
from shared.errors import NotFound, TimedOut, Unavailable
from shared.settings import MIN_PART_BYTES, WorkerConfig
from tests.support.s3_server import BUCKET, PREFIX, S3Server, credentials_file


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server()
    server.make_bucket()
    yield server
    server.stop()


def store_of(s3: S3Server, tmp_path: Path, host: str = "store-host") -> RecordingStore:
    config = WorkerConfig(
        host_id=host, storage_bucket=BUCKET, storage_endpoint=s3.url, storage_prefix=PREFIX,
        storage_region="us-east-1", storage_path_style=True, storage_part_bytes=MIN_PART_BYTES,
        storage_credentials_file=str(credentials_file(tmp_path)), storage_timeout=10,
    )  # fmt: skip
    return RecordingStore(config)


def test_a_large_recording_goes_up_in_parts_and_is_confirmed(s3: S3Server, tmp_path: Path) -> None:
    """Eleven MiB in parts of five: three parts, the multipart ETag, the same bytes."""
    path = tmp_path / "20240101T000000Z-big.cast"
    path.write_bytes(os.urandom(11 << 20))
    store = store_of(s3, tmp_path)
    stored = store.upload(path, time.monotonic() + 120)
    assert stored.size == 11 << 20 and stored.etag.endswith("-3")
    assert s3.get(store.key(path.name)) == path.read_bytes()
    chunks = list(store.open(path.name, stored.size))
    assert max(len(c) for c in chunks) <= CHUNK and b"".join(chunks) == path.read_bytes()


def test_a_small_recording_goes_up_in_one_request(s3: S3Server, tmp_path: Path) -> None:
    path = tmp_path / "20240101T000000Z-small.cast"
    path.write_bytes(b'{"version": 2}\n')
    store = store_of(s3, tmp_path)
    stored = store.upload(path, time.monotonic() + 60)
    assert "-" not in stored.etag and store.head(path.name) == stored


def test_an_upload_past_its_deadline_is_given_up_and_leaves_no_parts(
    s3: S3Server, tmp_path: Path
) -> None:
    path = tmp_path / "20240101T000000Z-late.cast"
    path.write_bytes(b"x" * (MIN_PART_BYTES + 1))
    store = store_of(s3, tmp_path)
    with pytest.raises(TimedOut):
        store.upload(path, time.monotonic() - 1)
    assert store.head(path.name) is None
    answer = s3.client().list_multipart_uploads(Bucket=BUCKET, Prefix=store.folder)
    assert answer.get("Uploads", []) == []


def test_parts_an_earlier_run_left_are_aborted_only_in_the_hosts_folder(
    s3: S3Server, tmp_path: Path
) -> None:
    store = store_of(s3, tmp_path, host="abort-host")
    client = s3.client()
    ours = client.create_multipart_upload(Bucket=BUCKET, Key=store.key("20240101T0-a.cast"))
    theirs = client.create_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}other/20240101T0-a.cast")
    assert store.abort_unfinished() == 1
    left = {u["UploadId"] for u in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])}
    assert theirs["UploadId"] in left and ours["UploadId"] not in left
    client.abort_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}other/20240101T0-a.cast",
                                  UploadId=theirs["UploadId"])  # fmt: skip


def test_reads_take_no_more_than_announced(s3: S3Server, tmp_path: Path) -> None:
    """A head read stops at its limit; an object of another size than listed is refused;
    a missing one is NotFound."""
    store = store_of(s3, tmp_path, host="read-host")
    s3.put(store.key("20240101T0-r.cast"), b"y" * 100_000)
    assert len(store.read_head("20240101T0-r.cast", 1000)) == 1000
    with pytest.raises(Unavailable):
        list(store.open("20240101T0-r.cast", 99_999))
    with pytest.raises(NotFound):
        store.open("20240101T0-missing.cast", 1)
    assert store.head("20240101T0-missing.cast") is None
    objects, more = store.list_objects(10)
    assert [(o.name, o.size) for o in objects] == [("20240101T0-r.cast", 100_000)] and not more


def test_a_listing_is_bounded_and_says_there_is_more(s3: S3Server, tmp_path: Path) -> None:
    store = store_of(s3, tmp_path, host="many-host")
    for n in range(5):
        s3.put(store.key(f"20240101T0-{n}.cast"), b"z")
    objects, more = store.list_objects(3)
    assert len(objects) == 3 and more
