"""Paths of file transfers: absolute, normalised, never the root itself."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exec_worker.transfers import check_path, is_root
from shared.errors import ProtocolError


@pytest.mark.parametrize(
    ("asked", "used"),
    [
        ("/etc/hosts", "/etc/hosts"),
        ("/tmp/../etc/passwd", "/etc/passwd"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/tmp/./a//b/", "/tmp/a/b"),
    ],
)
def test_dot_dot_climbs_no_higher_than_the_containers_root(asked: str, used: str) -> None:
    """What a path names is judged in the container, as the transfer's user: a `..`
    cannot leave the container's root, it only names another path inside it."""
    assert check_path(asked) == used


@pytest.mark.parametrize(
    "asked", ["etc/passwd", "../etc/passwd", "", "/", "/..", "/tmp/..", "/a\0b"]
)
def test_relative_paths_the_root_and_nul_are_refused(asked: str) -> None:
    with pytest.raises(ProtocolError):
        check_path(asked)


@given(st.text())
def test_any_path_is_refused_or_absolute_and_normal(asked: str) -> None:
    try:
        used = check_path(asked)
    except ProtocolError:
        return
    assert used.startswith("/") and used != "/" and "\0" not in used
    assert "/../" not in used + "/" and "/./" not in used + "/" and "//" not in used


@pytest.mark.parametrize(
    ("user", "root"),
    [("", True), ("root", True), ("0", True), ("0:0", True), ("root:wheel", True),
     ("1000", False), ("app", False), ("1000:0", False), ("rooty", False)],
)  # fmt: skip
def test_who_counts_as_root(user: str, root: bool) -> None:
    """Root goes through Docker's archive API; anyone else through an exec as them."""
    assert is_root(user) is root
