"""A bounded series of price candles for the chart, merged from Bybit's kline REST and topic.

REST ``/v5/market/kline`` lists candles newest first as ``[start, open, high, low, close, volume, turnover]``
strings; the ``kline.<interval>.<symbol>`` topic pushes ``{start, end, interval, open, ..., confirm}`` objects,
the open candle again and again (``confirm: false``) and once more when it closes (``confirm: true``). Both are
untrusted: a record that is not a candle (missing or non-numeric fields, high below low, a start not on the
interval) is counted in :attr:`CandleSeries.rejected` and skipped, never a crash. The series keeps
:data:`MAX_CANDLES` at most, oldest dropped first; a candle older than the last one is stale and ignored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["INTERVALS", "MAX_CANDLES", "Candle", "CandleSeries", "interval_ms", "kline_topic"]

INTERVALS = ("1", "5", "60")
"""The chart's intervals in Bybit's words (minutes): 1m, 5m, 1h."""

MAX_CANDLES = 500
"""Candles kept per series: Bybit's largest kline page under its 1000 cap, and more than a screen is wide."""

MAX_PRICE = Decimal("1e15")


def interval_ms(interval: str) -> int:
    return int(interval) * 60_000


def kline_topic(interval: str, symbol: str) -> str:
    return f"kline.{interval}.{symbol}"


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle: ``start`` in epoch ms, prices exact, ``closed`` once Bybit confirmed it."""

    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool


def _price(text: object) -> Decimal | None:
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and 0 <= value < MAX_PRICE else None


def _candle(start: object, fields: Sequence[object], closed: bool, step: int) -> Candle | None:
    if isinstance(start, str) and start.isdigit() and len(start) < 16:
        start = int(start)
    if not isinstance(start, int) or isinstance(start, bool) or start < 0 or start % step:
        return None
    values = [_price(v) for v in fields]
    if any(v is None for v in values):
        return None
    open_, high, low, close, volume = (v for v in values if v is not None)
    if not (low <= min(open_, close) and high >= max(open_, close)):
        return None
    return Candle(start, open_, high, low, close, volume, closed)


class CandleSeries:
    """The candles of one symbol at one interval, oldest first, bounded."""

    def __init__(self, symbol: str, interval: str, limit: int = MAX_CANDLES) -> None:
        self.symbol = symbol
        self.interval = interval
        self.step_ms = interval_ms(interval)
        self.candles: deque[Candle] = deque(maxlen=limit)
        self.rejected = 0
        self.version = 0

    def backfill(self, rows: object) -> None:
        """Replace the series with a REST page (``result.list``: newest first); rows that are not candles are
        counted and skipped. The newest row is the candle still open."""
        if not isinstance(rows, list):
            self.rejected += 1
            return
        taken: list[Candle] = []
        for index, row in enumerate(rows):
            candle = None
            if isinstance(row, list) and len(row) >= 6:
                candle = _candle(row[0], row[1:6], closed=index > 0, step=self.step_ms)
            if candle is None:
                self.rejected += 1
            else:
                taken.append(candle)
        taken.sort(key=lambda c: c.start)
        self.candles.clear()
        for candle in taken:
            if self.candles and self.candles[-1].start == candle.start:
                self.rejected += 1  # a duplicate start: the first kept
                continue
            self.candles.append(candle)
        self.version += 1

    def push(self, items: object) -> None:
        """A ``kline`` push's ``data``: each item updates the last candle, closes it, or starts the next one.
        A gap (candles missing between the last and this one) is kept as a gap: the chart shows it."""
        if not isinstance(items, list):
            self.rejected += 1
            return
        for item in items:
            candle = self._push_item(item)
            if candle is None:
                self.rejected += 1
            else:
                self._merge(candle)
        self.version += 1

    def _push_item(self, item: object) -> Candle | None:
        if not isinstance(item, Mapping) or item.get("interval") != self.interval:
            return None
        confirm = item.get("confirm")
        if not isinstance(confirm, bool):
            return None
        fields = [item.get(k) for k in ("open", "high", "low", "close", "volume")]
        return _candle(item.get("start"), fields, confirm, self.step_ms)

    def _merge(self, candle: Candle) -> None:
        last = self.candles[-1] if self.candles else None
        if last is None or candle.start > last.start:
            self.candles.append(candle)
        elif candle.start == last.start:
            self.candles[-1] = candle
        # older than the last candle: stale, ignored

    def extend(self, candles: Iterable[Candle]) -> None:
        """Merge candles already read (tests and scripted screens)."""
        for candle in candles:
            self._merge(candle)
        self.version += 1

    @property
    def last_price(self) -> Decimal | None:
        return self.candles[-1].close if self.candles else None
