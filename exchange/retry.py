"""What the session does when something goes wrong: how long it waits between attempts, how long each step of a
recovery may take, when the exchange asked it to wait, and which errors no retry can fix.

It exists so that the policy can be read and tuned apart from the state machine that applies it
(:mod:`exchange.session`); it holds no state and does no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from exchange.bybit.errors import (
    AUTH_CODES,
    INVALID_REQUEST_CODE,
    AuthenticationError,
    BybitError,
    Forbidden,
    RateLimited,
)

__all__ = [
    "Backoff",
    "SessionFailed",
    "Timeouts",
    "describe",
    "fatal_reason",
    "key_rejected",
    "retry_after",
    "short_reason",
]


class SessionFailed(Exception):
    """Something retrying cannot fix; the session goes to Failed with this message."""


@dataclass(frozen=True)
class Backoff:
    """Exponential delays with jitter and a cap: the session's reconnects (the attempts start over at every
    Ready) and the REST transport's resends (:mod:`exchange.bybit.rest_transport`, with its own figures).

    Equal jitter: half the exponential delay is fixed and half random, so delays grow visibly yet reconnecting
    clients never synchronise. Each outage starts at the first, short delay, so a short outage after a short
    healthy spell is not paid for with a long wait. A server that lets the link reach Ready and drops it, again
    and again, is held by a connection budget instead: a bucket of ``burst`` connections refilled one per
    ``refill_s``; at the defaults at most 60 connections (120 sockets) in 5 minutes, a quarter of Bybit's 500
    per 5 minutes per IP, while an outage every 20 s never waits on it.
    """

    initial_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    burst: int = 10
    refill_s: float = 6.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.cap_s, self.initial_s * self.factor ** max(0, attempt - 1))
        return base / 2 + rng.uniform(0.0, base / 2)

    def budget_wait(self, starts: Sequence[float], now: float) -> float:
        """How long from ``now`` until one more connection fits the budget, given the past ``starts``."""
        tokens, last = float(self.burst), None
        for start in sorted(starts):
            if last is not None:
                tokens = min(float(self.burst), tokens + (start - last) / self.refill_s)
            tokens, last = tokens - 1.0, start
        if last is not None:
            tokens = min(float(self.burst), tokens + (now - last) / self.refill_s)
        return max(0.0, (1.0 - tokens) * self.refill_s)


@dataclass(frozen=True)
class Timeouts:
    """How long each step of the recovery may take, and the heartbeat figures."""

    connect_s: float = 10.0
    auth_s: float = 10.0
    subscribe_s: float = 10.0
    snapshot_s: float = 10.0
    backfill_s: float = 30.0
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    idle_probe_s: float = 3.0  # public links: silence this long triggers a probe ping
    private_idle_probe_s: float = 5.0  # the private link: quiet is normal, but a dead one must not pass for Ready
    probe_timeout_s: float = 2.0
    stale_floor_s: float = 5.0  # a topic is STALE after max(2 x cadence, this)
    resync_retry_s: float = 10.0  # a book still RESYNCING this long after its resubscribe: try again
    resync_burst: int = 5  # resyncs of one topic that may go at once, back to back
    resync_interval_s: float = 1.0  # past the burst, at most one resync of a topic this often (0: no limit)
    resync_healthy_s: float = 10.0  # a book SYNCED this long has proved itself: its resync streak starts over
    auth_expiry_s: float = 10.0  # auth signature validity (pybit's +1 s causes "Params Error" under skew)


def retry_after(error: BaseException, server_offset_ms: int) -> float | None:
    """When the exchange said it will take requests again (epoch s, local clock, 50 ms past it to be
    sure), for a 10006 that outlasted the REST client's waits or a 403 cool-down; None otherwise."""
    if isinstance(error, Forbidden) and error.until_ms > 0:  # a local time
        return error.until_ms / 1000 + 0.05
    if isinstance(error, RateLimited) and error.reset_ms is not None and error.reset_ms > 0:  # the exchange's time
        return (error.reset_ms - server_offset_ms) / 1000 + 0.05
    return None


def key_rejected(error: BaseException) -> bool:
    """The exchange refused the API key itself (not a request): only the account part is lost."""
    return isinstance(error, AuthenticationError) or (isinstance(error, BybitError) and error.ret_code in AUTH_CODES)


def fatal_reason(error: Exception) -> str | None:
    """The message for errors retrying cannot fix (a rejected key, a request Bybit calls invalid), else None."""
    if not isinstance(error, BybitError):
        return None
    if key_rejected(error):
        detail = error.ret_msg or describe(error)
        return f"API key rejected by Bybit ({error.ret_code or 'HTTP 401'}): {detail}".rstrip(": ")
    if error.ret_code == INVALID_REQUEST_CODE:
        return f"Bybit rejected a request as invalid ({INVALID_REQUEST_CODE}): {error.ret_msg}".rstrip(": ")
    return None


def short_reason(error: BaseException) -> str:
    """A reconnect's reason for the bar: a cool-down the exchange imposed is named as one (the bar counts it
    down), anything else is :func:`describe`."""
    if isinstance(error, Forbidden):
        return "HTTP 403 cool-down: Bybit refused this IP"
    return describe(error)


def describe(error: object, limit: int = 160) -> str:
    """The first line of ``error``'s message (its type's name when it has none), at most ``limit`` characters."""
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:limit]
