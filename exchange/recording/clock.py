"""A recording's clock: an event loop on the recording's time, paced at a multiple of the wall's or as fast as it goes.

A replay drives the very session that ran live, and that session reads time everywhere: heartbeat and reply
deadlines (``asyncio.wait_for``), backoff waits, maintenance ticks (``asyncio.sleep``) and receive times (its
``clock``). Making the *loop's* time the recording's own virtualises all of them at once, with no change to the
live path: the loop's time moves from one timer to the next, never by the time processing took, so no deadline is
hit that the recording did not hit; at max speed (``speed=None``) it jumps at once, so an hour replays in what the
processing takes, and at ``speed`` X it first waits on the wall until that timer is due at X times the recorded
pace. :func:`recording_clock` gives the session the wall clock of the recording on that loop.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RecordingClock", "ScaledTime", "advance", "advancer", "recording_clock", "recording_loop"]

POLL_EVERY_JUMPS = 64
"""At max speed the loop looks at its file descriptors (a signal's wake-up, another thread's call) once in this many
jumps, not at every one: a replay reads no socket, and a system call per recorded moment would be most of its cost."""
LATE_S = 0.1
"""At a finite speed, a loop this far (wall seconds) behind its pace stops trying to catch up and paces from where
it is: a slow moment is not followed by a burst."""


class ScaledTime:
    """The loop's seconds: recorded time, which moves only from one timer to the next (never by the time the work
    in between took), at most ``speed`` times as fast as the wall (``speed`` None: as fast as it can).

    At a finite speed the loop waits on the wall until the next timer is due at that pace; when it is late (the
    work took longer than the recording allows at that speed) it goes on at once and paces again from there, so
    a slow moment costs the replay its speed, never its exactness: every deadline, tick and receive time reads
    the recording's time, as at max speed. Only an outside event (a key, another thread's call) wakes the loop
    between two timers; then time moves as far as the wall says at that speed, never past the next timer."""

    def __init__(self, speed: float | None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self._speed = speed
        self._jumped = 0.0
        self._jumps = 0
        self._pace_from(0.0)

    @property
    def speed(self) -> float | None:
        return self._speed

    @speed.setter
    def speed(self, speed: float | None) -> None:
        """A new pace from now on (None: max speed)."""
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self._speed = speed
        self._pace_from(self._jumped)

    def _pace_from(self, recorded: float) -> None:
        self._real0 = time.monotonic()
        self._recorded0 = recorded

    def now(self) -> float:
        return self._jumped

    def jump_to(self, when: float) -> None:
        self._jumped = max(self._jumped, when)

    def select(self, select: Callable[[float | None], list[Any]], timeout: float | None) -> list[Any]:
        """Wait for I/O as the loop asks, in recorded seconds: paced on the wall, or jumped over when nothing is
        ready."""
        if timeout is None:  # nothing is scheduled: only another thread or a signal can wake the loop
            return select(None)
        if self._speed is None:
            self._jumps += 1
            if timeout == 0 or self._jumps % POLL_EVERY_JUMPS == 0:
                events = select(0)
                if events or timeout == 0:
                    return events
            self._jumped += timeout
            return []
        return self._paced(select, timeout)

    def _paced(self, select: Callable[[float | None], list[Any]], timeout: float) -> list[Any]:
        speed = self._speed
        assert speed is not None
        due = self._jumped + timeout
        wait = self._real0 + (due - self._recorded0) / speed - time.monotonic()
        if wait < -LATE_S:  # behind the pace: go on, and pace again from here rather than rush to catch up
            self._pace_from(self._jumped)
            wait = timeout / speed
        events = select(max(0.0, wait)) if timeout else select(0)
        if not events:
            self._jumped = due
        else:
            walled = self._recorded0 + (time.monotonic() - self._real0) * speed
            self._jumped = min(due, max(self._jumped, walled))
        return events


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
        moment. False (nothing done) otherwise, or at a finite speed (the loop paces the wait)."""
        if self.scaled.speed is not None or self._ready:  # type: ignore[attr-defined]
            return False
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if scheduled and scheduled[0].when() < when:
            return False
        self.scaled.jump_to(when)
        return True

    def advance_by(self, delay: float) -> bool:
        """:meth:`advance` to ``delay`` (> 0) seconds from now; called once per recorded moment, so written out."""
        scaled = self.scaled
        if scaled._speed is not None or self._ready:  # type: ignore[attr-defined]
            return False
        when = scaled._jumped + delay
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if scheduled and scheduled[0]._when < when:
            return False
        scaled._jumped = when
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


def advancer(loop: asyncio.AbstractEventLoop) -> Callable[[float], bool]:
    """:func:`advance` bound to ``loop``, for a caller that advances once per recorded moment."""
    if isinstance(loop, _RecordingLoop):
        return loop.advance_by
    return lambda delay: False
