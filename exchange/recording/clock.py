"""A recording's clock: an event loop whose time runs at a multiple of the wall's, or jumps when nothing is due.

A replay drives the very session that ran live, and that session reads time everywhere: heartbeat and reply
deadlines (``asyncio.wait_for``), backoff waits, maintenance ticks (``asyncio.sleep``) and receive times (its
``clock``). Making the *loop's* time the recording's own virtualises all of them at once, with no change to the
live path: at ``speed`` X the loop waits 1/X of every wait; at max speed (``speed=None``) a loop with nothing ready
jumps to its next timer instead of waiting, so an hour replays in what the processing takes, and no deadline is hit
that the recording did not hit (processing costs no recorded time). :func:`recording_clock` gives the session the
wall clock of the recording on that loop.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RecordingClock", "ScaledTime", "advance", "recording_clock", "recording_loop"]

POLL_EVERY_JUMPS = 64
"""At max speed the loop looks at its file descriptors (a signal's wake-up, another thread's call) once in this many
jumps, not at every one: a replay reads no socket, and a system call per recorded moment would be most of its cost."""


class ScaledTime:
    """The loop's seconds: the wall's times ``speed``, or (``speed`` None) only the waits jumped over."""

    def __init__(self, speed: float | None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real0 = time.monotonic()
        self._jumped = 0.0
        self._jumps = 0

    def now(self) -> float:
        if self.speed is None:
            return self._jumped
        return (time.monotonic() - self._real0) * self.speed

    def jump_to(self, when: float) -> None:
        self._jumped = max(self._jumped, when)

    def select(self, select: Callable[[float | None], list[Any]], timeout: float | None) -> list[Any]:
        """Wait for I/O as the loop asks, in recorded seconds: scaled, or jumped over when nothing is ready."""
        if self.speed is not None:
            return select(None if timeout is None else timeout / self.speed)
        if timeout is None:  # nothing is scheduled: only another thread or a signal can wake the loop
            return select(None)
        self._jumps += 1
        if timeout == 0 or self._jumps % POLL_EVERY_JUMPS == 0:
            events = select(0)
            if events or timeout == 0:
                return events
        self._jumped += timeout
        return []


class _ScaledSelector(selectors.DefaultSelector):
    def __init__(self, scaled: ScaledTime) -> None:
        super().__init__()
        self._scaled = scaled

    def select(self, timeout: float | None = None) -> list[Any]:
        return self._scaled.select(super().select, timeout)


class _RecordingLoop(asyncio.SelectorEventLoop):
    def __init__(self, scaled: ScaledTime) -> None:
        self.scaled = scaled
        super().__init__(_ScaledSelector(scaled))

    def time(self) -> float:
        return self.scaled.now()

    def advance(self, when: float) -> bool:
        """At max speed, move the loop's time on to ``when`` now, if nothing else is due before it (no callback
        ready, no timer earlier): what the loop would do next anyway, without a turn of the loop per recorded
        moment. False (nothing done) otherwise, or at a finite speed."""
        if self.scaled.speed is not None or self._ready:  # type: ignore[attr-defined]
            return False
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if scheduled and scheduled[0].when() < when:
            return False
        self.scaled.jump_to(when)
        return True


def recording_loop(speed: float | None) -> asyncio.AbstractEventLoop:
    """A new event loop on a recording's time (``asyncio.Runner(loop_factory=lambda: recording_loop(X))``)."""
    return _RecordingLoop(ScaledTime(speed))


class RecordingClock:
    """The recording's wall clock (epoch seconds) on the running loop: ``start_wall_s`` at :meth:`restart` (at
    creation first), then the loop's time on from there. A replay restarts it as its session starts, so the
    setting up (at a finite speed, X times its wall time) takes none of the recording's."""

    def __init__(self, start_wall_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._start = start_wall_s
        self._origin = self._loop.time() - start_wall_s

    def restart(self) -> None:
        self._origin = self._loop.time() - self._start

    def __call__(self) -> float:
        return self._loop.time() - self._origin


def recording_clock(start_wall_s: float) -> RecordingClock:
    """The recording's wall clock on the running loop (see :class:`RecordingClock`)."""
    return RecordingClock(start_wall_s)


def advance(loop: asyncio.AbstractEventLoop, delay: float) -> bool:
    """Move a recording loop's time on by ``delay`` at once when nothing else is due first (see
    ``_RecordingLoop.advance``); False on any other loop, or when something is."""
    return isinstance(loop, _RecordingLoop) and loop.advance(loop.time() + delay)
