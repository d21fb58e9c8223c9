"""The local exchange's market: one exact full-depth order book per instrument, moved by a seeded process.

Why integers: the exchange is the ground truth every client is checked against, so its book is kept in integer
ticks (price / tickSize) and lots (qty / qtyStep). Equality is exact, formatting is a couple of integer
operations, and the public feed can diff a 1000-level window against the last published one cheaply.

The process, per :meth:`Market.step` and per book (all randomness from ``random.Random`` seeded by the run's
seed, the category and the symbol, so one seed and one number of steps give one market):

* a *fair price* random walk with a realistic per-step volatility;
* takers: when the fair price crosses the book the side it crossed is swept up to it; otherwise now and then a
  small trade hits the top; every fill is a public trade (and reaches the trade listeners, so resting user
  orders can fill as makers);
* makers: quotes refill the spread towards the fair price, sizes churn near the top, levels appear and vanish;
* the far ends are kept at ``book_levels`` levels per side, so a 1000-level window always has levels to show.

Mark price is a smoothed mid, index price sits a small mean-reverting basis away, the funding rate is the
interest rate plus a damped premium, and 24 h statistics accumulate from trades.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from bisect import insort
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.instruments import Instrument, UnknownSymbol, places_of

log = logging.getLogger(__name__)

TradeListener = Callable[[str, str, str, Decimal, Decimal, int], None]
"""``listener(category, symbol, taker_side, price, qty, ts_ms)`` for every public trade."""
StepListener = Callable[[int], None]
"""``listener(now_ms)`` after every market step."""
PublicTradeSink = Callable[["SymbolBook", "list[PublicTrade]"], None]
"""The public feed's hook: one call per batch of trades of one book (a step or one taker order)."""

BOOK_LEVELS = 1200
RECENT_TRADES = 1000
FUNDING_INTERVAL_MS = 8 * 3600 * 1000
_INTEREST = 0.0001  # Bybit's interest component per 8 h (0.01 %)
_FUNDING_CAP = 0.00375
_VOLATILITY = {"BTC": 1.0, "ETH": 1.2, "SOL": 1.6, "XRP": 1.5, "DOGE": 1.8}
_STEP_SIGMA = 1.2e-5  # relative fair-price move per step (~0.04 % per minute at 20 steps/s)
_LEVEL_NOTIONAL = 15_000.0  # typical size of one price level, in quote currency
_RANGE_FRACTION = 0.015  # the full-depth book spans about 1.5 % of the price per side


def format_units(units: int, places: int) -> str:
    """An integer count of ``10**-places`` units as a fixed-point decimal (``12345, 2 -> "123.45"``)."""
    if places == 0:
        return str(units)
    if units < 0:
        return "-" + format_units(-units, places)
    text = str(units).rjust(places + 1, "0")
    return f"{text[:-places]}.{text[-places:]}"


def trim(text: str) -> str:
    """Drop trailing zeros the way Bybit's spot feed writes numbers (``"29328.00" -> "29328"``)."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One public trade as the market printed it; ``price_text``/``qty_text`` are already in wire format."""

    ts_ms: int
    symbol: str
    side: str  # taker side, "Buy" | "Sell"
    price: Decimal
    qty: Decimal
    price_text: str
    qty_text: str
    trade_id: str
    seq: int
    tick_direction: str


class SymbolBook:
    """The exchange's own book and statistics for one instrument; the feed reads its integer state directly.

    ``bids`` is keyed by ``-tick`` and ``asks`` by ``tick``, values are lots; ``bid_keys`` and ``ask_keys`` hold
    the keys in ascending order, so best first (a dict and a sorted list of ints: the step reads and changes the
    top a dozen times, and a sorted mapping's every read is a call in Python).
    ``version`` changes with every change of the book; ``seq`` is the cross sequence; ``cts`` the
    matching-engine time of the last change.
    """

    def __init__(self, instrument: Instrument, seed: int, now_ms: int, levels: int = BOOK_LEVELS) -> None:
        inst = instrument
        self.instrument = inst
        self.category = inst.category
        self.symbol = inst.symbol
        self.rng = random.Random(f"{seed}:{inst.category}:{inst.symbol}")
        rng = self.rng
        self.target_levels = levels
        self.price_places = inst.price_scale
        self.qty_places = places_of(inst.qty_step)
        self.tick_units = int(inst.tick_size.scaleb(inst.price_scale))  # ticks -> 10**-scale units
        self.lot_units = int(inst.qty_step.scaleb(self.qty_places))  # lots -> 10**-qty_places units
        self.spot = inst.category == "spot"
        self.inverse = inst.category == "inverse"
        start_tick = int((inst.start_price / inst.tick_size).to_integral_value())
        # an inverse lot is a contract of 1 USD, whatever the price
        lot_value = float(inst.qty_step if self.inverse else inst.start_price * inst.qty_step)
        self.typical_lots = max(1, int(_LEVEL_NOTIONAL / lot_value))
        vol = _VOLATILITY.get(inst.base_coin, 1.5)
        self.sigma_ticks = start_tick * _STEP_SIGMA * vol
        range_ticks = start_tick * _RANGE_FRACTION
        self.far_gap = max(1.0, range_ticks / levels)
        self.near_gap = min(self.far_gap, 1.6)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_keys: list[int] = []
        self.ask_keys: list[int] = []
        self.version = 0
        self.seq = 10_000_000_000 + rng.randrange(1_000_000_000)
        self.cts = now_ms
        self.fair = float(start_tick)
        tick = start_tick - 1
        for i in range(levels):
            _put(self.bid_keys, self.bids, -tick, self._random_lots())
            tick -= self._gap(i)
        tick = start_tick + 1
        for i in range(levels):
            _put(self.ask_keys, self.asks, tick, self._random_lots())
            tick += self._gap(i)
        self.mark_ticks = float(start_tick)
        self.basis = rng.uniform(-0.0003, 0.0003)
        # last trade and 24 h statistics, in ticks / lots / (price units * qty units)
        self.last_tick = start_tick
        self.tick_direction = "ZeroPlusTick"
        self.prev_24h_tick = int(start_tick * (1 + rng.uniform(-0.03, 0.03)))
        self.prev_1h_tick = int(start_tick * (1 + rng.uniform(-0.005, 0.005)))
        self.high_tick = int(max(start_tick, self.prev_24h_tick) * (1 + rng.uniform(0.002, 0.015)))
        self.low_tick = int(min(start_tick, self.prev_24h_tick) * (1 - rng.uniform(0.002, 0.015)))
        self.volume_lots = self.typical_lots * rng.randrange(20_000, 60_000)
        self.turnover_units = self.volume_lots * self.lot_units * start_tick * self.tick_units
        # inverse turnover is in the coin: the sum of contracts / price
        self.turnover_coin = self.volume_lots * inst.qty_step / inst.start_price if self.inverse else Decimal(0)
        self.open_interest_lots = self.typical_lots * rng.randrange(5_000, 30_000)
        self.trades: deque[PublicTrade] = deque(maxlen=RECENT_TRADES)
        self._spot_trade_id = 2_200_000_000_000_000_000 + rng.randrange(10**15)
        self.next_funding_ms = (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS

    # ----------------------------------------------------------------------------------------- formatting

    def price_text(self, tick: int) -> str:
        """Wire text of a price: fixed places for derivatives, trailing zeros dropped for spot (as Bybit)."""
        text = format_units(tick * self.tick_units, self.price_places)
        return trim(text) if self.spot else text

    def qty_text(self, lots: int) -> str:
        """Wire text of a size (``"0"`` deletes a level)."""
        if lots == 0:
            return "0"
        text = format_units(lots * self.lot_units, self.qty_places)
        return trim(text) if self.spot else text

    def price_of(self, tick: int) -> Decimal:
        return Decimal(tick * self.tick_units).scaleb(-self.price_places)

    def qty_of(self, lots: int) -> Decimal:
        return Decimal(lots * self.lot_units).scaleb(-self.qty_places)

    def units_text(self, units: int, places: int | None = None) -> str:
        """Text of a price given in ``10**-price_scale`` units (mark, index)."""
        text = format_units(units, self.price_places if places is None else places)
        return trim(text) if self.spot else text

    # ------------------------------------------------------------------------------------------- reading

    def best_bid_tick(self) -> int | None:
        keys = self.bid_keys
        return -keys[0] if keys else None

    def best_ask_tick(self) -> int | None:
        keys = self.ask_keys
        return keys[0] if keys else None

    def top_bids(self, n: int) -> list[tuple[int, int]]:
        """The best ``n`` bids as ``(tick, lots)``, best first."""
        bids = self.bids
        return [(-key, bids[key]) for key in self.bid_keys[:n]]

    def top_asks(self, n: int) -> list[tuple[int, int]]:
        """The best ``n`` asks as ``(tick, lots)``, best first."""
        asks = self.asks
        return [(key, asks[key]) for key in self.ask_keys[:n]]

    def mid_ticks(self) -> float:
        bid = self.best_bid_tick()
        ask = self.best_ask_tick()
        if bid is None or ask is None:
            return self.fair
        return (bid + ask) / 2.0

    def mark_units(self) -> int:
        """Mark price in ``10**-price_scale`` units (Bybit quotes it finer than the tick)."""
        return round(self.mark_ticks * self.tick_units)

    def index_units(self) -> int:
        return round(self.mark_ticks * (1.0 - self.basis) * self.tick_units)

    def funding_rate(self) -> Decimal:
        """The 0.01 % interest plus a damped premium (mark over index), capped like Bybit's, at 8 places.

        Bybit clamps the interest-minus-premium term, which pins the rate at 0.01 % most of the time; damping
        the premium instead keeps the rate realistic in size while letting a demo see it move.
        """
        if self.spot:
            return Decimal(0)
        index = self.index_units()
        premium = (self.mark_units() - index) / index if index else 0.0
        rate = min(max(_INTEREST + premium / 3.0, -_FUNDING_CAP), _FUNDING_CAP)
        return Decimal(round(rate * 100_000_000)).scaleb(-8)

    # ------------------------------------------------------------------------------------------- changing

    def _random_lots(self) -> int:
        return max(1, int(self.typical_lots * self.rng.lognormvariate(-0.3, 1.0)))

    def _gap(self, index: int) -> int:
        mean = self.near_gap if index < 25 else self.far_gap
        if mean <= 1.0:
            return 1
        # geometric number of extra ticks with the right mean
        p = 1.0 / mean
        return 1 + int(math.log(1.0 - self.rng.random()) / math.log(1.0 - p)) if p < 1.0 else 1

    def _touch(self, now_ms: int, events: int = 1) -> None:
        self.version += 1
        self.seq += events
        self.cts = now_ms

    def consume(self, taker_side: str, lots: int, limit_tick: int | None, now_ms: int) -> list[PublicTrade]:
        """Fill a taker of ``taker_side`` against the book, best level first, up to ``limit_tick``.

        Each level filled is one public trade; fully filled levels leave the book.
        """
        side, keys = (self.asks, self.ask_keys) if taker_side == "Buy" else (self.bids, self.bid_keys)
        sign = 1 if taker_side == "Buy" else -1
        trades: list[PublicTrade] = []
        while lots > 0 and keys:
            key = keys[0]
            available = side[key]
            tick = key * sign
            if limit_tick is not None and (tick > limit_tick if sign > 0 else tick < limit_tick):
                break
            take = min(lots, available)
            if take == available:
                del side[key]
                del keys[0]
            else:
                side[key] = available - take
            lots -= take
            trades.append(self._print(taker_side, tick, take, now_ms))
        if trades:
            self.version += 1
            self.cts = now_ms
        return trades

    def _print(self, taker_side: str, tick: int, lots: int, now_ms: int) -> PublicTrade:
        if tick > self.last_tick:
            self.tick_direction = "PlusTick"
        elif tick < self.last_tick:
            self.tick_direction = "MinusTick"
        elif self.tick_direction in ("PlusTick", "ZeroPlusTick"):
            self.tick_direction = "ZeroPlusTick"
        else:
            self.tick_direction = "ZeroMinusTick"
        self.last_tick = tick
        self.high_tick = max(self.high_tick, tick)
        self.low_tick = min(self.low_tick, tick)
        self.volume_lots += lots
        self.turnover_units += lots * self.lot_units * tick * self.tick_units
        if self.inverse:
            self.turnover_coin += self.qty_of(lots) / self.price_of(tick)
        self.seq += 1
        if self.spot:
            self._spot_trade_id += 1
            trade_id = str(self._spot_trade_id)
        else:
            trade_id = _uuid(self.rng)
        trade = PublicTrade(
            now_ms,
            self.symbol,
            taker_side,
            self.price_of(tick),
            self.qty_of(lots),
            self.price_text(tick),
            self.qty_text(lots),
            trade_id,
            self.seq,
            self.tick_direction,
        )
        self.trades.append(trade)
        return trade

    def step(self, now_ms: int) -> list[PublicTrade]:
        """One step of the process (see the module docstring); returns the public trades it printed."""
        rng = self.rng
        self.fair += rng.gauss(0.0, self.sigma_ticks)
        trades: list[PublicTrade] = []
        bid = self.best_bid_tick()
        ask = self.best_ask_tick()
        if ask is not None and self.fair > ask + 0.5:
            trades += self.consume("Buy", 1 << 62, math.floor(self.fair), now_ms)
        elif bid is not None and self.fair < bid - 0.5:
            trades += self.consume("Sell", 1 << 62, math.ceil(self.fair), now_ms)
        elif rng.random() < 0.45 and bid is not None and ask is not None:
            mid = (bid + ask) / 2.0
            buy_p = 0.5 + max(-0.4, min(0.4, (self.fair - mid) / (2 * max(self.sigma_ticks, 1.0))))
            side = "Buy" if rng.random() < buy_p else "Sell"
            top = self.asks[self.ask_keys[0]] if side == "Buy" else self.bids[self.bid_keys[0]]
            if rng.random() < 0.85:
                lots = max(1, int(top * rng.uniform(0.05, 0.7)))
            else:
                lots = top + max(1, int(self.typical_lots * rng.uniform(0.2, 2.0)))
            trades += self.consume(side, lots, None, now_ms)
        self._refill()
        for _ in range(rng.randint(1, 6)):
            self._churn()
        self._keep_depth()
        # mark follows the mid smoothly; the basis to the index wanders and reverts
        self.mark_ticks += 0.2 * (self.mid_ticks() - self.mark_ticks)
        self.basis += rng.gauss(0.0, 0.00002) - 0.01 * self.basis
        self.open_interest_lots = max(self.typical_lots, self.open_interest_lots + rng.randint(-3, 3))
        self._touch(now_ms, 1 + len(trades))
        return trades

    def _refill(self) -> None:
        """Makers close a wide spread towards the fair price; the book never crosses."""
        rng = self.rng
        for _ in range(4):
            bid = self.best_bid_tick()
            ask = self.best_ask_tick()
            if bid is None or ask is None:
                break
            if ask - bid <= 1 or (ask - bid <= 2 and rng.random() < 0.5):
                break
            fair = min(max(self.fair, bid + 1.0), ask - 1.0)
            if fair - bid >= ask - fair:
                tick = min(ask - 1, bid + rng.randint(1, max(1, int(fair - bid))))
                _put(self.bid_keys, self.bids, -tick, self._random_lots())
            else:
                tick = max(bid + 1, ask - rng.randint(1, max(1, int(ask - fair))))
                _put(self.ask_keys, self.asks, tick, self._random_lots())

    def _churn(self) -> None:
        """One maker action near the top: resize, cancel, or a new level between existing ones."""
        rng = self.rng
        buy = rng.random() < 0.5
        side, keys = (self.bids, self.bid_keys) if buy else (self.asks, self.ask_keys)
        if len(keys) < 3:
            return
        index = min(int(rng.expovariate(0.15)), len(keys) - 2)
        key = keys[index]
        roll = rng.random()
        if roll < 0.55:
            side[key] = max(1, int(side[key] * rng.uniform(0.4, 1.8)))
        elif roll < 0.72 and index > 0:
            del side[key]
            del keys[index]
        else:
            next_key = keys[index + 1]
            if next_key - key > 1:
                lots = self._random_lots()  # (drawn before the new level's tick, as always)
                _put(keys, side, rng.randrange(key + 1, next_key), lots)

    def _keep_depth(self) -> None:
        target = self.target_levels
        for side, keys, sign in ((self.bids, self.bid_keys, -1), (self.asks, self.ask_keys, 1)):
            while len(keys) > target + 10:
                del side[keys.pop()]
            while len(keys) < target:
                key = keys[-1]
                new_tick = key * sign + sign * self._gap(1000)
                if new_tick <= 0:
                    break
                _put(keys, side, new_tick * sign, self._random_lots())


def _put(keys: list[int], side: dict[int, int], key: int, lots: int) -> None:
    """Set a level of one side of a :class:`SymbolBook`, keeping its keys in order."""
    if key not in side:
        insort(keys, key)
    side[key] = lots


def _uuid(rng: random.Random) -> str:
    """A UUID-shaped trade id from the book's seeded RNG (uuid4 would break determinism)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


class Market:
    """Every listed instrument's book, the step loop, and the hooks the account and the feed attach to."""

    def __init__(
        self,
        instruments: list[Instrument],
        *,
        seed: int = 1,
        clock: SimClock | None = None,
        book_levels: int = BOOK_LEVELS,
    ) -> None:
        self.seed = seed
        self.clock = clock or SimClock()
        self._running = asyncio.Event()
        self._running.set()
        self._stirred = asyncio.Event()
        """Set when there may be something to publish although the market is paused (see ``until_stirred``)."""
        self.steps = 0
        self.loop_ticks = 0  # steps the background loop took or skipped
        now = self.clock.now_ms()
        self._books: dict[tuple[str, str], SymbolBook] = {}
        for inst in instruments:
            self._books[(inst.category, inst.symbol)] = SymbolBook(inst, seed, now, book_levels)
        self._trade_listeners: list[TradeListener] = []
        self._step_listeners: list[StepListener] = []
        self._public_sinks: list[PublicTradeSink] = []

    # ----------------------------------------------------------------------------------------- lookup

    def book(self, category: str, symbol: str) -> SymbolBook:
        """The exchange's own book; KeyError (:class:`UnknownSymbol`) if the instrument is not listed."""
        try:
            return self._books[(category, symbol)]
        except KeyError:
            raise UnknownSymbol(f"{category}:{symbol}") from None

    def books(self) -> Iterator[SymbolBook]:
        return iter(self._books.values())

    def instrument(self, category: str, symbol: str) -> Instrument:
        return self.book(category, symbol).instrument

    def symbols(self, category: str) -> list[str]:
        return [symbol for (cat, symbol) in self._books if cat == category]

    def categories(self) -> list[str]:
        return sorted({cat for cat, _ in self._books})

    def best_bid_ask(self, category: str, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        book = self.book(category, symbol)
        bid = book.best_bid_tick()
        ask = book.best_ask_tick()
        return (
            book.price_of(bid) if bid is not None else None,
            book.price_of(ask) if ask is not None else None,
        )

    def levels(self, category: str, symbol: str, side: str, n: int) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` levels of ``side`` ("bid"/"ask") as exact ``(price, qty)``, best first."""
        book = self.book(category, symbol)
        if side == "bid":
            raw = book.top_bids(n)
        elif side == "ask":
            raw = book.top_asks(n)
        else:
            raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")
        return [(book.price_of(tick), book.qty_of(lots)) for tick, lots in raw]

    def mark_price(self, category: str, symbol: str) -> Decimal:
        book = self.book(category, symbol)
        return Decimal(book.mark_units()).scaleb(-book.price_places)

    def index_price(self, category: str, symbol: str) -> Decimal:
        book = self.book(category, symbol)
        return Decimal(book.index_units()).scaleb(-book.price_places)

    def last_price(self, category: str, symbol: str) -> Decimal:
        book = self.book(category, symbol)
        return book.price_of(book.last_tick)

    def funding_rate(self, category: str, symbol: str) -> Decimal:
        return self.book(category, symbol).funding_rate()

    def next_funding_time(self, category: str, symbol: str) -> int:
        """When the next funding settles (ms); the funding schedule moves it, the ticker shows it."""
        return self.book(category, symbol).next_funding_ms

    def set_next_funding_time(self, ms: int, category: str | None = None, symbol: str | None = None) -> None:
        """Set the next funding time of one book, or of every book when no symbol is given."""
        for (cat, sym), book in self._books.items():
            if (category is None or cat == category) and (symbol is None or sym == symbol):
                book.next_funding_ms = ms

    # ----------------------------------------------------------------------------------------- listeners

    def add_trade_listener(self, callback: TradeListener) -> None:
        self._trade_listeners.append(callback)

    def add_step_listener(self, callback: StepListener) -> None:
        self._step_listeners.append(callback)

    def add_public_trade_sink(self, callback: PublicTradeSink) -> None:
        """The public feed's hook for publishing ``publicTrade`` (one call per batch)."""
        self._public_sinks.append(callback)

    def _publish(self, book: SymbolBook, trades: list[PublicTrade]) -> None:
        for sink in self._public_sinks:
            try:
                sink(book, trades)
            except Exception:
                log.exception("public trade sink failed")
        for trade in trades:
            for listener in self._trade_listeners:
                try:
                    listener(book.category, book.symbol, trade.side, trade.price, trade.qty, trade.ts_ms)
                except Exception:
                    log.exception("trade listener failed")

    # ----------------------------------------------------------------------------------------- acting

    def take(
        self, category: str, symbol: str, side: str, qty: Decimal, limit: Decimal | None
    ) -> list[tuple[Decimal, Decimal]]:
        """A taker order of ``side`` ("Buy" lifts asks, "Sell" hits bids) consumes book liquidity up to
        ``limit`` (None = market); returns the fills ``[(price, qty)]``, publishes them as public trades and
        as book changes. ``qty`` is floored to the instrument's step."""
        if side not in ("Buy", "Sell"):
            raise ValueError(f"side must be 'Buy' or 'Sell', not {side!r}")
        book = self.book(category, symbol)
        inst = book.instrument
        lots = int((qty / inst.qty_step).to_integral_value(rounding=ROUND_FLOOR))
        if lots <= 0:
            return []
        limit_tick = None
        if limit is not None:
            rounding = ROUND_FLOOR if side == "Buy" else ROUND_CEILING
            limit_tick = int((limit / inst.tick_size).to_integral_value(rounding=rounding))
        now = self.clock.now_ms()
        trades = book.consume(side, lots, limit_tick, now)
        if not trades:
            return []
        book._refill()
        book._keep_depth()
        book._touch(now)
        self._stirred.set()  # a paused market's book moved: its publisher must not wait for the resume
        self._publish(book, trades)
        return [(t.price, t.qty) for t in trades]

    def step(self) -> None:
        """One deterministic step of every book (sorted order), then the step listeners."""
        now = self.clock.now_ms()
        self.steps += 1
        for book in self._books.values():
            trades = book.step(now)
            if trades:
                self._publish(book, trades)
        for listener in self._step_listeners:
            try:
                listener(now)
            except Exception:
                log.exception("step listener failed")

    @property
    def paused(self) -> bool:
        """A paused market does not step: no price moves, trades, funding or demo trades."""
        return not self._running.is_set()

    @paused.setter
    def paused(self, paused: bool) -> None:
        if paused:
            self._running.clear()
        else:
            self._running.set()
            self._stirred.set()

    def stir(self) -> None:
        """Something is due to be published although the market may be paused (an injected fault)."""
        self._stirred.set()

    async def until_stirred(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the market to resume, a taker order to move a book, or ``stir``:
        what a paused market's publisher sleeps on instead of a timer. Whether one of them came."""
        if not self._stirred.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stirred.wait(), timeout)
        stirred = self._stirred.is_set()
        self._stirred.clear()
        return stirred

    async def until_running(self, timeout: float | None = None) -> bool:
        """Wait until the market is not paused, at most ``timeout`` seconds; whether it runs. A paused market's
        loops wait here instead of looking at the pause on a timer, so a quiet exchange does not wake the machine."""
        if not self._running.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._running.wait(), timeout)
        return self._running.is_set()

    async def run(self, interval_s: float) -> None:
        """Step every ``interval_s`` until cancelled; a paused market sleeps until it resumes, then steps on from
        then."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if self.paused:
                await self.until_running()
                next_at = loop.time()
            next_at += interval_s
            delay = next_at - loop.time()
            if delay < -1.0:  # fell far behind (a stalled machine): do not try to catch up in a burst
                next_at = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))
            self.loop_ticks += 1
            if not self.paused:
                try:
                    self.step()
                except Exception:
                    log.exception("market step failed")

    def snapshot_state(self) -> dict[str, Any]:
        """A compact fingerprint of every book (for determinism checks and debugging)."""
        return {
            f"{b.category}:{b.symbol}": (b.version, b.seq, b.top_bids(5), b.top_asks(5), b.last_tick)
            for b in self._books.values()
        }
