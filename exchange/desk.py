"""The desk's live model: everything the screen shows, kept current by the session, read by the widgets.

The session writes it at network rate; widgets read it at frame rate on their own timers and repaint only when
the part they show changed (``versions``). It holds plain exchange types only, so a widget that reads it never
imports aiohttp or the session. Everything in it is bounded.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from exchange.book import OrderBook
from exchange.bybit.protocol import TickerCache
from exchange.events import (
    LinkState,
    LinkStats,
    OpenOrder,
    PositionSnapshot,
    PublicTrade,
    SessionState,
    WalletSnapshot,
)
from exchange.ledger import Fill, Ledger
from exchange.link_timeline import LinkTimeline
from exchange.numbers import MIN_MAGNITUDE, NumberError, decimal_problem, read_decimal
from exchange.position_watch import PositionDisagreement

__all__ = ["LARGEST_STEP", "SMALLEST_STEP", "Desk", "Instrument", "step_problem"]

OWN_FILLS_KEPT = 200
TRADES_KEPT = 500

log = logging.getLogger(__name__)


SMALLEST_STEP = MIN_MAGNITUDE  # the smallest number read from outside at all
LARGEST_STEP = Decimal("1e9")
"""A tick or a quantity step outside these is refused: the ladder divides prices by the tick and prints as many
places as it has, so a zero, a ``1E-20000`` or a ``1E+999`` tick must never reach it."""


def step_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be a tick or a quantity step, or None."""
    problem = decimal_problem(value)
    if problem is not None:
        return problem
    if not SMALLEST_STEP <= value <= LARGEST_STEP:
        return f"is not between {SMALLEST_STEP} and {LARGEST_STEP:f}"
    return None


@dataclass(frozen=True)
class Instrument:
    """What the screen needs to print a symbol's numbers: its tick and lot sizes, each a positive number in
    [:data:`SMALLEST_STEP`, :data:`LARGEST_STEP`] (checked here, so no instrument holds another)."""

    symbol: str
    tick_size: Decimal
    qty_step: Decimal

    def __post_init__(self) -> None:
        for name, value in (("tickSize", self.tick_size), ("qtyStep", self.qty_step)):
            problem = step_problem(value)
            if problem is not None:
                raise NumberError(f"{self.symbol[:40]} {name} {str(value)[:24]!r} {problem}")

    @property
    def price_decimals(self) -> int:
        return _places(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return _places(self.qty_step)


def _places(step: Decimal) -> int:
    """Digits after the point multiples of ``step`` need (0.01 -> 2, 5 -> 0), at most 18."""
    exponent = step.normalize().as_tuple().exponent
    return min(18, max(0, -exponent)) if isinstance(exponent, int) else 0


@dataclass
class Desk:
    """The latest state of the markets and the account, as one object the widgets can read."""

    environment: str  # SIM / SIM @ host (a simulator elsewhere) / TESTNET / DEMO / PRODUCTION
    category: str
    symbols: list[str]
    books: dict[str, OrderBook]
    ledger: Ledger = field(default_factory=Ledger)
    tickers: TickerCache = field(default_factory=TickerCache)
    trades: dict[str, deque[PublicTrade]] = field(default_factory=dict)
    own_fills: deque[Fill] = field(default_factory=lambda: deque(maxlen=OWN_FILLS_KEPT))
    orders: dict[str, OpenOrder] = field(default_factory=dict)
    positions: dict[str, PositionSnapshot] = field(default_factory=dict)
    instruments: dict[str, Instrument] = field(default_factory=dict)
    wallet: WalletSnapshot | None = None
    state: SessionState = field(default_factory=lambda: SessionState(LinkState.DISCONNECTED, 0, "not started"))
    stats: LinkStats | None = None
    private: bool = False
    positions_read: bool = False  # the account's positions were read at least once: a missing one is flat
    position_disagreements: dict[str, PositionDisagreement] = field(default_factory=dict)
    """Symbols whose ledger has not held the exchange's position for a while, and how they differ (versioned
    with ``positions``)."""
    link_timeline: LinkTimeline = field(default_factory=LinkTimeline)
    """Ready / degraded / down over the last half hour (the history recorder keeps it)."""
    outage_started_ms: int | None = None
    """When the current outage began (the first loss of Ready, or the start if never Ready); None when Ready."""
    ever_ready: bool = False
    journal_problem: str | None = None  # why fills cannot be journaled now ("journal: disk full"): none applied
    feed: str = ""  # where public data comes from when not Bybit's own socket (``relay host:port``)
    account_down: str = ""  # why the account part is down (a rejected key) while public data stays live
    versions: Counter[str] = field(default_factory=Counter)
    """Bumped on every change of a part: ``trades:SYM``, ``orders``, ``positions``, ``wallet``, ``fills``, ``state``,
    ``stats``, ``ledger``, ``account_positions`` (a position push of any category). A widget remembers the number
    it drew and repaints when it moved."""
    on_move: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    """Called once at the next book or trade move, then cleared: a resting screen sleeps until the market moves
    instead of polling for it."""

    def __post_init__(self) -> None:
        if self.tickers.category is None:  # keep only the ticker fields of this desk's category
            self.tickers = TickerCache(self.category)
        for symbol in self.symbols:
            self.trades.setdefault(symbol, deque(maxlen=TRADES_KEPT))

    def touch(self, part: str) -> None:
        self.versions[part] += 1

    def moved(self) -> None:
        """A book or a symbol's trades moved (the feed calls this per frame): wake the one waiting, if any. The
        feed goes on whatever the waiting one does."""
        wake = self.on_move
        if wake is not None:
            self.on_move = None
            try:
                wake()
            except Exception:
                log.exception("waking the desk on a move failed")

    def market_moves(self) -> int:
        """A number that changes whenever a book or a symbol's trades move: how a screen tells a moving market from
        a resting one."""
        books = sum(book.version for book in self.books.values())
        return books + sum(count for part, count in self.versions.items() if part.startswith("trades:"))

    def note_state(self, state: SessionState) -> None:
        """Track the outage clock: it counts the whole outage, across attempts and states, until Ready."""
        if state.kind is LinkState.READY:
            self.outage_started_ms = None
            self.ever_ready = True
        elif state.kind is LinkState.DISCONNECTED:
            self.outage_started_ms = None
        elif self.outage_started_ms is None:
            self.outage_started_ms = state.since_ms

    def outage_shown(self) -> bool:
        """Whether the bar shows the outage clock: in an outage after Ready, or Reconnecting/Failed since start."""
        if self.outage_started_ms is None:
            return False
        return self.ever_ready or self.state.kind in (LinkState.RECONNECTING, LinkState.FAILED)

    def ticker(self, symbol: str) -> dict[str, str]:
        return self.tickers.get(symbol) or {}

    def mark_price(self, symbol: str) -> Decimal | None:
        """The ticker's ``markPrice`` as a number, or None when absent or not a positive finite number (a bad
        ticker field must mark nothing and crash nothing)."""
        return self._ticker_price(symbol, "markPrice")

    def last_price(self, symbol: str) -> Decimal | None:
        """The ticker's ``lastPrice``, on the same terms as :meth:`mark_price`."""
        return self._ticker_price(symbol, "lastPrice")

    def _ticker_price(self, symbol: str, field: str) -> Decimal | None:
        text = self.ticker(symbol).get(field)
        if not text:
            return None
        try:
            value = read_decimal(text, field)
        except NumberError:
            return None
        return value if value > 0 else None

    def open_orders(self, symbol: str | None = None) -> list[OpenOrder]:
        """Open orders, newest first, of one symbol or all."""
        orders = [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]
        return sorted(orders, key=lambda o: o.updated_ms, reverse=True)

    def instrument(self, symbol: str) -> Instrument | None:
        return self.instruments.get(symbol)

    def price_places(self, symbol: str) -> int | None:
        """The places of ``symbol``'s tick (the ladder's prices), None before its instrument is read."""
        instrument = self.instruments.get(symbol)
        return None if instrument is None else instrument.price_decimals
