"""The link's recent timeline in memory: what the desk's 30-minute strip draws.

A bounded list of status changes (``ready``, ``degraded``: Ready but a stream stale or a book not live, ``down``:
not Ready). Before the first change the status is unknown. :meth:`LinkTimeline.cells` folds it into fixed cells,
each showing the worst status seen in it, so a 5-second drop inside a minute's cell is never hidden.
"""

from __future__ import annotations

from collections import deque

__all__ = ["LinkTimeline", "STATUSES", "WINDOW_MS"]

WINDOW_MS = 30 * 60 * 1000
CHANGES_KEPT = 2048  # a flapping link: the oldest changes go first, the window stays drawable
STATUSES = ("unknown", "ready", "degraded", "down")
"""In rising order of worry: a cell shows the worst status in it."""
_RANK = {status: rank for rank, status in enumerate(STATUSES)}


class LinkTimeline:
    """Status changes of the last half hour (and the one before it, which says how the window began)."""

    def __init__(self) -> None:
        self._changes: deque[tuple[int, str]] = deque(maxlen=CHANGES_KEPT)
        self.version = 0

    def note(self, time_ms: int, status: str) -> None:
        """The status from ``time_ms`` on; a repeat of the current one is ignored."""
        if status not in _RANK:
            raise ValueError(f"unknown link status {status!r}")
        if (self._changes[-1][1] if self._changes else "unknown") == status:
            return
        self._changes.append((time_ms, status))
        self.version += 1
        while len(self._changes) > 1 and self._changes[1][0] < time_ms - WINDOW_MS:
            self._changes.popleft()

    @property
    def current(self) -> str:
        return self._changes[-1][1] if self._changes else "unknown"

    def cells(self, now_ms: int, count: int, window_ms: int = WINDOW_MS) -> list[str]:
        """``count`` cells covering ``window_ms`` up to ``now_ms``, oldest first, each its worst status."""
        if count <= 0:
            return []
        cell_ms = window_ms / count
        start = now_ms - window_ms
        out = ["unknown"] * count
        changes = list(self._changes)
        for index, (time_ms, status) in enumerate(changes):
            end = changes[index + 1][0] if index + 1 < len(changes) else now_ms
            if end <= start or time_ms >= now_ms:
                continue
            first = max(0, int((max(time_ms, start) - start) // cell_ms))
            last = min(count - 1, int((min(end, now_ms) - 1 - start) // cell_ms))
            for cell in range(first, last + 1):
                if _RANK[status] > _RANK[out[cell]]:
                    out[cell] = status
        return out
