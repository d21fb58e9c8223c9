"""The alert watcher: runs the evaluator on the session's events and a tick, and publishes what it decides.

It reads the desk (the session's model) whenever a relevant event arrives (a state change, link figures, a
ticker, a ledger mark, a fill, a position) and at the latest once a second, or sooner when a debounce ends, so
an alert fires within a few milliseconds of its ``after``. Each :class:`~exchange.events.AlertChanged` goes on
the hub (the history and ``fluxum monitor`` read it there) and to an optional ``deliver`` callback (the
dashboard's toast, bell and command). The watcher outlives the session: a desk left Failed still calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from exchange.alert_evaluator import AlertEvaluator, Fired
from exchange.alert_rules import AlertRule
from exchange.desk import Desk
from exchange.events import (
    AlertChanged,
    Event,
    FillReceived,
    LedgerChanged,
    LinkStats,
    PositionChanged,
    StateChanged,
    TickerChanged,
)
from exchange.hub import EventHub, Subscription

__all__ = ["TICK_S", "WATCHED_KINDS", "AlertWatch"]

TICK_S = 1.0
WATCHED_KINDS: tuple[type[Event], ...] = (
    StateChanged,
    LinkStats,
    TickerChanged,
    LedgerChanged,
    FillReceived,
    PositionChanged,
)


class AlertWatch:
    """Evaluates ``rules`` against ``desk`` for as long as :meth:`run` runs."""

    def __init__(
        self,
        desk: Desk,
        hub: EventHub,
        rules: tuple[AlertRule, ...],
        *,
        clock: Callable[[], float] = time.time,
        deliver: Callable[[AlertRule, AlertChanged], None] | None = None,
    ) -> None:
        self.desk = desk
        self.hub = hub
        self.evaluator = AlertEvaluator(rules)
        self._clock = clock
        self._deliver = deliver
        self._subscription: Subscription | None = None
        self.fired = 0

    def subscribe(self) -> Subscription:
        """Subscribe before the session runs, so its first states are seen."""
        if self._subscription is None:
            self._subscription = self.hub.subscribe(WATCHED_KINDS, name="alerts")
        return self._subscription

    async def run(self) -> None:
        """Evaluate until cancelled; every pass drains what arrived, then reads the desk once."""
        subscription = self.subscribe()
        waiting: asyncio.Task[Event] | None = None
        events = subscription.drain()
        try:
            while True:
                self.step(events)
                events = []
                if waiting is None:
                    waiting = asyncio.ensure_future(subscription.get())
                done, _ = await asyncio.wait({waiting}, timeout=self._wait_s())
                if done:
                    got, waiting = waiting, None
                    if got.exception() is None:
                        events = [got.result(), *subscription.drain()]
                    else:  # the hub closed: the desk may still be worth watching
                        await asyncio.sleep(TICK_S)
        finally:
            if waiting is not None:
                waiting.cancel()
            subscription.close()

    def _wait_s(self) -> float:
        """Until the next tick, or the end of the nearest debounce if sooner (a millisecond late, so it is due)."""
        due = self.evaluator.next_due_ms()
        if due is None:
            return TICK_S
        return min(TICK_S, max(0.0, due / 1000 - self._clock()) + 0.001)

    def step(self, events: list[Event]) -> list[Fired]:
        """One evaluation: the fills among ``events``, then the desk; publishes and delivers the changes."""
        now_ms = int(self._clock() * 1000)
        changes: list[Fired] = []
        for event in events:
            if isinstance(event, FillReceived):
                changes.extend(self.evaluator.fill(event, now_ms))
        changes.extend(self.evaluator.evaluate(self.desk, now_ms))
        for rule, alert in changes:
            self.fired += 1
            self.hub.publish(alert)
            if self._deliver is not None:
                self._deliver(rule, alert)
        return changes
