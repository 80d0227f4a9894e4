"""Recorder writes asciicast v2 files that players read, whatever bytes it is given."""

from __future__ import annotations

import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exec_worker.asciicast import (
    COALESCE,
    Recorder,
    _event_line,
    _json_line,
    file_name,
)
from tests.support.containers import require
from tests.support.recordings import Clock, make_header

ROOT = Path(__file__).resolve().parents[2]
ASCIINEMA = Path(sys.executable).parent / "asciinema"

# Colours, a 2-byte and a 3-byte character each split across two reads, and a CJK
# character and an emoji whole.
CHUNKS = [
    b"\x1b[1;31mred\x1b[0m and \x1b[38;5;82mgreen\x1b[0m\r\n",
    b"caf\xc3",
    b"\xa9 costs 3 \xe2\x82",
    b"\xac\r\n\xe6\x97\xa5 \xf0\x9f\x90\xb3\r\n$ ",
]


def read_cast(path: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    """The header and events of a file whose every line is complete JSON."""
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the file ends with a complete line"
    header, *events = [json.loads(line) for line in lines[:-1]]
    return header, events


def text_of(events: list[list[Any]], code: str = "o") -> str:
    return "".join(event[2] for event in events if event[1] == code)


def test_records_colours_resize_and_split_characters(tmp_path: Path) -> None:
    """Header fields are set, output events rebuild the exact bytes, and the resize
    and the exit marker are recorded."""
    recorder = Recorder.start(tmp_path, make_header(), False, 0, now=Clock())
    recorder.output(CHUNKS[0])
    recorder.resize(120, 40)
    for chunk in CHUNKS[1:]:
        recorder.output(chunk)
    recorder.close(0, "exited")

    header, events = read_cast(recorder.path)
    assert header["version"] == 2
    assert (header["width"], header["height"]) == (80, 24)
    assert header["timestamp"] == 1_700_000_000
    assert header["env"] == {"TERM": "xterm-256color", "SHELL": "/bin/sh"}
    assert header["command"] == "sh" and header["title"] == "alice@db-1/payments-api"
    assert header["dterm"] == {
        "session": "AbCdEfGhIjKlMnOpQrStUvWx@db-1",
        "host": "db-1",
        "container": {"id": "f" * 64, "name": "payments-api"},
        "person": "alice",
        "run_as": "app",
        "part": 1,
        "offset": 0.0,
        "input": False,
        "tty": True,
    }
    assert text_of(events).encode() == b"".join(CHUNKS)
    assert "\ufffd" not in text_of(events)
    assert [e[2] for e in events if e[1] == "o"][2].startswith("\u00e9")  # é whole, later
    assert ["r", "120x40"] in [e[1:] for e in events]
    assert events[-1][1:] == ["m", "exit 0 exited"]
    times = [event[0] for event in events]
    assert times == sorted(times) and times[0] > 0


def test_file_names_are_safe_sortable_and_unique_per_part() -> None:
    """Names start with the UTC time, keep only safe characters, and parts sort in order."""
    header = make_header(host="db 1/../x", container_name="/my..app")
    first = file_name(86400.0, header, 1)
    assert first == "19700102T000000Z-db_1_._x-_my.app-AbCdEfGh.cast"
    names = [file_name(86400.0, header, part) for part in (1, 2, 10, 3)]
    assert sorted(names) == [names[0], names[1], names[3], names[2]]
    assert all("/" not in name and ".." not in name for name in names)


def test_invalid_utf8_becomes_replacement_characters(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, and a character cut off at the end, become U+FFFD."""
    recorder = Recorder.start(tmp_path, make_header(), False, 0)
    data = [b"ok \xff\xfe then \xc3(", b" and cut \xe2\x82"]
    for chunk in data:
        recorder.output(chunk)
    recorder.close(None, "closed")
    _, events = read_cast(recorder.path)
    assert text_of(events) == b"".join(data).decode("utf-8", "replace")
    assert events[-1][1:] == ["m", "exit unknown closed"]


def test_input_is_recorded_only_when_asked(tmp_path: Path) -> None:
    """Keystrokes become "i" events with record_input, and leave no trace without it."""
    paths = []
    for record_input in (True, False):
        header = make_header(session=f"{'ab'[record_input]}" * 24 + "@db-1")
        recorder = Recorder.start(tmp_path, header, record_input, 0)
        recorder.input(b"ls -l\r")
        recorder.output(b"total 0\r\n")
        recorder.input(b"\xe2\x82")  # a character split across two keystroke messages
        recorder.input(b"\xac\x03")
        recorder.close(130, "exited")
        paths.append(recorder.path)
    with_input, without_input = (read_cast(path) for path in paths)
    assert with_input[0]["dterm"]["input"] is True
    assert text_of(with_input[1], "i") == "ls -l\r\u20ac\x03"
    assert without_input[0]["dterm"]["input"] is False
    assert [e[1] for e in without_input[1]] == ["o", "m"]


def test_rotation_splits_into_numbered_complete_parts(tmp_path: Path) -> None:
    """Past max_bytes the recording goes on in part 2, 3...: each a valid file whose
    times start at 0, with the current size, and all output across them intact."""
    recorder = Recorder.start(tmp_path, make_header(), False, 700, now=Clock())
    sent = b""
    for n in range(60):
        chunk = f"line {n} \x1b[32m\u00e9t\u00e9\x1b[0m\r\n".encode()
        chunk = chunk[:7] + (b"\xe6\x97" if n % 2 else b"") + chunk[7:]
        recorder.output(chunk[:9])
        recorder.output(chunk[9:])
        sent += chunk
        if n == 30:
            recorder.resize(132, 43)
    recorder.close(0, "exited")

    assert len(recorder.paths) > 3
    assert sorted(os.listdir(tmp_path)) == [path.name for path in recorder.paths]
    parts = [read_cast(path) for path in recorder.paths]
    assert [header["dterm"]["part"] for header, _ in parts] == list(range(1, len(parts) + 1))
    for header, events in parts:
        assert header["version"] == 2 and events, "every part has a header and events"
        assert header["timestamp"] >= parts[0][0]["timestamp"]
        assert [e[0] for e in events] == sorted(e[0] for e in events)
    assert all(events[0][0] == 0.0 for _, events in parts[1:])
    for (before, earlier), (header, _) in itertools.pairwise(parts):
        assert header["dterm"]["offset"] > before["dterm"]["offset"] + earlier[-1][0]
    assert parts[-1][0]["width"] == 132 and parts[0][0]["width"] == 80
    everything = [event for _, events in parts for event in events]
    assert text_of(everything) == sent.decode("utf-8", "replace")
    assert [e[1:] for e in everything if e[1] == "m"] == [["m", "exit 0 exited"]]


def test_a_session_dropped_without_close_leaves_a_readable_file(tmp_path: Path) -> None:
    """A recorder never closed (its session died) leaves complete lines, with
    everything that was flushed."""
    recorder = Recorder.start(tmp_path, make_header(), True, 0)
    recorder.output(b"\x1b[1mbefore\x1b[0m \xe2\x82")
    recorder.input(b"exit\r")
    recorder.flush()
    path = recorder.path
    header, events = read_cast(path)
    assert text_of(events) == "\x1b[1mbefore\x1b[0m " and text_of(events, "i") == "exit\r"
    recorder.output(b"\xac after")
    del recorder
    gc.collect()
    header, events = read_cast(path)
    assert header["dterm"]["session"].endswith("@db-1")
    assert text_of(events).startswith("\x1b[1mbefore\x1b[0m ")
    assert "m" not in [event[1] for event in events]


def open_descriptors_on(path: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


def test_a_recording_holds_no_descriptor_between_flushes(tmp_path: Path) -> None:
    """A thousand idle recorded sessions must not cost a thousand descriptors."""
    recorder = Recorder.start(tmp_path, make_header(), False, 0)
    recorder.output(b"waiting\r\n")
    assert open_descriptors_on(recorder.path) == 0
    recorder.flush()
    assert open_descriptors_on(recorder.path) == 0
    assert text_of(read_cast(recorder.path)[1]) == "waiting\r\n"
    recorder.close(0, "exited")
    assert read_cast(recorder.path)[1][-1][1:] == ["m", "exit 0 exited"]


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT), "FOLDER": str(cwd)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_crashed_worker_loses_only_what_was_not_flushed(tmp_path: Path) -> None:
    """A process killed outright keeps every flushed event and no partial line."""
    done = run_python(
        """
        import os, pathlib
        from exec_worker.asciicast import Recorder
        from tests.support.recordings import make_header
        recorder = Recorder.start(pathlib.Path(os.environ["FOLDER"]), make_header(), False, 0)
        recorder.output(b"flushed\\r\\n")
        recorder.resize(100, 30)
        recorder.flush()
        recorder.output(b"still in memory\\r\\n")
        os._exit(9)
        """,
        tmp_path,
    )
    assert done.returncode == 9, done.stderr
    [path] = tmp_path.iterdir()
    _, events = read_cast(path)
    assert [event[1:] for event in events] == [["o", "flushed\r\n"], ["r", "100x30"]]


def test_a_write_error_stops_the_recording_not_the_caller(tmp_path: Path) -> None:
    """When the disk refuses a write (here: a file size limit), the recorder keeps the
    error, stops writing, and never raises into the session's output path."""
    done = run_python(
        """
        import errno, os, pathlib, resource, signal
        from exec_worker.asciicast import Recorder
        from tests.support.recordings import make_header
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
        recorder = Recorder.start(pathlib.Path(os.environ["FOLDER"]), make_header(), False, 0)
        for _ in range(100):
            recorder.output(b"x" * 1000)
            recorder.flush()
        recorder.close(0, "exited")
        print(type(recorder.error).__name__, recorder.error.errno == errno.EFBIG)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["OSError", "True"]
    assert "recording stopped" in done.stderr


def test_asciinema_cat_prints_the_recorded_output(tmp_path: Path) -> None:
    """The asciinema CLI reads our files (every part) and prints the same output."""
    require(ASCIINEMA.exists(), "asciinema is missing: pip install 'asciinema>=2.4,<3'")
    recorder = Recorder.start(tmp_path, make_header(), True, 400)
    for chunk in CHUNKS * 5:
        recorder.output(chunk)
        recorder.input(b"q")
    recorder.resize(100, 30)
    recorder.close(0, "exited")
    assert len(recorder.paths) > 1
    done = subprocess.run(
        [str(ASCIINEMA), "cat", *map(str, recorder.paths)],
        capture_output=True,
        env=os.environ | {"PYTHONIOENCODING": "utf-8"},
        start_new_session=True,  # no /dev/tty, so it does not switch one to raw mode
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"".join(CHUNKS * 5)


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(st.binary(max_size=40), st.text(max_size=20).map(str.encode)), max_size=40
    ),
    max_bytes=st.sampled_from([0, 1, 300, 5000]),
)
def test_any_bytes_make_a_valid_recording(chunks: list[bytes], max_bytes: int) -> None:
    """Arbitrary chunks, valid UTF-8 or not, never raise and always leave files that
    parse, whose output decodes like the whole byte stream at once."""
    with tempfile.TemporaryDirectory() as folder:
        recorder = Recorder.start(Path(folder), make_header(), False, max_bytes)
        for chunk in chunks:
            recorder.output(chunk)
            recorder.flush()
            for path in recorder.paths:
                read_cast(path)
        recorder.close(1, "exited")
        events = [event for path in recorder.paths for event in read_cast(path)[1]]
        assert recorder.error is None
        assert text_of(events) == b"".join(chunks).decode("utf-8", "replace")


def test_a_fast_stream_makes_few_events_and_keeps_every_byte(tmp_path: Path) -> None:
    """Reads within COALESCE of an event's first byte join it; a pause, a resize or a
    flush ends it. Times stay those of each event's first read."""
    clock = Clock(step=COALESCE / 10)
    recorder = Recorder.start(tmp_path, make_header(), False, 0, now=clock)
    chunks = [bytes([0x61 + i % 26]) * 4095 for i in range(25)]
    for chunk in chunks:
        recorder.output(chunk)
    clock.value += 1.0  # a pause: the next read starts a new event
    recorder.output(b"after a pause")
    recorder.resize(100, 30)
    recorder.output(b"resized")
    recorder.flush()
    recorder.output(b"flushed")
    recorder.close(0, "exited")
    _, events = read_cast(recorder.path)
    outputs = [e for e in events if e[1] == "o"]
    assert text_of(events).encode() == b"".join(chunks) + b"after a pause" + b"resizedflushed"
    # A read every COALESCE / 10: eleven reads an event (the first and ten within).
    assert [len(e[2]) for e in outputs[:3]] == [11 * 4095, 11 * 4095, 3 * 4095]
    assert [e[2] for e in outputs[3:]] == ["after a pause", "resized", "flushed"]
    assert [e[1] for e in events][-4:] == ["r", "o", "o", "m"]
    assert outputs[3][0] - outputs[2][0] > 0.9


@given(st.text(), st.floats(min_value=0, max_value=1e7, allow_nan=False))
@settings(max_examples=500, deadline=None)
def test_event_lines_are_what_json_dumps_writes(text: str, seconds: float) -> None:
    """An event line is one line of JSON, byte for byte what json.dumps gives, for any text."""
    seconds = round(seconds, 6)
    line = _event_line(seconds, "o", text)
    assert line == _json_line([seconds, "o", text])
    assert line.count(b"\n") == 1 and json.loads(line) == [seconds, "o", text]
