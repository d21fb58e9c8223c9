"""Waiting on a condition with a deadline, never on a bare sleep.

A deadline is a failure bound, never a measurement: nothing here asserts that something was fast. The time a
wait took is returned so that a test can print it (run with ``-s`` to see it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

DEADLINE_S = 20.0
"""Long enough for a loaded CI machine; a condition that never comes true fails after it."""


async def until(
    condition: Callable[[], bool],
    timeout: float = DEADLINE_S,
    what: str = "condition",
    poll_s: float = 0.005,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> float:
    """Await ``condition()`` becoming true, letting the loop run ``pause(poll_s)`` between checks.

    Args:
        condition: checked first, then after each pause.
        timeout: seconds before the wait fails with an AssertionError naming ``what``.
        what: what the test waits for, in the failure's message.
        poll_s: the pause between two checks.
        pause: how to let the loop run (``Pilot.pause`` for an app under test).

    Returns:
        The seconds the wait took (to print, never to assert).
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pause(poll_s)
    return loop.time() - start


class Stopwatch:
    """Wall-clock durations to print (never to assert)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
