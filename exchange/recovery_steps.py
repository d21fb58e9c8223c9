"""How a recovery's steps run: at once where they may (auth beside the public subscribe), each abandoned the
moment a link dies, and the one under way named on the connection bar once it is slow.

Kept apart from :mod:`exchange.session` so the order of a recovery reads there as a list of steps, and the
mechanics of running and naming them read here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from exchange.sources import LinkDead

SLOW_STEP_S = 1.0  # a recovery step still running after this is named on the bar ("authenticating")

T = TypeVar("T")


async def race(step: Awaitable[T], lost: asyncio.Event, lost_reason: Callable[[], str]) -> T:
    """Run one recovery step, but give up at once (:class:`LinkDead` with ``lost_reason()``) if ``lost`` is set
    meanwhile: a dead link makes every step still waiting on it pointless."""
    task = asyncio.ensure_future(step)
    waiting = asyncio.ensure_future(lost.wait())
    try:
        done, _ = await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        raise LinkDead(lost_reason())
    finally:
        for future in (task, waiting):
            if not future.done():
                future.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.gather(task, waiting, return_exceptions=True)


async def together(*steps: Coroutine[Any, Any, None]) -> None:
    """Run recovery steps at once; the first to fail cancels the others and its own error is raised (not a
    group of them: the session tells a rejected key from a dead link by the error's type)."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            error = task.exception() if task in done else None
            if error is not None:
                raise error
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class RecoveryStep:
    """The recovery step under way on one connection, and whether a step of it was named on the bar yet: a
    quick recovery says only "sockets open"; a slow one says what it waits on."""

    def __init__(self) -> None:
        self.current: tuple[str, float] | None = None  # the step's words and when it began (the clock's s)
        self.named = False  # a step of this connection was named: name the next ones at once

    def restart(self) -> None:
        """A new connection: nothing under way, nothing named."""
        self.current, self.named = None, False

    def begin(self, detail: str, now: float) -> bool:
        """Step ``detail`` starts; True when it is to be named at once (else the bar would keep a step that is
        over)."""
        self.current = (detail, now)
        return self.named

    def finish(self) -> None:
        self.current = None

    def slow_reason(self, now: float, reset_ms: int | None, slow: bool | None) -> tuple[str, int] | None:
        """The Connected state's reason for the step under way, and since when (epoch ms); None while it is
        quick. Bybit's rate limit (``reset_ms``: when it resets) is named at once; the step itself once it took
        SLOW_STEP_S, or, in a replay, when its tick says (``slow``) the live one named it."""
        step = self.current
        if step is None or slow is False:
            return None
        detail, began = step
        if reset_ms is not None:
            reason = f"rate limited by Bybit (10006) while {detail}: waiting for its reset"
        elif self.named or (now - began >= SLOW_STEP_S if slow is None else slow):
            reason = detail
        else:
            return None
        self.named = True
        return reason, int(began * 1000)
