"""A market the simulated venue trades against, set by the test to the last digit, and a recorder of the venue's
private pushes: the demo exchange's account, matching and funding checked without the market model or a server.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.instruments import Instrument, build_instruments

D = Decimal
T0 = 1_700_000_000_000  # fixed server time; 8-hour grid instants are multiples of FUNDING_INTERVAL_MS


class FakeMarket:
    """Just enough of the market model's interface, with books and marks set by the test."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.seed = 7
        self.paused = False
        self._instruments = {(i.category, i.symbol): i for i in build_instruments()}
        self.books: dict[tuple[str, str], dict[str, list[tuple[Decimal, Decimal]]]] = {}
        self.marks: dict[tuple[str, str], Decimal] = {}
        self.rates: dict[tuple[str, str], Decimal] = {}
        self.trade_listeners: list[Callable[..., None]] = []
        self.step_listeners: list[Callable[[int], None]] = []
        self.public_trades: list[tuple[str, str, str, Decimal, Decimal]] = []

    def set_book(self, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        self.books[("linear", symbol)] = {
            "bid": [(D(p), D(q)) for p, q in bids],
            "ask": [(D(p), D(q)) for p, q in asks],
        }

    def instrument(self, category: str, symbol: str) -> Instrument:
        return self._instruments[(category, symbol)]

    def symbols(self, category: str) -> list[str]:
        return [s for c, s in self._instruments if c == category]

    def best_bid_ask(self, category: str, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        book = self.books.get((category, symbol), {"bid": [], "ask": []})
        bid = book["bid"][0][0] if book["bid"] else None
        ask = book["ask"][0][0] if book["ask"] else None
        return bid, ask

    def levels(self, category: str, symbol: str, side: str, n: int) -> list[tuple[Decimal, Decimal]]:
        return list(self.books.get((category, symbol), {}).get(side, []))[:n]

    def mark_price(self, category: str, symbol: str) -> Decimal:
        if (category, symbol) in self.marks:
            return self.marks[(category, symbol)]
        bid, ask = self.best_bid_ask(category, symbol)
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return self.instrument(category, symbol).start_price

    def index_price(self, category: str, symbol: str) -> Decimal:
        return self.mark_price(category, symbol)

    def last_price(self, category: str, symbol: str) -> Decimal:
        return self.mark_price(category, symbol)

    def funding_rate(self, category: str, symbol: str) -> Decimal:
        return self.rates.get((category, symbol), D("0.0001"))

    def set_next_funding_time(self, ms: int, category: str | None = None, symbol: str | None = None) -> None:
        self.next_funding_ms = ms

    def take(
        self, category: str, symbol: str, side: str, qty: Decimal, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]:
        book = self.books[(category, symbol)]["ask" if side == "Buy" else "bid"]
        fills: list[tuple[Decimal, Decimal]] = []
        while qty > 0 and book:
            price, size = book[0]
            if limit is not None and ((side == "Buy" and price > limit) or (side == "Sell" and price < limit)):
                break
            done = min(qty, size)
            fills.append((price, done))
            qty -= done
            if done == size:
                book.pop(0)
            else:
                book[0] = (price, size - done)
            self.trade(symbol, side, str(price), str(done))
        return fills

    def trade(self, symbol: str, taker_side: str, price: str, qty: str) -> None:
        """A public trade, as the market publishes every one of them."""
        self.public_trades.append(("linear", symbol, taker_side, D(price), D(qty)))
        for listener in self.trade_listeners:
            listener("linear", symbol, taker_side, D(price), D(qty), self.clock.now_ms())

    def add_trade_listener(self, callback: Callable[..., None]) -> None:
        self.trade_listeners.append(callback)

    def add_step_listener(self, callback: Callable[[int], None]) -> None:
        self.step_listeners.append(callback)

    def step(self) -> None:
        for listener in self.step_listeners:
            listener(self.clock.now_ms())


class Pushes:
    """Records every private push of the account in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, list[dict[str, Any]]]] = []

    def __call__(self, topic: str, records: list[dict[str, Any]]) -> None:
        self.items.append((topic, records))

    def topics(self) -> list[str]:
        return [t for t, _ in self.items]

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [r for t, recs in self.items if t == topic for r in recs]

    def clear(self) -> None:
        self.items.clear()
