"""The local side of uploads: a recorder tells when a file is complete, markers
survive as written, the age and the budget spare what is not uploaded, and a header
read from anywhere is checked like one on disk."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from exec_worker import upload_markers
from exec_worker.asciicast import Recorder
from exec_worker.recording_files import (
    delete_older_than,
    header_fields,
    read_info,
    trim_to_budget,
)
from tests.support.recordings import T0, Clock, make_header, record
from tests.support.strategies import json_values


def test_a_recorder_tells_of_each_part_once_complete(tmp_path: Path) -> None:
    """At a rotation the finished part, at close the last one; each whole on disk."""
    done: list[tuple[str, int]] = []
    recorder = Recorder.start(tmp_path, make_header(), False, 200, now=Clock())
    recorder.on_done = lambda path: done.append((path.name, path.stat().st_size))
    for chunk in (b"x" * 300, b"y", b"z"):  # each read after the coalescing window
        recorder.output(chunk)  # the y event goes into a new part, the first being full
    assert [name for name, _ in done] == [recorder.paths[0].name]
    recorder.close(0, "exited")
    assert [name for name, _ in done] == [p.name for p in recorder.paths]
    assert all(size == (tmp_path / name).stat().st_size for name, size in done)


def test_a_marker_reads_back_as_written_and_only_its_owner_may_read_it(tmp_path: Path) -> None:
    recorder = record(tmp_path, T0)
    info = read_info(recorder.path)
    assert info is not None
    marker = upload_markers.Marker(info.name, "p/h/" + info.name, info.size, "abc", 5.0, info)
    upload_markers.write(tmp_path, marker)
    assert upload_markers.read(tmp_path, info.name) == marker
    assert upload_markers.sizes(tmp_path) == {info.name: info.size}
    path = tmp_path / upload_markers.FOLDER / (info.name + ".json")
    assert path.stat().st_mode & 0o777 == 0o600
    recorder.path.unlink()
    assert upload_markers.sizes(tmp_path) == {}  # only recordings still here count
    assert upload_markers.read(tmp_path, info.name) == marker  # but it still describes


def test_a_broken_or_foreign_marker_is_no_marker(tmp_path: Path) -> None:
    folder = tmp_path / upload_markers.FOLDER
    folder.mkdir()
    name = "20240101T000000Z-h-c-abc.cast"
    for body in (b"{", b"[]", json.dumps({"name": "other.cast"}).encode(), b"x" * 20000):
        (folder / (name + ".json")).write_bytes(body)
        assert upload_markers.read(tmp_path, name) is None
    (folder / (name + ".json")).unlink()
    os.symlink("/etc/hostname", folder / (name + ".json"))
    assert upload_markers.read(tmp_path, name) is None


def old_pair(tmp_path: Path) -> tuple[str, str]:
    """Two recordings a week old; the first one uploaded."""
    names = [record(tmp_path, T0 + n).path.name for n in (0, 1)]
    week_ago = time.time() - 7 * 86400
    for n, name in enumerate(names):
        os.utime(tmp_path / name, (week_ago + n, week_ago + n))
    return names[0], names[1]


def test_with_a_bucket_the_age_removes_only_uploaded_recordings(tmp_path: Path) -> None:
    uploaded, pending = old_pair(tmp_path)
    assert delete_older_than(tmp_path, 86400, only={uploaded}) == [uploaded]
    assert (tmp_path / pending).exists()


def test_with_a_bucket_the_budget_removes_uploaded_recordings_first(tmp_path: Path) -> None:
    """The newer uploaded one goes before the older one still waiting for its upload;
    only when nothing uploaded is left does a waiting one go."""
    older, newer = old_pair(tmp_path)
    size = (tmp_path / older).stat().st_size
    assert trim_to_budget(tmp_path, size, first={newer}) == [newer]
    assert trim_to_budget(tmp_path, 0, first=set()) == [older]


@given(st.binary(max_size=300))
def test_any_bytes_as_a_header_are_refused_or_bounded(head: bytes) -> None:
    """Bytes from a bucket never raise, and what they give passes the same checks."""
    fields = header_fields("a.cast", 10, head)
    assert fields is None or fields["name"] == "a.cast"


@given(json_values)
def test_any_json_as_a_header_is_refused_or_has_the_right_types(value: object) -> None:
    fields = header_fields("a.cast", 10, json.dumps(value).encode() + b"\n")
    assert fields is None or all(
        isinstance(fields[k], str) for k in ("person", "host", "container", "session")
    )


@given(st.dictionaries(st.sampled_from(["person", "host", "session", "part"]), json_values))
def test_header_fields_of_the_wrong_type_are_refused(ours: dict[str, object]) -> None:
    """Every text a string of bounded length, the part a positive integer."""
    dterm = {"person": "p", "host": "h", "session": "s", "part": 1,
             "container": {"name": "c", "id": "i"}} | ours  # fmt: skip
    header = {"version": 2, "timestamp": 1, "dterm": dterm}
    fields = header_fields("a.cast", 10, json.dumps(header).encode() + b"\n")
    if fields is not None:
        assert all(isinstance(fields[k], str) for k in ("person", "host", "session"))
        assert type(fields["part"]) is int and fields["part"] > 0


def test_huge_texts_and_deep_nesting_in_a_header_are_refused() -> None:
    deep = b"[" * 50000 + b"]" * 50000
    assert header_fields("a.cast", 10, deep[:60000] + b"\n") is None
    header = {"version": 2, "timestamp": 1, "dterm": {
        "person": "p" * 5000, "host": "h", "session": "s", "part": 1,
        "container": {"name": "c", "id": "i"}}}  # fmt: skip
    assert header_fields("a.cast", 10, json.dumps(header).encode() + b"\n") is None
