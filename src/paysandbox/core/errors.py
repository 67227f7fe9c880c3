"""The core's exception tree.

    SandboxError
     ├── NotFound          the object does not exist (or belongs to somebody else)
     ├── Conflict          the object exists but its state forbids the verb
     └── InvalidInput      a value that the core cannot accept (amount, id, time)

Provider packages catch these and translate them into their own error codes; the core never
chooses a wire code itself.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error the core raises on purpose."""


class NotFound(SandboxError):
    """The addressed object does not exist."""


class Conflict(SandboxError):
    """The object's current state forbids the requested transition.

    ``state`` carries the state that was found, so providers can map it to a precise code
    (already paid vs already cancelled …).
    """

    def __init__(self, message: str, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class InvalidInput(SandboxError):
    """A value the core cannot interpret; ``field`` names it when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
