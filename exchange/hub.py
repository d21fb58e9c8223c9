"""The event hub: every subscriber gets every event of the kinds it asked for, and nobody slows ingest.

``publish`` is synchronous and never waits: it appends to each interested subscriber's lanes and wakes it.
Per subscriber there are three lanes:

* lossless (state changes, fills, orders, notices): kept in order, never dropped, except notices past
  :data:`NOTICES_WAITING` for one subscriber: the oldest waiting one goes and a single line says how many went;
* bounded (public trade batches): a lagging subscriber keeps only the newest events up to N in total weight
  (trades, not batches, so a host cannot grow it by batching), and each event dropped is counted;
* latest (books, book trust, tickers, wallet, link figures): one slot per conflation key, the newest event
  replaces the older one, so 10,000 book deltas waiting for a slow consumer are one event when it wakes up.

Lossless events come out first, then bounded ones, then the latest states.

Notices pass a :class:`~exchange.notices.NoticeGate` first: the same notice at most once per few seconds, the
repeats counted and summarised (:meth:`EventHub.flush_notices` says what a window held back once it ends).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable

from exchange.events import ConflationKey, Event, Notice
from exchange.notices import NoticeGate

__all__ = ["NOTICES_WAITING", "EventHub", "Subscription"]

NOTICES_WAITING = 1_000  # notices kept for one subscriber that does not read; the oldest go beyond


class Subscription:
    """One consumer's view of the hub; iterate it with ``async for`` or call :meth:`get`."""

    def __init__(self, hub: EventHub, kinds: frozenset[type[Event]] | None, name: str) -> None:
        self.name = name
        self._hub = hub
        self._kinds = kinds
        self._lossless: deque[Event] = deque()
        self._bounded: dict[type[Event], deque[Event]] = {}
        self._weights: dict[type[Event], int] = {}  # total weight waiting per bounded lane
        self._latest: dict[ConflationKey, Event] = {}
        self._notices = 0  # notices waiting in the lossless lane
        self.notices_dropped = 0  # ... dropped because this subscriber lagged past NOTICES_WAITING
        self._dropped_line: Notice | None = None  # waiting in the lane while notices are being dropped
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
            if isinstance(event, Notice):
                self._make_room_for_a_notice()
            self._lossless.append(event)
        self._wakeup.set()

    def _make_room_for_a_notice(self) -> None:
        """Keep at most :data:`NOTICES_WAITING` notices (the newest), and one line saying how many went."""
        self._notices += 1
        if self._notices <= NOTICES_WAITING:
            return
        for index, waiting in enumerate(self._lossless):
            if isinstance(waiting, Notice) and waiting is not self._dropped_line:
                del self._lossless[index]
                self._notices -= 1
                self.notices_dropped += 1
                break
        if self._dropped_line is None:
            self._dropped_line = Notice("warning", "notices were dropped while this view lagged", "notices-dropped")
            self._lossless.appendleft(self._dropped_line)

    def pending(self) -> int:
        return len(self._lossless) + sum(len(lane) for lane in self._bounded.values()) + len(self._latest)

    def get_nowait(self) -> Event | None:
        """The next event, or None when nothing is waiting."""
        if self._lossless:
            event = self._lossless.popleft()
            if isinstance(event, Notice):
                if event is self._dropped_line:
                    self._dropped_line = None
                    return Notice("warning", f"{self.notices_dropped:,} notices dropped: this view fell behind")
                self._notices -= 1
            return event
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

    def __init__(self, notice_gate: NoticeGate | None = None) -> None:
        self._subscribers: list[Subscription] = []
        self.published = 0
        self.notice_gate = notice_gate if notice_gate is not None else NoticeGate()

    def subscribe(self, kinds: Iterable[type[Event]] | None = None, name: str = "") -> Subscription:
        """A new subscription to the given event classes (all events when None)."""
        subscription = Subscription(self, frozenset(kinds) if kinds is not None else None, name)
        self._subscribers.append(subscription)
        return subscription

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every interested subscriber; never waits. A notice goes through the gate first."""
        if isinstance(event, Notice):
            for level, text in self.notice_gate.admit(event.gate_key, event.level, event.text):
                self._fan_out(event if text == event.text and level == event.level else Notice(level, text))
        else:
            self._fan_out(event)

    def flush_notices(self) -> None:
        """Say what the notice gate held back in windows that have ended (the session calls this on its tick)."""
        for level, text in self.notice_gate.flush():
            self._fan_out(Notice(level, text))

    def _fan_out(self, event: Event) -> None:
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
