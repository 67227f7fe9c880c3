"""The event history kept for every sandbox object.

Each state change (and each notable non-change, such as a declined payment) is appended as an
``Event`` in the same transaction as the change itself, so the history never disagrees with
the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of an object's history."""

    object_type: str
    object_id: str
    kind: str
    at_us: int
    data: dict[str, Any]
    seq: int = 0
