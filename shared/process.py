"""Process setup shared by both entry points: log format and level, resource limits."""

from __future__ import annotations

import logging
import resource


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def raise_open_file_limit() -> None:
    """Every session holds a socket or two: let the process use all it is allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
