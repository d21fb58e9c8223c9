"""The one bridge from session events to Textual messages.

A single named worker (``bridge``) consumes a hub subscription of the *lossless* kinds only (state changes,
notices, fills, book-state changes, orders, positions): those are few, must never be dropped, and some must be
on screen at once (Reconnecting within a frame, not a timer tick later). Everything hot (books, tickers,
trades, link figures) is not bridged at all: the widgets pull the desk on their own timers, so a burst of
deltas never becomes a burst of messages.

The messages are dataclasses (``on_bridge_state_changed`` and so on) posted to the desk screen
(:class:`app.desk_screen.DeskScreen`), where they stop (they do not bubble to the app); it turns them into
immediate widget refreshes (inside ``batch_update``) and notifications for people.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.message_pump import MessagePump

from exchange import events
from exchange.book import BookState
from exchange.hub import EventHub, Subscription
from exchange.ledger import Fill, LedgerEntry

__all__ = [
    "BRIDGED_KINDS",
    "BookStateChanged",
    "Bridge",
    "FillReceived",
    "NoticeReceived",
    "OrderChanged",
    "PositionChanged",
    "StateChanged",
]

BRIDGED_KINDS: tuple[type[events.Event], ...] = (
    events.StateChanged,
    events.Notice,
    events.FillReceived,
    events.BookStateChanged,
    events.OrderChanged,
    events.PositionChanged,
)


@dataclass
class StateChanged(Message, namespace="bridge", bubble=False):
    """The session moved to another state (never replaced: every transition is shown)."""

    state: events.SessionState
    previous: events.SessionState


@dataclass
class NoticeReceived(Message, namespace="bridge", bubble=False):
    """Something the session wants a person to know."""

    level: str
    text: str


@dataclass
class FillReceived(Message, namespace="bridge", bubble=False):
    """One of the account's executions was journaled and applied to the ledger."""

    fill: Fill
    entry: LedgerEntry | None
    backfilled: bool


@dataclass
class BookStateChanged(Message, namespace="bridge", bubble=False):
    """A book became SYNCED, RESYNCING or AWAITING_SNAPSHOT."""

    symbol: str
    state: BookState
    reason: str | None


@dataclass
class OrderChanged(Message, namespace="bridge", bubble=False):
    """An order was created, filled, amended or cancelled."""

    order: events.OpenOrder


@dataclass
class PositionChanged(Message, namespace="bridge", bubble=False):
    """The exchange reported a position."""

    position: events.PositionSnapshot

    def can_replace(self, message: Message) -> bool:
        # only the latest position of a symbol matters; the desk already holds it
        return isinstance(message, PositionChanged) and message.position.symbol == self.position.symbol


class Bridge:
    """Turns one subscription's events into messages for ``target`` (the desk screen)."""

    StateChanged = StateChanged
    NoticeReceived = NoticeReceived
    FillReceived = FillReceived
    BookStateChanged = BookStateChanged
    OrderChanged = OrderChanged
    PositionChanged = PositionChanged

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

    @staticmethod
    def translate(event: events.Event) -> Message | None:
        """The message for one event (None for kinds the dashboard does not bridge)."""
        if isinstance(event, events.StateChanged):
            return StateChanged(event.state, event.previous)
        if isinstance(event, events.Notice):
            return NoticeReceived(event.level, event.text)
        if isinstance(event, events.FillReceived):
            return FillReceived(event.fill, event.entry, event.backfilled)
        if isinstance(event, events.BookStateChanged):
            return BookStateChanged(event.symbol, event.state, event.reason)
        if isinstance(event, events.OrderChanged):
            return OrderChanged(event.order)
        if isinstance(event, events.PositionChanged):
            return PositionChanged(event.position)
        return None
