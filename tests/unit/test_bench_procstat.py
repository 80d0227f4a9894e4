"""What the bench report says of other processes: a pid and a program, no paths."""

from __future__ import annotations

import pytest

from bench.procstat import _program


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        ([b"/srv/venv/bin/python", b"-m", b"exec_worker", b"--state-dir", b"/srv/s", b""],
         "exec_worker"),
        ([b"/usr/lib/chromium/chromium", b"--headless", b""], "chromium"),
        ([b"pytest", b"-q"], "pytest"),
        ([], "?"),
    ],
)  # fmt: skip
def test_a_process_is_named_by_its_program_without_folders(argv: list[bytes], shown: str) -> None:
    assert _program(argv) == shown
