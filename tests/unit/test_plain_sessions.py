"""The worker's side of sessions without a tty: when input is acknowledged, and what a
recording and a failed start read of Docker's multiplexed stream."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from exec_worker.asciicast import Recorder, RecordingHeader
from exec_worker.input_credit import InputCredit
from exec_worker.plain_output import DemuxedRecording, payload


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def test_input_is_acknowledged_in_steps_and_only_while_the_program_keeps_up() -> None:
    """No ack below a step; none while the program is behind; once it catches up, all."""
    credit = InputCredit(step=100)
    credit.took(60)
    assert credit.due(behind=False) is None
    credit.took(60)
    assert credit.due(behind=True) is None
    assert credit.due(behind=False) == 120
    assert credit.due(behind=False) is None
    credit.took(99)
    assert credit.due(behind=False) is None
    credit.told()  # `opened` said 219
    credit.took(99)
    assert credit.due(behind=False) is None
    credit.took(1)
    assert credit.due(behind=False) == 319


@given(st.lists(st.integers(1, 5000), max_size=200))
def test_a_client_within_the_window_is_never_stuck(sends: list[int]) -> None:
    """A client keeps at most 4 steps unacknowledged; whatever it sends, once the program
    keeps up an ack comes before it must stop, so input never stalls for good."""
    step, window = 1024, 4096
    credit, acked, sent = InputCredit(step), 0, 0
    for size in sends:
        size = min(size, window - (sent - acked))
        if size == 0:
            offset = credit.due(behind=False)
            assert offset is not None
            acked = offset
            continue
        credit.took(size)
        sent += size
        acked = credit.due(behind=False) or acked
        assert sent - acked <= window


def test_a_recording_keeps_the_programs_bytes_without_frames(tmp_path: Path) -> None:
    """stdout and stderr, split across reads anywhere, become output events; the frame
    headers never appear."""
    header = RecordingHeader("s@h", "h", "c" * 64, "db", "ann", "", "pg_dump app", 80, 24,
                             tty=False)  # fmt: skip
    recorder = Recorder.start(tmp_path, header, False, 0)
    wire = frame(1, b"out \xe2\x82") + frame(2, b"\xac err\n") + frame(1, b"done\n")
    plain = DemuxedRecording(recorder)
    for i in range(0, len(wire), 3):
        plain.output(wire[i : i + 3])
    recorder.close(0, "exited")
    lines = [json.loads(line) for line in recorder.path.read_text().splitlines()]
    assert lines[0]["dterm"]["tty"] is False
    assert "".join(e[2] for e in lines[1:] if e[1] == "o") == "out € err\ndone\n"


def test_a_stream_that_is_not_multiplexed_stops_the_recording(tmp_path: Path) -> None:
    """Bytes that are no frames are not recorded as noise."""
    recorder = Recorder.start(tmp_path, RecordingHeader("s@h", "h", "c", "db", "a", "", "x",
                                                        80, 24, tty=False), False, 0)  # fmt: skip
    plain = DemuxedRecording(recorder)
    plain.output(b"plain text, no frames here")
    plain.output(frame(1, b"later"))
    recorder.close(0, "exited")
    events = [json.loads(line) for line in recorder.path.read_text().splitlines()[1:]]
    assert [e for e in events if e[1] == "o"] == []


def test_the_text_of_a_failed_start_is_read_out_of_its_frame() -> None:
    """Docker's start failure comes framed on a stream without a tty; cut anywhere, the
    text is what can be read; bytes that are no frames are kept as they are."""
    said = frame(1, b'OCI runtime exec failed: exec: "nope": executable file not found\r\n')
    assert payload(said) == said[8:]
    assert payload(said[:40]) == said[8:40]
    assert payload(b"not framed at all") == b"not framed at all"
