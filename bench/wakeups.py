"""What waking another process costs on this machine, on one CPU and across two.

The shape's round trip (bench/hops.py) is mostly threads waking each other: a TCP
hop is two wake-ups there and back, a ZeroMQ hop six (each side's loop hands the
message to its I/O thread, which hands it to the other side's). How much one costs
depends on the machine, not on our code: on a virtual machine an idle CPU is
halted, and waking a thread on it goes through the hypervisor. This module times
the two hops bare, one byte there and back between two processes, with the
processes (and their ZeroMQ I/O threads) pinned to two CPUs or both to one.

    python -m bench.wakeups tcp <cpu>   prints "wakeups tcp ready: <port>", echoes
    python -m bench.wakeups zmq <cpu>   prints "wakeups zmq ready: <endpoint>", echoes

Concurrency: each echo is one blocking thread; PingPong runs in a thread of the
caller's, which it pins for the duration of a round and then sets free again.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from typing import Any

import zmq

from tests.support.processes import ManagedProcess

READY = re.compile(r"wakeups (?:tcp|zmq) ready: (?P<address>\S+)")
TIMEOUT_S = 5.0
"""How long one round trip may take before the round fails: a lost echo, not a slow one."""


def echo_tcp() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(f"wakeups tcp ready: {server.getsockname()[1]}", flush=True)
        connection, _ = server.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := connection.recv(64):
            connection.sendall(data)


def echo_zmq() -> None:
    router = zmq.Context().socket(zmq.ROUTER)
    router.bind("tcp://127.0.0.1:*")
    print(f"wakeups zmq ready: {router.getsockopt_string(zmq.LAST_ENDPOINT)}", flush=True)
    while True:
        router.send_multipart(router.recv_multipart(copy=True))


class Echo:
    """One echo process of a kind ("tcp" or "zmq") pinned to one CPU."""

    def __init__(self, kind: str, cpu: int) -> None:
        argv = [sys.executable, "-m", "bench.wakeups", kind, str(cpu)]
        self.process = ManagedProcess(f"wakeups-{kind}-cpu{cpu}", argv, READY)
        self.address = self.process.match["address"]

    def stop(self) -> None:
        self.process.stop()


class PingPong:
    """One byte there and back to an Echo, from a thread pinned to `cpu` for a round."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu

    def round(self, count: int) -> list[float]:
        """`count` round trips, in microseconds; run it in a thread."""
        free = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.cpu})  # this thread only
        try:
            return [self.trip() * 1e6 for _ in range(count)]
        finally:
            os.sched_setaffinity(0, free)

    def trip(self) -> float:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class TcpPingPong(PingPong):
    def __init__(self, echo: Echo, cpu: int) -> None:
        super().__init__(cpu)
        self._socket = socket.create_connection(("127.0.0.1", int(echo.address)), TIMEOUT_S)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def trip(self) -> float:
        sent = time.perf_counter()
        self._socket.sendall(b"a")
        if not self._socket.recv(64):
            raise ConnectionError("the TCP echo closed")
        return time.perf_counter() - sent

    def close(self) -> None:
        self._socket.close()


class ZmqPingPong(PingPong):
    """A DEALER whose context's I/O thread is pinned to `cpu` too."""

    def __init__(self, echo: Echo, cpu: int) -> None:
        super().__init__(cpu)
        self._context: zmq.Context[Any] = zmq.Context()
        self._context.set(zmq.THREAD_AFFINITY_CPU_ADD, cpu)
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.RCVTIMEO, int(TIMEOUT_S * 1000))
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(echo.address)

    def trip(self) -> float:
        sent = time.perf_counter()
        self._socket.send(b"a")
        self._socket.recv()  # zmq.Again after TIMEOUT_S
        return time.perf_counter() - sent

    def close(self) -> None:
        self._socket.close()
        self._context.term()


ECHOES = {"tcp": echo_tcp, "zmq": echo_zmq}
PING_PONGS = {"tcp": TcpPingPong, "zmq": ZmqPingPong}


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ECHOES or not argv[1].isdigit():
        raise SystemExit("usage: python -m bench.wakeups tcp|zmq <cpu>")
    os.sched_setaffinity(0, {int(argv[1])})  # before ZeroMQ starts its I/O thread
    ECHOES[argv[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])
