"""A private rsyslogd for tests: its own config, ports and files in a test folder.

It listens on loopback only: TCP (imtcp) and UDP (imudp) on ports it picks itself
(port 0; the TCP port from its port file, the UDP one from /proc), and a unix
datagram socket in the folder (imuxsock), never the system's /dev/log. Every
message is written twice: as rsyslog parsed it (one JSON object of its RFC 5424
properties per line, so a test sees which fields rsyslog found) and re-emitted in
RFC 5424 (RSYSLOG_SyslogProtocol23Format).

Without rsyslogd a local run skips loudly; under CI it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.containers import require
from tests.support.waiting import wait_until

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"  # sbin is not on every PATH

CONFIG = """
global(workDirectory="{folder}" maxMessageSize="64k")
module(load="imtcp")
module(load="imudp")
module(load="imuxsock" SysSock.Use="off")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}" listenPortFileName="{folder}/tcp.port"
      ruleset="audit")
input(type="imudp" address="127.0.0.1" port="{udp_port}" ruleset="audit")
input(type="imuxsock" socket="{folder}/log.sock" useSpecialParser="off" ignoreTimestamp="off"
      parseHostname="on" ruleset="audit")
template(name="fields" type="list" option.jsonf="on") {{
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="pri" name="pri" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
ruleset(name="audit") {{
  action(type="omfile" file="{folder}/fields.jsonl" template="fields")
  action(type="omfile" file="{folder}/rfc5424.log" template="RSYSLOG_SyslogProtocol23Format")
}}
"""


class Rsyslog:
    def __init__(self, folder: Path, tcp_port: int = 0, udp_port: int = 0) -> None:
        require(Path(RSYSLOGD).exists(), "rsyslogd is missing: apt-get install rsyslog")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tcp.port").unlink(missing_ok=True)
        config = folder / "rsyslog.conf"
        config.write_text(CONFIG.format(folder=folder, tcp_port=tcp_port, udp_port=udp_port))
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(config), "-i", str(folder / "rsyslogd.pid")],
            stdout=(folder / "rsyslogd.out").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.tcp_port = tcp_port or int(wait_until(self._tcp_port, 15, "rsyslogd's TCP port"))
        wait_until(self._tcp_answers, 15, f"rsyslogd on TCP port {self.tcp_port}")
        self.udp_port = wait_until(self._udp_port, 15, "rsyslogd's UDP socket")
        wait_until(lambda: self.socket_path.exists(), 15, "rsyslogd's unix socket")

    @property
    def socket_path(self) -> Path:
        return self.folder / "log.sock"

    def _tcp_port(self) -> str:
        self._check_running()
        path = self.folder / "tcp.port"
        return path.read_text().strip() if path.exists() else ""

    def _tcp_answers(self) -> bool:
        """The port file is written for port 0 only; a given port is seen to answer."""
        self._check_running()
        try:
            socket.create_connection(("127.0.0.1", self.tcp_port), timeout=1).close()
        except OSError:
            return False
        return True

    def _udp_port(self) -> int:
        """The port of the UDP socket this rsyslogd holds (it bound port 0)."""
        self._check_running()
        inodes = set()
        for fd in Path(f"/proc/{self.proc.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed since the listing: rsyslogd opens and closes files
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
        for line in Path(f"/proc/{self.proc.pid}/net/udp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[1].startswith("0100007F:"):
                return int(fields[1].split(":")[1], 16)
        return 0

    def _check_running(self) -> None:
        if self.proc.poll() is not None:
            out = (self.folder / "rsyslogd.out").read_text(errors="replace")
            raise RuntimeError(f"rsyslogd exited with {self.proc.returncode}:\n{out}")

    def received(self) -> list[dict[str, Any]]:
        """Every message so far, as rsyslog parsed it."""
        path = self.folder / "fields.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def reemitted(self) -> list[str]:
        path = self.folder / "rfc5424.log"
        return path.read_text().splitlines() if path.exists() else []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.socket_path.unlink(missing_ok=True)


def wait_received(
    rsyslog: Rsyslog, check: Callable[[list[dict[str, Any]]], bool], what: str, timeout: float = 20
) -> list[dict[str, Any]]:
    """The messages received, once `check` holds for them."""

    def done() -> list[dict[str, Any]] | None:
        found = rsyslog.received()
        return found if check(found) else None

    return wait_until(done, timeout, f"rsyslog received {what}")
