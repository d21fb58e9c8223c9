"""The one bridge from session events to Textual messages.

A single named worker (``bridge``) consumes a hub subscription of the *lossless* kinds only (state changes,
notices, fills, book-state changes, orders, positions): those are few, must never be dropped, and some must be
on screen at once (Reconnecting within a frame, not a timer tick later). Everything hot (books, tickers,
trades, link figures) is not bridged at all: the widgets pull the desk on their own timers, so a burst of
deltas never becomes a burst of messages.

The messages are posted to the app, which turns them into immediate widget refreshes (inside ``batch_update``)
and notifications for people.
"""

from __future__ import annotations

from textual.message import Message
from textual.message_pump import MessagePump

from exchange import events
from exchange.book import BookState
from exchange.hub import EventHub, Subscription
from exchange.ledger import Fill, LedgerEntry

__all__ = ["BRIDGED_KINDS", "Bridge"]

BRIDGED_KINDS: tuple[type[events.Event], ...] = (
    events.StateChanged,
    events.Notice,
    events.FillReceived,
    events.BookStateChanged,
    events.OrderChanged,
    events.PositionChanged,
)


class Bridge:
    """Turns one subscription's events into messages for ``target`` (the app)."""

    class StateChanged(Message):
        """The session moved to another state (never replaced: every transition is shown)."""

        def __init__(self, state: events.SessionState, previous: events.SessionState) -> None:
            self.state = state
            self.previous = previous
            super().__init__()

    class NoticeReceived(Message):
        """Something the session wants a person to know."""

        def __init__(self, level: str, text: str) -> None:
            self.level = level
            self.text = text
            super().__init__()

    class FillReceived(Message):
        """One of the account's executions was journaled and applied to the ledger."""

        def __init__(self, fill: Fill, entry: LedgerEntry | None, backfilled: bool) -> None:
            self.fill = fill
            self.entry = entry
            self.backfilled = backfilled
            super().__init__()

    class BookStateChanged(Message):
        """A book became SYNCED, RESYNCING or AWAITING_SNAPSHOT."""

        def __init__(self, symbol: str, state: BookState, reason: str | None) -> None:
            self.symbol = symbol
            self.state = state
            self.reason = reason
            super().__init__()

    class OrderChanged(Message):
        """An order was created, filled, amended or cancelled."""

        def __init__(self, order: events.OpenOrder) -> None:
            self.order = order
            super().__init__()

    class PositionChanged(Message):
        """The exchange reported a position."""

        bubble = False

        def __init__(self, position: events.PositionSnapshot) -> None:
            self.position = position
            super().__init__()

        def can_replace(self, message: Message) -> bool:
            # only the latest position of a symbol matters; the desk already holds it
            return isinstance(message, Bridge.PositionChanged) and message.position.symbol == self.position.symbol

    def __init__(self, target: MessagePump) -> None:
        self.target = target
        self.forwarded = 0

    def subscribe(self, hub: EventHub) -> Subscription:
        """Subscribe before the session runs, so its first Connecting is not missed."""
        return hub.subscribe(BRIDGED_KINDS, name="dashboard-bridge")

    async def run(self, subscription: Subscription) -> None:
        """Forward every event until the subscription closes (the session stopped)."""
        async for event in subscription:
            message = self.translate(event)
            if message is not None:
                self.forwarded += 1
                self.target.post_message(message)

    @classmethod
    def translate(cls, event: events.Event) -> Message | None:
        """The message for one event (None for kinds the dashboard does not bridge)."""
        if isinstance(event, events.StateChanged):
            return cls.StateChanged(event.state, event.previous)
        if isinstance(event, events.Notice):
            return cls.NoticeReceived(event.level, event.text)
        if isinstance(event, events.FillReceived):
            return cls.FillReceived(event.fill, event.entry, event.backfilled)
        if isinstance(event, events.BookStateChanged):
            return cls.BookStateChanged(event.symbol, event.state, event.reason)
        if isinstance(event, events.OrderChanged):
            return cls.OrderChanged(event.order)
        if isinstance(event, events.PositionChanged):
            return cls.PositionChanged(event.position)
        return None
