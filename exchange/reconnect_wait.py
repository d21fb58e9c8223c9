"""How long the session waits before its next connection, and what a failed connection tells it: a failure no
retry can fix, or a reason to show with the earliest time the exchange will listen again.

The figures themselves (backoff, budget, which errors are fatal) are policy in :mod:`exchange.retry`; this module
applies them to one failed connection, so :mod:`exchange.session` keeps only the loop around them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from exchange.bybit.errors import Forbidden
from exchange.journal import JournalError, JournalUnwritable
from exchange.retry import Backoff, fatal_reason, retry_after, short_reason
from exchange.sources import RateLimitStatus

MAX_SERVER_WAIT_S = 300.0  # the longest a 10006 reset or a 403 cool-down may hold back a reconnect


@dataclass(frozen=True)
class Setback:
    """What one failed connection means for the next: ``fatal`` (the Failed reason) when no retry can fix it;
    else the ``reason`` shown, the earliest retry the exchange asked for (``not_before``, the clock's s) and
    whether it was a 403 (``cooled``: a cheap probe goes before the next connection)."""

    fatal: str | None = None
    reason: str = ""
    not_before: float | None = None
    cooled: bool = False


def setback(error: Exception, server_offset_ms: int) -> Setback:
    """Judge ``error`` (a REST failure during backfill, a transport error, a journal that cannot be read)."""
    fatal = fatal_reason(error)
    if isinstance(error, JournalError) and not isinstance(error, JournalUnwritable):
        fatal = str(error)  # a corrupt journal: its one line names the file and the fix
    if fatal is not None:
        return Setback(fatal=fatal)
    return Setback(
        reason=short_reason(error),
        not_before=retry_after(error, server_offset_ms),
        cooled=isinstance(error, Forbidden),
    )


def opening_reason(asked: bool, attempt: int) -> str:
    """The Connecting state's words for a connection: asked for by the desk, the first, or a retry."""
    return "reconnecting now" if asked else "opening links" if attempt == 0 else "retrying"


def reconnect_delay(
    backoff: Backoff,
    attempt: int,
    rng: random.Random,
    starts: Sequence[float],
    clock: Callable[[], float],
    not_before: float | None,
) -> float:
    """Seconds until attempt ``attempt``: the backoff, at least what the connection budget (``starts``: when the
    last connections began) allows, and at least until ``not_before`` (a 10006 reset or a 403 cool-down:
    knocking earlier prolongs it), that last capped at MAX_SERVER_WAIT_S."""
    delay = backoff.delay(attempt, rng)
    delay = max(delay, backoff.budget_wait(starts, clock()))
    if not_before is not None:
        delay = max(delay, min(not_before - clock(), MAX_SERVER_WAIT_S))
    return delay


def rate_limit_reset_ms(status: RateLimitStatus | None, server_offset_ms: int, now_ms: int) -> int | None:
    """When Bybit's rate limit resets (local epoch ms), while its latest reply (``status``) said none is left;
    None otherwise."""
    if status is None or status.remaining != 0 or status.reset_ms is None:
        return None
    until_ms = status.reset_ms - server_offset_ms
    return until_ms if until_ms > now_ms else None
