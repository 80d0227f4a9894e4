"""The recordings page plays a recording that is only in the bucket any more (moto's
S3-compatible server, its own process), as it plays one on the host."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.processes import start_frontend, start_worker
from tests.support.recordings_page import open_recordings, record, wait_player_line
from tests.support.s3_server import PREFIX, S3Server, credentials_file, storage_flags
from tests.support.terminal_client import Stack
from tests.support.waiting import wait_until


@pytest.fixture
def stored_stack(containers: Any, tmp_path: Path) -> Iterator[tuple[Stack, str, S3Server, Path]]:
    """A host `s3page` that uploads and then drops its recordings, behind its own front
    end; a container to record in, the server, the host's recordings folder."""
    container = containers.run(name=f"stored-{uuid.uuid4().hex[:6]}").name
    s3 = S3Server()
    s3.make_bucket()
    worker = start_worker("s3page", *storage_flags(s3, credentials_file(tmp_path)),
                          "--no-storage-keep-local")  # fmt: skip
    frontend = start_frontend([worker.match["endpoint"]])
    folder = Path(worker.argv[worker.argv.index("--recordings-dir") + 1])
    try:
        yield Stack(frontend.match["url"], host="s3page"), str(container), s3, folder
    finally:
        frontend.stop()
        worker.stop()
        s3.stop()


def test_a_recording_kept_only_in_the_bucket_is_found_and_played(
    page: Page, stored_stack: tuple[Stack, str, S3Server, Path]
) -> None:
    """Once uploaded and gone from the host, the session is one row and plays."""
    stack, container, s3, folder = stored_stack
    page.goto(f"{stack.base}/?token={stack.token}")
    record(page, "s3page", container, "echo start-$((1+1)); echo recorded-$((6*7))")
    wait_until(lambda: s3.keys(f"{PREFIX}s3page/"), 20, "the recording in the bucket")
    wait_until(lambda: not list(folder.glob("*.cast")), 20, "the local copy removed")
    row = open_recordings(page, container)
    expect(row.locator('td[data-label="Host"]')).to_have_text("s3page")
    row.get_by_role("link", name=re.compile("^Play")).click()
    wait_player_line(page, "start-2")
    wait_player_line(page, "recorded-42")
