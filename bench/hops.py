"""The shape alone: a WebSocket hop and a ZeroMQ hop with nothing in them.

What any design of our shape pays on this machine before doing any work: a client
sends one byte as a WebSocket frame to a relay process, which passes it over a
ZeroMQ DEALER to an echo process (ROUTER) and the echo back the same way. Both
processes use what the product uses (uvloop, the `websockets` frame engine,
shared.zmq_io.SocketPump, a CurveZMQ link with the test run's keys), and nothing
else: no sessions, no codec, no Docker, no ZAP gate (it acts once per connection).
The rtt metric times it beside the stack and the floor, so the table shows how
much of the stack's overhead is the shape itself and how much is our code.

With `codec`, both processes also do what the product's codec does per keystroke
and echo, and nothing more: the relay packs an Input message and unpacks the
Output that comes back (shared.protocol), the echo unpacks the Input and packs an
Output. The difference between the two shapes is the codec's part of our code.

    python -m bench.hops echo <keys> [codec]              prints "hops echo ready: <endpoint>"
    python -m bench.hops relay <keys> <endpoint> [codec]  prints "hops relay ready: ws://..."

(<keys>: a folder made by shared.keys.link_keys)

Concurrency: each process is one event loop; HopsTerminal runs on the bench's.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path
from socket import IPPROTO_TCP, TCP_NODELAY
from typing import Any

import uvloop
import zmq
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from bench.websocket_client import WebSocketTerminal
from frontend_server.ws_frames import binary_frame
from shared.keys import LinkKeys
from shared.messages import Input, Output
from shared.protocol import decode, encode
from shared.security import ClientKeys, load_secret_key, make_curve_server
from shared.zmq_io import SocketPump
from tests.support.processes import ManagedProcess, run_keys

ECHO_READY = re.compile(r"hops echo ready: (?P<endpoint>\S+)")
RELAY_READY = re.compile(r"hops relay ready: (?P<url>\S+)")


async def echo(keys: LinkKeys, codec: bool) -> None:
    socket = zmq.Context().socket(zmq.ROUTER)
    make_curve_server(socket, load_secret_key(str(keys.worker_secret)))
    socket.bind("tcp://127.0.0.1:*")
    offset = 0

    def back(frames: list[bytes]) -> None:
        nonlocal offset
        if not codec:
            pump.send(frames)
            return
        message = decode(frames[1:])
        assert isinstance(message, Input)
        pump.send([frames[0], *encode(Output(message.attachment, offset, message.data))])
        offset += len(message.data)

    pump = SocketPump(socket, back)
    print(f"hops echo ready: {socket.getsockopt_string(zmq.LAST_ENDPOINT)}", flush=True)
    await asyncio.Event().wait()


class RelayConnection(asyncio.Protocol):
    """One WebSocket: the handshake, then each binary frame out over ZeroMQ and back."""

    def __init__(
        self, pump: SocketPump, connections: dict[bytes, RelayConnection], codec: bool
    ) -> None:
        self._ws = ServerProtocol()
        self._pump = pump
        self._codec = codec
        self._id = b"%d" % len(connections)
        connections[self._id] = self
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._ws.receive_data(data)
        for event in self._ws.events_received():
            if isinstance(event, Request):
                self._ws.send_response(self._ws.accept(event))
            elif isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                if self._codec:
                    self._pump.send(encode(Input(self._id.decode(), bytes(event.data))))
                else:
                    self._pump.send([self._id, bytes(event.data)])
        for chunk in self._ws.data_to_send():
            if chunk:
                self.transport.write(chunk)


async def relay(keys: LinkKeys, endpoint: str, codec: bool) -> None:
    connections: dict[bytes, RelayConnection] = {}
    socket = zmq.Context().socket(zmq.DEALER)
    ClientKeys.load(str(keys.frontend_secret), str(keys.worker_public)).apply(socket)
    socket.connect(endpoint)

    def back(frames: list[bytes]) -> None:
        if not codec:
            connections[frames[0]].transport.write(binary_frame(frames[1]))
            return
        message = decode(frames)
        assert isinstance(message, Output)
        connections[message.attachment.encode()].transport.write(binary_frame(message.data))

    pump = SocketPump(socket, back)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: RelayConnection(pump, connections, codec), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    print(f"hops relay ready: ws://127.0.0.1:{port}/", flush=True)
    await asyncio.Event().wait()


class Hops:
    """The two processes, started as the stack's are; logs beside the stack's."""

    def __init__(self, codec: bool = False) -> None:
        module = [sys.executable, "-m", "bench.hops"]
        keys = str(run_keys().folder)
        flavour = ["codec"] if codec else []
        name = "hops-codec" if codec else "hops"
        echo = [*module, "echo", keys, *flavour]
        self.echo = ManagedProcess(f"{name}-echo", echo, ECHO_READY)
        try:
            endpoint = self.echo.match["endpoint"]
            relay = [*module, "relay", keys, endpoint, *flavour]
            self.relay = ManagedProcess(f"{name}-relay", relay, RELAY_READY)
        except BaseException:
            self.echo.stop()
            raise
        self.url = self.relay.match["url"]

    def stop(self) -> None:
        for process in (self.relay, self.echo):
            process.stop()


class HopsTerminal(WebSocketTerminal):
    """A WebSocket to the relay; what comes back is counted as output."""

    async def key(self) -> float:
        """One byte there and back; its round trip in seconds."""
        expected = self.received + 1
        sent = time.perf_counter()
        self.send_keys(b"a")
        arrived = await self.wait_bytes(expected)
        return arrived - sent


def main(argv: list[str]) -> None:
    role = argv[0] if argv else ""
    codec = argv[-1:] == ["codec"]
    args = argv[1 : len(argv) - codec]
    if role == "echo" and len(args) == 1:
        uvloop.run(echo(LinkKeys(Path(args[0])), codec))
    elif role == "relay" and len(args) == 2:
        uvloop.run(relay(LinkKeys(Path(args[0])), args[1], codec))
    else:
        raise SystemExit(
            "usage: python -m bench.hops echo <keys> [codec] | relay <keys> <endpoint> [codec]"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
