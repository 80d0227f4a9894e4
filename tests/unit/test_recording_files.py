"""The recordings folder: listing from headers, safe reading by name, retention."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from exec_worker.asciicast import Recorder
from exec_worker.recording_files import (
    TAIL,
    check_name,
    delete_older_than,
    list_recordings,
    read_chunks,
    trim_to_budget,
)
from shared.errors import NotFound, ProtocolError
from tests.support.recordings import T0, make_header, record


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    record(tmp_path, T0, person="alice", host="db-1", container_name="api")
    record(tmp_path, T0 + 100, person="bob", host="db-1", container_name="worker")
    record(tmp_path, T0 + 200, person="alice", host="db-2", container_name="api")
    return tmp_path


def test_lists_every_recording_with_its_header_fields(folder: Path) -> None:
    """Each file is described by its header, sorted by start, with its duration."""
    infos = list_recordings(folder)
    assert [(i.person, i.host, i.container) for i in infos] == [
        ("alice", "db-1", "api"),
        ("bob", "db-1", "worker"),
        ("alice", "db-2", "api"),
    ]
    first = infos[0]
    assert first.started == T0 and first.part == 1 and first.container_id == "f" * 64
    assert first.session.endswith("@h") and first.size == (folder / first.name).stat().st_size
    assert first.duration == 3.0  # two outputs and the exit marker, a second apart


def test_filters_combine(folder: Path) -> None:
    """Person, host, container (name or id), time range and session all narrow the list."""

    def people(**filters: Any) -> list[str]:
        return [info.person + "@" + info.host for info in list_recordings(folder, **filters)]

    assert people(person="alice") == ["alice@db-1", "alice@db-2"]
    assert people(host="db-1") == ["alice@db-1", "bob@db-1"]
    assert people(container="worker") == ["bob@db-1"]
    assert people(container="f" * 64, host="db-2") == ["alice@db-2"]
    assert people(since=T0 + 100) == ["bob@db-1", "alice@db-2"]
    assert people(until=T0 + 100) == ["alice@db-1"]
    assert people(person="alice", since=T0 + 1, until=T0 + 300) == ["alice@db-2"]
    assert people(person="carol") == []
    bobs = list_recordings(folder, person="bob")[0].session
    assert people(session=bobs) == ["bob@db-1"]


def test_files_that_are_not_our_recordings_are_left_out(folder: Path, tmp_path: Path) -> None:
    """Junk, other asciicast files, hidden files, folders and symbolic links are not listed."""
    (folder / "junk.cast").write_bytes(b"not json\n")
    (folder / "theirs.cast").write_text(json.dumps({"version": 2, "width": 80}) + "\n")
    (folder / "notes.txt").write_text("hello\n")
    (folder / "half.cast").write_text('{"version": 2')
    (folder / "dir.cast").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    elsewhere = record(outside, T0 + 500, person="mallory")
    (folder / "link.cast").symlink_to(elsewhere.path)
    (folder / ".hidden.cast").write_bytes(elsewhere.path.read_bytes())
    assert len(list_recordings(folder)) == 3
    assert list_recordings(tmp_path / "missing") == []


def test_a_huge_file_lists_fast_from_its_header_and_tail(tmp_path: Path) -> None:
    """Only the first line and the last TAIL bytes are read: a 1 TiB (sparse) file, which
    would take minutes to read through, lists within seconds, with the duration from its
    last event."""
    recorder = record(tmp_path, T0)
    path = recorder.path
    header = path.read_bytes().split(b"\n")[0] + b"\n"
    with path.open("wb") as file:
        file.write(header)
        file.seek(1 << 40)
        file.write(b'\n[12345.5, "o", "' + b"x" * (TAIL // 2) + b'"]\n')
    started = time.monotonic()
    [info] = list_recordings(tmp_path)
    assert time.monotonic() - started < 10
    assert info.size > 1 << 40 and info.duration == 12345.5


def test_duration_is_unknown_when_the_last_event_starts_before_the_tail(
    tmp_path: Path,
) -> None:
    """A last event longer than TAIL leaves the duration unknown rather than read more;
    a file with no events yet lasts 0 seconds."""
    recorder = Recorder.start(tmp_path, make_header(session="a" * 24), False, 0)
    recorder.flush()
    long = Recorder.start(tmp_path, make_header(session="b" * 24), False, 0)
    long.output(b"y" * (2 * TAIL))
    long.flush()  # not closed: no exit marker after the long event
    durations = {info.session[:1]: info.duration for info in list_recordings(tmp_path)}
    assert durations == {"a": 0.0, "b": None}


def test_read_chunks_gives_the_whole_file(folder: Path) -> None:
    """Chunks put together are the file's bytes."""
    name = list_recordings(folder)[0].name
    chunks = list(read_chunks(folder, name, chunk_size=100))
    assert len(chunks) > 1 and all(len(chunk) <= 100 for chunk in chunks)
    assert b"".join(chunks) == (folder / name).read_bytes()


@pytest.mark.parametrize(
    "name", ["../x.cast", "a/b.cast", "/etc/x.cast", "x.txt", ".x.cast", "a..b.cast", "x\x00.cast"]
)
def test_read_chunks_refuses_names_that_are_not_plain(folder: Path, name: str) -> None:
    """Anything but a plain *.cast name is a bad request, before any file is touched."""
    with pytest.raises(ProtocolError):
        read_chunks(folder, name)
    with pytest.raises(ProtocolError):
        check_name(name)


def test_read_chunks_refuses_missing_files_links_and_folders(folder: Path, tmp_path: Path) -> None:
    """A name that is not a regular file in the folder is not found, and a symbolic
    link is never followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.cast").write_text("secret\n")
    (folder / "link.cast").symlink_to(outside / "secret.cast")
    (folder / "dir.cast").mkdir()
    for name in ("missing.cast", "link.cast", "dir.cast"):
        with pytest.raises(NotFound):
            read_chunks(folder, name)


def test_read_chunks_of_a_file_removed_meanwhile_is_not_found(folder: Path) -> None:
    """Retention may remove a file between the check and the first chunk."""
    name = list_recordings(folder)[0].name
    chunks = read_chunks(folder, name)
    (folder / name).unlink()
    with pytest.raises(NotFound):
        next(chunks)


def test_retention_removes_only_old_recordings(folder: Path) -> None:
    """Recordings last written before the limit go; newer ones, files being written
    and files that are not recordings stay."""
    now = time.time()
    infos = list_recordings(folder)
    ages = [10 * 86400, 8 * 86400, 3600]
    for info, age in zip(infos, ages, strict=True):
        os.utime(folder / info.name, (now - age, now - age))
    (folder / "old.txt").write_text("keep me\n")
    os.utime(folder / "old.txt", (now - 99 * 86400, now - 99 * 86400))

    removed = delete_older_than(folder, 7 * 86400, now=lambda: now, keep={infos[1].name})
    assert removed == [infos[0].name]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["old.txt", infos[1].name, infos[2].name]
    )
    assert delete_older_than(folder, 7 * 86400, now=lambda: now) == [infos[1].name]
    assert delete_older_than(folder, 7 * 86400, now=lambda: now) == []


def test_a_budget_removes_the_oldest_finished_recordings_first(tmp_path: Path) -> None:
    """Over the budget, finished recordings go oldest first; one being written stays."""
    names = [f"2026010{i}T000000Z-h-c-s{i}.cast" for i in range(1, 6)]
    for age, name in enumerate(reversed(names)):
        path = tmp_path / name
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 - age, 1000 - age))
    oldest_live = names[0]
    removed = trim_to_budget(tmp_path, 250, keep={oldest_live})
    assert removed == names[1:4]
    assert sorted(p.name for p in tmp_path.iterdir()) == [names[0], names[4]]
    assert trim_to_budget(tmp_path, 1000) == []
