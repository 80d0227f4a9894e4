"""Audit events as RFC 5424 messages, their TCP framing, and the sinks' settings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.audit import AuditEvent, AuditSinkError
from shared.audit_http import read_token
from shared.audit_syslog import SEQUENCE_MAX, Rfc5424, header_field, octet_counted, param_value
from shared.settings import FrontendConfig, SettingsError, WorkerConfig

MOMENT = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
HEADER = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?P<time>\S+) (?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) "
    rb"(?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) (?P<sd>\[.*?[^\\]\])+ (?P<msg>.*)$",
    re.S,
)


def event(kind: str = "sign-in", refused: bool = False, line: bytes = b'{"a": 1}') -> AuditEvent:
    return AuditEvent(kind, MOMENT, line, refused)


def test_message_has_every_rfc5424_field() -> None:
    """PRI from facility and severity, version 1, the event's time in UTC with ms,
    host, APP-NAME, PROCID, the event kind as MSGID, origin and meta, the JSON as MSG."""
    form = Rfc5424("dterm-frontend", "authpriv", "fe-1.example.com", 4242, "1.2.3")
    message = form.format(event("session-start", line=b'{"event": "session-start"}'))
    assert message == (
        b"<86>1 2024-05-01T10:00:00.123Z fe-1.example.com dterm-frontend 4242 session-start "
        b'[origin software="dterm" swVersion="1.2.3"][meta sequenceId="1"] '
        b'{"event": "session-start"}'
    )


def test_refusals_are_notices() -> None:
    form = Rfc5424("dterm-worker", "local3", "h", 1, "")
    assert form.format(event(refused=True)).startswith(b"<157>1 ")  # 19 * 8 + 5
    assert form.format(event(refused=False)).startswith(b"<158>1 ")


def test_sequence_counts_each_message_and_wraps_to_one() -> None:
    """meta sequenceId runs 1, 2, ... and after 2^31-1 starts over at 1 (RFC 5424 7.3.1)."""
    form = Rfc5424("a", "user", "h", 1, "")
    assert b'sequenceId="1"' in form.format(event())
    assert b'sequenceId="2"' in form.format(event())
    form.sequence = SEQUENCE_MAX - 1
    assert b'sequenceId="2147483647"' in form.format(event())
    assert b'sequenceId="1"' in form.format(event())


@given(
    kind=st.text(max_size=60),
    host=st.text(max_size=300),
    app=st.text(max_size=60),
    version=st.text(max_size=20),
)
def test_any_names_still_make_a_well_formed_header(
    kind: str, host: str, app: str, version: str
) -> None:
    """Spaces, non-ASCII and overlong values never break the header's fields."""
    message = Rfc5424(app, "daemon", host, 7, version).format(event(kind))
    found = HEADER.match(message)
    assert found, message
    assert found["msg"] == b'{"a": 1}'
    assert found["msgid"] == (header_field(kind, 32).encode())


def test_header_field_is_printable_ascii_or_nil() -> None:
    assert header_field("", 32) == "-"
    assert header_field("sign in\u00e9", 32) == "sign_in_"
    assert header_field("x" * 40, 32) == "x" * 32


def test_param_values_escape_quote_backslash_and_bracket() -> None:
    assert param_value('a"b\\c]d') == 'a\\"b\\\\c\\]d'


def test_octet_counting_frames_by_length_in_bytes() -> None:
    """RFC 6587 3.4.1: the byte length (not characters), a space, the message."""
    assert octet_counted(b"<14>1 - - - - - - hi") == b"20 <14>1 - - - - - - hi"
    assert octet_counted("é".encode()) == b"2 \xc3\xa9"


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("audit_syslog", "syslog.example.com:514", "udp://host:port"),
        ("audit_syslog", "tcp://syslog.example.com", "tcp://host:port"),
        ("audit_syslog", "unix://dev/log", "unix:///path"),
        ("audit_http", "ftp://collector", "http:// or https://"),
        ("audit_syslog_facility", "security", "authpriv"),
        ("audit_buffer", 0, "at least 1"),
        ("audit_flush_timeout", 0.0, "more than 0"),
    ],
)
def test_sink_settings_are_checked_at_start(setting: str, value: object, said: str) -> None:
    """A sink setting that cannot work stops the process at start, naming it."""
    for config in (FrontendConfig, WorkerConfig):
        with pytest.raises(SettingsError, match=f"{setting}: .*{re.escape(said)}"):
            config(**{setting: value})  # type: ignore[arg-type]


def test_good_sink_settings_are_taken() -> None:
    for url in ("udp://127.0.0.1:514", "tcp://[::1]:601", "unix:///dev/log"):
        assert WorkerConfig(audit_syslog=url).audit_syslog == url
    assert FrontendConfig(audit_http="https://c.example/ingest").audit_http


def test_a_token_file_without_a_url_is_refused() -> None:
    with pytest.raises(SettingsError, match="audit_http_token_file"):
        FrontendConfig(audit_http_token_file="/etc/token")


def test_token_is_read_from_its_file_and_a_bad_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("s3cret-token\n")
    assert read_token(str(path)) == "s3cret-token"
    path.write_text("\n")
    with pytest.raises(AuditSinkError, match="no usable token"):
        read_token(str(path))
    with pytest.raises(AuditSinkError, match="cannot read"):
        read_token(str(tmp_path / "missing"))
