"""The browser protocol parser: the allow-list of control messages and their bounds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from frontend_server import browser_protocol as bp
from shared.browser_types import ClientType, ServerType
from shared.errors import ErrorCode, NotFound, ProtocolError
from shared.messages import ExitReason, Mode, SessionOpened, WatcherInfo
from shared.session_id import SessionId

ROOT = Path(__file__).resolve().parents[2]


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


def _opened(watch: str) -> SessionOpened:
    return SessionOpened(
        attachment="a", session="t@h", container="c1", mode=Mode.RW, window=262144,
        offset=7, skipped=2, cols=80, rows=24, watch_token=watch, tty=True, input=0,
        ended=False,
    )  # fmt: skip


SERVER_FRAMES = {
    ServerType.OPENED: bp.opened(_opened("w"), "h"),
    ServerType.SKIPPED: bp.skipped(9),
    ServerType.SIZE: bp.size(100, 30),
    ServerType.WATCHERS: bp.watchers([WatcherInfo("olga", 5)]),
    ServerType.INPUT_ACK: bp.input_ack(3),
    ServerType.IDLE_WARNING: bp.idle_warning(60),
    ServerType.DETACHED: bp.detached("resumed elsewhere"),
    ServerType.EXIT: bp.exited(0, ExitReason.EXITED),
    ServerType.ERROR: bp.error(ErrorCode.NOT_FOUND, "no such container"),
    ServerType.RECONNECT: bp.reconnect("restarting"),
}


def test_every_server_message_has_one_encoder() -> None:
    """Each server message type is built by browser_protocol, with the type it claims."""
    assert set(SERVER_FRAMES) == set(ServerType)
    for kind, frame in SERVER_FRAMES.items():
        assert json.loads(frame)["type"] == kind.value


def test_server_message_fields() -> None:
    """Fields as docs/protocol.md lists them; the watch token only when there is one."""
    opened = json.loads(SERVER_FRAMES[ServerType.OPENED])
    assert opened["watch"] == "w" and opened["host"] == "h" and opened["offset"] == 7
    assert "watch" not in json.loads(bp.opened(_opened(""), "h"))
    assert json.loads(SERVER_FRAMES[ServerType.WATCHERS])["watchers"] == [
        {"user": "olga", "since": 5}
    ]
    assert json.loads(SERVER_FRAMES[ServerType.SIZE]) == {"type": "size", "cols": 100, "rows": 30}


def _table_names(section: str) -> set[str]:
    """The message names in the first column of a docs/protocol.md table."""
    text = (ROOT / "docs/protocol.md").read_text().split(f"### {section}\n", 1)[1]
    table = text.lstrip("\n").split("\n\n", 1)[0]
    return set(re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE))


def _page_names(const: str) -> set[str]:
    """The values of one of web/src/protocol.js's frozen name tables."""
    text = (ROOT / "web/src/protocol.js").read_text()
    body = text.split(f"export const {const} = Object.freeze({{", 1)[1].split("});", 1)[0]
    return set(re.findall(r"'([a-z-]+)'", body))


def test_the_document_and_the_page_name_the_same_messages() -> None:
    """docs/protocol.md and web/src/protocol.js mirror shared/browser_types.py exactly."""
    assert _table_names("Client to server") == {t.value for t in ClientType}
    assert _table_names("Server to client") == {t.value for t in ServerType}
    assert _page_names("Client") == {t.value for t in ClientType}
    assert _page_names("Server") == {t.value for t in ServerType}


def test_session_ids_name_their_host() -> None:
    """`<token>@<host>`: made with an unguessable token, read back, anything else refused."""
    made = SessionId.new("eu-1")
    assert SessionId.parse(str(made)) == made and made.host == "eu-1"
    assert SessionId.new("eu-1").token != made.token
    assert SessionId.parse("abc@web-1") == SessionId("abc", "web-1")
    assert len(made.token) >= 24
    for bad in ("", "abc", "@web", "abc@"):
        with pytest.raises(NotFound):
            SessionId.parse(bad)
