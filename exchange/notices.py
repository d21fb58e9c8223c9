"""The notice gate: what a person is told is bounded, however often a host makes the desk say it.

A hostile host can make the desk raise the same notice (a rejected frame, a book resyncing, a rejected order)
dozens of times a second. The gate lets a notice through when its key (its kind, else its text) has been quiet
for ``window_s``, holds back and counts the repeats, and says how many there were once the window ends
("… and 55 more like it"). With ``burst`` it also caps how many distinct notices pass per window (the rest are
counted and summarised as one line), for a screen where each is a toast. It keeps at most ``keys_kept`` keys, so
notices of ever-new texts cannot grow it either. Nothing here knows of Textual: the hub and the app share it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SCREEN_BURST", "WINDOW_S", "NoticeGate", "Told"]

WINDOW_S = 5.0  # the same notice at most once per this long
SCREEN_BURST = 6  # the most different notices a screen shows per window (each is a toast)

Told = tuple[str, str]  # (level, text): "information" | "warning" | "error", and what to say


@dataclass
class _Held:
    """One key's window: when it opened, what it let through, and the repeats held back since."""

    opened: float
    told: Told
    repeats: int = 0


class NoticeGate:
    """At most one notice per key per window (``burst``: at most that many in all), the rest counted and summarised."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        *,
        burst: int | None = None,
        keys_kept: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.burst = burst
        self.keys_kept = keys_kept
        self.held_back = 0  # notices not shown as themselves (each repeat, each one past the burst)
        self._clock = clock
        self._keys: dict[str, _Held] = {}
        self._burst_opened = clock()
        self._burst_used = 0
        self._burst_over = 0  # notices past the burst in the current window, said as one line when it ends

    def admit(self, key: str, level: str, text: str) -> list[Told]:
        """What to show now for one notice: itself (after the summaries of windows that ended), or only those
        summaries when it is held back as a repeat or past the burst."""
        now = self._clock()
        out = self.flush(now)
        held = self._keys.get(key)
        if held is not None:  # its window is still open: flush() closed the ended ones
            held.repeats += 1
            self.held_back += 1
            return out
        if self.burst is not None:
            if self._burst_used >= self.burst:
                self._burst_over += 1
                self.held_back += 1
                return out
            self._burst_used += 1
        if len(self._keys) < self.keys_kept:  # full: it is shown, but its repeats are not recognised
            self._keys[key] = _Held(now, (level, text))
        return [*out, (level, text)]

    def flush(self, now: float | None = None) -> list[Told]:
        """Close every window that has ended: one summary line for each key that held repeats back, and one for
        the notices past the burst."""
        now = self._clock() if now is None else now
        out: list[Told] = []
        for key, held in list(self._keys.items()):  # in the order their windows opened: stop at the first open one
            if now - held.opened < self.window_s:
                break
            del self._keys[key]
            if held.repeats:
                level, text = held.told
                out.append((level, f"{text} (… and {held.repeats:,} more like it)"))
        if self.burst is not None and len(out) > self.burst:  # a summary per key must not become a flood itself
            self._burst_over += len(out) - self.burst
            out = out[: self.burst]
        if now - self._burst_opened >= self.window_s:
            if self._burst_over:
                out.append(("warning", f"… and {self._burst_over:,} more notices in {self.window_s:g} s"))
            self._burst_opened, self._burst_used, self._burst_over = now, 0, 0
        return out

    @property
    def keys(self) -> int:
        return len(self._keys)
