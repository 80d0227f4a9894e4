"""Recordings made for tests: a clock the test moves, a header, a short closed file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exec_worker.asciicast import Recorder, RecordingHeader


class Clock:
    """A clock the test moves: each reading is `step` seconds after the last."""

    def __init__(self, start: float = 1_700_000_000.25, step: float = 0.1) -> None:
        self.value, self.step = start, step

    def __call__(self) -> float:
        self.value += self.step
        return self.value


def make_header(**changes: Any) -> RecordingHeader:
    fields: dict[str, Any] = {
        "session": "AbCdEfGhIjKlMnOpQrStUvWx@db-1",
        "host": "db-1",
        "container_id": "f" * 64,
        "container_name": "payments-api",
        "person": "alice",
        "run_as": "app",
        "command": "sh",
        "width": 80,
        "height": 24,
        "shell": "/bin/sh",
    }
    return RecordingHeader(**(fields | changes))


T0 = 1_700_000_000


def record(folder: Path, started: float, **header: str) -> Recorder:
    """A closed recording of a few seconds, started at `started`."""
    session = header.pop("session", f"{started:024.0f}@h")
    recorder = Recorder.start(
        folder, make_header(session=session, **header), False, 0, now=Clock(started - 1.0, 1.0)
    )
    recorder.output(b"hello\r\n")
    recorder.output(b"$ ")
    recorder.close(0, "exited")
    return recorder
