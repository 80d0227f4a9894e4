"""Command rules of the policy: argv patterns, matched argument by argument.

A rule's `commands` entry is written like a command line and split into words the
way a shell would (shlex.split: quotes keep spaces inside one word). A command
matches the entry when it has exactly as many arguments as the entry has words and
each argument matches its word as a glob (`*`, `?`, `[...]`, case-sensitive). So
`cat /var/log/*` allows `cat /var/log/app.log` and never `cat /var/log/a /root/x`
(two arguments) nor `cat /var/log/app.log; id` (no shell runs it, and `;` is just
a character of an argument).

A word that holds `/` is a path glob, matched one path segment at a time: `*` and
`?` never match across `/` (`/var/log/*` does not allow `/var/log/a/b`), and an
argument with a `..` segment never matches it (`/var/log/../../root/secret` is
refused), so a path glob allows only paths that are spelled under it. A word
without `/` matches the whole argument, whatever it holds: `echo *` allows any
single argument. Symbolic links inside an allowed folder are the container's
business: a pattern speaks of the names given, not of where they lead.

Pure: no I/O.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase


def word_matches(glob: str, argument: str) -> bool:
    """Whether one argument matches one word of a pattern."""
    if "/" not in glob:
        return fnmatchcase(argument, glob)
    segments = argument.split("/")
    if ".." in segments:
        return False
    globs = glob.split("/")
    return len(segments) == len(globs) and all(
        fnmatchcase(segment, part) for segment, part in zip(segments, globs, strict=True)
    )


@dataclass(frozen=True, slots=True)
class ArgvPattern:
    """One `commands` entry of a rule."""

    text: str
    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ArgvPattern:
        """Split the entry into words; ValueError if it is empty or badly quoted."""
        words = shlex.split(text)
        if not words:
            raise ValueError("an empty command pattern")
        return cls(text, tuple(words))

    def matches(self, argv: Sequence[str]) -> bool:
        return len(argv) == len(self.words) and all(
            word_matches(glob, argument) for glob, argument in zip(self.words, argv, strict=True)
        )
