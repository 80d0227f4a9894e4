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
        self.kind, self.address = kind, self.process.match["address"]

    def stop(self) -> None:
        self.process.stop()


class PingPong:
    """The client side of one Echo, its ZeroMQ I/O thread pinned to `cpu`."""

    def __init__(self, echo: Echo, cpu: int) -> None:
        self.cpu = cpu
        self._context: zmq.Context[Any] | None = None
        if echo.kind == "tcp":
            self._tcp = socket.create_connection(("127.0.0.1", int(echo.address)), TIMEOUT_S)
            self._tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self._context = zmq.Context()
            self._context.set(zmq.THREAD_AFFINITY_CPU_ADD, cpu)
            self._zmq = self._context.socket(zmq.DEALER)
            self._zmq.setsockopt(zmq.RCVTIMEO, int(TIMEOUT_S * 1000))
            self._zmq.setsockopt(zmq.LINGER, 0)
            self._zmq.connect(echo.address)

    def round(self, count: int) -> list[float]:
        """`count` round trips of one byte, in microseconds; run it in a thread."""
        free = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.cpu})  # this thread only
        try:
            trip = self._tcp_trip if self._context is None else self._zmq_trip
            return [trip() * 1e6 for _ in range(count)]
        finally:
            os.sched_setaffinity(0, free)

    def _tcp_trip(self) -> float:
        sent = time.perf_counter()
        self._tcp.sendall(b"a")
        if not self._tcp.recv(64):
            raise ConnectionError("the TCP echo closed")
        return time.perf_counter() - sent

    def _zmq_trip(self) -> float:
        sent = time.perf_counter()
        self._zmq.send(b"a")
        self._zmq.recv()  # zmq.Again after TIMEOUT_S
        return time.perf_counter() - sent

    def close(self) -> None:
        if self._context is None:
            self._tcp.close()
        else:
            self._zmq.close()
            self._context.term()


def main(argv: list[str]) -> None:
    echoes = {"tcp": echo_tcp, "zmq": echo_zmq}
    if len(argv) != 2 or argv[0] not in echoes or not argv[1].isdigit():
        raise SystemExit("usage: python -m bench.wakeups tcp|zmq <cpu>")
    os.sched_setaffinity(0, {int(argv[1])})  # before ZeroMQ starts its I/O thread
    echoes[argv[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])
