"""The pure parts of the dterm client: exit statuses, the resume books, the output's
way to stdout and stderr, the credentials file, watch links."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dterm_cli.credentials import Credential, CredentialStore, base_url, config_dir
from dterm_cli.exit_status import CliError, Status, for_error, for_exit, for_http
from dterm_cli.listing import table
from dterm_cli.output_router import STDERR, STDOUT, OutputRouter
from dterm_cli.plain_text import plain
from dterm_cli.resume import InputLedger, OutputPosition
from dterm_cli.session_commands import watch_link
from shared.errors import ErrorCode, ProtocolError

# --- exit statuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "failure", "status"),
    [
        (5, "exited", "", 5),
        (0, "exited", "", 0),
        (137, "container-stopped", "", 137),
        (None, "container-stopped", "", Status.ENDED),
        (None, "closed", "", Status.ENDED),
        (None, "idle", "", Status.ENDED),
        (None, "exited", "", Status.ENDED),
        (0, "host-lost", "", Status.LOST),
        (None, "host-lost", "", Status.LOST),
        (126, "exited", "command_not_found", Status.COMMAND_NOT_FOUND),
        (127, "exited", "start_failed", Status.START_FAILED),
    ],
)
def test_exit_status_of_an_ended_session(
    code: int | None, reason: str, failure: str, status: int
) -> None:
    """The program's code when known; a start failure decides over Docker's number;
    a lost host is 255 whatever; no code at all is 249."""
    assert for_exit(code, reason, failure) == status


def test_every_error_code_has_a_status() -> None:
    """Each code of the protocol maps to a documented status, distinct where it matters."""
    statuses = {code: for_error(code.value) for code in ErrorCode}
    assert statuses[ErrorCode.FORBIDDEN] == 253 and statuses[ErrorCode.NOT_FOUND] == 252
    assert statuses[ErrorCode.NOT_RUNNING] == 251 and statuses[ErrorCode.UNAVAILABLE] == 250
    assert statuses[ErrorCode.COMMAND_NOT_FOUND] == 127 and statuses[ErrorCode.START_FAILED] == 126
    assert statuses[ErrorCode.CONFLICT] == statuses[ErrorCode.INTERNAL] == Status.FAILED
    assert for_http(401) == Status.NOT_SIGNED_IN and for_http(403) == Status.FORBIDDEN


# --- output -------------------------------------------------------------------------------


def test_output_position_acks_a_quarter_window_at_a_time() -> None:
    position = OutputPosition()
    position.opened(1000, 400)
    assert position.consumed(99) is None
    assert position.consumed(1) == 1100
    position.skipped(50)
    assert position.consumed(100) == 1250 and position.offset == 1250


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


@given(
    st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.binary(max_size=200)), max_size=10),
    st.lists(st.integers(1, 40), min_size=1, max_size=20),
)
def test_frames_cut_across_messages_anywhere_reach_the_right_stream(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    """However WebSocket messages cut Docker's frames, stdout's bytes reach fd 1 and
    stderr's (and the daemon's own) fd 2, exactly and in order."""
    wire = b"".join(frame(s, d) for s, d in frames)
    router, got = OutputRouter(tty=False), {STDOUT: b"", STDERR: b""}
    position, turn = 0, 0
    while position < len(wire):
        size = cuts[turn % len(cuts)]
        for fd, data in router.route(wire[position : position + size]):
            got[fd] += data
        position, turn = position + size, turn + 1
    assert got[STDOUT] == b"".join(d for s, d in frames if s == 1)
    assert got[STDERR] == b"".join(d for s, d in frames if s != 1)
    assert router.between_frames


def test_a_tty_sessions_output_goes_to_stdout_as_it_is() -> None:
    router = OutputRouter(tty=True)
    assert router.route(b"\x01\x00\x00\x00raw") == [(STDOUT, b"\x01\x00\x00\x00raw")]
    assert router.route(b"") == []


def test_a_stream_that_is_not_multiplexed_is_an_error() -> None:
    with pytest.raises(ProtocolError):
        OutputRouter(tty=False).route(b"plain text, no frames")


# --- input ---------------------------------------------------------------------------------


def test_input_waits_for_opened_and_keeps_to_the_window() -> None:
    """Nothing goes before `opened`; then at most the window is unacknowledged."""
    ledger = InputLedger()
    ledger.take(b"x" * 300)
    assert ledger.next_chunk() == b""
    ledger.opened(taken=0, window=100)
    assert ledger.next_chunk() == b"x" * 100 and ledger.next_chunk() == b""
    ledger.acknowledged(60)
    assert ledger.next_chunk() == b"x" * 60
    assert (ledger.sent, ledger.acked, ledger.pending) == (160, 60, 140)


def test_input_lost_in_flight_is_sent_again_once() -> None:
    """A resume that counts fewer bytes than were sent gets the rest again, first, and
    what was typed while away after it."""
    ledger = InputLedger()
    ledger.opened(taken=0, window=1000)
    ledger.take(b"abcdef")
    assert ledger.next_chunk() == b"abcdef"
    ledger.acknowledged(2)
    ledger.take(b"typed while away")
    ledger.opened(taken=4, window=1000)  # "ab" acked, "cd" arrived, "ef" never did
    assert ledger.next_chunk() == b"eftyped while away"
    assert (ledger.sent, ledger.acked) == (22, 4)


def test_input_the_session_already_has_is_not_sent_again() -> None:
    """Everything arrived (or someone else typed too): nothing is resent, and positions
    follow the session's count."""
    ledger = InputLedger()
    ledger.opened(taken=0, window=1000)
    ledger.take(b"abc")
    ledger.next_chunk()
    ledger.opened(taken=10, window=1000)
    assert ledger.next_chunk() == b"" and (ledger.sent, ledger.acked) == (10, 10)


def test_the_end_of_input_follows_the_last_byte_and_is_said_again_after_a_resume() -> None:
    ledger = InputLedger()
    ledger.opened(taken=0, window=1000)
    ledger.take(b"data")
    ledger.end()
    assert not ledger.eof_due()
    ledger.next_chunk()
    assert ledger.eof_due()
    ledger.eof_sent = True
    ledger.opened(taken=4, window=1000)
    assert ledger.eof_due()  # the worker takes a second `eof` as nothing new


def test_pending_input_is_bounded_and_reported_when_the_session_ended() -> None:
    ledger = InputLedger(pending_limit=10)
    ledger.take(b"0123456789")
    assert ledger.room() == 0
    assert ledger.drop_pending() == 10
    assert ledger.room() == 10 and ledger.next_chunk() == b"" and not ledger.eof_due()


# --- credentials -----------------------------------------------------------------------------


def test_credentials_are_kept_private_per_front_end(tmp_path: Path) -> None:
    """Folder 0700, file 0600, one entry per base URL, the secret left out of repr."""
    store = CredentialStore(tmp_path / "dterm")
    store.save(Credential("http://a:8080", "bearer", "ann", "s3cret-token"))
    store.save(Credential("https://b", "cookie", "bob", "cookie-value"))
    assert (tmp_path / "dterm").stat().st_mode & 0o777 == 0o700
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.get("http://a:8080/some/path?x=1").secret == "s3cret-token"
    assert store.get("https://b").headers() == {"Cookie": "dterm_login=cookie-value"}
    assert "s3cret-token" not in repr(store.get("http://a:8080"))
    assert store.remove("http://a:8080") is not None
    assert store.get(None).url == "https://b"  # the only one left
    assert json.loads(store.path.read_text())["frontends"].keys() == {"https://b"}


def test_a_credentials_file_others_may_read_is_refused(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "dterm")
    store.save(Credential("http://a", "bearer", "ann", "t"))
    os.chmod(store.path, 0o644)
    with pytest.raises(CliError) as refused:
        store.get(None)
    assert refused.value.status == Status.NOT_SIGNED_IN and "chmod 600" in str(refused.value)


def test_which_front_end_when_none_or_several(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "dterm")
    with pytest.raises(CliError) as none:
        store.get(None)
    assert none.value.status == Status.NOT_SIGNED_IN
    store.save(Credential("http://a", "bearer", "ann", "t"))
    store.save(Credential("http://b", "bearer", "ann", "t"))
    with pytest.raises(CliError) as several:
        store.get(None)
    assert several.value.status == Status.USAGE and "--url" in str(several.value)
    with pytest.raises(CliError) as other:
        store.get("http://c")
    assert other.value.status == Status.NOT_SIGNED_IN and "dterm login http://c" in str(other.value)


def test_config_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_dir() == tmp_path / "dterm"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "home" / ".config" / "dterm"


def test_base_urls_and_watch_links() -> None:
    assert base_url("HTTP://User@Host.Example:8080/x/?token=t#f") == "http://host.example:8080"
    with pytest.raises(CliError):
        base_url("ftp://host")
    link = "https://dterm.example/#/watch/AbC%40x@db-1/tok%2Fen"
    assert watch_link(link) == ("https://dterm.example", "AbC@x@db-1", "tok/en")
    with pytest.raises(CliError):
        watch_link("https://dterm.example/#/h/db-1/c/web")


def test_tables_line_up() -> None:
    assert table(["A", "BB"], [["xxx", "y"], ["z", "w"]]) == "A    BB\nxxx  y\nz    w"


def test_a_session_id_that_starts_with_a_dash_is_not_an_option() -> None:
    """Session ids are random URL-safe text: `dterm attach -xY3@db-1` attaches it."""
    from dterm_cli.session_commands import _parser, session_last

    parser = _parser("dterm attach", "")
    parser.add_argument("-n", action="store_true")
    parser.add_argument("session")
    args = parser.parse_args(session_last(["-xY3@db-1", "-n", "--url=http://u@h"]))
    assert (args.session, args.n, args.url) == ("-xY3@db-1", True, "http://u@h")
    assert parser.parse_args(session_last(["--", "-a@b"])).session == "-a@b"
    assert parser.parse_args(session_last(["plain@db-1"])).session == "plain@db-1"


@given(st.text())
def test_text_from_a_front_end_is_shown_without_control_characters(text: str) -> None:
    """Whatever a front end sends, what dterm prints of it holds no character a terminal
    would act on, and printable text stays as it is."""
    shown = plain(text)
    assert shown.isprintable()
    assert plain("naïve café_1 db-2") == "naïve café_1 db-2"


def test_errors_and_tables_escape_what_would_drive_the_terminal() -> None:
    """An escape sequence in an error message or a container's name reaches the
    terminal as visible text: the title is not set, the cursor not moved."""
    error = CliError(Status.FAILED, "no such container \x1b]0;owned\x07 here")
    assert "\x1b" not in str(error) and "\\x1b]0;owned\\x07" in str(error)
    shown = table(["NAME"], [["web\x1b[2J\u2028"]])
    assert all(line.isprintable() for line in shown.split("\n"))
    assert "\x1b" not in shown and "web\\x1b[2J\\u2028" in shown
