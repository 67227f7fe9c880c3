"""The K PLUS token as the service sees it, and its state machine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...core.states import StateMachine
from ...store.db import Row

REQUESTED, PAID, CANCELLED, EXPIRED, VOIDED = "REQUESTED", "PAID", "CANCELLED", "EXPIRED", "VOIDED"

TOKEN_STATES = StateMachine.build(
    "kplus_token",
    REQUESTED,
    [(REQUESTED, PAID), (REQUESTED, CANCELLED), (REQUESTED, EXPIRED), (PAID, VOIDED)],
)


@dataclass(frozen=True)
class Token:
    row: Row
    now_us: int

    @property
    def token_id(self) -> str:
        return str(self.row["token_id"])

    @property
    def status(self) -> str:
        """The true status at ``now_us``: an unpaid token past its expiry is EXPIRED."""
        stored = str(self.row["status"])
        if stored == REQUESTED and self.now_us >= int(self.row["expires_at_us"]):
            return EXPIRED
        return stored

    @property
    def needs_expiry_recorded(self) -> bool:
        return self.row["status"] == REQUESTED and self.status == EXPIRED

    @property
    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.row["items"])
        return items

    def __getitem__(self, key: str) -> Any:
        return self.row[key]
