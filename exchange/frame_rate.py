"""Messages per second over the last few whole seconds: a figure that falls to 0 when nothing arrives, however
seldom it is read (a rate between two reads would freeze at its last value while nobody reads it)."""

from __future__ import annotations

from collections import deque

__all__ = ["FrameRate"]


class FrameRate:
    """Frames counted into one-second buckets; the rate is the mean over the last ``window_s`` whole seconds."""

    def __init__(self, window_s: int = 2) -> None:
        self._window = max(1, window_s)
        self._buckets: deque[list[int]] = deque()  # [second, frames], oldest first, at most window + 1
        self.total = 0
        """Every frame counted."""

    def count(self, now: float) -> None:
        self.total += 1
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
            return
        self._buckets.append([second, 1])
        self._trim(second)

    def per_second(self, now: float) -> float:
        second = int(now)
        self._trim(second)
        total = sum(frames for at, frames in self._buckets if second - self._window <= at < second)
        return total / self._window

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] < second - self._window:
            self._buckets.popleft()
