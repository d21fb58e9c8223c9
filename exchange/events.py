"""What the session tells its subscribers: typed, immutable events.

Every event says whether it may be *conflated*: the hub keeps only the latest event per ``conflation_key`` for a
subscriber that has not caught up yet (book, book trust, ticker, link figures: latest state wins), while the others
(state changes, fills, orders, notices) are delivered one by one and never dropped. Nothing a market-data host sends
can grow a subscriber's backlog beyond one event per symbol and kind, plus the newest few hundred trades.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from exchange.numbers import NumberError, read_decimal

if TYPE_CHECKING:
    from exchange.book import BookState
    from exchange.ledger import Fill, LedgerEntry

__all__ = [
    "AlertChanged",
    "BookChanged",
    "BookStateChanged",
    "Event",
    "FillReceived",
    "LedgerChanged",
    "LinkState",
    "LinkStats",
    "Notice",
    "OpenOrder",
    "OrderChanged",
    "PositionChanged",
    "PositionSnapshot",
    "PublicTrade",
    "SessionState",
    "StateChanged",
    "TickerChanged",
    "TopicHealth",
    "TradesReceived",
    "WalletChanged",
    "WalletSnapshot",
    "CoinBalance",
]


class LinkState(Enum):
    """Fluxum's session states."""

    DISCONNECTED = "Disconnected"
    CONNECTING = "Connecting"
    CONNECTED = "Connected"  # sockets open, not yet authenticated/subscribed/snapshotted/backfilled
    READY = "Ready"  # everything desired is live and trustworthy
    RECONNECTING = "Reconnecting"
    FAILED = "Failed"  # retrying cannot fix it (rejected key, bad config)


@dataclass(frozen=True)
class SessionState:
    """The session's state with what the connection bar needs to say about it."""

    kind: LinkState
    since_ms: int
    reason: str = ""
    attempt: int = 0  # Reconnecting: which attempt comes next (1-based)
    next_retry_ms: int | None = None  # Reconnecting: when it will be tried (epoch ms)
    waiting: bool = False
    """Connected, and the recovery is held up: a step found slow, or a wait Bybit imposed (a 10006 until
    ``next_retry_ms``); ``reason`` names it. The bar must not read as a link doing fine."""

    def __str__(self) -> str:
        text = self.kind.value
        if self.kind is LinkState.RECONNECTING:
            text += f" (attempt {self.attempt})"
        if self.reason:
            text += f": {self.reason}"
        return text


ConflationKey = tuple[object, ...]
"""What makes two conflatable events the same for a subscriber that is behind (the later replaces the earlier);
hashable values only: it is a dict key."""


class Event:
    """Base of every session event.

    ``conflatable``: only the latest per ``conflation_key`` matters to a subscriber that is behind.
    ``bounded``: a subscriber that is behind keeps only the newest of these, up to ``bounded`` in total
    :attr:`weight` (None: never dropped).
    """

    conflatable: ClassVar[bool] = False
    bounded: ClassVar[int | None] = None

    @property
    def weight(self) -> int:
        """What the event counts for against ``bounded`` (a batch: its size)."""
        return 1

    @property
    def conflation_key(self) -> ConflationKey:
        return (type(self),)


@dataclass(frozen=True)
class StateChanged(Event):
    """A session state transition (never dropped)."""

    state: SessionState
    previous: SessionState


@dataclass(frozen=True)
class BookChanged(Event):
    """The book of ``symbol`` moved; read it from the session's model (latest wins)."""

    conflatable: ClassVar[bool] = True
    symbol: str
    version: int

    @property
    def conflation_key(self) -> ConflationKey:
        return (BookChanged, self.symbol)


@dataclass(frozen=True)
class BookStateChanged(Event):
    """A book became SYNCED, RESYNCING or AWAITING_SNAPSHOT. Latest wins per symbol: a subscriber that is behind
    sees the book's trust as it is now (a distrusted book is never shown trusted), however often a hostile host
    made it flip meanwhile; the flips are counted by the book."""

    conflatable: ClassVar[bool] = True
    symbol: str
    state: BookState
    reason: str | None

    @property
    def conflation_key(self) -> ConflationKey:
        return (BookStateChanged, self.symbol)


@dataclass(frozen=True)
class PublicTrade:
    """One public trade from ``publicTrade.{symbol}``."""

    symbol: str
    time_ms: int
    side: str  # the taker's side: "Buy" or "Sell"
    price: Decimal
    qty: Decimal
    trade_id: str
    block: bool = False


@dataclass(frozen=True)
class TradesReceived(Event):
    """A batch of public trades; a lagging subscriber keeps only the newest few hundred trades (the tape is
    bounded), however the host batches them."""

    bounded: ClassVar[int | None] = 500
    symbol: str
    trades: tuple[PublicTrade, ...]

    @property
    def weight(self) -> int:
        return len(self.trades)


@dataclass(frozen=True)
class TickerChanged(Event):
    """The merged ticker of ``symbol`` (latest wins). Values are Bybit's strings, absent keys unknown."""

    conflatable: ClassVar[bool] = True
    symbol: str
    fields: dict[str, str]

    @property
    def conflation_key(self) -> ConflationKey:
        return (TickerChanged, self.symbol)

    def decimal(self, name: str) -> Decimal | None:
        value = self.fields.get(name)
        if not value:
            return None
        try:
            return read_decimal(value, name)
        except NumberError:
            return None


@dataclass(frozen=True)
class FillReceived(Event):
    """One of the account's executions, already journaled, and the ledger entry it produced (never dropped)."""

    fill: Fill
    entry: LedgerEntry | None
    backfilled: bool = False  # True when it came from REST after a (re)connect rather than the live stream


@dataclass(frozen=True)
class LedgerChanged(Event):
    """The ledger entry of ``symbol`` after a mark (latest wins); fills come as FillReceived."""

    conflatable: ClassVar[bool] = True
    entry: LedgerEntry

    @property
    def conflation_key(self) -> ConflationKey:
        return (LedgerChanged, self.entry.symbol)


@dataclass(frozen=True)
class OpenOrder:
    """An order as the desk sees it (Bybit's strings parsed)."""

    order_id: str
    order_link_id: str
    symbol: str
    side: str
    order_type: str
    price: Decimal | None
    qty: Decimal
    cum_exec_qty: Decimal
    leaves_qty: Decimal
    status: str
    time_in_force: str = ""
    updated_ms: int = 0
    reject_reason: str = ""  # Bybit's rejectReason: why it was cancelled or rejected (EC_NoError: no reason)

    @property
    def is_open(self) -> bool:
        return self.status in ("New", "PartiallyFilled", "Untriggered")


@dataclass(frozen=True)
class OrderChanged(Event):
    """An order was created, filled, amended or cancelled (never dropped)."""

    order: OpenOrder


@dataclass(frozen=True)
class PositionSnapshot:
    """The exchange's view of one position (REST ``avgPrice`` / WS ``entryPrice``)."""

    symbol: str
    size: Decimal  # signed: negative is short
    avg_price: Decimal
    mark_price: Decimal | None
    liq_price: Decimal | None
    unrealised_pnl: Decimal | None
    cum_realised_pnl: Decimal | None
    leverage: Decimal | None
    position_im: Decimal | None
    updated_ms: int = 0
    seq: int | None = None  # Bybit's cross sequence: the position holds every fill of its symbol up to it


@dataclass(frozen=True)
class PositionChanged(Event):
    """The exchange reported a position (never dropped; low volume)."""

    position: PositionSnapshot


@dataclass(frozen=True)
class CoinBalance:
    coin: str
    equity: Decimal
    wallet_balance: Decimal
    unrealised_pnl: Decimal
    usd_value: Decimal | None = None


@dataclass(frozen=True)
class WalletSnapshot:
    total_equity: Decimal
    total_available: Decimal
    total_wallet_balance: Decimal
    coins: tuple[CoinBalance, ...] = ()


@dataclass(frozen=True)
class WalletChanged(Event):
    """The account's wallet (latest wins)."""

    conflatable: ClassVar[bool] = True
    wallet: WalletSnapshot


@dataclass(frozen=True)
class TopicHealth:
    """One subscribed topic as the connection bar shows it."""

    topic: str
    last_message_ms: int | None
    stale: bool
    resync_streak: int = 0  # resyncs in a row without the book staying SYNCED (2 and more: a topic not to trust)


@dataclass(frozen=True)
class LinkStats(Event):
    """Link figures for the connection bar (latest wins)."""

    conflatable: ClassVar[bool] = True
    ping_rtt_ms: float | None
    messages_per_second: float
    reconnects: int
    last_reconnect_reason: str
    topics: tuple[TopicHealth, ...] = field(default=())
    rejected_frames: int = 0
    feed_rtt_ms: float | None = None  # a relay feed's round trip to NATS (ping_rtt_ms is the exchange's)


@dataclass(frozen=True)
class Notice(Event):
    """Something a person should be told (a rejected order, a stale feed, a reconnect). The hub lets the same one
    through once per few seconds and counts the repeats (:class:`~exchange.notices.NoticeGate`)."""

    level: str  # "information" | "warning" | "error"
    text: str
    kind: str = ""  # what makes two notices "the same" when their texts differ (an id in the text); else the text

    @property
    def gate_key(self) -> str:
        return f"{self.level}:{self.kind or self.text}"


@dataclass(frozen=True)
class AlertChanged(Event):
    """An alert rule started or cleared (never dropped; exchange/alert_rules.py).

    ``rule`` is the rule's short name (``link_down after 10s``); ``lasted_ms`` says how long the condition held,
    on a clear. An ``instant`` alert (a fill, a position change) happened rather than held: it fires once,
    active, and never clears.
    """

    rule: str
    condition: str
    active: bool
    text: str
    time_ms: int
    lasted_ms: int | None = None
    instant: bool = False
