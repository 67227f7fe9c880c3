"""Control-API bodies shared by several providers."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


class FaultsBody(msgspec.Struct, forbid_unknown_fields=True):
    """Delivery faults of a merchant account (``delivery.outbox.Faults`` on the wire):
    send each callback twice, delay it, or deliver newer ones first."""

    duplicate: bool = False
    delaySeconds: Annotated[float, Meta(ge=0, le=86400)] = 0
    outOfOrder: bool = False
    reorderWindowSeconds: Annotated[float, Meta(ge=0, le=86400)] = 5
