"""The local exchange's notion of time, injectable so tests are deterministic and clock skew can be faked.

Server time is the wall clock (or a fixed instant that only moves when a test advances it) plus ``offset_ms``:
the clock-offset fault shifts what the exchange believes "now" is, exactly as a client sees a badly synced
Bybit-facing machine (REST 10002, expired private auth).
"""

from __future__ import annotations

import time


class SimClock:
    """Milliseconds since the epoch as the simulated exchange sees them."""

    __slots__ = ("offset_ms", "_fixed_ms")

    def __init__(self, fixed_ms: int | None = None, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms
        self._fixed_ms = fixed_ms

    @property
    def fixed(self) -> bool:
        """True when time only moves through :meth:`advance` (tests)."""
        return self._fixed_ms is not None

    def now_ms(self) -> int:
        """Server time in ms (the offset included)."""
        base = self._fixed_ms if self._fixed_ms is not None else time.time_ns() // 1_000_000
        return base + self.offset_ms

    def now_ns(self) -> int:
        """Server time in ns, for ``market/time``'s ``timeNano``."""
        if self._fixed_ms is not None:
            return (self._fixed_ms + self.offset_ms) * 1_000_000
        return time.time_ns() + self.offset_ms * 1_000_000

    def advance(self, ms: int) -> None:
        """Move a fixed clock forward; a wall clock cannot be moved (use ``offset_ms``)."""
        if self._fixed_ms is None:
            raise RuntimeError("only a fixed SimClock can be advanced")
        self._fixed_ms += ms

    def __repr__(self) -> str:
        mode = f"fixed={self._fixed_ms}" if self._fixed_ms is not None else "wall"
        return f"SimClock({mode}, offset_ms={self.offset_ms})"
