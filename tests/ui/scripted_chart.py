"""A scripted chart source for snapshots: 5m BTCUSDT candles on a seeded walk to the scripted desk's mark, the
long position's entry and liquidation lines, and a status the test chooses."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

from app.chart_screen import position_lines, price_places
from exchange.candles import Candle, CandleSeries
from exchange.desk import Desk
from tests.ui.scripted import NOW_MS
from widgets.chart import ChartLine

FIVE_MIN_MS = 300_000


def walk_candles(count: int = 110, last_close: float = 65010.2, seed: int = 14) -> list[Candle]:
    """``count`` candles whose last one is open at the scripted clock and closes at ``last_close``."""
    rng = random.Random(seed)
    closes = [last_close]
    for _ in range(count):
        closes.append(closes[-1] - rng.gauss(12, 45))
    closes.reverse()
    first_start = NOW_MS // FIVE_MIN_MS * FIVE_MIN_MS - (count - 1) * FIVE_MIN_MS
    candles = []
    for i in range(count):
        open_, close = closes[i], closes[i + 1]
        high = max(open_, close) + abs(rng.gauss(0, 25))
        low = min(open_, close) - abs(rng.gauss(0, 25))
        o, h, lo, c = (Decimal(f"{v:.1f}") for v in (open_, high, low, close))
        volume = Decimal(f"{(high - low) / 8:.3f}")  # busier where the range is wider, as on a market
        candles.append(Candle(first_start + i * FIVE_MIN_MS, o, h, lo, c, volume, i < count - 1))
    return candles


class ScriptedChart:
    """A :class:`widgets.chart.ChartSource` that never changes."""

    def __init__(self, desk: Desk, status: str = "live", symbol: str = "BTCUSDT", interval: str = "5") -> None:
        self.series = CandleSeries(symbol, interval)
        self.series.extend(walk_candles())
        self._desk = desk
        self._status = status

    def status(self) -> str:
        return self._status

    def lines(self) -> Sequence[ChartLine]:
        return position_lines(self._desk, self.series.symbol)

    def price_places(self) -> int | None:
        return price_places(self._desk, self.series.symbol)
