"""The outbox of one audit sink: events waiting to be delivered, in order, bounded.

Sans-I/O: no sockets, no loop, no clock of its own (a caller passes `now`). The I/O
shell (shared/audit_sinks.py) takes a batch, tries to deliver it, and says how that
went:

- `succeeded()`: the batch is gone and the backoff starts over;
- `failed(done)`: the first `done` events of the batch were delivered, the rest go
  back to the head in their order, and the next try waits `retry_delay()`, which
  doubles with each failure in a row up to a cap.

At most `capacity` events wait, besides the one batch out (at most `batch` events).
Past that the oldest waiting events are dropped: counted in `dropped`, and handed to
the caller's log through `drops_to_report(now)` at most once per `report_every`
seconds, so one line says how many instead of one line per event.

Every event added is, at any moment, exactly one of delivered, dropped or held
(waiting or out): `added == delivered + dropped + held`. Nothing leaves uncounted.

Concurrency: none. One owner calls it, from one thread (the process's event loop).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between tries after failures in a row: first, doubled each time, capped;
    each shortened by up to `jitter` of itself so that many senders spread out."""

    first: float = 0.5
    cap: float = 30.0
    jitter: float = 0.2
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        # min() before the power would overflow a float after ~1000 failures
        steps = min(failures - 1, 64)
        plain = min(self.cap, self.first * 2.0**steps)
        return plain * (1.0 - self.jitter * self.rng())


class Outbox(Generic[T]):
    def __init__(
        self,
        capacity: int,
        batch: int,
        backoff: Backoff | None = None,
        report_every: float = 10.0,
    ) -> None:
        if capacity < 1 or batch < 1:
            raise ValueError("an outbox holds at least one event and sends at least one")
        self.capacity, self.batch = capacity, batch
        self.backoff = backoff or Backoff()
        self.report_every = report_every
        self.added = 0
        self.delivered = 0
        self.dropped = 0
        self.failures = 0
        """Failed tries in a row (0 after a success)."""
        self._waiting: deque[T] = deque()
        self._out: list[T] = []
        self._unreported = 0
        self._next_report = float("-inf")  # the first drop is reported at once

    @property
    def held(self) -> int:
        """Events not yet delivered nor dropped: waiting, and out in a batch."""
        return len(self._waiting) + len(self._out)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        """A batch is out: its outcome must be told before the next is taken."""
        return bool(self._out)

    def add(self, item: T) -> None:
        self.added += 1
        self._waiting.append(item)
        self._trim()

    def refuse(self) -> None:
        """Count an event that cannot be sent at all (too large for the sink) as
        dropped; the caller says so in its own log line."""
        self.added += 1
        self.dropped += 1

    def take(self) -> list[T]:
        """The oldest waiting events, up to `batch`; empty when none wait."""
        if self._out:
            raise RuntimeError("a batch is already out: tell how it went first")
        count = min(self.batch, len(self._waiting))
        self._out = [self._waiting.popleft() for _ in range(count)]
        return list(self._out)

    def succeeded(self) -> None:
        self.delivered += len(self._out)
        self._out = []
        self.failures = 0

    def failed(self, done: int = 0) -> float:
        """The batch's first `done` events arrived, the others wait again at the head;
        returns the seconds to wait before the next try."""
        done = max(0, min(done, len(self._out)))
        self.delivered += done
        self._waiting.extendleft(reversed(self._out[done:]))
        self._out = []
        self.failures += 1
        self._trim()
        return self.retry_delay()

    def retry_delay(self) -> float:
        return self.backoff.delay(self.failures)

    def _trim(self) -> None:
        while len(self._waiting) > self.capacity:
            self._waiting.popleft()
            self.dropped += 1
            self._unreported += 1

    def drops_to_report(self, now: float) -> int:
        """Events dropped since the last report, if one may be made at `now` (else 0)."""
        if not self._unreported or now < self._next_report:
            return 0
        count, self._unreported = self._unreported, 0
        self._next_report = now + self.report_every
        return count

    def report_due(self) -> float | None:
        """When drops that wait to be reported may be (None: none wait)."""
        return self._next_report if self._unreported else None

    def unreported_drops(self) -> int:
        """Drops not reported yet, whatever the time (for the last line at shutdown)."""
        count, self._unreported = self._unreported, 0
        return count
