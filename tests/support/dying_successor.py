"""A successor that dies midway through a takeover, as a crash would: it takes the
sessions' state and their exec sockets, then exits (or talks nonsense) at the step
it is told: `nonsense`, `after-state` or `after-release`.

Run: python -m tests.support.dying_successor <state_dir> <step>
"""

from __future__ import annotations

import os
import socket
import sys

from exec_worker.takeover import VERSION, Channel, socket_path


def main(state_dir: str, step: str) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(socket_path(state_dir)))
    channel = Channel(sock)
    if step == "nonsense":
        sock.sendall(b"\x00\x00\x00\x08\xc1nonsens")  # 0xc1: never valid msgpack
        sock.recv(1)
        return
    channel.send("hello", {"v": VERSION, "pid": os.getpid()})
    begin = channel.receive("begin")
    held = [channel.receive_fd()] if begin["listener"] else []
    for _ in range(begin["count"]):
        if channel.receive("session")["fd"]:
            held.append(channel.receive_fd())
    print(f"holding {len(held)} sockets", flush=True)
    if step == "after-state":
        os._exit(9)
    channel.send("adopted")
    channel.receive("released")
    print("released", flush=True)
    os._exit(9)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
