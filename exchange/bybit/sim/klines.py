"""Candles on the local exchange: ``/v5/market/kline`` and the ``kline.<interval>.<symbol>`` topic.

Each (category, symbol, interval) gets a history when first asked for: :data:`HISTORY` candles of a seeded random
walk that ends at the book's last price (a fresh exchange has no past, and a chart of one candle shows nothing).
From then on the market's public trades build the candles; a period without a trade is a flat candle at the last
close, as Bybit lists it. REST lists newest first as strings ``[start, open, high, low, close, volume,
turnover]``; the topic pushes the open candle every :data:`KLINE_CADENCE_S` (``confirm: false``) and each candle
once more as it closes (``confirm: true``), in the shape of the fixture ``ws_public/docs_kline.json``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from exchange.bybit.sim.market import Market, PublicTrade, SymbolBook

if TYPE_CHECKING:
    from exchange.bybit.sim.clock import SimClock
    from exchange.bybit.sim.connection import SimConnection

__all__ = ["HISTORY", "KLINE_INTERVALS", "KlineStream", "Klines"]

KLINE_INTERVALS = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720")
"""The minute intervals Bybit serves (``D``, ``W`` and ``M`` are not served here)."""
HISTORY = 1000
KLINE_CADENCE_S = 1.0
_WALK_SIGMA = 0.002  # a candle's typical move, as a fraction of the price


@dataclass(slots=True)
class SimCandle:
    start: int
    open: int  # ticks
    high: int
    low: int
    close: int
    lots: int
    turnover: Decimal


class KlineSeries:
    """One symbol's candles at one interval, oldest first; rolls to the clock's period on every read."""

    def __init__(self, book: SymbolBook, interval: str, now_ms: int, seed: int) -> None:
        self.book = book
        self.interval = interval
        self.step = int(interval) * 60_000
        self.candles: deque[SimCandle] = deque(maxlen=HISTORY)
        self.closed: list[SimCandle] = []  # closed since the stream last pushed
        rng = random.Random(f"{seed}:{book.category}:{book.symbol}:kline{interval}")
        sigma = max(1.0, book.last_tick * _WALK_SIGMA * (int(interval) ** 0.5))
        closes = [book.last_tick]
        for _ in range(HISTORY - 1):
            closes.append(max(1, int(closes[-1] + rng.gauss(0, sigma))))
        closes.reverse()
        start = now_ms // self.step * self.step - (HISTORY - 1) * self.step
        previous = closes[0]
        for close in closes:
            wick = int(abs(rng.gauss(0, sigma / 2)))
            lots = book.typical_lots * rng.randrange(1, 50)
            high, low = max(previous, close) + wick, max(1, min(previous, close) - wick)
            self.candles.append(SimCandle(start, previous, high, low, close, lots, Decimal(0)))
            previous, start = close, start + self.step
        self.closed.clear()

    def roll(self, now_ms: int) -> None:
        """Close the open candle and open flat ones up to the period of ``now_ms``."""
        period = now_ms // self.step * self.step
        last = self.candles[-1]
        if period - last.start > HISTORY * self.step:  # a clock far ahead: the periods between are not kept
            last.start = period - HISTORY * self.step
        while self.candles[-1].start < period:
            last = self.candles[-1]
            self.closed.append(last)
            del self.closed[:-HISTORY]
            self.candles.append(SimCandle(last.start + self.step, last.close, last.close, last.close, last.close, 0,
                                          Decimal(0)))  # fmt: skip

    def trade(self, trade: PublicTrade, tick_size: Decimal, qty_step: Decimal) -> None:
        self.roll(trade.ts_ms)
        candle = self.candles[-1]
        if trade.ts_ms < candle.start:
            return
        tick = int(trade.price / tick_size)
        candle.close = tick
        candle.high = max(candle.high, tick)
        candle.low = min(candle.low, tick)
        candle.lots += int(trade.qty / qty_step)
        candle.turnover += trade.price * trade.qty

    def rest_row(self, candle: SimCandle) -> list[str]:
        book = self.book
        return [str(candle.start), book.price_text(candle.open), book.price_text(candle.high),
                book.price_text(candle.low), book.price_text(candle.close), book.qty_text(candle.lots) or "0",
                _decimal_text(candle.turnover)]  # fmt: skip

    def push_item(self, candle: SimCandle, confirm: bool, now_ms: int) -> dict[str, Any]:
        _, open_, high, low, close, volume, turnover = self.rest_row(candle)
        return {"start": candle.start, "end": candle.start + self.step - 1, "interval": self.interval,
                "open": open_, "close": close, "high": high, "low": low, "volume": volume, "turnover": turnover,
                "confirm": confirm, "timestamp": now_ms}  # fmt: skip


def _decimal_text(value: Decimal) -> str:
    text = format(value.quantize(Decimal("0.0001")), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class Klines:
    """Every candle series the exchange was asked for, fed by the market's public trades."""

    def __init__(self, market: Market, seed: int) -> None:
        self.market = market
        self.seed = seed
        self.series_by_key: dict[tuple[str, str, str], KlineSeries] = {}
        market.add_public_trade_sink(self._on_trades)

    def series(self, category: str, symbol: str, interval: str, now_ms: int) -> KlineSeries:
        """The series (created on first use); raises KeyError for an unknown symbol or interval."""
        if interval not in KLINE_INTERVALS:
            raise KeyError(interval)
        key = (category, symbol, interval)
        series = self.series_by_key.get(key)
        if series is None:
            series = KlineSeries(self.market.book(category, symbol), interval, now_ms, self.seed)
            self.series_by_key[key] = series
        series.roll(now_ms)
        return series

    def _on_trades(self, book: SymbolBook, trades: list[PublicTrade]) -> None:
        inst = book.instrument
        for (category, symbol, _), series in self.series_by_key.items():
            if category == book.category and symbol == book.symbol:
                for trade in trades:
                    series.trade(trade, inst.tick_size, inst.qty_step)


class KlineStream:
    """``kline.<interval>.<symbol>``: the open candle each second, and each closed one with ``confirm: true``."""

    def __init__(self, clock: SimClock, series: KlineSeries) -> None:
        self.clock = clock
        self.series = series
        self.topic = f"kline.{series.interval}.{series.book.symbol}"
        self.subscribers: set[SimConnection] = set()
        self.next_due = 0.0
        self.cadence = KLINE_CADENCE_S

    def _message(self, items: list[dict[str, Any]], now_ms: int) -> bytes:
        return orjson.dumps({"topic": self.topic, "data": items, "ts": now_ms, "type": "snapshot"})

    def attach(self, conn: SimConnection, now: float) -> None:
        if not self.subscribers:
            self.next_due = now + self.cadence
        self.subscribers.add(conn)
        now_ms = self.clock.now_ms()
        self.series.roll(now_ms)
        conn.send_bytes_text(self._message([self.series.push_item(self.series.candles[-1], False, now_ms)], now_ms))

    def publish(self, now: float) -> None:
        now_ms = self.clock.now_ms()
        series = self.series
        series.roll(now_ms)
        items = [series.push_item(candle, True, now_ms) for candle in series.closed]
        series.closed.clear()
        items.append(series.push_item(series.candles[-1], False, now_ms))
        data = self._message(items, now_ms)
        for conn in tuple(self.subscribers):
            if conn.closed:
                self.subscribers.discard(conn)
            else:
                conn.send_bytes_text(data)
