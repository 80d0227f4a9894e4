"""Messages that pass ended sign-ins between front ends and workers, declared once
(the spec is docs/protocol.md); part of the worker protocol's `Message`
(shared/messages.py). The store that keeps them is shared/revocations.py. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Revocation:
    """A sign-in ended before its cookie expires; kept until `until` (Unix seconds)."""

    sign_in: str
    until: int


@dataclass(frozen=True, slots=True)
class RevokeSignIns:
    """Front end to worker: these sign-ins are over; tell every front end. With `sync`
    (a front end meeting a worker instance for the first time) the worker answers
    with every revocation it holds."""

    TAG: ClassVar[str] = "revoke"
    entries: list[Revocation]
    sync: bool


@dataclass(frozen=True, slots=True)
class SignInsRevoked:
    """Worker to front ends: sign-ins that are over."""

    TAG: ClassVar[str] = "revoked"
    entries: list[Revocation]
