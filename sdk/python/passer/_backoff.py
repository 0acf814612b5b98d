"""Capped exponential backoff with full jitter (AWS architecture blog style).

The n-th delay is uniform in ``[0, min(cap, base * 2**n)]``; a server's
``retry-after`` is a floor under it.
"""

from __future__ import annotations

import random
from typing import Optional


class Backoff:
    """Yields successive retry delays; :meth:`reset` after progress."""

    def __init__(
        self, base: float = 0.05, cap: float = 5.0, rng: Optional[random.Random] = None
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self, floor: float = 0.0) -> float:
        """Returns the next delay in seconds, at least ``floor``, and counts a failure."""
        ceiling = min(self.cap, self.base * (2 ** min(self.failures, 32)))
        self.failures += 1
        return max(floor, self._rng.uniform(0.0, ceiling))

    def reset(self) -> None:
        """Starts over from the base delay."""
        self.failures = 0
