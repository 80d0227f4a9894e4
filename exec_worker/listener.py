"""The worker's listening TCP socket, made here rather than inside ZeroMQ, so that it
can be handed to a successor (takeover.py).

ZeroMQ binds on a copy of it (ZMQ_USE_FD), so the socket outlives the ZeroMQ socket
that uses it: while one worker process hands over to the next, a front end that
dials again waits in the kernel's accept queue for a moment instead of being
refused and backing off for seconds. Endpoints this module cannot read as a TCP
address (`ipc://`, an interface name) are bound by ZeroMQ itself, and a handover
then passes through a short time in which nobody listens.

Concurrency: called on the loop; binding is quick and never blocks.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

import zmq


def parse_tcp(endpoint: str) -> tuple[int, str, int] | None:
    """(address family, address, port) of `tcp://ADDRESS:PORT` (`*` for any), else None."""
    if not endpoint.startswith("tcp://"):
        return None
    host, _, port = endpoint[len("tcp://") :].rpartition(":")
    if port == "*":
        port = "0"
    if not port.isdigit() or not host or int(port) > 65535:
        return None
    if host == "*":
        return socket.AF_INET, "0.0.0.0", int(port)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None  # an interface or host name: ZeroMQ resolves those itself
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return family, str(address), int(port)


def open_listener(endpoint: str) -> socket.socket | None:
    """A listening socket for a TCP endpoint ZeroMQ would bind, or None."""
    parsed = parse_tcp(endpoint)
    if parsed is None:
        return None
    family, address, port = parsed
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(1024)
    except OSError:
        listener.close()
        raise
    return listener


def bind_on(zsocket: zmq.Socket[Any], listener: socket.socket) -> str:
    """Bind a ZeroMQ socket on a copy of `listener`; returns the endpoint bound."""
    address, port = listener.getsockname()[:2]
    host = f"[{address}]" if listener.family == socket.AF_INET6 else address
    zsocket.setsockopt(zmq.USE_FD, os.dup(listener.fileno()))
    zsocket.bind(f"tcp://{host}:{port}")
    return str(zsocket.getsockopt_string(zmq.LAST_ENDPOINT))
