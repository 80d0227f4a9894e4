"""The front end's mirror of a worker's containers: exact after any order of numbered
changes, and finding containers as `docker` does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from frontend_server.container_mirror import MIN_ID_PREFIX, Change, ContainerMirror
from shared.messages import ContainerInfo


def box(cid: str, name: str, state: str = "running") -> ContainerInfo:
    return ContainerInfo(id=cid, name=name, image="busybox", state=state, created=1,
                         started_at=1, finished_at=0, exit_code=0, labels={})  # fmt: skip


def test_changes_after_the_snapshot_apply_in_order() -> None:
    mirror = ContainerMirror()
    assert mirror.apply(1, "a", box("a", "web")) is Change.STALE  # no snapshot yet
    mirror.take_snapshot(5, [box("a", "web")])
    assert mirror.apply(5, "a", None) is Change.STALE  # already in the snapshot
    assert mirror.apply(6, "b", box("b", "db")) is Change.APPLIED
    assert mirror.apply(7, "a", None) is Change.APPLIED
    assert set(mirror.containers) == {"b"}


def test_a_gap_asks_for_a_snapshot_and_takes_no_change_until_then() -> None:
    mirror = ContainerMirror()
    mirror.take_snapshot(5, [box("a", "web")])
    assert mirror.apply(7, "b", box("b", "db")) is Change.GAP
    assert not mirror.synced
    assert mirror.apply(8, "c", box("c", "x")) is Change.STALE
    mirror.take_snapshot(8, [box("a", "web"), box("b", "db"), box("c", "x")])
    assert mirror.synced and len(mirror.containers) == 3


def test_find_by_name_id_or_a_prefix_that_names_one() -> None:
    mirror = ContainerMirror()
    mirror.take_snapshot(0, [box("abcdef01", "web"), box("abcdef02", "db"), box("123456", "x")])
    assert mirror.find("web") == mirror.containers["abcdef01"]
    assert mirror.find("abcdef02") == mirror.containers["abcdef02"]
    assert mirror.find("1234") == mirror.containers["123456"]
    assert mirror.find("abcd") is None  # two match
    assert mirror.find("123") is None and len("123") < MIN_ID_PREFIX
    mirror.forget()
    assert mirror.find("web") is None and not mirror.synced


@given(st.lists(st.tuples(st.integers(0, 9), st.booleans()), max_size=40), st.data())
def test_any_delivery_order_ends_exact_or_asking(
    changes: list[tuple[int, bool]], data: st.DataObject
) -> None:
    """Changes delivered late, twice or out of order: the mirror either equals the
    worker's cache or knows it must ask for a snapshot."""
    truth: dict[str, ContainerInfo] = {}
    numbered = []
    for seq, (which, alive) in enumerate(changes, start=1):
        cid = f"c{which}"
        info = box(cid, cid) if alive else None
        if info is None:
            truth.pop(cid, None)
        else:
            truth[cid] = info
        numbered.append((seq, cid, info))
    mirror = ContainerMirror()
    mirror.take_snapshot(0, [])
    delivered = data.draw(st.permutations(numbered)) if numbered else []
    for seq, cid, info in delivered:
        mirror.apply(seq, cid, info)
    if mirror.synced and mirror.seq == len(numbered):
        assert mirror.containers == truth
    else:
        assert not mirror.synced or mirror.seq < len(numbered)
