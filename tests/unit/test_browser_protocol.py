"""The browser protocol parser: the allow-list of control messages and their bounds."""

from __future__ import annotations

import json

import pytest

from frontend_server import browser_protocol as bp
from shared.errors import ProtocolError
from shared.messages import ExitReason


def test_open_with_defaults() -> None:
    """`open` needs only a container; size defaults to 80x24, cmd and user to null."""
    parsed = bp.parse_control(json.dumps({"type": "open", "container": "web"}))
    assert parsed == bp.OpenRequest(None, "web", None, None, None, 80, 24, tty=True)


def test_open_without_a_tty_and_the_end_of_input() -> None:
    """`tty: false` with a command opens a session without a tty; `eof` ends its input."""
    parsed = bp.parse_control('{"type":"open","container":"db","cmd":["pg_dump"],"tty":false}')
    assert parsed == bp.OpenRequest(None, "db", ["pg_dump"], None, None, 80, 24, tty=False)
    assert bp.parse_control('{"type":"eof"}') == bp.EofRequest()


def test_each_type_parses() -> None:
    assert bp.parse_control('{"type":"resize","cols":100,"rows":30}') == bp.ResizeRequest(100, 30)
    assert bp.parse_control('{"type":"ack","offset":5}') == bp.AckRequest(5)
    assert bp.parse_control('{"type":"close"}') == bp.CloseRequest()
    attach = bp.parse_control('{"type":"attach","session":"s","offset":3,"mode":"ro"}')
    assert attach == bp.AttachRequest("s", 3, "ro", "")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "null",
        "[]",
        '"open"',
        '{"type": 3}',
        '{"type": "exec"}',
        '{"type": "open"}',
        '{"type": "open", "container": ""}',
        '{"type": "open", "container": 5}',
        '{"type": "open", "container": "c", "cmd": []}',
        '{"type": "open", "container": "c", "cmd": "sh"}',
        '{"type": "open", "container": "c", "cmd": [""]}',
        '{"type": "open", "container": "c", "cmd": ["sh", 1]}',
        '{"type": "open", "container": "c", "user": ""}',
        '{"type": "open", "container": "c", "cols": 0}',
        '{"type": "open", "container": "c", "tty": false}',
        '{"type": "open", "container": "c", "cmd": ["sh"], "tty": 0}',
        '{"type": "open", "container": "c", "cmd": ["sh"], "tty": "no"}',
        '{"type": "resize", "cols": 80}',
        '{"type": "resize", "cols": 80.5, "rows": 24}',
        '{"type": "resize", "cols": true, "rows": 24}',
        '{"type": "resize", "cols": 1001, "rows": 24}',
        '{"type": "ack"}',
        '{"type": "ack", "offset": -5}',
        '{"type": "attach", "session": "s", "mode": "admin"}',
        '{"type": "open", "container": "' + "c" * 300 + '"}',
    ],
)
def test_rejected(text: str) -> None:
    """Every malformed control message raises ProtocolError with a message."""
    with pytest.raises(ProtocolError) as caught:
        bp.parse_control(text)
    assert str(caught.value)


def test_server_messages_match_the_contract() -> None:
    assert json.loads(bp.exited(None, ExitReason.HOST_LOST)) == {
        "type": "exit",
        "code": None,
        "reason": "host-lost",
    }
