"""Command patterns of the policy: one glob per argument, paths that stay where spelled."""

from __future__ import annotations

import shlex
from fnmatch import fnmatchcase

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from frontend_server.argv_patterns import ArgvPattern, word_matches

plain = st.text(st.characters(blacklist_characters="\x00/*?[]", blacklist_categories=("Cs",)))
segment = st.text(st.characters(blacklist_characters="\x00/", blacklist_categories=("Cs",)))
argument = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


def literal(word: str) -> str:
    """A pattern word that matches exactly `word` (glob characters bracketed, quoted)."""
    return shlex.quote("".join(f"[{c}]" if c in "*?[" else c for c in word))


@given(st.lists(argument, min_size=1, max_size=6))
def test_a_command_matches_the_pattern_spelled_like_it(argv: list[str]) -> None:
    """Any argument, once quoted and its glob characters bracketed, matches itself,
    unless it is a path with a `..` segment."""
    pattern = ArgvPattern.parse(" ".join(literal(a) for a in argv))
    climbs = any("/" in a and ".." in a.split("/") for a in argv)
    assert pattern.matches(argv) is not climbs


@given(st.lists(argument, min_size=1, max_size=5), st.lists(argument, max_size=5))
def test_never_a_different_number_of_arguments(argv: list[str], more: list[str]) -> None:
    """`*` covers one argument: a pattern of n words never matches n+k arguments."""
    pattern = ArgvPattern(" ".join(["*"] * len(argv)), tuple(["*"] * len(argv)))
    assert pattern.matches(argv)
    assert pattern.matches(argv + more) == (not more)
    assert not pattern.matches(argv[:-1])


@given(st.lists(segment, min_size=1, max_size=4), segment)
def test_a_path_star_stays_in_its_segment(base: list[str], name: str) -> None:
    """`/base/*` matches /base/NAME when NAME is one segment and not `..`, never deeper."""
    folder = "/" + "/".join(s.replace("*", "").replace("?", "").replace("[", "") for s in base)
    assume(".." not in folder.split("/"))
    glob = folder + "/*"
    assert word_matches(glob, f"{folder}/{name}") == (name != "..")
    assert not word_matches(glob, f"{folder}/{name}/more")
    assert not word_matches(glob, f"{folder}/../{name}")


@given(st.lists(segment, min_size=1, max_size=5), st.integers(0, 5), segment)
def test_dot_dot_never_matches_a_path_glob(parts: list[str], at: int, glob_tail: str) -> None:
    """An argument with a `..` segment is refused by every glob holding `/`."""
    parts.insert(min(at, len(parts)), "..")
    assert not word_matches("/*" * len(parts), "/".join(parts))
    assert not word_matches(f"*/{glob_tail}", "/".join(parts))


@given(plain, argument)
def test_a_word_without_slash_is_plain_fnmatch(glob: str, arg: str) -> None:
    assert word_matches(glob + "*", arg) == fnmatchcase(arg, glob + "*")


@pytest.mark.parametrize(
    ("pattern", "argv", "allowed"),
    [
        ("cat /var/log/*", ["cat", "/var/log/app.log"], True),
        ("cat /var/log/*", ["cat", "/var/log/../../root/secret"], False),
        ("cat /var/log/*", ["cat", "/var/log/app.log", "/root/secret"], False),
        ("cat /var/log/*", ["cat", "/var/log/nginx/access.log"], False),
        ("cat /var/log/*/*", ["cat", "/var/log/nginx/access.log"], True),
        ("cat /var/log/*", ["cat", "/var/log/./app.log"], False),
        ("tail -n [0-9]* /var/log/*.log", ["tail", "-n", "20", "/var/log/a.log"], True),
        ("tail -n [0-9]* /var/log/*.log", ["tail", "-n", "20", "/var/log/a.log.1"], False),
        ("echo *", ["echo", "../../anything at all"], True),
        ("sh", ["sh"], True),
        ("sh", ["sh", "-c", "id"], False),
    ],
)
def test_rules_mean_what_they_say(pattern: str, argv: list[str], allowed: bool) -> None:
    assert ArgvPattern.parse(pattern).matches(argv) is allowed
