"""The store of sign-ins that are over: news is passed on once, entries expire, and
the store stays bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.revocation_messages import Revocation
from shared.revocations import Revocations, in_batches


def test_news_is_reported_once() -> None:
    store = Revocations()
    assert store.add([Revocation("a", 200)], now=100) == [Revocation("a", 200)]
    assert store.add([Revocation("a", 200)], now=100) == []
    assert store.revoked("a", 150) and not store.revoked("b", 150)


def test_an_entry_lasts_until_its_cookie_would_have_expired() -> None:
    store = Revocations()
    store.add([Revocation("a", 200), Revocation("old", 50)], now=100)
    assert not store.revoked("old", 100)
    assert store.revoked("a", 200) and not store.revoked("a", 201)
    assert store.entries(now=201) == []


def test_the_store_keeps_those_that_expire_last_when_full() -> None:
    store = Revocations(capacity=3)
    store.add([Revocation(f"s{i}", 1000 + i) for i in range(5)], now=0)
    assert len(store) == 3
    assert {e.sign_in for e in store.entries(now=0)} == {"s2", "s3", "s4"}


def test_revocations_forgotten_early_come_back_to_life_for_no_one() -> None:
    """Pushed out by newer ones, a revocation still holds: every cookie expiring no later
    than the forgotten ones is refused, while later cookies are not."""
    store = Revocations(capacity=3)
    store.add([Revocation("victim", 1000)], now=0)
    store.add([Revocation(f"churn{i}", 2000 + i) for i in range(3)], now=0)
    assert store.revoked("victim", now=10, expires=1000)
    assert store.revoked("another-early-one", now=10, expires=999)
    assert not store.revoked("a-later-one", now=10, expires=1500)


@given(st.lists(st.tuples(st.text(max_size=4), st.integers(0, 50)), max_size=60))
def test_whatever_arrives_the_store_answers_like_a_plain_map(pairs: list[tuple[str, int]]) -> None:
    """Against a model: the latest expiry of each id, as long as it has not passed."""
    store, model = Revocations(), {}
    for sign_in, until in pairs:
        store.add([Revocation(sign_in, until)], now=10)
        if until >= 10:
            model[sign_in] = max(model.get(sign_in, 0), until)
    for sign_in, until in model.items():
        assert store.revoked(sign_in, until) and not store.revoked(sign_in, until + 1)
    assert len(store.entries(now=10)) == len(model)


def test_batches_cover_every_entry() -> None:
    entries = [Revocation(str(i), i) for i in range(25_001)]
    batches = in_batches(entries)
    assert [len(b) for b in batches] == [10_000, 10_000, 5_001]
    assert [e for b in batches for e in b] == entries
