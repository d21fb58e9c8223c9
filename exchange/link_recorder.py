"""The history recorder: turns the session's events into link-history rows and the desk's recent timeline.

It subscribes to the hub like any other consumer (state changes, book states, link figures, notices), so the
session never waits for it. Rows are buffered and committed once a second. A flapping link cannot flood the file:
past a budget of rows a minute, rows that do not change whether the link is Ready are skipped and counted, and the
count is written as one ``coalesced`` row once the budget allows. Transitions into and out of Ready are always
written: the outages are derived from them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from exchange.book import BookState
from exchange.desk import Desk
from exchange.events import (
    AlertChanged,
    BookStateChanged,
    Event,
    LinkState,
    LinkStats,
    Notice,
    StateChanged,
    TopicHealth,
)
from exchange.hub import EventHub, Subscription
from exchange.link_history import HistoryRow, LinkHistory

__all__ = ["HistoryRecorder"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
ALIVE_INTERVAL_MS = 60_000
ROWS_PER_MINUTE = 60  # the budget's refill; a calm link writes a few rows a minute
ROWS_BURST = 120


class HistoryRecorder:
    """Subscribe to ``hub`` and keep ``history`` and ``desk.link_timeline`` current."""

    def __init__(self, history: LinkHistory, hub: EventHub, desk: Desk, clock: Callable[[], float] = time.time) -> None:
        self.history = history
        self.hub = hub
        self.desk = desk
        self.clock = clock
        self.coalesced = 0  # rows skipped under the budget, all time
        self._owed = 0  # skipped and not yet written as a coalesced row
        self._tokens = float(ROWS_BURST)
        self._refilled = clock()
        self._book_since: dict[str, tuple[str, int]] = {}
        self._stale_since: dict[str, int] = {}
        self._ready = False
        self._ready_since = 0
        self._ever_ready = False
        self._kind = LinkState.DISCONNECTED
        self._next_alive = 0
        self._told_failure = False
        self._stopped = asyncio.Event()
        self._subscription: Subscription = hub.subscribe(
            [StateChanged, BookStateChanged, LinkStats, Notice, AlertChanged], name="link-history"
        )

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self) -> None:
        """Record until :meth:`stop`: each event as it arrives (its time is the time it was seen), committed
        once a second."""
        loop = asyncio.get_running_loop()
        stopper: asyncio.Future[Any] = asyncio.ensure_future(self._stopped.wait())
        getter: asyncio.Future[Any] | None = None
        next_flush = loop.time() + FLUSH_INTERVAL_S
        try:
            while not self._stopped.is_set():
                if getter is None:
                    getter = asyncio.ensure_future(self._subscription.get())
                timeout = max(0.0, next_flush - loop.time())
                done, _ = await asyncio.wait({getter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    taken, getter = getter, None
                    if taken.exception() is not None:  # the subscription was closed
                        return
                    self.handle(taken.result())
                if loop.time() >= next_flush:
                    next_flush = loop.time() + FLUSH_INTERVAL_S
                    self.flush()
        finally:
            stopper.cancel()
            self._settle(getter)

    def _settle(self, getter: asyncio.Future[Any] | None) -> None:
        """An event already taken off the subscription is recorded (close() would not see it); a wait is ended."""
        if getter is None:
            return
        if not getter.done():
            getter.cancel()
        elif not getter.cancelled() and getter.exception() is None:
            self.handle(getter.result())

    def stop(self) -> None:
        """End :meth:`run` at its next wake-up (at once)."""
        self._stopped.set()

    def close(self) -> None:
        """Record what is still queued, commit, and close the store."""
        self._subscription.close()
        for event in self._subscription.drain():
            self.handle(event)
        self.flush(final=True)
        self.history.close(self._now_ms())

    def flush(self, final: bool = False) -> None:
        now = self._now_ms()
        alive = now if final or now >= self._next_alive else None
        if alive is not None:
            self._next_alive = now + ALIVE_INTERVAL_MS
        if self._owed and self._spend(essential=False):
            self.history.add(HistoryRow(now, "coalesced", attempt=self._owed))
            self._owed = 0
        self.history.flush(alive)
        if self.history.failure_said and not self._told_failure:
            self._told_failure = True
            self.hub.publish(Notice("warning", "Link history could not be written (disk full or read-only?)"))

    # ------------------------------------------------------------------ events

    def handle(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self._on_state(event)
        elif isinstance(event, BookStateChanged):
            self._on_book(event)
        elif isinstance(event, LinkStats):
            self._on_stats(event)
        elif isinstance(event, Notice):
            self._add(HistoryRow(self._now_ms(), "notice", "", event.level, event.text))
        elif isinstance(event, AlertChanged):  # an alert says when it started or cleared: always kept
            state = "on" if event.active else "off"
            self._add(HistoryRow(event.time_ms, "alert", event.rule, state, event.text, 0, event.lasted_ms), True)
        self._note_status()

    def _on_state(self, event: StateChanged) -> None:
        state, previous = event.state, event.previous
        lasted = state.since_ms - previous.since_ms if previous.since_ms else None
        ready = state.kind is LinkState.READY
        essential = ready != self._ready
        self._ready = ready
        if ready:
            self._ready_since = state.since_ms
        self._kind = state.kind
        self._ever_ready = self._ever_ready or ready
        if not ready:
            self._end_stale(state.since_ms, "link lost")
        row = HistoryRow(state.since_ms, "link", "", state.kind.value, state.reason, state.attempt, lasted)
        self._add(row, essential=essential)

    def _on_book(self, event: BookStateChanged) -> None:
        now = self._now_ms()
        before = self._book_since.get(event.symbol)
        lasted = now - before[1] if before is not None else None
        if before is not None and before[0] == event.state.value:
            return
        self._book_since[event.symbol] = (event.state.value, now)
        row = HistoryRow(now, "book", event.symbol, event.state.value, event.reason or "", 0, lasted)
        self._add(row)

    def _on_stats(self, stats: LinkStats) -> None:
        now = self._now_ms()
        stale = {health.topic: health for health in stats.topics if health.stale} if self._ready else {}
        for topic in stale.keys() - self._stale_since.keys():
            self._stale_since[topic] = self._silent_since(stale[topic], now)
        for topic in list(self._stale_since.keys() - stale):
            self._close_stale(topic, now, "stream silent")

    def _silent_since(self, health: TopicHealth, now: int) -> int:
        """When a stream found stale went silent: its last message (it is found stale only seconds later), never
        before this Ready began (a message from an earlier connection dates nothing of this one)."""
        last = health.last_message_ms
        return now if last is None else min(now, max(last, self._ready_since))

    def _end_stale(self, now: int, cause: str) -> None:
        for topic in list(self._stale_since):
            self._close_stale(topic, now, cause)

    def _close_stale(self, topic: str, now: int, cause: str) -> None:
        since = self._stale_since.pop(topic)
        self._add(HistoryRow(since, "stale", topic, "stale", cause, 0, max(0, now - since)))

    def _note_status(self) -> None:
        if not self._ready:
            # the first connect and a deliberate stop are not outages (as in exchange/link_figures.py)
            lost = self._ever_ready or self._kind in (LinkState.RECONNECTING, LinkState.FAILED)
            status = "down" if lost and self._kind is not LinkState.DISCONNECTED else "unknown"
        elif self._stale_since or any(state != BookState.SYNCED.value for state, _ in self._book_since.values()):
            status = "degraded"
        else:
            status = "ready"
        if status != self.desk.link_timeline.current:
            self.desk.link_timeline.note(self._now_ms(), status)
            self.desk.touch("timeline")

    # ------------------------------------------------------------------ budget

    def _add(self, row: HistoryRow, essential: bool = False) -> None:
        if self._spend(essential):
            self.history.add(row)
        else:
            self._owed += 1
            self.coalesced += 1

    def _spend(self, essential: bool) -> bool:
        now = self.clock()
        self._tokens = min(ROWS_BURST, self._tokens + (now - self._refilled) * ROWS_PER_MINUTE / 60)
        self._refilled = now
        if essential or self._tokens >= 1:
            self._tokens = max(0.0, self._tokens - 1)  # an essential row spends but never borrows
            return True
        return False


async def record(recorder: HistoryRecorder) -> None:
    """Run ``recorder`` as a task body; a failure is logged and never reaches the session."""
    try:
        await recorder.run()
    except Exception:  # the history must never break the session
        log.exception("link history recorder stopped")
