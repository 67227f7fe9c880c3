"""Wrong control tokens, counted per client address: guessing the token is slowed to a crawl.

After ``limit`` wrong tokens (a Bearer token, a sign-in cookie or the sign-in form) from one
address within ``window`` seconds, that address's further attempts — right or wrong — are
refused with 429 and ``Retry-After`` until the oldest of those failures leaves the window
(``limit``: ``--control-token-attempts``, default 10 a minute; 0 turns it off). A
request that carries no token is not an attempt (it gets the usual 401 or the sign-in page).
Counts live in each server process (with ``--workers N``, an address gets ``limit`` per worker)
and are bounded: the address seen longest ago is forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

LIMIT = 10
WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000


class FailedAttempts:
    def __init__(
        self,
        limit: int = LIMIT,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try again, or None when it may now."""
        if self.limit <= 0:  # no limit
            return None
        seen = self._failures.get(address)
        if seen is None:
            return None
        now = self.clock()
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if not seen:
            del self._failures[address]
            return None
        if len(seen) < self.limit:
            return None
        return max(1, math.ceil(seen[0] + self.window - now))

    def failed(self, address: str) -> None:
        if self.limit <= 0:
            return
        seen = self._failures.pop(address, None)
        if seen is None:
            seen = deque(maxlen=self.limit)
            while len(self._failures) >= self.max_addresses:
                self._failures.popitem(last=False)
        seen.append(self.clock())
        self._failures[address] = seen  # most recently seen last
