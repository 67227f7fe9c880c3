"""Explicit per-object state machines.

A ``StateMachine`` names every state and every allowed transition. Services ask it which
states a transition may start from; the store turns that set into a conditional update
(``UPDATE … WHERE status IN (…)``), so two racing requests produce exactly one winner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StateMachine:
    """States and the transitions between them; ``final`` states have no way out."""

    name: str
    initial: str
    transitions: Mapping[str, frozenset[str]]
    states: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        every = set(self.transitions)
        for targets in self.transitions.values():
            every |= targets
        object.__setattr__(self, "states", frozenset(every))
        if self.initial not in every:
            raise ValueError(f"{self.name}: initial state {self.initial!r} is unknown")

    @classmethod
    def build(cls, name: str, initial: str, edges: Iterable[tuple[str, str]]) -> StateMachine:
        table: dict[str, set[str]] = {}
        for src, dst in edges:
            table.setdefault(src, set()).add(dst)
            table.setdefault(dst, set())
        return cls(name, initial, {k: frozenset(v) for k, v in table.items()})

    def can(self, src: str, dst: str) -> bool:
        return dst in self.transitions.get(src, frozenset())

    def sources(self, dst: str) -> tuple[str, ...]:
        """Every state from which ``dst`` may be entered, sorted for stable SQL."""
        return tuple(sorted(s for s, targets in self.transitions.items() if dst in targets))

    def is_final(self, state: str) -> bool:
        return not self.transitions.get(state)
