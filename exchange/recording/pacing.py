"""A recording's time steered from another thread: played in slices the desk grants, paused, stepped, sped up.

The desk's replay runs the very session that ran live, on its own thread and its own event loop (made by
:func:`paced_loop`), whose time is the recording's. The desk's thread and the replay's never run at once: the
desk grants the loop a *slice* (:meth:`Pacing.run_until`: "run up to this moment of recorded time, for at most
this much wall time") and waits until the loop has parked again. While it is parked the loop runs no code, so
the widgets read the session's books, ledger and desk exactly as the live desk does, with no lock in the
session. Between slices nothing moves: that is a pause. A slice ends at its moment (the loop's time is moved
there, so at 1x the recorded clock runs smoothly with no frame due), when its wall budget is spent (the next
slice goes on from where this one stopped: a replay too heavy for its speed plays slower, it never bursts), or
when the replay itself asks to hold (:meth:`Pacing.hold`: an incident was reached; that moment is played
out).

:meth:`Pacing.release` lets the loop run freely to its end, jumping over every wait (the replay is stopping).
"""

from __future__ import annotations

import asyncio
import logging
import math
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Pacing", "paced_loop"]

log = logging.getLogger(__name__)

POLL_EVERY_JUMPS = 64
"""The loop looks at its file descriptors (another thread's call) once in this many turns within a slice, and after
every park."""
SLICE_WAIT_S = 10.0
"""The longest the desk waits for one slice to park (its budget is a few hundredths of this): past it the desk
goes on and says so in the log, rather than hang on a replay that is stuck."""


class Pacing:
    """The loop's seconds, moved only inside the slices granted from another thread."""

    def __init__(self) -> None:
        self._now = 0.0
        self._horizon = 0.0  # the loop's time this slice may reach
        self._deadline = 0.0  # the monotonic time this slice ends, whatever it reached
        self._running = False  # a slice is granted and the loop has not parked since
        self._held = False  # the replay asked to stop at the moment it is in
        self._free = False  # released: no more slices, run to the end
        self._finished = False
        self._jumps = 0
        self._condition = threading.Condition()

    # ------------------------------------------------------------------ read from either thread

    def now(self) -> float:
        return self._now

    @property
    def finished(self) -> bool:
        """The loop is closed (its thread has ended or is ending)."""
        return self._finished

    # ------------------------------------------------------------------ the desk's thread

    def run_until(self, horizon: float, budget_s: float) -> bool:
        """Let the loop run up to ``horizon`` (its time) or for ``budget_s`` of wall time, and wait for it to park.
        True when the slice ended by the replay's own :meth:`hold` (an incident reached)."""
        with self._condition:
            if self._finished or self._free:
                return False
            self._held = False
            self._horizon = horizon
            self._deadline = time.monotonic() + budget_s
            self._running = True
            self._condition.notify_all()
            if not self._condition.wait_for(lambda: not self._running or self._finished, SLICE_WAIT_S):
                log.warning("a replay slice did not end within %s s", SLICE_WAIT_S)
            return self._held

    def release(self) -> None:
        """No more slices: the loop runs on at once, jumping over every wait, until it closes."""
        with self._condition:
            self._free = True
            self._running = True
            self._horizon = math.inf
            self._condition.notify_all()

    # ------------------------------------------------------------------ the loop's thread

    def hold(self) -> None:
        """End the slice under way once the moment the loop is in has been played out (called on the loop's thread):
        what is ready runs, no time passes."""
        with self._condition:
            self._held = True

    def finish(self) -> None:
        """The loop is closed: a desk waiting for a slice waits no more."""
        with self._condition:
            self._finished = True
            self._running = False
            self._condition.notify_all()

    def select(self, select: Callable[[float | None], list[Any]], timeout: float | None) -> list[Any]:
        """Where the loop waits: within a slice, not at all (its time jumps to the next timer); else parked."""
        due = math.inf if timeout is None else self._now + timeout
        while True:
            parked, wait = self._turn(due)
            if not parked and wait == 0:
                self._jumps += 1
                if self._jumps % POLL_EVERY_JUMPS:
                    return []  # no system call per recorded moment: a replay reads no socket
            events = select(wait)
            if not parked or events:  # after a park: a call from another thread (a stop) is handled at once
                return events

    def _turn(self, due: float) -> tuple[bool, float | None]:
        """What the loop does about its next timer at ``due``: run on at once with its time moved there, wait for
        it running free (None: nothing is scheduled), or park until the next slice (True)."""
        with self._condition:
            if self._free:
                if due == math.inf:
                    return False, None
                self._now = max(self._now, due)
                return False, 0
            if self._running and time.monotonic() < self._deadline:
                horizon = self._now if self._held else self._horizon  # held: this moment is played out, no more
                if due <= horizon:
                    self._now = max(self._now, due)
                    return False, 0
                self._now = max(self._now, horizon)
            self._running = False  # parked: the desk's turn
            self._condition.notify_all()
            self._condition.wait_for(lambda: self._running or self._free)
            return True, 0


class _PacedSelector(selectors.DefaultSelector):
    def __init__(self, pacing: Pacing) -> None:
        super().__init__()
        self._pacing = pacing

    def select(self, timeout: float | None = None) -> list[Any]:
        return self._pacing.select(super().select, timeout)


class _PacedLoop(asyncio.SelectorEventLoop):
    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        super().__init__(_PacedSelector(pacing))

    def time(self) -> float:
        return self.pacing.now()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.pacing.finish()


def paced_loop(pacing: Pacing) -> asyncio.AbstractEventLoop:
    """A new event loop on ``pacing``'s time (``asyncio.Runner(loop_factory=lambda: paced_loop(pacing))``)."""
    return _PacedLoop(pacing)
