"""What the worker itself reads of the output of a session without a tty.

Such a session's output is Docker's multiplexed stream (8-byte frame headers, then
stdout or stderr bytes), passed to clients unchanged: the worker does not parse it
on the way. Two things need the programs's own bytes instead: the recording, which
keeps stdout and stderr as output events in the order they came (as a terminal
would have shown them) and never the frame headers, and the text Docker writes
when an exec fails to start, which explains the failure.

Pure apart from the Recorder it feeds: no I/O of its own; called on the worker's loop.
"""

from __future__ import annotations

import logging

from exec_worker.asciicast import Recorder
from exec_worker.multiplex import Demux
from shared.errors import ProtocolError

log = logging.getLogger(__name__)


class DemuxedRecording:
    """Feeds a Recorder the payloads of a multiplexed stream."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._demux = Demux()
        self._broken = False

    def state(self) -> tuple[bytes, int, int]:
        return self._demux.state()

    def resume(self, header: bytes, stream: int, left: int) -> None:
        self._demux.resume(header, stream, left)

    def output(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            pieces = self._demux.feed(data)
        except ProtocolError as exc:  # never from Docker; stop rather than record noise
            self._broken = True
            log.warning("session %s: recording stopped: %s", self._recorder.header.session, exc)
            return
        for _, piece in pieces:
            self._recorder.output(piece)


def payload(stream: bytes) -> bytes:
    """The bytes inside the frames of the start of a multiplexed stream, as far as they
    can be read (the start of a stream cut anywhere)."""
    demux = Demux()
    try:
        return b"".join(piece for _, piece in demux.feed(stream))
    except ProtocolError:
        return stream
