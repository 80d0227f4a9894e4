"""The names of the browser protocol's control messages (docs/protocol.md, v1), declared once.

The front end parses and builds them (frontend_server/browser_protocol.py), the
command-line client speaks them (dterm_cli), and the page mirrors them in
web/src/protocol.js; a test checks that the page and the document name the same ones.
"""

from __future__ import annotations

from enum import StrEnum


class ClientType(StrEnum):
    """Text frames a client sends."""

    OPEN = "open"
    ATTACH = "attach"
    RESIZE = "resize"
    ACK = "ack"
    EOF = "eof"
    CLOSE = "close"


class ServerType(StrEnum):
    """Text frames the front end sends."""

    OPENED = "opened"
    SKIPPED = "skipped"
    SIZE = "size"
    WATCHERS = "watchers"
    INPUT_ACK = "input-ack"
    IDLE_WARNING = "idle-warning"
    DETACHED = "detached"
    EXIT = "exit"
    ERROR = "error"
    RECONNECT = "reconnect"
