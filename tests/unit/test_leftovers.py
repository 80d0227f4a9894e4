"""Process records on disk: what a later run needs to end a session's processes."""

from __future__ import annotations

import os
from pathlib import Path

from exec_worker.host_processes import ProcessRef
from exec_worker.leftovers import ProcessRecord, ProcessRecords


def test_a_record_names_the_exec_first_and_its_process_once_known(tmp_path: Path) -> None:
    records = ProcessRecords(str(tmp_path))
    records.keep(ProcessRecord("s1@h", "exec-1", "m1", None))
    assert records.left() == [ProcessRecord("s1@h", "exec-1", "m1", None)]
    process = ProcessRef(4242, 987654, "pid:[4026531836]")
    records.keep(ProcessRecord("s1@h", "exec-1", "m1", process))
    assert records.left() == [ProcessRecord("s1@h", "exec-1", "m1", process)]
    assert (tmp_path / "processes").stat().st_mode & 0o077 == 0
    records.drop("s1@h")
    assert records.left() == []


def test_an_unreadable_record_is_set_aside_not_trusted(tmp_path: Path) -> None:
    records = ProcessRecords(str(tmp_path))
    records.keep(ProcessRecord("s2@h", "exec-2", "m2", None))
    [path] = list((tmp_path / "processes").glob("*.json"))
    path.write_text('{"session": "s2@h", "pid": "not a number"')
    assert records.left() == []
    assert not path.exists()


def test_no_folder_means_nothing_left(tmp_path: Path) -> None:
    assert ProcessRecords(str(tmp_path / "never-made")).left() == []
    assert not os.path.exists(tmp_path / "never-made")
