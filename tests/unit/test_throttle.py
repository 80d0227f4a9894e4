"""The sign-in throttle and the bound on password checks running at once."""

from __future__ import annotations

import asyncio

import pytest

from frontend_server.throttle import (
    FREE_ATTEMPTS,
    NAME_MAX_WAIT,
    Busy,
    LoginThrottle,
    check_slots,
)


def test_attempts_count_before_they_are_checked() -> None:
    """A burst sent at once is throttled as soon as the free attempts are used up."""
    throttle = LoginThrottle()
    waits = [throttle.begin("1.2.3.4", "alice", now=100.0) for _ in range(FREE_ATTEMPTS + 3)]
    assert waits[:FREE_ATTEMPTS] == [0.0] * FREE_ATTEMPTS
    assert all(wait > 0 for wait in waits[FREE_ATTEMPTS:])


def test_the_wait_doubles_and_success_clears_it() -> None:
    throttle = LoginThrottle()
    for _ in range(FREE_ATTEMPTS):
        assert throttle.begin("1.2.3.4", "alice", now=100.0) == 0
    assert throttle.begin("1.2.3.4", "alice", now=100.0) == 1.0
    assert throttle.begin("1.2.3.4", "alice", now=101.0) == 0  # counted: 6 attempts
    assert throttle.begin("1.2.3.4", "alice", now=101.5) == 1.5
    throttle.succeeded("1.2.3.4", "alice")
    assert throttle.begin("1.2.3.4", "alice", now=101.5) == 0


def test_attempts_are_forgotten_after_a_while() -> None:
    throttle = LoginThrottle()
    for _ in range(FREE_ATTEMPTS + 1):
        throttle.begin("1.2.3.4", None, now=100.0)
    assert throttle.begin("1.2.3.4", None, now=100.0) > 0
    assert throttle.begin("1.2.3.4", None, now=2000.0) == 0


def test_strangers_lock_a_name_out_for_a_minute_at_most() -> None:
    """A stranger guessing as fast as allowed soon waits many minutes per guess; the
    person whose name it guesses, from their own address, waits a minute at most."""
    throttle = LoginThrottle()
    now, wait = 100.0, 0.0
    for _ in range(20):
        now += wait
        wait = throttle.begin("203.0.113.9", "olga", now=now)
        if wait == 0:
            wait = throttle.begin("203.0.113.9", "olga", now=now)
    assert wait > 10 * NAME_MAX_WAIT
    assert 0 < throttle.begin("192.0.2.7", "olga", now=now) <= NAME_MAX_WAIT


async def test_password_checks_are_bounded_running_and_waiting() -> None:
    """Two run, two wait, the fifth is refused at once; a slot freed is taken again."""
    slots = check_slots(running=2, waiting=2)
    release = asyncio.Event()
    running = 0
    peak = 0

    async def check() -> None:
        nonlocal running, peak
        async with slots:
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(check()) for _ in range(4)]
    await asyncio.sleep(0)
    with pytest.raises(Busy):
        async with slots:
            pass
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2
    async with slots:
        pass


def test_a_flood_from_countless_addresses_keeps_the_table_bounded() -> None:
    throttle = LoginThrottle(capacity=1000)
    for i in range(20_000):
        throttle.begin(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", f"name-{i}", now=100.0)
    assert len(throttle._attempts) <= 1000


def test_ipv6_addresses_count_by_their_64() -> None:
    """Addresses of one /64 are one client: changing the host part does not reset it."""
    throttle = LoginThrottle()
    for i in range(FREE_ATTEMPTS):
        assert throttle.begin(f"2001:db8:1:2::{i + 1:x}", None, now=100.0) == 0
    assert throttle.begin("2001:db8:1:2:ffff::9", None, now=100.0) > 0
    assert throttle.begin("2001:db8:1:3::1", None, now=100.0) == 0
