"""The event hub: every subscriber gets every event of the kinds it asked for, and nobody slows ingest.

``publish`` is synchronous and never waits: it appends to each interested subscriber's lanes and wakes it.
Per subscriber there are three lanes:

* lossless (state changes, fills, orders, notices): kept in order, never dropped;
* bounded (public trade batches): a lagging subscriber keeps only the newest events up to N in total weight
  (trades, not batches, so a host cannot grow it by batching), and each event dropped is counted;
* latest (books, book trust, tickers, wallet, link figures): one slot per conflation key, the newest event
  replaces the older one, so 10,000 book deltas waiting for a slow consumer are one event when it wakes up.

Lossless events come out first, then bounded ones, then the latest states.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable

from exchange.events import Event

__all__ = ["EventHub", "Subscription"]


class Subscription:
    """One consumer's view of the hub; iterate it with ``async for`` or call :meth:`get`."""

    def __init__(self, hub: EventHub, kinds: frozenset[type[Event]] | None, name: str) -> None:
        self.name = name
        self._hub = hub
        self._kinds = kinds
        self._lossless: deque[Event] = deque()
        self._bounded: dict[type[Event], deque[Event]] = {}
        self._weights: dict[type[Event], int] = {}  # total weight waiting per bounded lane
        self._latest: dict[tuple, Event] = {}
        self._wakeup = asyncio.Event()
        self._closed = False
        self.dropped = 0  # bounded events dropped because this subscriber lagged
        self.conflated = 0  # latest-wins events replaced before this subscriber read them

    def wants(self, event: Event) -> bool:
        return self._kinds is None or type(event) in self._kinds

    def _offer(self, event: Event) -> None:
        cls = type(event)
        if cls.conflatable:
            key = event.conflation_key
            if key in self._latest:
                self.conflated += 1
                del self._latest[key]  # re-insert so the dict's order is the order of the latest updates
            self._latest[key] = event
        elif cls.bounded is not None:
            lane = self._bounded.get(cls)
            if lane is None:
                lane = self._bounded[cls] = deque()
            weight = self._weights.get(cls, 0) + event.weight
            while lane and weight > cls.bounded:  # the newest event always stays, however heavy
                weight -= lane.popleft().weight
                self.dropped += 1
            lane.append(event)
            self._weights[cls] = weight
        else:
            self._lossless.append(event)
        self._wakeup.set()

    def pending(self) -> int:
        return len(self._lossless) + sum(len(lane) for lane in self._bounded.values()) + len(self._latest)

    def get_nowait(self) -> Event | None:
        """The next event, or None when nothing is waiting."""
        if self._lossless:
            return self._lossless.popleft()
        for cls, lane in self._bounded.items():
            if lane:
                event = lane.popleft()
                self._weights[cls] -= event.weight
                return event
        if self._latest:
            key = next(iter(self._latest))
            return self._latest.pop(key)
        return None

    def drain(self) -> list[Event]:
        """Everything waiting, in delivery order."""
        out = []
        while (event := self.get_nowait()) is not None:
            out.append(event)
        return out

    async def get(self) -> Event:
        """Wait for the next event; raises :class:`asyncio.CancelledError`-free ``StopAsyncIteration`` once closed."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def close(self) -> None:
        """Stop receiving; a waiting :meth:`get` ends after what is already queued."""
        self._closed = True
        self._hub._remove(self)
        self._wakeup.set()


class EventHub:
    """Fan-out of session events to any number of subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self.published = 0

    def subscribe(self, kinds: Iterable[type[Event]] | None = None, name: str = "") -> Subscription:
        """A new subscription to the given event classes (all events when None)."""
        subscription = Subscription(self, frozenset(kinds) if kinds is not None else None, name)
        self._subscribers.append(subscription)
        return subscription

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every interested subscriber; never waits."""
        self.published += 1
        for subscription in self._subscribers:
            if subscription.wants(event):
                subscription._offer(event)

    def close(self) -> None:
        """End every subscription (the session stopped)."""
        for subscription in list(self._subscribers):
            subscription.close()

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
