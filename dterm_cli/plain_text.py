"""Text from a front end, shown on this terminal as text and nothing else.

Names, messages and reasons in the front end's answers come from the front end, the
worker, Docker and containers: a control character among them (an escape sequence)
would drive the person's terminal (move the cursor, retitle the window, rewrite what
was printed). Every line dterm prints of its own goes through `plain`, which shows
such characters escaped. The session's output is not: it is the program's, and goes
to the terminal byte for byte, as with `docker exec`.
"""

from __future__ import annotations


def plain(text: str) -> str:
    """`text` with every character that is not printable (controls, line and paragraph
    separators, ...) shown as its escape, such as `\\x1b`."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
