"""The pure core of recordings in a bucket: what to upload when, the retry schedule,
ETags, which keys are recordings of this host, and merged listings."""

from __future__ import annotations

import hashlib
import string

from hypothesis import given
from hypothesis import strategies as st

from exec_worker.bucket_plan import (
    MAX_OBJECT_BYTES,
    LocalFile,
    Retry,
    after_failure,
    backoff,
    believable_size,
    due,
    host_prefix,
    merge,
    multipart_etag,
    name_of_key,
    needs_upload,
    next_wake,
)
from exec_worker.recording_files import RecordingInfo, check_name

names = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12).map(
    lambda word: f"2024{word}.cast"
)
files = st.lists(
    st.builds(LocalFile, names, st.integers(0, 100), st.none() | st.integers(0, 100)),
    max_size=20,
    unique_by=lambda f: f.name,
)
retries = st.dictionaries(names, st.builds(Retry, st.integers(1, 20), st.floats(0, 200)))


@given(files, st.sets(names), st.sets(names), retries, st.floats(0, 200), st.integers(-2, 25))
def test_due_is_what_needs_uploading_and_may_go_now(
    found: list[LocalFile],
    writing: set[str],
    in_flight: set[str],
    failed: dict[str, Retry],
    now: float,
    slots: int,
) -> None:
    """Never a file still written, confirmed at its size, under way or waiting for its
    retry; at most `slots`, oldest first; and nothing left out but for the slots."""
    chosen = due(found, writing, in_flight, failed, now, slots)
    by_name = {f.name: f for f in found}
    assert chosen == sorted(chosen) and len(chosen) <= max(0, slots)
    for name in chosen:
        file = by_name[name]
        assert name not in writing and name not in in_flight
        assert file.uploaded_size != file.size
        assert name not in failed or failed[name].next_at <= now
    eligible = [
        f.name
        for f in found
        if needs_upload(f, writing)
        and f.name not in in_flight
        and (f.name not in failed or failed[f.name].next_at <= now)
    ]
    assert chosen == sorted(eligible)[: max(0, slots)]


def test_a_recording_that_grew_after_its_upload_needs_another() -> None:
    """A marker of another size does not count as uploaded."""
    assert needs_upload(LocalFile("a.cast", 10, 8), ())
    assert not needs_upload(LocalFile("a.cast", 10, 10), ())
    assert not needs_upload(LocalFile("a.cast", 10, None), {"a.cast"})


@given(st.integers(1, 200), st.floats(0.01, 100), st.floats(0, 1, exclude_max=True))
def test_backoff_doubles_up_to_the_cap_with_jitter(
    attempts: int, initial: float, jitter: float
) -> None:
    """Between half and all of initial * 2^(n-1), never above the cap."""
    cap = initial * 50
    ceiling = min(cap, initial * 2 ** (attempts - 1))
    wait = backoff(attempts, initial, cap, jitter)
    assert ceiling / 2 <= wait <= ceiling <= cap
    assert backoff(attempts + 1, initial, cap, jitter) >= wait


@given(st.floats(0, 1e6), st.floats(0, 1, exclude_max=True))
def test_failures_in_a_row_are_counted_and_put_off(now: float, jitter: float) -> None:
    """Each failure adds one attempt and a retry time in the future."""
    first = after_failure(None, now, 1.0, 60.0, jitter)
    second = after_failure(first, now, 1.0, 60.0, jitter)
    assert (first.attempts, second.attempts) == (1, 2)
    assert now + 0.5 <= first.next_at <= now + 1.0
    assert now + 1.0 <= second.next_at <= now + 2.0


@given(retries, st.floats(0, 300), st.floats(1, 120))
def test_the_loop_wakes_for_the_first_retry_or_the_rescan(
    failed: dict[str, Retry], now: float, rescan: float
) -> None:
    """Within [0, rescan], and no later than the earliest retry."""
    wait = next_wake(failed, now, rescan)
    assert 0 <= wait <= rescan
    if failed:
        assert wait <= max(0.0, min(r.next_at for r in failed.values()) - now)


def test_etags_are_those_s3_gives() -> None:
    """One request: the MD5; parts: the MD5 of the parts' MD5s, a dash, their count."""
    parts = [b"a" * 10, b"b" * 7, b"c"]
    digests = [hashlib.md5(p).digest() for p in parts]
    assert multipart_etag(digests[:1]) == hashlib.md5(b"a" * 10).hexdigest()
    assert multipart_etag(digests) == hashlib.md5(b"".join(digests)).hexdigest() + "-3"


@given(st.text(max_size=40), st.text(max_size=20))
def test_only_plain_recording_names_in_the_hosts_folder_are_believed(key: str, host: str) -> None:
    """Whatever key the bucket lists: None, or a plain name right under the folder."""
    folder = host_prefix("dterm/", host)
    name = name_of_key(key, folder)
    assert name is None or (key == folder + name and check_name(name) == name)


@given(names, st.text(min_size=1, max_size=20))
def test_a_recordings_key_gives_its_name_back(name: str, host: str) -> None:
    folder = host_prefix("p/", host)
    assert name_of_key(folder + name, folder) == name
    assert folder.count("/") == 2  # the host's name cannot open a folder of its own


def test_keys_that_are_not_recordings_of_the_host_are_refused() -> None:
    """Deeper keys, dot files, other suffixes, other hosts' folders, walks upwards."""
    folder = host_prefix("dterm/", "db-1")
    for key in ("dterm/db-1/x/a.cast", "dterm/db-1/.a.cast", "dterm/db-1/a.txt",
                "dterm/db-2/a.cast", "dterm/db-1/../db-2/a.cast", "dterm/db-1/a..cast",
                "dterm/db-1/a\\b.cast", "other/db-1/a.cast"):  # fmt: skip
        assert name_of_key(key, folder) is None, key


def test_sizes_out_of_bounds_are_not_believed() -> None:
    assert believable_size(0) and believable_size(MAX_OBJECT_BYTES)
    for size in (-1, MAX_OBJECT_BYTES + 1, 1.5, "10", True, None):
        assert not believable_size(size)


def info(name: str, size: int = 1) -> RecordingInfo:
    return RecordingInfo(name, size, 0, "p", "h", "c", "id", "s", 1, None)


@given(st.lists(names, max_size=10), st.lists(names, max_size=10))
def test_merged_listings_hold_every_recording_once(here: list[str], there: list[str]) -> None:
    """The union of both, sorted, each once; one held here is described as here."""
    merged = merge([info(n, 1) for n in here], [info(n, 2) for n in there])
    assert [m.info.name for m in merged] == sorted(set(here) | set(there))
    for entry in merged:
        assert entry.local == (entry.info.name in here)
        assert entry.stored == (entry.info.name in there)
        assert entry.info.size == (1 if entry.local else 2)
